// A small canvas chart: lines (thin per seed, thick mean) and points with intervals (probes).
"use strict";
const Chart = (() => {
  const COLORS = ["#2f6fb0", "#c0392b", "#2e8b57", "#8e44ad", "#d68910", "#17a2b8", "#7f8c8d", "#a04000"];

  function ticks(lo, hi, n) {
    if (!(hi > lo)) { hi = lo + 1; lo = lo - 1; }
    const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
    const out = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toPrecision(12));
    return out;
  }

  function extent(values) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) if (v !== null && Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (lo === Infinity) return [0, 1];
    if (lo === hi) return [lo - (Math.abs(lo) || 1) * 0.1, hi + (Math.abs(hi) || 1) * 0.1];
    const pad = (hi - lo) * 0.05;
    return [lo - pad, hi + pad];
  }

  function label(t) { const a = Math.abs(t); return a !== 0 && (a < 1e-2 || a >= 1e4) ? t.toExponential(1) : String(+t.toPrecision(4)); }

  // spec: {title, xlabel, lines: [{xs, ys, color, width, alpha}], points: [{x, y, lo, hi, color}], xticks: [[x, text]]}
  function draw(canvas, spec) {
    const dpr = window.devicePixelRatio || 1, w = canvas.clientWidth || 600, h = canvas.clientHeight || 240;
    canvas.width = w * dpr; canvas.height = h * dpr;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const m = { l: 54, r: 12, t: 22, b: 34 };
    const lines = spec.lines || [], points = spec.points || [];
    const xs = lines.flatMap((l) => l.xs).concat(points.map((p) => p.x));
    const ys = lines.flatMap((l) => l.ys).concat(points.flatMap((p) => [p.y, p.lo, p.hi]));
    const [x0, x1] = extent(xs), [y0, y1] = extent(ys);
    const X = (x) => m.l + (x - x0) / (x1 - x0) * (w - m.l - m.r);
    const Y = (y) => h - m.b - (y - y0) / (y1 - y0) * (h - m.t - m.b);
    ctx.font = "11px system-ui, sans-serif"; ctx.fillStyle = "#5b6673"; ctx.strokeStyle = "#e3e8ee"; ctx.lineWidth = 1;
    for (const t of ticks(y0, y1, 4)) {
      ctx.beginPath(); ctx.moveTo(m.l, Y(t)); ctx.lineTo(w - m.r, Y(t)); ctx.stroke();
      ctx.textAlign = "right"; ctx.fillText(label(t), m.l - 4, Y(t) + 4);
    }
    const xt = spec.xticks || ticks(x0, x1, 6).map((t) => [t, label(t)]);
    ctx.textAlign = "center";
    for (const [t, text] of xt) ctx.fillText(text, X(t), h - m.b + 14);
    ctx.fillText(spec.xlabel || "", (m.l + w - m.r) / 2, h - 4);
    ctx.textAlign = "left"; ctx.fillStyle = "#1d232b"; ctx.font = "600 12px system-ui, sans-serif";
    ctx.fillText(spec.title || "", m.l, 14);
    for (const l of lines) {
      ctx.strokeStyle = l.color; ctx.globalAlpha = l.alpha ?? 1; ctx.lineWidth = l.width ?? 1;
      ctx.beginPath();
      let pen = false;
      l.xs.forEach((x, i) => {
        const y = l.ys[i];
        if (y === null || !Number.isFinite(y)) { pen = false; return; }
        if (pen) ctx.lineTo(X(x), Y(y)); else ctx.moveTo(X(x), Y(y));
        pen = true;
      });
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
    for (const p of points) {
      ctx.strokeStyle = ctx.fillStyle = p.color || COLORS[0]; ctx.lineWidth = 1.5;
      if (p.lo !== null && p.hi !== null && p.lo !== undefined) {
        ctx.beginPath(); ctx.moveTo(X(p.x), Y(p.lo)); ctx.lineTo(X(p.x), Y(p.hi)); ctx.stroke();
      }
      if (p.y !== null && p.y !== undefined) { ctx.beginPath(); ctx.arc(X(p.x), Y(p.y), 4, 0, 2 * Math.PI); ctx.fill(); }
    }
  }

  // Live curves of one series: per segment (a training loop) every model thin, the mean thick.
  function curveLines(segments) {
    const lines = [];
    segments.forEach((seg, k) => {
      const color = COLORS[k % COLORS.length], models = seg.values.length ? seg.values[0].length : 0;
      for (let j = 0; j < models; j++) lines.push({ xs: seg.steps, ys: seg.values.map((v) => v[j]), color, width: 1, alpha: 0.35 });
      const mean = seg.values.map((v) => { const ok = v.filter((x) => x !== null); return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : null; });
      lines.push({ xs: seg.steps, ys: mean, color, width: 2.6, alpha: 1 });
    });
    return lines;
  }

  // The k-th colour: the palette, then hues a golden angle apart.
  function color(k) { return k < COLORS.length ? COLORS[k] : `hsl(${Math.round((k * 137.508) % 360)}, 55%, 42%)`; }

  // Live curves of one series whose models are named (segment.models = {settings, seeds}, one
  // per model): a colour per setting, each seed a thin line, the seeds' mean thick (at each step,
  // over every seed of the setting that has reached it, across the segments). Returns
  // {lines, legend: [[setting, colour]]}; segments without names are left out.
  function settingLines(segments) {
    const order = [], lines = [], sums = new Map();
    for (const seg of segments) {
      if (!seg.models) continue;
      seg.models.settings.forEach((name, j) => {
        if (!sums.has(name)) { order.push(name); sums.set(name, new Map()); }
        const c = color(order.indexOf(name)), ys = seg.values.map((v) => (j < v.length ? v[j] : null));
        lines.push({ xs: seg.steps, ys, color: c, width: 1.1, alpha: 0.4 });
        const acc = sums.get(name);
        seg.steps.forEach((x, i) => {
          if (ys[i] === null || !Number.isFinite(ys[i])) return;
          const a = acc.get(x) || acc.set(x, [0, 0]).get(x);
          a[0] += ys[i]; a[1] += 1;
        });
      });
    }
    order.forEach((name, k) => {
      const xs = [...sums.get(name).keys()].sort((a, b) => a - b);
      lines.push({ xs, ys: xs.map((x) => { const [t, n] = sums.get(name).get(x); return t / n; }), color: color(k), width: 2.8, alpha: 1 });
    });
    return { lines, legend: order.map((name, k) => [name, color(k)]) };
  }

  return { draw, curveLines, settingLines, color, COLORS };
})();
