// The try-it panels: each calls the service's public task verb for the version shown and
// renders the answer. Which panel exists is decided by the card's task (server side).
"use strict";
(function () {
  const config = JSON.parse(document.getElementById("console-config").textContent);
  const task = config.task;
  const result = document.getElementById("result");
  const errorBox = document.getElementById("try-error");
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs = {}, text) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  };

  // POST a task verb; the API's own error message is shown when it refuses the input.
  async function call(verb, body) {
    errorBox.textContent = "";
    const response = await fetch(`${config.base}:${verb}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await response.json();
    if (!response.ok) {
      errorBox.textContent = `${response.status}: ${answer.error}`;
      return null;
    }
    return answer;
  }

  function bars(pairs, cls) {
    const max = Math.max(...pairs.map(([, v]) => Math.abs(v)), 1e-12);
    const list = el("ol", { class: `bars ${cls}` });
    for (const [name, value] of pairs) {
      const item = el("li");
      item.append(el("span", { class: "name" }, name), el("span", { class: "value" }, value.toFixed(3)));
      const bar = el("span", { class: "bar" });
      bar.style.width = `${(100 * Math.abs(value)) / max}%`;
      item.append(bar);
      list.append(item);
    }
    return list;
  }

  function showClasses(answer) {
    const pairs = answer.results[0];
    result.replaceChildren(el("p", { class: "top-label", id: "top-label" }, pairs[0][0]), bars(pairs, "scores"));
  }

  const numbers = (text) => text.split(/[\s,;]+/).filter((t) => t !== "").map(Number);

  // ---- image classification: a drawing pad scaled to the model's input ---------------
  function imagePanel() {
    const pad = $("pad"), preview = $("preview");
    const ctx = pad.getContext("2d"), small = preview.getContext("2d", { willReadFrequently: true });
    const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, pad.width, pad.height); };
    clear();
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 22; ctx.lineCap = "round"; ctx.lineJoin = "round";
    let drawing = false;
    const at = (e) => {
      const box = pad.getBoundingClientRect();
      return [((e.clientX - box.left) * pad.width) / box.width, ((e.clientY - box.top) * pad.height) / box.height];
    };
    pad.addEventListener("pointerdown", (e) => { drawing = true; pad.setPointerCapture(e.pointerId); ctx.beginPath(); ctx.moveTo(...at(e)); ctx.lineTo(...at(e)); ctx.stroke(); });
    pad.addEventListener("pointermove", (e) => { if (drawing) { ctx.lineTo(...at(e)); ctx.stroke(); } });
    const stop = () => { drawing = false; };
    pad.addEventListener("pointerup", stop);
    pad.addEventListener("pointercancel", stop);
    $("clear-pad").addEventListener("click", () => { clear(); result.replaceChildren(); });
    $("classify-image").addEventListener("click", async () => {
      const { width, height, channels } = task.image;
      small.imageSmoothingQuality = "high";
      small.drawImage(pad, 0, 0, width, height);
      const rgba = small.getImageData(0, 0, width, height).data;
      const pixels = [];
      for (let r = 0; r < height; r++) {
        const row = [];
        for (let c = 0; c < width; c++) {
          const i = 4 * (r * width + c);
          row.push(channels === 1 ? rgba[i] : [rgba[i], rgba[i + 1], rgba[i + 2]]);
        }
        pixels.push(row);
      }
      const answer = await call("classify", { instances: [pixels], k: Math.min(3, task.labels.length) });
      if (answer) showClasses(answer);
    });
  }

  // ---- text classification -------------------------------------------------------------
  function textPanel() {
    $("classify-text").addEventListener("click", async () => {
      const answer = await call("classify", { instances: [$("text-input").value], k: task.labels.length });
      if (answer) showClasses(answer);
    });
  }

  // ---- forecasting ---------------------------------------------------------------------
  function forecastPanel() {
    const input = $("series-input");
    // a synthetic cycle as a starting point: two windows of a noisy 11-step wave
    input.value = Array.from({ length: 2 * task.window },
      (_, i) => Math.round(60 + 45 * Math.sin((2 * Math.PI * i) / 11) + 5 * Math.cos(i))).join(", ");
    $("run-forecast").addEventListener("click", async () => {
      const history = numbers(input.value);
      const steps = Number($("steps-input").value);
      const answer = await call("forecast", { instances: [history], steps });
      if (!answer) return;
      const forecast = answer.results[0].forecast;
      const last = history.length - 1;
      window.linePlot($("plot"), [
        { values: history, x0: 0, cls: "history", label: "history" },
        { values: [history[last], ...forecast], x0: last, cls: "forecast", label: "forecast" },
      ], { label: "history and forecast" });
      const list = el("ol", { class: "values", id: "forecast-values" });
      for (const v of forecast) list.append(el("li", {}, v.toFixed(3)));
      result.replaceChildren(el("p", {}, `next ${answer.results[0].steps} values:`), list);
    });
  }

  // ---- anomaly detection ---------------------------------------------------------------
  function anomalyPanel() {
    const input = $("case-input"), history = $("case-history");
    const KEY = `console-cases-${config.model}`;
    const saved = () => JSON.parse(sessionStorage.getItem(KEY) || "[]");
    const refresh = () => {
      history.replaceChildren(el("option", { value: "" }, "—"));
      saved().forEach((text, i) => history.append(el("option", { value: String(i) }, `case ${i + 1}: ${text.slice(0, 40)}…`)));
    };
    refresh();
    history.addEventListener("change", () => { if (history.value !== "") input.value = saved()[Number(history.value)]; });
    $("run-detect").addEventListener("click", async () => {
      const text = input.value.trim();
      let instance;
      try { instance = text.startsWith("{") || text.startsWith("[") ? JSON.parse(text) : numbers(text); }
      catch (err) { errorBox.textContent = `not JSON: ${err.message}`; return; }
      const answer = await call("detect", { instances: [instance], explain: true, threshold: Number($("threshold-input").value) });
      if (!answer) return;
      const cases = saved().filter((t) => t !== text);
      sessionStorage.setItem(KEY, JSON.stringify([text, ...cases].slice(0, 10)));
      refresh();
      const r = answer.results[0];
      const verdict = el("p", { class: `verdict ${r.anomaly ? "anomaly" : "normal"}`, id: "verdict" }, r.anomaly ? "anomaly" : "normal");
      const scale = Math.max(r.score, r.threshold) * 1.25 || 1;
      const gauge = el("div", { class: "gauge", "aria-label": "score against threshold" });
      const fill = el("span", { class: "fill" }); fill.style.width = `${(100 * r.score) / scale}%`;
      const mark = el("span", { class: "mark" }); mark.style.left = `${(100 * r.threshold) / scale}%`;
      gauge.append(fill, mark);
      const numbersLine = el("p", {});
      numbersLine.append("score ", el("b", { id: "score" }, r.score.toFixed(3)), " · threshold ", el("b", { id: "threshold" }, r.threshold.toFixed(3)));
      const top = Object.entries(r.contributions).slice(0, 10);
      result.replaceChildren(verdict, numbersLine, gauge, el("h3", {}, "largest contributions"), bars(top, "contributions"));
    });
  }

  const panels = { image: imagePanel, text: textPanel, forecast: forecastPanel, anomaly: anomalyPanel };
  if (result && panels[result.dataset.panel]) panels[result.dataset.panel]();
})();
