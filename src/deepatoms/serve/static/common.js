// deepatoms lab: what every page shares — the API with its token, small DOM helpers, badges.
"use strict";
const Lab = (() => {
  const params = new URLSearchParams(location.search);
  if (params.get("token")) sessionStorage.setItem("deepatoms-token", params.get("token"));
  const token = sessionStorage.getItem("deepatoms-token") || "";

  function withToken(url) {
    if (!token) return url;
    return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
  }

  async function api(method, url, body) {
    const opts = { method, headers: {} };
    if (token) opts.headers["Authorization"] = "Bearer " + token;
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    const res = await fetch(url, opts);
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    return { status: res.status, ok: res.ok, data };
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function statusClass(label) {
    label = String(label || "");
    if (label.startsWith("indicative")) return "st-indicative";
    return "st-" + label.replace(/ /g, "-");
  }

  function badge(verdict) {
    if (!verdict) return el("span", { class: "badge", text: "not run" });
    return el("span", { class: "badge " + statusClass(verdict.label), "data-status": verdict.status,
                        text: verdict.label });
  }

  function when(iso) { return iso ? String(iso).replace("T", " ").slice(0, 16) + " UTC" : ""; }

  function fmt(x) {
    if (x === null || x === undefined || Number.isNaN(x)) return "—";
    if (typeof x !== "number") return String(x);
    const a = Math.abs(x);
    return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(2) : String(+x.toPrecision(4));
  }

  function seconds(s) {
    if (s === null || s === undefined) return "—";
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
    return (s / 3600).toFixed(1) + " h";
  }

  function bytes(n) { return n >= 2 ** 30 ? (n / 2 ** 30).toFixed(1) + " GiB" : (n / 2 ** 20).toFixed(0) + " MiB"; }

  // What an evidence row bears on: "" (the central claim), a part's name, "control (part)".
  function partLabel(e) {
    const part = e.part === "*" ? "every part" : (e.part || "");
    if (!e.control) return part;
    return part ? "control (" + part + ")" : "control";
  }

  // One line per claim part when they say more than the headline (several, or a reason).
  function partsList(parts) {
    parts = parts || [];
    if (parts.length < 2 && !parts.some((p) => p.reason)) return null;
    return el("ul", { class: "parts" }, parts.map((p) => el("li", {},
      el("span", { class: "part-title", text: (p.title || p.name || "central claim") + " " }),
      badge({ label: p.status, status: p.status }),
      p.reason ? el("div", { class: "meta part-reason", text: p.reason }) : null)));
  }

  function evidenceTable(rows) {
    const withParts = (rows || []).some((e) => e.part || e.control);
    const cols = (withParts ? ["part"] : []).concat(["setting", "metric", "estimate", "95% CI", "n", "threshold", "supports"]);
    const head = el("tr", {}, cols.map((h) => el("th", { text: h })));
    const body = (rows || []).map((e) => el("tr", e.control ? { class: "control" } : {},
      withParts ? el("td", { class: "part-cell", text: partLabel(e) || "central claim" }) : null,
      el("td", { text: e.setting || "" }), el("td", { text: e.metric }), el("td", { text: fmt(e.estimate) }),
      el("td", { text: "[" + fmt(e.ci_low) + ", " + fmt(e.ci_high) + "]" }), el("td", { text: e.n }),
      el("td", { text: e.threshold }),
      el("td", { class: "supports-" + e.supports, text: e.supports === true ? "✓" : e.supports === false ? "✗" : "?" })));
    return el("table", { class: "evidence" }, el("thead", {}, head), el("tbody", {}, body));
  }

  return { api, el, badge, statusClass, when, fmt, seconds, bytes, withToken, evidenceTable, partsList, partLabel, token };
})();
