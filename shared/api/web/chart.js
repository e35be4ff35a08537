/* The operations dashboard: the flow chart of events (steps per minute or hour).
   Loaded after dashboard.js, whose helpers (h, api, state, ...) it uses; see there.
*/
"use strict";

/* =====================================================================================
   The flow chart: how many events took each step per minute (the last 1 or 6 hours) or
   per hour (24 hours, 7 days), for one integration or all together
   (POST /v1/integrations/events/flow). Drawn here as SVG, without a library: colours
   come from a CSS class per step and sizes from attributes, since the page's policy
   allows no style attribute. A table of the same numbers is one click away.
   ===================================================================================== */

const SVG_NS = "http://www.w3.org/2000/svg";
const FLOW_WINDOWS = {
  "1h": { ms: 3600e3, label: "Last hour", per: "per minute" },
  "6h": { ms: 6 * 3600e3, label: "Last 6 hours", per: "per minute" },
  "24h": { ms: 86400e3, label: "Last 24 hours", per: "per hour" },
  "7d": { ms: 7 * 86400e3, label: "Last 7 days", per: "per hour" },
};
const STEP_LABELS = {
  received: "Received", succeeded: "Succeeded", skipped: "Skipped", retryScheduled: "Retry scheduled",
  failed: "Failed", deadLettered: "Dead-lettered", resubmitted: "Resubmitted",
};
const KEY_FLOW = "integrations.dashboard.flow";
const LABEL_SPACING_PX = 72;    // the least room between two time labels under the bars

// The SVG counterpart of h(): attributes set as attributes, text as text nodes.
function svgEl(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "className") el.setAttribute("class", value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, String(value));
  }
  appendAll(el, children);
  return el;
}

const stepLabel = (step) => STEP_LABELS[step] || step;
const number = (n) => Number(n || 0).toLocaleString();

// A y axis from 0 to a round number at or above `max`, with three or four steps.
function niceScale(max) {
  if (max <= 0) return { top: 1, ticks: [0] };
  const rough = max / 3, magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = Math.max(1, [1, 2, 5, 10].map((f) => f * magnitude).find((s) => s >= rough));
  const top = Math.ceil(max / step) * step, ticks = [];
  for (let t = 0; t <= top; t += step) ticks.push(t);
  return { top, ticks };
}

// The local calendar day of a moment, as a number (so days compare across months).
const localDay = (d) => Math.floor((d.getTime() - d.getTimezoneOffset() * 60e3) / 86400e3);

function bucketLabel(iso, granularity, long = false) {
  const d = new Date(iso);
  const time = d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  if (!long) return time;
  const day = d.toLocaleDateString(undefined, { weekday: "short", day: "numeric", month: "short" });
  return granularity === "hour" || localDay(d) !== localDay(new Date()) ? `${day} ${time}` : time;
}

function readFlowSettings() {
  try { return JSON.parse(sessionStorage.getItem(KEY_FLOW) || "{}") || {}; } catch (err) { return {}; }
}

class FlowChart {
  // `root`: the (empty) section to fill. `scoped`: it offers the integration chosen in
  // the events view besides all integrations. `compact`: shorter, legend in one line.
  constructor(root, { name, scoped = false, compact = false, window = "1h" }) {
    const saved = readFlowSettings()[name] || {};
    Object.assign(this, { root, name, scoped, compact });
    this.window = FLOW_WINDOWS[saved.window] ? saved.window : window;
    this.scope = scoped && saved.scope !== "all" ? "integration" : "all";
    this.open = saved.open !== false;
    this.hiddenSteps = new Set(Array.isArray(saved.hidden) ? saved.hidden : []);
    this.data = null; this.error = null; this.loaded = null; this.seq = 0; this.width = 0;
    this.build();
  }

  save() {
    const all = readFlowSettings();
    all[this.name] = { window: this.window, scope: this.scope, open: this.open, hidden: [...this.hiddenSteps] };
    sessionStorage.setItem(KEY_FLOW, JSON.stringify(all));
  }

