// The parameter form generated from an atom's params schema: one field per parameter, the
// source's default and the preset's value beside it, errors at the field, a live estimate.
"use strict";
const ParamForm = (() => {
  const { el, api, seconds, bytes } = Lab;

  function text(value) { return Array.isArray(value) ? value.join(",") : String(value); }

  function input(p) {
    if (p.kind === "bool") return el("select", { name: p.name, id: "f-" + p.name }, ["true", "false"].map((v) => el("option", { value: v, text: v })));
    if (p.kind === "choice" || (p.kind === "str" && p.choices)) {
      return el("select", { name: p.name, id: "f-" + p.name }, p.choices.map((c) => el("option", { value: String(c), text: String(c) })));
    }
    return el("input", { name: p.name, id: "f-" + p.name, inputmode: p.kind === "int" || p.kind === "float" ? "decimal" : null });
  }

  function bounds(p) {
    const parts = [];
    for (const [k, op] of [["ge", "≥"], ["gt", ">"], ["le", "≤"], ["lt", "<"]]) if (p[k] !== null && p[k] !== undefined) parts.push(op + " " + p[k]);
    if (p.kind === "list") parts.push("a list of " + p.item + "s, comma-separated");
    return parts.join(", ");
  }

  function build(atom, node) {
    node.replaceChildren(...atom.params.map((p) => el("div", { class: "field", "data-field": p.name },
      el("label", { for: "f-" + p.name, text: p.name }), input(p),
      el("div", { class: "hint" }, `source: ${text(p.default)}`, el("span", { class: "preset-value" }),
        p.help ? " · " + p.help : "", bounds(p) ? " · " + bounds(p) : ""),
      el("div", { class: "err" }))));
  }

  function fill(atom, preset, node) {
    const values = atom.presets[preset];
    for (const p of atom.params) {
      node.querySelector(`[name="${p.name}"]`).value = text(values[p.name]);
      node.querySelector(`[data-field="${p.name}"] .preset-value`).textContent =
        preset !== "default" && text(values[p.name]) !== text(p.default) ? ` · ${preset}: ${text(values[p.name])}` : "";
    }
  }

  function values(atom, node) {
    const out = {};
    for (const p of atom.params) out[p.name] = node.querySelector(`[name="${p.name}"]`).value;
    return out;
  }

  function clearErrors(node) {
    node.querySelectorAll(".field.bad").forEach((f) => f.classList.remove("bad"));
    node.querySelectorAll(".err").forEach((e) => (e.textContent = ""));
    document.getElementById("seeds-err").textContent = "";
  }

  // Show a 422's message at its field (a parameter, or seeds/preset above the fields).
  function showError(node, field, message) {
    const f = node.querySelector(`[data-field="${CSS.escape(field)}"]`);
    if (f) { f.classList.add("bad"); f.querySelector(".err").textContent = message; }
    else document.getElementById("seeds-err").textContent = message;
  }

  async function estimate(body, node, out) {
    const res = await api("POST", "/api/estimate", body);
    clearErrors(node);
    if (!res.ok || !res.data) return false;
    if (!res.data.ok) { showError(node, res.data.field, res.data.message); out.textContent = "fix the field marked in red"; out.classList.add("bad"); return false; }
    out.classList.remove("bad");
    const seeds = Array.isArray(res.data.seeds) ? res.data.seeds.length + " seeds" : "seeds auto";
    out.textContent = `about ${seconds(res.data.estimate_s)} on 2 CPU cores · about ${bytes(res.data.memory_bytes)} of memory · ${seeds}`;
    return true;
  }

  return { build, fill, values, clearErrors, showError, estimate, text };
})();
