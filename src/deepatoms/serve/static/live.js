// A run or probe while it trains: Server-Sent Events → progress bar, live curves, the end.
"use strict";
const Live = (() => {
  const { el, api, seconds, withToken } = Lab;

  function verdictView(verdict, runId) {
    const label = verdict.scale === "full" ? verdict.status : "indicative: " +
      ({ reproduced: "for the claim", "not reproduced": "against the claim" }[verdict.indicative] || "undecided");
    const parts = [el("div", { class: "row" }, Lab.badge({ label, status: verdict.status }),
      el("span", { class: "meta", text: `${verdict.scale} scale${runId ? " · stored run " + runId : ""}` })),
      el("p", { text: verdict.finding })];
    const partsList = Lab.partsList(verdict.parts);
    if (partsList) parts.push(partsList);
    if ((verdict.scale_reasons || []).length) parts.push(el("p", { class: "meta", text: "reduced: " + verdict.scale_reasons.join("; ") }));
    if (verdict.seeds_note) parts.push(el("p", { class: "meta", text: verdict.seeds_note }));
    parts.push(Lab.evidenceTable(verdict.evidence));
    if (runId) parts.push(figures(runId));
    return el("div", { class: "verdict" }, parts);
  }

  function figures(runId) {
    const box = el("div", { class: "figures" });
    api("GET", `/api/figures/${runId}`).then((res) => {
      if (!res.ok) return;
      box.replaceChildren(...res.data.map((name, i) => el("figure", {},
        el("img", { src: withToken(`/api/figures/${runId}/${i}.png`), alt: name }), el("figcaption", { class: "meta", text: name }))));
    });
    return box;
  }

  class Watch {
    constructor(job, handlers) {
      this.job = job; this.handlers = handlers || {}; this.series = {}; this.points = 0;
      this.node = { bar: document.getElementById("bar"), text: document.getElementById("progress-text"),
                    charts: document.getElementById("charts"), outcome: document.getElementById("outcome") };
      document.getElementById("live-idle").hidden = true; document.getElementById("live").hidden = false;
      this.node.charts.replaceChildren(); this.node.outcome.replaceChildren(); this.node.bar.style.width = "0";
      this.loop = null; this.started = Date.now(); this.state = "queued";
      this.source = new EventSource(withToken(`/api/runs/${job.id}/events`));
      for (const type of ["state", "progress", "point", "probe", "end"]) this.source.addEventListener(type, (e) => this.on(type, JSON.parse(e.data)));
      this.timer = setInterval(() => this.poll(), 500);
      document.getElementById("cancel").disabled = false;
      document.getElementById("cancel").onclick = () => api("DELETE", `/api/runs/${job.id}`);
    }

    on(type, data) {
      if (type === "state") this.state = data.state;
      if (type === "progress") { this.loop = data; this.node.bar.style.width = (100 * data.done / data.total).toFixed(1) + "%"; this.text(); }
      if (type === "point") this.point(data);
      if (type === "probe" && this.handlers.probe) this.handlers.probe(data);
      if (type === "end") this.end(data);
    }

    async poll() {
      const res = await api("GET", `/api/runs/${this.job.id}`);
      if (res.ok) { this.view = res.data; this.text(); }
    }

    text() {
      const v = this.view || {}, loop = this.loop;
      const parts = [v.state || this.state];
      if (loop) parts.push(`${loop.loop}: ${loop.done}/${loop.total} steps`);
      if (v.elapsed_s !== undefined) parts.push(seconds(v.elapsed_s) + " elapsed");
      if (v.state === "running") parts.push(`about ${seconds(v.left_s)} left (estimate ${seconds(v.estimate_s)})`);
      this.node.text.textContent = parts.join(" · ");
    }

    point(data) {
      this.points += 1;
      for (const [name, values] of Object.entries(data.series)) {
        let s = this.series[name];
        if (!s) {
          const canvas = el("canvas", { class: "chart", "data-series": name }), legend = el("div", { class: "legend" });
          this.node.charts.append(el("div", { class: "chart-box" }, canvas, legend));
          s = this.series[name] = { canvas, legend, segments: [], count: 0 };
        }
        // a loop whose models the atom named: its curves are grouped by setting
        const models = data.models && data.models.settings.length === values.length ? data.models : null;
        const seg = s.segments[data.segment] || (s.segments[data.segment] = { steps: [], values: [], models });
        seg.steps.push(data.step); seg.values.push(values); s.count += 1;
        s.canvas.dataset.points = s.count;
      }
      this.node.charts.dataset.points = this.points;
      if (!this.frame) this.frame = requestAnimationFrame(() => this.redraw());
    }

    redraw() {
      this.frame = null;
      for (const [name, s] of Object.entries(this.series)) {
        const segments = s.segments.filter(Boolean), named = segments.filter((g) => g.models);
        const grouped = Chart.settingLines(named), plain = Chart.curveLines(segments.filter((g) => !g.models));
        const title = named.length ? name + " per setting (each seed thin, the mean of the seeds thick)"
          : name + " (each model thin, the mean thick; a colour per training loop)";
        Chart.draw(s.canvas, { title, xlabel: "step", lines: plain.concat(grouped.lines) });
        s.canvas.dataset.settings = grouped.legend.length;
        if (s.legend.childElementCount !== grouped.legend.length) {
          s.legend.replaceChildren(...grouped.legend.map(([label, color]) => el("span", { class: "key", "data-setting": label },
            el("i", { style: `background:${color}` }), label)));
        }
      }
    }

    end(data) {
      this.source.close(); clearInterval(this.timer);
      document.getElementById("cancel").disabled = true;
      this.state = data.state; this.poll();
      const out = this.node.outcome;
      if (data.state === "done") {
        this.node.bar.style.width = "100%";
        if (data.verdict) out.replaceChildren(verdictView(data.verdict, data.run_id),
          el("p", { class: "meta", text: data.cached_seeds && data.cached_seeds.length ? `cached seeds: ${data.cached_seeds.join(",")}` : "" }));
      } else if (data.state === "cancelled") {
        out.replaceChildren(el("p", { class: "error", text: "cancelled: the finished seed batches are stored; run again to resume" }));
      } else {
        out.replaceChildren(el("p", { class: "error", text: "failed: " + (data.error || "") }));
      }
      out.dataset.state = data.state;
      if (this.handlers.end) this.handlers.end(data);
    }
  }

  return { Watch, verdictView, figures };
})();