  build() {
    const id = (part) => `flow-${this.name}-${part}`;
    const testid = (part) => ({ testid: `flow-${part}` });
    this.titleId = id("title");
    this.title = h("h2", { className: "flow-title", id: this.titleId, dataset: testid("title") });
    this.windowSelect = h("select", { "aria-label": "Time window of the chart", dataset: testid("window"),
      onchange: (e) => { this.window = e.target.value; this.save(); this.load(); } },
      Object.entries(FLOW_WINDOWS).map(([key, w]) => h("option", { value: key }, `${w.label}, ${w.per}`)));
    this.windowSelect.value = this.window;
    if (this.scoped) {
      this.scopeSelect = h("select", { "aria-label": "Integrations in the chart", dataset: testid("scope"),
        onchange: (e) => { this.scope = e.target.value; this.save(); this.load(); } },
        h("option", { value: "integration" }, "This integration"),
        h("option", { value: "all", dataset: { testid: "flow-scope-all" } }, "All integrations"));
      this.scopeSelect.value = this.scope;
    }
    this.toggle = h("button", { className: "btn small", type: "button", "aria-controls": id("body"),
      dataset: testid("toggle"), onclick: () => this.setOpen(!this.open) });
    this.plot = h("div", { className: "flow-plot", dataset: testid("plot") });
    this.legend = h("ul", { className: "flow-legend", "aria-label": "Steps with their totals (a click hides or shows a step)",
      dataset: testid("legend") });
    this.summary = h("p", { className: "flow-summary", dataset: testid("summary") });
    this.tableHead = h("tr");
    this.tableBody = h("tbody");
    this.caption = h("caption", { className: "visually-hidden" });
    this.table = h("details", { className: "flow-table", dataset: testid("table") },
      h("summary", {}, "The numbers as a table"),
      h("div", { className: "table-wrap" }, h("table", {}, this.caption, h("thead", {}, this.tableHead), this.tableBody)));
    this.note = h("p", { className: "flow-note muted" },
      `Times in your time zone (${Intl.DateTimeFormat().resolvedOptions().timeZone || "local"}). `,
      "Steps, not events: an event counts when it is received and again at its outcome. ",
      "The newest minute fills in within seconds.");
    this.body = h("div", { className: "flow-body", id: id("body") },
      h("div", { className: "flow-main" }, this.plot, this.legend), this.summary, this.table, this.note);
    this.root.setAttribute("aria-labelledby", this.titleId);
    appendAll(this.root, [h("div", { className: "flow-head" }, this.title, h("span", { className: "spacer" }),
      this.scopeSelect || null, this.windowSelect, this.toggle), this.body]);
    // Drawn for the width it has: again when that changes (or when it is first shown).
    if ("ResizeObserver" in window) {
      new ResizeObserver(() => { if (this.plot.clientWidth !== this.width) this.draw(); }).observe(this.plot);
    }
    this.setOpen(this.open, { load: false });
  }

  setOpen(open, { load = true } = {}) {
    this.open = open;
    this.body.hidden = !open;
    this.windowSelect.hidden = !open;
    if (this.scopeSelect) this.scopeSelect.hidden = !open;
    this.toggle.textContent = open ? "Hide chart" : "Show chart";
    this.toggle.setAttribute("aria-expanded", String(open));
    this.root.classList.toggle("closed", !open);
    this.save();
    if (open && load) this.load();
    this.renderTitle();
  }

  // A token limited to some integrations is refused the chart of all together: the
  // events chart offers only its integration, the chart of all is not shown.
  renderScope() {
    const limited = isLimited();
    if (this.scopeSelect) {
      const all = this.scopeSelect.querySelector("option[value=all]");
      all.disabled = all.hidden = limited;
      this.scopeSelect.value = limited ? "integration" : this.scope;
      this.scopeSelect.title = limited ? "Your token is limited to some integrations: the chart of all is not yours to see" : "";
    } else {
      this.root.hidden = limited;
    }
  }

  // The integration the chart is about (null: all together).
  integrationId() {
    const one = this.scoped && (this.scope === "integration" || isLimited());
    return one && state.integrationId ? state.integrationId : null;
  }

  async load() {
    if (!this.open || !state.token) { this.renderTitle(); return; }
    if (!this.integrationId() && isLimited()) { this.renderTitle(); return; }  // refused: not asked
    const integrationId = this.integrationId(), windowKey = this.window;
    const asked = { integrationId, window: windowKey };
    // Another integration or window: its numbers are not shown as this one's meanwhile.
    if (!this.loaded || this.loaded.integrationId !== integrationId || this.loaded.window !== windowKey) {
      this.data = null; this.error = null; this.loaded = asked; this.render();
    }
    const seq = ++this.seq;
    const body = { from: new Date(Date.now() - FLOW_WINDOWS[windowKey].ms).toISOString() };
    if (integrationId) body.integrationId = integrationId;
    try {
      const data = await api("POST", "v1/integrations/events/flow", body);
      if (seq !== this.seq) return;
      this.data = data; this.error = null;
    } catch (err) {
      if (seq !== this.seq) return;
      if (err.status === 401) { handleError(err, ""); return; }
      this.error = err.message;
    }
    this.render();
  }

