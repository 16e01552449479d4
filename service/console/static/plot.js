// A small SVG line plot (no charting library): several series on one x axis of steps.
"use strict";
window.linePlot = function linePlot(container, series, options = {}) {
  const W = 640, H = 260, pad = { left: 48, right: 12, top: 12, bottom: 28 };
  const all = series.flatMap((s) => s.values);
  const xMax = Math.max(...series.map((s) => s.x0 + s.values.length - 1), 1);
  let yMin = Math.min(...all), yMax = Math.max(...all);
  if (yMin === yMax) { yMin -= 1; yMax += 1; }
  const x = (i) => pad.left + (i / xMax) * (W - pad.left - pad.right);
  const y = (v) => pad.top + (1 - (v - yMin) / (yMax - yMin)) * (H - pad.top - pad.bottom);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", options.label || "line plot");
  const add = (tag, attrs, text) => {
    const el = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    svg.appendChild(el);
    return el;
  };
  add("line", { x1: pad.left, y1: H - pad.bottom, x2: W - pad.right, y2: H - pad.bottom, class: "axis" });
  add("line", { x1: pad.left, y1: pad.top, x2: pad.left, y2: H - pad.bottom, class: "axis" });
  for (const v of [yMin, (yMin + yMax) / 2, yMax]) {
    add("text", { x: pad.left - 6, y: y(v) + 4, class: "tick", "text-anchor": "end" }, v.toFixed(1));
  }
  add("text", { x: W - pad.right, y: H - 8, class: "tick", "text-anchor": "end" }, `step ${xMax}`);
  series.forEach((s, k) => {
    const points = s.values.map((v, i) => `${x(s.x0 + i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    add("polyline", { points, class: `line ${s.cls}`, "data-series": s.label });
    add("text", { x: pad.left + 90 * k, y: H - 8, class: `legend ${s.cls}` }, s.label);
  });
  container.replaceChildren(svg);
  return svg;
};
