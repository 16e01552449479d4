// Live traffic on the model list: polls the console's stats (read from /metrics) and turns
// two consecutive totals into a request rate and the mean latency over the interval.
"use strict";
(function () {
  const POLL_MS = 2000;
  let previous = null;

  function show(card, field, text) {
    const el = card.querySelector(`[data-field="${field}"]`);
    if (el) el.textContent = text;
  }

  function render(now) {
    for (const card of document.querySelectorAll("[data-model]")) {
      const name = card.dataset.model;
      const cur = now.models[name] || { requests: 0, errors: 0, latency_sum_s: 0, latency_count: 0 };
      show(card, "requests", String(cur.requests));
      show(card, "errors", String(cur.errors));
      if (previous === null) continue;
      const before = previous.models[name] || { requests: 0, latency_sum_s: 0, latency_count: 0 };
      const seconds = now.time - previous.time;
      const count = cur.latency_count - before.latency_count;
      if (seconds > 0) show(card, "rate", ((cur.requests - before.requests) / seconds).toFixed(2));
      show(card, "latency", count > 0
        ? ((1000 * (cur.latency_sum_s - before.latency_sum_s)) / count).toFixed(1) : "–");
    }
    previous = now;
  }

  async function poll() {
    try {
      const response = await fetch("/console/api/stats", { cache: "no-store" });
      if (response.ok) render(await response.json());
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }
  poll();
})();