  whose() {
    const id = this.loaded ? this.loaded.integrationId : this.integrationId();
    if (!id) return "all integrations";
    const integration = state.integrations.find((i) => i.id === id);
    return integration ? integration.name : id;
  }

  renderTitle() {
    this.title.textContent = `Flow · ${this.whose()}`;
    this.title.title = this.title.textContent;
    this.root.dataset.scope = (this.loaded && this.loaded.integrationId) || (this.integrationId() || "all");
  }

  render() {
    const data = this.data;
    this.renderTitle();
    this.root.dataset.state = data ? "ready" : this.error ? "error" : "loading";
    this.root.dataset.granularity = data ? data.granularity : "";
    this.root.dataset.window = this.window;
    this.renderLegend();
    this.summary.textContent = this.describe();
    this.renderTable();
    this.draw();
  }

  steps() {
    return (this.data && this.data.steps) || Object.keys(STEP_LABELS);
  }

  // In words, for the summary line and the chart's accessible name.
  describe() {
    const data = this.data;
    if (!data) return this.error ? `The flow could not be read: ${this.error}` : "Loading the flow…";
    const w = FLOW_WINDOWS[this.window];
    const totals = data.totals || {};
    const parts = this.steps().filter((s) => totals[s]).map((s) => `${number(totals[s])} ${stepLabel(s).toLowerCase()}`);
    let busiest = null;
    for (const b of data.buckets || []) {
      const n = Object.values(b.counts || {}).reduce((a, c) => a + c, 0);
      if (n && (!busiest || n > busiest.n)) busiest = { n, start: b.start };
    }
    const unit = data.granularity === "hour" ? "hour" : "minute";
    return `${w.label}, ${this.whose()}, ${w.per}: ${parts.length ? parts.join(", ") : "no events"}.`
      + (busiest ? ` Busiest ${unit}: ${bucketLabel(busiest.start, data.granularity, true)} (${number(busiest.n)} steps).` : "");
  }

  renderLegend() {
    const totals = (this.data && this.data.totals) || {};
    const json = JSON.stringify([this.steps(), [...this.hiddenSteps]]);
    if (json !== this.legend.dataset.shown) {
      this.legend.dataset.shown = json;
      clear(this.legend);
      for (const step of this.steps()) {
        const shown = !this.hiddenSteps.has(step);
        this.legend.append(h("li", {}, h("button", { type: "button", className: `flow-key step-${step}`,
          "aria-pressed": String(shown), title: `${shown ? "Hide" : "Show"} “${stepLabel(step)}” in the chart`,
          dataset: { testid: "flow-key", step },
          onclick: () => {
            if (this.hiddenSteps.has(step)) this.hiddenSteps.delete(step); else this.hiddenSteps.add(step);
            this.save(); this.render();
          } },
          h("span", { className: "flow-swatch" }), h("span", { className: "label" }, stepLabel(step)),
          h("span", { className: "n", dataset: { testid: "flow-total" } }, ""))));
      }
    }
    for (const key of this.legend.querySelectorAll("[data-step]")) {
      key.querySelector(".n").textContent = this.data ? number(totals[key.dataset.step]) : "…";
    }
  }

  renderTable() {
    const steps = this.steps();
    const data = this.data;
    const unit = data && data.granularity === "hour" ? "Hour" : "Minute";
    this.caption.textContent = `Steps per ${unit.toLowerCase()}, ${this.whose()}, newest first`;
    appendAll(clear(this.tableHead), [h("th", { scope: "col" }, `${unit} starting`),
      steps.map((s) => h("th", { scope: "col", className: "num" }, stepLabel(s)))]);
    const body = clear(this.tableBody);
    const rows = ((data && data.buckets) || []).filter((b) => steps.some((s) => (b.counts || {})[s]));
    for (const b of rows.slice().reverse()) {
      body.append(h("tr", { dataset: { testid: "flow-row", start: b.start } },
        h("th", { scope: "row" }, h("time", { datetime: b.start }, bucketLabel(b.start, data.granularity, true))),
        steps.map((s) => h("td", { className: "num", dataset: { step: s } }, number((b.counts || {})[s])))));
    }
    if (!rows.length) {
      body.append(h("tr", {}, h("td", { colspan: steps.length + 1, className: "muted" },
        data ? "No events in this window." : "Loading…")));
    }
  }

