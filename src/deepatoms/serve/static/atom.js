// The atom page: what the claim is, its latest verdict, the form, a run, a probe, history/diff.
"use strict";
(async () => {
  const { el, api, fmt, withToken } = Lab;
  const name = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
  document.getElementById("home").href = withToken("/");
  const res = await api("GET", `/api/atoms/${encodeURIComponent(name)}`);
  if (!res.ok) { document.getElementById("title").textContent = (res.data || {}).detail || "unknown atom"; return; }
  const atom = res.data;
  document.title = `deepatoms lab — ${atom.name}`;
  document.getElementById("title").textContent = atom.title;
  document.getElementById("crumb").textContent = `${atom.family} · ${atom.name}`;
  document.getElementById("about").replaceChildren(
    el("p", {}, el("b", { text: "Question. " }), atom.question), el("p", {}, el("b", { text: "Claim. " }), atom.claim),
    el("p", {}, el("b", { text: "Method. " }), atom.method),
    el("div", {}, el("b", { text: "Sources" }), el("ul", {}, atom.sources.map((s) => el("li", { text: s })))));

  function showLatest(verdict) {
    document.getElementById("verdict").replaceChildren(verdict
      ? el("div", {}, el("p", { class: "meta", text: `run ${verdict.run_id} · preset ${verdict.preset} · seeds ${verdict.seeds.join(",")} · ${Lab.when(verdict.created)}` }),
          Live.verdictView(verdict, verdict.run_id))
      : el("p", { class: "muted", text: "never run in this store" }));
  }
  showLatest(atom.verdict);

  // ------------------------------------------------------------------ the form
  const form = document.getElementById("form"), fields = document.getElementById("fields");
  const presetSel = document.getElementById("preset"), seedsIn = document.getElementById("seeds");
  const estimateOut = document.getElementById("estimate");
  Object.keys(atom.presets).forEach((p) => presetSel.append(el("option", { value: p, text: p })));
  presetSel.value = "quick"; seedsIn.value = "2";
  ParamForm.build(atom, fields);
  ParamForm.fill(atom, presetSel.value, fields);
  const body = () => ({ atom: atom.name, preset: presetSel.value, seeds: seedsIn.value.trim(), params: ParamForm.values(atom, fields) });
  let pending = null;
  const refresh = () => { clearTimeout(pending); pending = setTimeout(() => ParamForm.estimate(body(), fields, estimateOut), 200); };
  form.addEventListener("input", refresh);
  presetSel.addEventListener("change", () => { ParamForm.fill(atom, presetSel.value, fields); refresh(); });
  document.getElementById("reset").onclick = () => { ParamForm.fill(atom, presetSel.value, fields); refresh(); };
  refresh();

  async function start(url, payload, handlers) {
    ParamForm.clearErrors(fields);
    const r = await api("POST", url, payload);
    if (r.status === 422) { for (const d of r.data.detail) ParamForm.showError(fields, d.field, d.message); return null; }
    if (!r.ok) { estimateOut.textContent = (r.data || {}).detail || "the server refused the run"; estimateOut.classList.add("bad"); return null; }
    return new Live.Watch({ id: r.data.id }, handlers);
  }
  const ended = async () => { loadHistory(); const a = await api("GET", `/api/atoms/${atom.name}`); if (a.ok) showLatest(a.data.verdict); };
  form.addEventListener("submit", (e) => { e.preventDefault(); start("/api/runs", body(), { end: ended }); });

  // ------------------------------------------------------------------ probe
  const keySel = document.getElementById("probe-key");
  atom.params.forEach((p) => keySel.append(el("option", { value: p.name, text: p.name })));
  const probeCanvas = document.getElementById("probe-chart");
  document.getElementById("probe-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const key = keySel.value, values = document.getElementById("probe-values").value;
    const points = [];
    document.getElementById("probe-err").textContent = "";
    const payload = { ...body(), key, values };
    const r = await api("POST", "/api/probes", payload);
    if (!r.ok) { document.getElementById("probe-err").textContent = r.status === 422 ? r.data.detail.map((d) => `${d.field}: ${d.message}`).join("; ") : (r.data || {}).detail; return; }
    probeCanvas.hidden = false;
    const draw = () => {
      const numeric = points.every((p) => p.value !== "" && !Number.isNaN(Number(p.value)));
      const xs = points.map((p, i) => (numeric ? Number(p.value) : i));
      Chart.draw(probeCanvas, { title: `${points[0] ? points[0].metric : "key estimate"} against ${key}`, xlabel: key,
        xticks: numeric ? null : points.map((p, i) => [i, p.value]),
        points: points.map((p, i) => ({ x: xs[i], y: p.estimate, lo: p.ci_low, hi: p.ci_high, color: { reproduced: "#1b7f3b", "not reproduced": "#b3261e" }[p.label] || "#3c5a99" })) });
      probeCanvas.dataset.points = points.length;
      document.getElementById("probe-table").replaceChildren(el("table", {}, el("tr", {}, ["value", "verdict", "estimate", "95% CI"].map((h) => el("th", { text: h }))),
        points.map((p) => el("tr", {}, el("td", { text: p.value }), el("td", {}, Lab.badge(p)), el("td", { text: fmt(p.estimate) }), el("td", { text: `[${fmt(p.ci_low)}, ${fmt(p.ci_high)}]` })))));
    };
    draw();
    new Live.Watch({ id: r.data.id }, { probe: (p) => { points.push(p); draw(); }, end: ended });
  });

  // ------------------------------------------------------------------ history and diff
  async function loadHistory() {
    const r = await api("GET", `/api/runs?atom=${encodeURIComponent(atom.name)}`);
    if (!r.ok) return;
    const rows = r.data.stored.slice().reverse();
    document.getElementById("history").replaceChildren(rows.length ? el("table", {},
      el("tr", {}, ["A", "B", "id", "time (UTC)", "preset", "seeds", "verdict", "wall"].map((h) => el("th", { text: h }))),
      rows.map((row, i) => el("tr", {}, el("td", {}, el("input", { type: "radio", name: "diff-a", value: row.id, checked: i === 1 })),
        el("td", {}, el("input", { type: "radio", name: "diff-b", value: row.id, checked: i === 0 })),
        el("td", { text: row.id }), el("td", { text: String(row.created).replace("T", " ").slice(0, 16) }), el("td", { text: row.preset }),
        el("td", { text: row.seeds.join(",") }), el("td", {}, Lab.badge({ label: row.verdict })), el("td", { text: Lab.seconds(row.wall_s) }))))
      : el("p", { class: "muted", text: "no stored runs yet" }));
  }
  loadHistory();

  document.getElementById("diff-btn").onclick = async () => {
    const a = document.querySelector("input[name=diff-a]:checked"), b = document.querySelector("input[name=diff-b]:checked");
    if (!a || !b) return;
    const r = await api("GET", `/api/diff?a=${a.value}&b=${b.value}`);
    const out = document.getElementById("diff");
    if (!r.ok) { out.replaceChildren(el("p", { class: "error", text: (r.data || {}).detail })); return; }
    const d = r.data, [ra, rb] = d.runs;
    const cell = (e) => (e ? `${fmt(e.estimate)} [${fmt(e.ci_low)}, ${fmt(e.ci_high)}]` : "(absent)");
    out.replaceChildren(
      el("h3", { text: `run ${ra.id} (A) vs run ${rb.id} (B)` }),
      el("table", {}, el("tr", {}, el("th"), el("th", { text: "A" }), el("th", { text: "B" })),
        ["preset", "seeds", "device", "code_version", "verdict", "finding"].map((k) => el("tr", {}, el("th", { text: k }), el("td", { text: String(ra[k]) }), el("td", { text: String(rb[k]) })))),
      el("h3", { text: "parameters that differ" }),
      d.params.length ? el("table", {}, el("tr", {}, ["parameter", "A", "B"].map((h) => el("th", { text: h }))),
        d.params.map((p) => el("tr", {}, el("td", { text: p.name }), el("td", { text: ParamForm.text(p.a) }), el("td", { text: ParamForm.text(p.b) }))))
        : el("p", { class: "muted", text: "none" }),
      el("h3", { text: "evidence" }),
      el("table", {}, el("tr", {}, ["setting", "metric", "A", "B", "B − A"].map((h) => el("th", { text: h }))),
        d.evidence.map((e) => el("tr", {}, el("td", { text: e.setting }), el("td", { text: (Lab.partLabel(e) ? "[" + Lab.partLabel(e) + "] " : "") + e.metric }), el("td", { text: cell(e.a) }), el("td", { text: cell(e.b) }), el("td", { text: fmt(e.delta) })))));
  };
})();