  draw() {
    const plot = this.plot, width = plot.clientWidth;
    this.width = width;
    if (!width) return;  // not on screen: drawn once it is (the ResizeObserver)
    const height = plot.clientHeight || 160;
    const data = this.data;
    const m = { top: 10, right: 8, bottom: 22, left: 42 };
    const plotW = Math.max(10, width - m.left - m.right), plotH = Math.max(10, height - m.top - m.bottom);
    const buckets = (data && data.buckets) || [];
    const steps = this.steps().filter((s) => !this.hiddenSteps.has(s));
    const sum = (b) => steps.reduce((n, s) => n + ((b.counts || {})[s] || 0), 0);
    const { top, ticks } = niceScale(Math.max(0, ...buckets.map(sum)));
    const y = (v) => m.top + plotH - (v / top) * plotH;
    const titleId = `flow-${this.name}-svg-title`;
    const chart = svgEl("svg", { className: "flow-svg", width, height, viewBox: `0 0 ${width} ${height}`,
      role: "img", "aria-labelledby": titleId, dataset: { testid: "flow-svg" } },
      svgEl("title", { id: titleId }, this.describe()));

    for (const t of ticks) {
      chart.append(svgEl("line", { className: t ? "flow-grid" : "flow-baseline", x1: m.left, x2: width - m.right,
        y1: y(t), y2: y(t) }),
        svgEl("text", { className: "flow-axis flow-y", x: m.left - 6, y: y(t) + 4 }, number(t)));
    }
    if (!data || !buckets.length) {
      chart.append(svgEl("text", { className: "flow-message", x: m.left + plotW / 2, y: m.top + plotH / 2 },
        this.error ? "The flow could not be read." : "Loading…"));
      clear(plot).append(chart);
      return;
    }

    const band = plotW / buckets.length;
    const barW = band >= 4 ? Math.max(1, band * 0.75) : band;  // thin bands: no gap between bars
    const every = this.labelEvery(band);
    let lastSlot = null;
    buckets.forEach((b, i) => {
      const x = m.left + i * band, total = sum(b);
      const counts = steps.filter((s) => (b.counts || {})[s]).map((s) => `${number(b.counts[s])} ${stepLabel(s).toLowerCase()}`);
      const group = svgEl("g", { className: "flow-bucket", dataset: { testid: "flow-bucket", start: b.start, total: String(total) } },
        svgEl("title", {}, `${bucketLabel(b.start, data.granularity, true)}: ${counts.length ? counts.join(", ") : "nothing"}`),
        svgEl("rect", { className: "flow-hit", x, y: m.top, width: band, height: plotH }));
      let below = 0;
      for (const s of steps) {
        const n = (b.counts || {})[s] || 0;
        if (!n) continue;
        group.append(svgEl("rect", { className: `flow-bar step-${s}`, x: x + (band - barW) / 2, y: y(below + n),
          width: barW, height: y(below) - y(below + n), dataset: { testid: "flow-bar", step: s, n: String(n) } }));
        below += n;
      }
      chart.append(group);
      // A time label where a new slot of `every` minutes starts (in local time).
      const d = new Date(b.start);
      const slot = every >= 1440 ? Math.floor(localDay(d) / (every / 1440))
        : localDay(d) * 1440 + Math.floor((d.getHours() * 60 + d.getMinutes()) / every);
      const aligned = every >= 1440 ? d.getHours() === 0 : (d.getHours() * 60 + d.getMinutes()) % every === 0;
      if ((lastSlot !== null && slot !== lastSlot) || (lastSlot === null && aligned)) {
        const midnight = d.getHours() === 0 && d.getMinutes() === 0 && data.granularity === "hour";
        const text = every >= 1440 || midnight
          ? d.toLocaleDateString(undefined, { weekday: "short", day: "numeric" })
          : d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
        if (x > m.left + 14 && x < width - m.right - 14) {
          chart.append(svgEl("line", { className: "flow-tick", x1: x, x2: x, y1: y(0), y2: y(0) + 4 }),
            svgEl("text", { className: "flow-axis flow-x", x, y: height - 5, dataset: { testid: "flow-label" } }, text));
        }
      }
      lastSlot = slot;
    });
    if (!buckets.some((b) => sum(b))) {
      chart.append(svgEl("text", { className: "flow-message", x: m.left + plotW / 2, y: m.top + plotH / 2 },
        steps.length ? "No events in this window." : "Every step is hidden: click one in the legend."));
    }
    clear(plot).append(chart);
  }

  // Minutes between two time labels: the smallest round span that leaves them room.
  labelEvery(band) {
    const minutes = this.data.granularity === "hour" ? 60 : 1;
    const spans = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080];
    return spans.find((span) => span >= minutes && (span / minutes) * band >= LABEL_SPACING_PX) || 10080;
  }
}

const flowCharts = {
  events: new FlowChart($("flow-events"), { name: "events", scoped: true, window: "1h" }),
  all: new FlowChart($("flow-all"), { name: "all", compact: true, window: "24h" }),
};
