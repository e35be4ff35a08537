/* The operations dashboard's script; the page is dashboard.html beside it.

   Security rules it follows:
   - The management token lives in sessionStorage only (gone when the tab closes) and
     is sent only as `Authorization: Bearer` to this same origin. A `#token=` in the URL
     is read once and removed from the address bar at once.
   - API data is never parsed as HTML: every element is built with the small `h()`
     helper below, which sets text through text nodes. No innerHTML anywhere.
*/
"use strict";

/* =====================================================================================
   Constants
   ===================================================================================== */

// The actions the inbound API accepts (DESIGN.md "Actions"); used for the filter list.
const ACTIONS = ["inventory.set", "inventory.adjust", "order.create", "order.update",
  "product.upsert", "price.set", "customer.upsert"];
const STATUSES = ["queued", "processing", "success", "failed", "skipped"];
const REFRESH_MS = 5000;        // auto-refresh period (the issue asks for ~5 s)
const WATCH_MS = 1000;          // faster polling of an event right after it was resubmitted
const JOB_POLL_MS = 1000;       // bulk job progress polling
const PAGE_SIZE = 50;
const RANGES = { "15m": 15 * 60e3, "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3 };
const KEY_TOKEN = "integrations.dashboard.token";     // sessionStorage keys
const KEY_INTEGRATION = "integrations.dashboard.integration";
const VIEWS = ["events", "integrations", "audit", "tokens"];
const STATS_CONCURRENCY = 3;    // integrations whose counts load at once (two calls each, in turn)
const STATS_MAX_AGE_MS = 30e3;  // an integration's counts are read again after this
const ORDERING = { integration: "Ordering: one queue", entity: "Ordering: per record" };

/* =====================================================================================
   Safe DOM building: text goes through text nodes, never through HTML parsing.
   ===================================================================================== */

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "className") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  appendAll(el, children);
  return el;
}

function appendAll(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const $ = (id) => document.getElementById(id);
const clear = (el) => { while (el.firstChild) el.removeChild(el.firstChild); return el; };

/* =====================================================================================
   Time: ages in words ("3 min ago"), absolute times in the reader's time zone.
   ===================================================================================== */

function relative(iso, now = Date.now()) {
  if (!iso) return "";
  const ms = Date.parse(iso) - now;
  const s = Math.abs(ms) / 1000;
  let words;
  if (s < 5) return ms > 0 ? "in a moment" : "just now";
  if (s < 60) words = `${Math.floor(s)} s`;
  else if (s < 3600) words = `${Math.floor(s / 60)} min`;
  else if (s < 86400) words = `${Math.floor(s / 3600)} h`;
  else words = `${Math.floor(s / 86400)} d`;
  return ms > 0 ? `in ${words}` : `${words} ago`;
}

function absolute(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

// A <time> whose text is kept current by the ticker below, with the exact time on hover.
function timeEl(iso) {
  if (!iso) return h("span", { className: "muted" }, "—");
  return h("time", { datetime: iso, title: absolute(iso), dataset: { relative: "1" } }, relative(iso));
}

function tickAges() {
  for (const el of document.querySelectorAll("time[data-relative]")) {
    el.textContent = relative(el.getAttribute("datetime"));
  }
}

/* =====================================================================================
   State. The token lives in sessionStorage only.
   ===================================================================================== */

const state = {
  token: sessionStorage.getItem(KEY_TOKEN) || "",
  integrations: [],
  integrationId: "",
  filters: { status: "", action: "", search: "", range: "", from: "", to: "", deadLettered: false },
  events: [],
  continuationToken: null,
  counts: null,
  selectedId: null,          // event shown in the detail panel
  detail: null,
  detailError: null,
  watchUntil: 0,             // poll the open event faster until then (after a retry)
  job: null,                 // the latest bulk resubmission job
  loadSeq: 0,                // guards against an older response overwriting a newer one
  lastListJson: "",
  lastDetailJson: "",
  seenCalls: new Set(),      // calls already shown once (their default-open state is applied once)
  refreshedAt: null,
  timers: {},
  view: "events",            // "events", "integrations", "audit" or "tokens"
  role: null,                // the token's role once known: "reader", "operator" or "admin"
  actor: "",                 // how the audit trail names the token's holder (GET /v1/me)
  scope: null,               // the integrations a limited token may see; null: every one
  roleMissing: false,        // GET /v1/me failed for a passing reason: ask again on refresh
  window: "24h",             // the integrations view's counting window (a RANGES key, or "")
  stats: new Map(),          // integration id -> { window, at, counts, lastEventAt, error }
  statsQueue: [],            // integration ids waiting for their stats, loaded a few at a time
  statsLoading: new Set(),
  visibleRows: new Set(),    // integration rows on screen: only these get their stats loaded
  lastIntegrationsJson: "",
  editing: null,             // the integration in the form dialog (null: a new one)
  confirmRun: null,          // what the confirmation dialog does when confirmed
  audit: { integrationId: "", entries: [], continuationToken: null },
  tokenScope: new Set(),     // the integrations ticked in the new-token form
  tokens: [],                // the named tokens (admins of every integration only)
  accountAudit: { entries: [], continuationToken: null },
};

/* =====================================================================================
   API access: bearer token, errors as {error, message}. Who did what is the server's to
   say (the token's name): the page sends no name of its own.
   ===================================================================================== */

class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status; this.code = code; this.details = details || [];
  }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    // Relative URL: the API is on the same host as this page (and under the same prefix).
    response = await fetch(path, {
      method, headers, cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, "network",
      "The Integrations API could not be reached. Check the connection; the page keeps trying.");
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (err) { data = null; }
  if (!response.ok) {
    const message = (data && data.message) || `The request failed (HTTP ${response.status}).`;
    throw new ApiError(response.status, data && data.error, message, data && data.details);
  }
  return data;
}

const seg = encodeURIComponent;

/* =====================================================================================
   Notices: short confirmations (role=status) and errors (role=alert).
   ===================================================================================== */

function notify(message, { error = false, action = null, sticky = false, testid = "notice" } = {}) {
  const box = h("div", { className: "notice" + (error ? " error" : ""), role: error ? "alert" : "status",
    dataset: { testid } }, h("div", { className: "grow" }, message));
  if (action) box.append(h("button", { className: "btn small", type: "button",
    onclick: () => { box.remove(); action.run(); } }, action.label));
  box.append(h("button", { className: "btn small", type: "button", "aria-label": "Dismiss",
    onclick: () => box.remove() }, "×"));
  $("notices").append(box);
  if (!sticky) setTimeout(() => box.remove(), error ? 12000 : 5000);
  return box;
}

// Every failed call goes through here: a bad token sends the person back to sign-in,
// a missing role says which token is needed, anything else shows the API's sentence.
function handleError(err, context) {
  if (!(err instanceof ApiError)) { console.error(err); notify(`${context}: ${err}`, { error: true }); return; }
  if (err.status === 401) { signOut(`The token was not accepted: ${err.message}`); return; }
  if (err.status === 403) {
    notify(`${context}: ${err.message}`, { error: true, sticky: true, testid: "forbidden",
      action: { label: "Use another token", run: () => signOut("Enter a token with the needed role.") } });
    return;
  }
  notify(`${context}: ${err.message}`, { error: true });
}

/* =====================================================================================
   Plain words: the server says what an error means and what a person can do about it
   (the event detail's `advice`); the page adds when the next attempt comes.
   ===================================================================================== */

function explain(event) {
  const err = event.lastError, advice = event.advice;
  if (!err || !advice) return null;
  const when = advice.kind === "transient" && event.nextRetryAt
    ? ` Next: ${relative(event.nextRetryAt)} (${absolute(event.nextRetryAt)}).` : "";
  return { kind: advice.kind, headline: advice.headline, http: advice.http || "",
    message: err.message, todo: advice.todo + when };
}

// What the event is about, from its (masked) payload: the list only has entityId.
function subject(event, payload) {
  const data = (payload && payload.data) || {};
  const skus = (items) => (Array.isArray(items) ? items.map((i) => i && i.sku).filter(Boolean) : []);
  const few = (list) => list.slice(0, 3).join(", ") + (list.length > 3 ? ` and ${list.length - 3} more` : "");
  switch (event.action) {
    case "order.create": return data.externalId ? `Order ${data.externalId}` : null;
    case "order.update": return event.entityId ? `Order ${event.entityId}` : null;
    case "customer.upsert": return data.email ? `Customer ${data.email}` : null;
    case "product.upsert": { const l = skus(data.products); return l.length ? `Products ${few(l)}` : null; }
    case "inventory.set": case "inventory.adjust": case "price.set": {
      const l = skus(data.items); return l.length ? `SKU ${few(l)}` : null;
    }
    default: return event.entityId || null;
  }
}

/* =====================================================================================
   JSON viewer: pretty-printed, coloured with spans built from text (never HTML).
   ===================================================================================== */

function jsonBlock(value) {
  const pre = h("pre", { className: "json", tabindex: "0" });
  const text = JSON.stringify(value, null, 2) ?? "null";
  const token = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
  let last = 0, m;
  while ((m = token.exec(text))) {
    if (m.index > last) pre.append(text.slice(last, m.index));
    const cls = m[1] ? (m[2] ? "k" : "s") : m[3] ? "b" : "n";
    pre.append(h("span", { className: cls }, m[1] || m[0]));
    if (m[2]) pre.append(m[2]);
    last = token.lastIndex;
  }
  pre.append(text.slice(last));
  return pre;
}

function collapsible(label, value, { open = false, testid } = {}) {
  const d = h("details", { dataset: testid ? { testid } : null }, h("summary", {}, label), jsonBlock(value));
  d.open = open;
  return d;
}

/* =====================================================================================
   Sign-in / sign-out. A #token= in the URL is taken once and removed from the address
   bar (and so from the history), keeping any other hash parameters.
   ===================================================================================== */

function readHash() {
  return new URLSearchParams(location.hash.replace(/^#/, ""));
}

function takeTokenFromUrl() {
  const params = readHash();
  const token = params.get("token");
  if (token === null) return;
  params.delete("token");
  if (token.trim()) { state.token = token.trim(); sessionStorage.setItem(KEY_TOKEN, state.token); }
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
}

function showSignIn(message) {
  stopTimers();
  $("app").hidden = true;
  $("signin").hidden = false;
  const box = $("auth-message");
  box.hidden = !message;
  box.textContent = message || "";
  $("token-input").value = "";
  $("token-input").focus();
}

function signOut(message) {
  state.token = "";
  sessionStorage.removeItem(KEY_TOKEN);
  showSignIn(message);
}

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  state.token = $("token-input").value.trim();
  if (!state.token) return;
  sessionStorage.setItem(KEY_TOKEN, state.token);
  start();
});

/* =====================================================================================
   Filters <-> form <-> URL hash (so a filtered view can be bookmarked or shared;
   the token is never put there).
   ===================================================================================== */

function filtersFromForm() {
  const f = $("filters").elements;
  state.filters = {
    status: f.status.value, action: f.action.value, search: f.search.value.trim(),
    range: f.range.value, from: f.from.value, to: f.to.value, deadLettered: f.deadLettered.checked,
  };
}

function filtersToForm() {
  const f = $("filters").elements, s = state.filters;
  f.status.value = s.status; f.action.value = s.action; f.search.value = s.search;
  f.range.value = s.range; f.from.value = s.from; f.to.value = s.to; f.deadLettered.checked = s.deadLettered;
  $("custom-range-from").hidden = $("custom-range-to").hidden = s.range !== "custom";
}

function writeHash() {
  const p = new URLSearchParams();
  if (state.view !== "events") p.set("view", state.view);
  const shown = state.view === "audit" ? state.audit.integrationId : state.integrationId;
  if (shown) p.set("integration", shown);
  for (const [k, v] of Object.entries(state.filters)) if (v) p.set(k, v === true ? "1" : v);
  if (state.selectedId) p.set("event", state.selectedId);
  const hash = p.toString();
  history.replaceState(null, "", location.pathname + location.search + (hash ? "#" + hash : ""));
}

function readStateFromHash() {
  const p = readHash();
  for (const k of ["status", "action", "search", "range", "from", "to"]) state.filters[k] = p.get(k) || "";
  state.filters.deadLettered = p.get("deadLettered") === "1";
  if (!STATUSES.includes(state.filters.status)) state.filters.status = "";
  state.selectedId = p.get("event") || null;
  state.view = VIEWS.includes(p.get("view")) ? p.get("view") : "events";
  if (state.view !== "events") state.selectedId = null;
  return p.get("integration");
}

// The time window as the API wants it: ISO instants (a custom range is in local time).
function timeWindow() {
  const s = state.filters, out = {};
  if (RANGES[s.range]) out.from = new Date(Date.now() - RANGES[s.range]).toISOString();
  if (s.range === "custom") {
    if (s.from && !isNaN(new Date(s.from))) out.from = new Date(s.from).toISOString();
    if (s.to && !isNaN(new Date(s.to))) out.to = new Date(s.to).toISOString();
  }
  return out;
}

// The filter body shared by the list and the bulk retry.
function filterBody() {
  const s = state.filters, body = { ...timeWindow() };
  if (s.status) body.status = s.status;
  if (s.action) body.action = s.action;
  if (s.search) body.search = s.search;
  if (s.deadLettered) body.deadLettered = true;
  return body;
}

function describeFilters() {
  const s = state.filters, out = [];
  const integration = state.integrations.find((i) => i.id === state.integrationId);
  out.push(`Integration: ${integration ? integration.name : state.integrationId}`);
  if (s.action) out.push(`Action: ${s.action}`);
  if (s.search) out.push(`Entity id contains: “${s.search}”`);
  if (s.deadLettered) out.push("Dead-lettered only");
  const w = timeWindow();
  if (w.from || w.to) out.push(`Received ${w.from ? "from " + absolute(w.from) : ""} ${w.to ? "to " + absolute(w.to) : "until now"}`);
  else out.push("Received: any time");
  return out;
}

/* =====================================================================================
   Loading: integrations once, then counts + list (+ open event) on every refresh.
   ===================================================================================== */

async function loadIntegrations(preferred) {
  const data = await api("GET", "v1/integrations");
  state.integrations = (data && data.integrations) || [];
  const ids = state.integrations.map((i) => i.id);
  const remembered = sessionStorage.getItem(KEY_INTEGRATION);
  // Preference: the URL, then the current choice, then this tab's last choice, then the newest.
  state.integrationId = [preferred, state.integrationId, remembered].find((id) => id && ids.includes(id))
    || (ids.length ? ids[ids.length - 1] : "");
  renderPicker();
}

// The events view's integration choice: the select lists the integrations whose name or
// id contains the search text (the chosen one always stays in it).
function matchesSearch(integration, text) {
  const t = text.trim().toLowerCase();
  return !t || integration.name.toLowerCase().includes(t) || integration.id.toLowerCase().includes(t);
}

function renderPicker() {
  const select = $("integration-select");
  const text = $("integration-search").value;
  const shown = state.integrations.filter((i) => matchesSearch(i, text) || i.id === state.integrationId);
  const json = JSON.stringify([shown, state.integrationId]);
  if (json !== select.dataset.shown) {
    select.dataset.shown = json;
    clear(select);
    for (const i of shown) {
      select.append(h("option", { value: i.id, title: i.name }, `${i.name}${i.enabled ? "" : " (disabled)"}`));
    }
    select.value = state.integrationId;
  }
  select.disabled = !state.integrations.length;
  const chosen = state.integrations.find((i) => i.id === state.integrationId);
  select.title = chosen ? chosen.name : "";
  const matching = state.integrations.filter((i) => matchesSearch(i, text)).length;
  $("integration-matches").textContent = text.trim()
    ? `${matching} of ${state.integrations.length} match`
    : `${state.integrations.length} integration${state.integrations.length === 1 ? "" : "s"}`;
}

// Refresh what the current view shows.
function refresh(options) {
  if (state.view === "integrations") return refreshIntegrations(options);
  // The audit trail reloads when asked only: a timer would drop the pages loaded with "Load more".
  if (state.view === "audit") return options && options.quiet ? Promise.resolve() : loadAudit();
  if (state.view === "tokens") return refreshTokens(options);
  return refreshEvents(options);
}

async function refreshEvents({ quiet = false } = {}) {
  flowCharts.events.load();  // beside the list, on its own: its errors are shown in the chart
  if (!state.integrationId) { renderNoIntegration(); return; }
  const seq = ++state.loadSeq;
  const base = { integrationId: state.integrationId };
  // Keep as many rows as are shown, so a refresh does not drop pages loaded with "Load more".
  const limit = Math.min(500, Math.max(PAGE_SIZE, state.events.length));
  try {
    const [counts, page] = await Promise.all([
      api("POST", "v1/integrations/events/counts", { ...base, ...timeWindow() }),
      api("POST", "v1/integrations/events/filter", { ...base, ...filterBody(), limit }),
    ]);
    if (seq !== state.loadSeq) return;   // the filters changed meanwhile
    state.counts = counts;
    state.events = page.events || [];
    state.continuationToken = page.continuationToken || null;
    state.refreshedAt = new Date();
    renderCounts();
    renderList();
    renderIntegrationBanner();
    $("last-updated").textContent = `Updated ${state.refreshedAt.toLocaleTimeString()}`;
  } catch (err) {
    if (seq !== state.loadSeq) return;
    $("last-updated").textContent = "Update failed";
    if (!quiet || err.status === 401) handleError(err, "Could not load events");
  }
  if (state.selectedId) await loadDetail({ quiet: true });
}

async function loadMore() {
  if (!state.continuationToken) return;
  const seq = state.loadSeq;
  const button = $("load-more");
  button.disabled = true;
  try {
    const page = await api("POST", "v1/integrations/events/filter", {
      integrationId: state.integrationId, ...filterBody(), limit: PAGE_SIZE,
      continuationToken: state.continuationToken,
    });
    if (seq !== state.loadSeq) return;
    const known = new Set(state.events.map((e) => e.id));
    state.events.push(...(page.events || []).filter((e) => !known.has(e.id)));
    state.continuationToken = page.continuationToken || null;
    renderList();
  } catch (err) {
    handleError(err, "Could not load more events");
  } finally {
    button.disabled = false;
  }
}

async function loadDetail({ quiet = false } = {}) {
  const id = state.selectedId;
  if (!id) return;
  try {
    const detail = await api("GET", `v1/integrations/${seg(state.integrationId)}/events/${seg(id)}`);
    if (state.selectedId !== id) return;
    state.detail = detail; state.detailError = null;
  } catch (err) {
    if (state.selectedId !== id) return;
    if (err.status === 401) { handleError(err, ""); return; }
    if (!quiet || !state.detail) { state.detail = null; state.detailError = err.message; }
  }
  renderDetail();
}

// Filters changed: start over from the first page.
function reload() {
  state.events = []; state.continuationToken = null; state.lastListJson = "";
  writeHash();
  renderListLoading();
  refresh();
}

/* =====================================================================================
   Rendering
   ===================================================================================== */

function chip(status) {
  return h("span", { className: `chip ${status}`, dataset: { testid: "status-chip" } }, status);
}

function renderNoIntegration() {
  clear($("counts"));
  clear($("events-body"));
  state.lastListJson = "";
  const empty = $("events-empty");
  empty.hidden = false;
  empty.textContent = "No integrations yet. An admin creates one under Integrations (or with " +
    "POST /v1/integrations/); its events appear here as soon as it pushes data.";
  $("list-summary").textContent = "";
  $("load-more").hidden = true;
}

function renderIntegrationBanner() {
  const integration = state.integrations.find((i) => i.id === state.integrationId);
  const banner = $("integration-banner");
  banner.hidden = !integration || integration.enabled;
  banner.textContent = integration && !integration.enabled
    ? `“${integration.name}” is disabled: its pushes are refused until an admin enables it again.` : "";
}

function renderCounts() {
  const c = state.counts;
  const box = clear($("counts"));
  if (!c) return;
  const complete = c.complete !== false;
  const fmt = (n) => (complete ? String(n) : `${n}+`);
  const item = (key, label, n, status, extra) => h("button", {
    type: "button", className: `count ${key}`, dataset: { testid: `count-${key}` },
    "aria-pressed": String(state.filters.status === status && state.filters.deadLettered === !!extra),
    title: extra ? "Show dead-lettered events" : `Show ${label.toLowerCase()}`,
    onclick: () => {
      state.filters.status = status || "";
      state.filters.deadLettered = !!extra;
      filtersToForm(); reload();
    },
  }, h("span", { className: "n" }, fmt(n)),
     h("span", { className: "label" }, h("span", { className: `dot ${key}` }), label));
  box.append(item("all", "All events", c.total, ""));
  for (const s of STATUSES) box.append(item(s, s[0].toUpperCase() + s.slice(1), (c.counts || {})[s] || 0, s));
  box.append(item("deadLettered", "Dead-lettered", c.deadLettered || 0, "", true));
}

function renderListLoading() {
  clear($("events-body"));
  state.lastListJson = "";
  const empty = $("events-empty");
  empty.hidden = false;
  empty.textContent = "Loading events…";
}

function problemCell(e) {
  if (e.status === "skipped" && e.skippedReason) return h("td", { className: "problem quiet" }, e.skippedReason);
  if (!e.lastError) return h("td", { className: "problem quiet" }, "");
  const text = e.lastError.message;
  if (e.status === "failed") return h("td", { className: "problem", title: text, dataset: { testid: "row-error" } }, text);
  return h("td", { className: "problem quiet", title: text }, `Earlier: ${text}`);
}

function renderList() {
  // Skip re-rendering identical data so focus and hover survive auto-refresh.
  const json = JSON.stringify([state.events, state.selectedId, state.continuationToken]);
  if (json === state.lastListJson) return;
  state.lastListJson = json;
  const body = clear($("events-body"));
  // Which integration these rows belong to (lets tests and scripts wait for a switch).
  body.dataset.integrationId = state.integrationId;
  for (const e of state.events) {
    const open = () => selectEvent(e.id);
    const tr = h("tr", {
      dataset: { testid: "event-row", eventId: e.id, status: e.status },
      "aria-selected": String(e.id === state.selectedId),
      onclick: (ev) => { if (!ev.target.closest("button")) open(); },
    },
      h("td", {}, chip(e.status), e.deadLettered ? [" ", h("span", { className: "chip dead" }, "dead-lettered")] : null),
      h("td", {}, h("button", { className: "open", type: "button", onclick: open,
        "aria-label": `Open ${e.action} event ${e.id}`, dataset: { testid: "open-event" } }, e.action)),
      h("td", { className: "mono" }, e.entityId || h("span", { className: "muted" }, "—")),
      h("td", {}, `${e.attempts}/${e.maxAttempts}`, e.resubmissions ? h("span", { className: "muted", title: "Resubmitted by a person" }, ` · ↻${e.resubmissions}`) : null),
      h("td", { className: "age" }, timeEl(e.createdAt)),
      problemCell(e),
      h("td", {}, e.status === "failed"
        ? h("button", { className: "btn small", type: "button", dataset: { testid: "row-retry" },
            "aria-label": `Retry event ${e.id}`, onclick: () => retryOne(e.id) }, "Retry")
        : null),
    );
    body.append(tr);
  }
  const empty = $("events-empty");
  empty.hidden = state.events.length > 0;
  empty.textContent = "No events match these filters.";
  $("list-summary").textContent = state.events.length
    ? `${state.events.length}${state.continuationToken ? "+" : ""} event${state.events.length === 1 ? "" : "s"}, newest first`
    : "Events";
  $("bulk-retry").disabled = !state.integrationId;
  $("load-more").hidden = !state.continuationToken;
}

function fact(label, value, testid) {
  return [h("dt", {}, label), h("dd", { dataset: testid ? { testid } : null }, value ?? "—")];
}

function renderDetail() {
  const panel = $("detail");
  if (!state.selectedId) { panel.hidden = true; state.lastDetailJson = ""; return; }
  const json = JSON.stringify([state.detail, state.detailError]);
  if (json === state.lastDetailJson && !panel.hidden) return;
  state.lastDetailJson = json;
  const keepScroll = panel.scrollTop;
  const openDetails = new Set([...panel.querySelectorAll("details[open]")].map((d) => d.dataset.key));
  clear(panel);
  panel.hidden = false;
  const close = h("button", { className: "btn", type: "button", onclick: closeDetail,
    "aria-label": "Close event details", dataset: { testid: "detail-close" } }, "Close");
  const e = state.detail;
  if (!e) {
    panel.append(h("div", { className: "detail-head" },
      h("div", { className: "spacer" }, h("h2", { id: "detail-title" }, "Event"),
        h("div", { className: "sub mono" }, state.selectedId)), close),
      h("div", { className: "detail-body" }, h("p", { role: "alert" }, state.detailError || "Loading…")));
    return;
  }
  const about = subject(e, e.payload);
  panel.append(h("div", { className: "detail-head" },
    h("div", { className: "spacer" },
      h("h2", { id: "detail-title" }, e.action, about ? ` · ${about}` : ""),
      h("div", { className: "sub" }, "Event ", h("span", { className: "mono" }, e.id))),
    h("span", { dataset: { testid: "detail-status" } }, chip(e.status)),
    close));

  const body = h("div", { className: "detail-body" });
  panel.append(body);

  // 1. Why it failed, in plain words, with the retry right there.
  const why = explain(e);
  if (why) {
    const retry = e.status === "failed"
      ? h("button", { className: "btn danger", type: "button", dataset: { testid: "detail-retry" },
          onclick: () => retryOne(e.id) }, "Retry this event")
      : null;
    body.append(h("section", { "aria-labelledby": "why-title" },
      h("h3", { id: "why-title" }, "What went wrong"),
      h("div", { className: `why ${why.kind}`, dataset: { testid: "detail-error" } },
        h("div", { className: "headline" }, why.headline,
          why.http ? h("span", { className: "http-tag" }, why.http) : null),
        h("div", { className: "message", dataset: { testid: "detail-error-message" } }, why.message),
        h("div", { className: "todo" }, why.todo),
        retry ? h("div", { className: "actions" }, retry,
          e.nextRetryAt ? h("span", { className: "hint" }, "You may also retry now.") : null) : null)));
  } else if (e.status === "success") {
    body.append(h("section", {}, h("div", { className: "ok-box", dataset: { testid: "detail-success" } },
      h("strong", {}, "Delivered. "), `Applied to the platform ${relative(e.updatedAt)}`,
      e.resubmissions ? ` after ${e.resubmissions} resubmission${e.resubmissions === 1 ? "" : "s"}` : "", ".")));
  } else if (e.status === "skipped") {
    body.append(h("section", {}, h("div", { className: "why past" },
      h("div", { className: "headline" }, "Skipped"), h("div", {}, e.skippedReason || "Superseded by a newer event."))));
  } else {
    body.append(h("section", {}, h("div", { className: "why past", role: "status" },
      h("div", { className: "headline" }, e.status === "processing" ? "Being delivered now…" : "Waiting to be delivered…"),
      h("div", {}, "This page updates by itself."))));
  }

  // 2. The facts.
  body.append(h("section", {}, h("h3", {}, "Event"), h("dl", { className: "facts" },
    fact("Status", [chip(e.status), e.deadLettered ? [" ", h("span", { className: "chip dead" }, "dead-lettered")] : null]),
    fact("Action", e.action),
    fact("Entity", e.entityId || about || "—"),
    fact("Received", [absolute(e.createdAt), " (", timeEl(e.createdAt), ")"]),
    fact("Last change", [absolute(e.updatedAt), " (", timeEl(e.updatedAt), ")"]),
    fact("Attempts", `${e.attempts} of ${e.maxAttempts}`),
    e.nextRetryAt ? fact("Next automatic retry", [absolute(e.nextRetryAt), " (", timeEl(e.nextRetryAt), ")"]) : null,
    e.resubmissions ? fact("Resubmitted by a person", `${e.resubmissions} time${e.resubmissions === 1 ? "" : "s"}`) : null,
    e.idempotencyKey ? fact("Idempotency-Key", h("span", { className: "mono" }, e.idempotencyKey)) : null,
    e.result ? fact("Platform result", jsonBlock(e.result), "detail-result") : null,
  )));

  // 3. The attempt timeline with each call's masked request and response.
  const attempts = (e.attemptLog || []).slice().sort((a, b) => a.attempt - b.attempt);
  const timeline = h("ol", { className: "timeline", dataset: { testid: "timeline" } });
  for (const a of attempts) {
    const ms = Date.parse(a.finishedAt) - Date.parse(a.startedAt);
    const li = h("li", { className: a.outcome, dataset: { testid: "attempt" } },
      h("div", { className: "attempt-head" }, h("strong", {}, `Attempt ${a.attempt}`), chip(a.outcome),
        h("span", { className: "muted" }, absolute(a.startedAt), isNaN(ms) ? "" : ` · ${ms} ms`)),
      a.error ? h("div", { className: "attempt-err" }, a.error.message) : null);
    (a.calls || []).forEach((c, i) => {
      const good = c.status && c.status < 400;
      const key = `${a.attempt}.${i}`;
      const req = exchange("Request sent (masked)", c.request, key + ".req", "call-request", openDetails);
      const res = exchange("Response received (masked)", c.response, key + ".res", "call-response", openDetails);
      // The response of the latest failed call is what explains it: open it the first time.
      if (!good && c.response && a === attempts[attempts.length - 1] && !state.seenCalls.has(key)) {
        res.open = true;
      }
      state.seenCalls.add(key);
      li.append(h("div", { className: "call", dataset: { testid: "call" } },
        h("div", { className: "call-line" },
          h("span", { className: "mono" }, c.method, " ", pathOf(c.url)),
          c.status ? h("span", { className: `http ${good ? "good" : "bad"}` }, `→ ${c.status}`)
            : h("span", { className: "http bad" }, "→ no response"),
          c.durationMs !== undefined && c.durationMs !== null ? h("span", { className: "muted" }, `${Math.round(c.durationMs)} ms`) : null),
        c.error ? h("div", { className: "attempt-err" }, c.error) : null,
        req, res));
    });
    timeline.append(li);
  }
  body.append(h("section", {}, h("h3", {}, `Attempts (${attempts.length})`),
    attempts.length ? timeline : h("p", { className: "muted" }, "No attempt yet.")));

  // 4. The payload as received (masked).
  const payload = h("details", { dataset: { key: "payload", testid: "payload" } },
    h("summary", {}, "Payload as received (personal data masked)"), jsonBlock(e.payload ?? null));
  payload.open = openDetails.has("payload");
  body.append(h("section", {}, h("h3", {}, "Payload"), payload));
  panel.scrollTop = keepScroll;
}

// One side of an HTTP exchange: the body first (what people look for), headers folded.
function exchange(label, side, key, testid, openDetails) {
  const d = h("details", { dataset: { key, testid } }, h("summary", {}, label));
  if (!side) { d.append(h("p", { className: "muted" }, "Nothing (no response came back).")); return d; }
  d.append(jsonBlock(side.body ?? null));
  if (side.headers) {
    const headers = h("details", { dataset: { key: key + ".h" } }, h("summary", {}, "Headers"), jsonBlock(side.headers));
    headers.open = openDetails.has(key + ".h");
    d.append(headers);
  }
  d.open = openDetails.has(key);
  return d;
}

function pathOf(url) {
  try { const u = new URL(url); return u.pathname + u.search; } catch (err) { return String(url || ""); }
}

function renderJob() {
  const box = $("job"), job = state.job;
  if (!job) { box.hidden = true; return; }
  clear(box);
  box.hidden = false;
  const p = job.progress || {};
  const running = job.status === "running";
  appendAll(box, [
    h("strong", {}, running ? "Resubmitting failed events…" : job.status === "cancelled" ? "Bulk retry cancelled" : "Bulk retry finished"),
    h("span", { dataset: { testid: "job-status" }, className: "chip " + (running ? "processing" : job.status === "completed" ? "success" : "skipped") }, job.status),
    running ? h("progress", { "aria-label": "Bulk retry progress" }) : null,
    h("span", { dataset: { testid: "job-progress" } },
      `${p.resubmitted || 0} resubmitted · ${p.skipped || 0} skipped (not failed) · ${p.matched || 0} looked at`),
    h("span", { className: "muted mono" }, job.id),
    h("span", { className: "spacer" }),
    running ? h("button", { className: "btn", type: "button", dataset: { testid: "job-cancel" }, onclick: cancelJob }, "Cancel")
      : h("button", { className: "btn", type: "button", "aria-label": "Hide bulk retry result",
          onclick: () => { state.job = null; renderJob(); } }, "Dismiss"),
  ]);
}

/* =====================================================================================
   Actions: open/close an event, retry one, retry a filtered set, cancel a job.
   ===================================================================================== */

function selectEvent(id) {
  if (state.selectedId !== id) {
    state.detail = null; state.detailError = null; state.lastDetailJson = ""; state.seenCalls = new Set();
  }
  state.selectedId = id;
  writeHash();
  renderList();
  renderDetail();
  loadDetail().then(() => { const t = $("detail-title"); if (t) { t.tabIndex = -1; t.focus({ preventScroll: true }); } });
}

function closeDetail() {
  state.selectedId = null; state.detail = null;
  writeHash();
  renderDetail();
  renderList();
}

async function retryOne(id) {
  try {
    await api("POST", `v1/integrations/${seg(state.integrationId)}/events/${seg(id)}/retry`);
    notify("Resubmitted: the event is queued again. Its status updates here by itself.", { testid: "retry-accepted" });
    // Show the event and watch it closely for a minute, so the person sees the outcome.
    if (state.selectedId !== id) selectEvent(id);
    state.watchUntil = Date.now() + 60e3;
    await refresh({ quiet: true });
    schedule();
  } catch (err) {
    if (err.status === 409) { notify(err.message, { error: true }); refresh({ quiet: true }); return; }
    handleError(err, "Retry refused");
  }
}

function openBulkDialog() {
  const list = clear($("bulk-summary"));
  for (const line of describeFilters()) list.append(h("li", {}, line));
  const failedShown = state.events.filter((e) => e.status === "failed").length;
  if (failedShown) list.append(h("li", {}, `${failedShown} failed event${failedShown === 1 ? " is" : "s are"} in the list right now (there may be more pages).`));
  $("bulk-dialog").showModal();
}

async function startBulk() {
  $("bulk-dialog").close();
  // Always ask for failed events only: the server would skip the others anyway, and the
  // progress then counts only what matters.
  const body = { ...filterBody(), status: "failed" };
  try {
    state.job = await api("POST", `v1/integrations/${seg(state.integrationId)}/events/retry`, body);
    renderJob();
    pollJob();
    refresh({ quiet: true });
  } catch (err) {
    handleError(err, "Bulk retry refused");
  }
}

async function pollJob() {
  clearTimeout(state.timers.job);
  const job = state.job;
  if (!job || job.status !== "running") return;
  state.timers.job = setTimeout(async () => {
    try {
      state.job = await api("GET", `v1/integrations/${seg(job.integrationId)}/jobs/${seg(job.id)}`);
      renderJob();
      if (state.job.status !== "running") {
        notify(`Bulk retry ${state.job.status}: ${state.job.progress.resubmitted} event(s) resubmitted.`);
        refresh({ quiet: true });
      }
    } catch (err) {
      if (err.status === 401 || err.status === 403) { handleError(err, "Could not follow the bulk retry"); return; }
    }
    pollJob();
  }, JOB_POLL_MS);
}

async function cancelJob() {
  const job = state.job;
  if (!job) return;
  try {
    state.job = await api("POST", `v1/integrations/${seg(job.integrationId)}/jobs/${seg(job.id)}/cancel`);
    renderJob();
  } catch (err) {
    handleError(err, "Could not cancel");
  }
}

/* =====================================================================================
   Who the token is (GET /v1/me): its name as the audit trail gives it, its role and the
   integrations it is limited to. Admin actions are shown to admins only, and what a
   limited token would be refused (anything about every integration at once) is not
   offered to it. The server checks every call anyway; this only keeps buttons away from
   people who cannot use them.
   ===================================================================================== */

async function loadRole() {
  try {
    const me = await api("GET", "v1/me");
    state.role = (me && me.role) || null;
    state.actor = (me && me.actor) || "";
    state.scope = me && Array.isArray(me.integrationIds) ? me.integrationIds : null;
    state.roleMissing = false;
  } catch (err) {
    if (err.status === 401) throw err;
    // Not known: no admin actions. After a passing outage the next refresh asks again;
    // an API without the route (404) is not asked again.
    state.role = null; state.actor = ""; state.scope = null;
    state.roleMissing = err.status !== 404;
  }
  renderRole();
}

const isAdmin = () => state.role === "admin";
const isLimited = () => state.scope !== null;
// Tokens, the account's trail and new integrations: an admin token for every integration.
const managesAccount = () => isAdmin() && !isLimited();

function renderRole() {
  const who = $("who");
  who.hidden = !state.role;
  $("who-name").textContent = state.actor || "this token";
  $("role").textContent = state.role || "";
  const scope = $("who-scope");
  const n = state.scope ? state.scope.length : 0;
  scope.hidden = !isLimited();
  scope.textContent = isLimited() ? `limited to ${n} integration${n === 1 ? "" : "s"}` : "";
  const names = (state.scope || []).map(integrationName);
  who.title = `Signed in as ${state.actor || "this token"} (the name the audit trail gives you), `
    + `role ${state.role || "unknown"}` + (isLimited() ? `, limited to: ${names.join(", ")}` : ", every integration");
  for (const el of document.querySelectorAll("[data-admin]")) el.hidden = !isAdmin();
  for (const el of document.querySelectorAll("[data-account]")) el.hidden = !managesAccount();
  for (const chart of Object.values(flowCharts)) chart.renderScope();
  if (state.view === "integrations") renderIntegrations();
}

/* =====================================================================================
   Views: an integration's events, every integration, one integration's audit trail, the
   tokens with the account's trail.
   ===================================================================================== */

function showView(view) {
  state.view = view;
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
  $("tab-events").setAttribute("aria-current", view === "events" ? "page" : "false");
  $("tab-integrations").setAttribute("aria-current", ["integrations", "audit"].includes(view) ? "page" : "false");
  $("tab-tokens").setAttribute("aria-current", view === "tokens" ? "page" : "false");
  if (view !== "events" && state.selectedId) { state.selectedId = null; state.detail = null; renderDetail(); }
  writeHash();
}

async function switchView(view) {
  if (view === state.view) return;
  showView(view);
  if (view === "events") { renderPicker(); reload(); return; }
  await refresh();
}

// From the integrations list to that integration's events.
function openEvents(id) {
  state.integrationId = id;
  sessionStorage.setItem(KEY_INTEGRATION, id);
  $("integration-search").value = "";
  renderPicker();
  showView("events");
  reload();
}

/* =====================================================================================
   Integrations view: each integration with its state, settings, newest event and counts
   per status for the chosen window. Counts are read only for the rows on screen, a few
   integrations at a time, and again once they are older than STATS_MAX_AGE_MS.
   ===================================================================================== */

async function refreshIntegrations({ quiet = false, recount = false } = {}) {
  try {
    if (state.roleMissing) await loadRole();
    await loadIntegrations();
  } catch (err) {
    $("last-updated").textContent = "Update failed";
    if (!quiet || err.status === 401) handleError(err, "Could not load integrations");
    return;
  }
  // Asked to count again: every count is stale, also for rows drawn anew just now (their
  // observer asks for them once they are on screen again).
  if (recount) for (const known of state.stats.values()) known.at = 0;
  renderIntegrations();
  flowCharts.all.load();
  for (const id of state.visibleRows) wantStats(id, recount);
  $("last-updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

// The retry settings in a few words, and in full for the tooltip.
function describeRetry(retry) {
  const r = retry || {};
  const attempts = r.maxAttempts ?? null, delay = r.baseDelaySeconds ?? null;
  if (attempts === null && delay === null) {
    return { short: "Retries: defaults", long: "The service's default retry settings" };
  }
  return {
    short: `Retries: ${attempts ?? "default"} × ${delay === null ? "default delay" : `${delay} s`}`,
    long: `At most ${attempts ?? "the default number of"} attempts; the first retry after `
      + `${delay === null ? "the default delay" : `${delay} s`}, longer after each failure`,
  };
}

const rowObserver = "IntersectionObserver" in window ? new IntersectionObserver((entries) => {
  for (const entry of entries) {
    const id = entry.target.dataset.integrationId;
    if (entry.isIntersecting) { state.visibleRows.add(id); wantStats(id); }
    else state.visibleRows.delete(id);
  }
}) : null;

function renderIntegrations() {
  const text = $("integrations-search").value;
  // Newest first: one just created is at the top.
  const shown = state.integrations.filter((i) => matchesSearch(i, text)).reverse();
  const json = JSON.stringify([shown, state.role]);
  const total = state.integrations.length;
  $("integrations-summary").textContent = text.trim()
    ? `${shown.length} of ${total} integrations` : `${total} integration${total === 1 ? "" : "s"}`;
  const empty = $("integrations-empty");
  empty.hidden = shown.length > 0;
  empty.textContent = total
    ? "No integration matches this search."
    : isAdmin() ? "No integrations yet: create the first with “New integration…”."
      : "No integrations yet. An admin creates them.";
  // Unchanged data is not drawn again, so focus and hover survive auto-refresh.
  if (json === state.lastIntegrationsJson) return;
  state.lastIntegrationsJson = json;
  // Without admin actions the last column is not needed: the names get its room.
  $("integrations-body").closest("table").classList.toggle("admin", isAdmin());
  const body = clear($("integrations-body"));
  if (rowObserver) rowObserver.disconnect();
  state.visibleRows.clear();
  for (const i of shown) {
    const row = integrationRow(i);
    body.append(row);
    renderStats(i.id, row);
    if (rowObserver) rowObserver.observe(row);
    else { state.visibleRows.add(i.id); wantStats(i.id); }
  }
}

function integrationRow(i) {
  const label = (verb) => `${verb} ${i.name}`;
  const retry = describeRetry(i.retry);
  const keyEnd = String(i.apiKeyHint || "").split("…").pop();
  return h("tr", { dataset: { testid: "integration-row", integrationId: i.id, enabled: String(i.enabled) } },
    h("td", { className: "name" },
      h("button", { className: "open ellipsis", type: "button", title: i.name, dataset: { testid: "integration-name" },
        "aria-label": `Show the events of ${i.name}`, onclick: () => openEvents(i.id) }, i.name),
      h("span", { className: "sub" },
        h("span", { className: "mono", title: "Integration id" }, i.id), " · ",
        h("button", { className: "btn link inline", type: "button", dataset: { testid: "open-audit" },
          "aria-label": label("Audit trail of"), onclick: () => openAudit(i.id) }, "Audit trail"))),
    h("td", {}, h("span", { className: `chip ${i.enabled ? "enabled" : "disabled"}`,
      dataset: { testid: "integration-state" } }, i.enabled ? "Enabled" : "Disabled")),
    h("td", { className: "settings" },
      h("span", { className: "ellipsis", title: "Ordering", dataset: { testid: "integration-ordering" } },
        ORDERING[i.orderingScope] || i.orderingScope),
      h("span", { className: "ellipsis", title: retry.long, dataset: { testid: "integration-retry" } }, retry.short),
      h("span", { className: "ellipsis muted", title: `API key ${i.apiKeyHint}` }, "Key ", h("span", { className: "mono" }, `…${keyEnd}`))),
    h("td", { className: "age", dataset: { testid: "last-event" } }, h("span", { className: "muted" }, "…")),
    STATUSES.map((status) => h("td", { className: `num ${status}`, dataset: { testid: `int-count-${status}` } }, "…")),
    h("td", {}, isAdmin() ? h("div", { className: "row-actions" },
      h("button", { className: "btn small", type: "button", dataset: { testid: "edit-integration" },
        "aria-label": label("Edit"), onclick: () => openIntegrationForm(i) }, "Edit…"),
      h("button", { className: "btn small", type: "button", dataset: { testid: "regenerate-key" },
        "aria-label": label("Regenerate the API key of"), onclick: () => confirmRegenerate(i) }, "New key…"),
      h("button", { className: `btn small${i.enabled ? " outline-danger" : ""}`, type: "button",
        dataset: { testid: "toggle-integration" }, "aria-label": label(i.enabled ? "Disable" : "Enable"),
        onclick: () => confirmToggle(i) }, i.enabled ? "Disable…" : "Enable…")) : null));
}

function wantStats(id, force = false) {
  const known = state.stats.get(id);
  const fresh = known && known.window === state.window && Date.now() - known.at < STATS_MAX_AGE_MS;
  if ((fresh && !force) || state.statsQueue.includes(id) || state.statsLoading.has(id)) return;
  state.statsQueue.push(id);
  pumpStats();
}

function pumpStats() {
  while (state.statsLoading.size < STATS_CONCURRENCY && state.statsQueue.length) {
    const id = state.statsQueue.shift();
    if (!state.visibleRows.has(id) || state.view !== "integrations") continue;  // scrolled away
    state.statsLoading.add(id);
    loadStats(id).finally(() => { state.statsLoading.delete(id); pumpStats(); });
  }
}

async function loadStats(id) {
  const counted = state.window;
  const span = RANGES[counted] ? { from: new Date(Date.now() - RANGES[counted]).toISOString() } : {};
  let stats;
  try {
    const counts = await api("POST", "v1/integrations/events/counts", { integrationId: id, ...span });
    const newest = await api("POST", "v1/integrations/events/filter", { integrationId: id, limit: 1 });
    const first = (newest && newest.events && newest.events[0]) || null;
    stats = { window: counted, at: Date.now(), counts, lastEventAt: first ? first.createdAt : null };
  } catch (err) {
    if (err.status === 401) { handleError(err, ""); return; }
    stats = { window: counted, at: Date.now(), error: err.message };
  }
  if (counted !== state.window) return;  // the window changed meanwhile: these counts are for another
  state.stats.set(id, stats);
  renderStats(id);
}

function renderStats(id, row) {
  const tr = row || $("integrations-body").querySelector(`tr[data-integration-id="${CSS.escape(id)}"]`);
  const stats = state.stats.get(id);
  if (!tr) return;
  const cell = (testid) => tr.querySelector(`[data-testid="${testid}"]`);
  if (!stats || stats.window !== state.window) {  // not read yet for this window
    for (const status of STATUSES) { const td = cell(`int-count-${status}`); td.textContent = "…"; td.title = ""; }
    return;
  }
  if (stats.error) {
    clear(cell("last-event")).append(h("span", { className: "muted", title: stats.error }, "unavailable"));
    for (const status of STATUSES) { const td = cell(`int-count-${status}`); td.textContent = "?"; td.title = stats.error; }
    return;
  }
  clear(cell("last-event")).append(stats.lastEventAt ? timeEl(stats.lastEventAt) : h("span", { className: "muted" }, "none yet"));
  const complete = stats.counts.complete !== false;
  for (const status of STATUSES) {
    const n = (stats.counts.counts || {})[status] || 0;
    const td = cell(`int-count-${status}`);
    td.textContent = complete ? String(n) : `${n}+`;
    td.classList.toggle("zero", n === 0);
    td.title = complete ? "" : "At least this many: the count stopped at its limit";
  }
}

/* =====================================================================================
   Admin: create or change an integration. The server validates; its `details[].path`
   messages go next to the fields they name, anything else above the form.
   ===================================================================================== */

function numberOrNull(text) {
  const value = String(text).trim();
  return value === "" ? null : Number(value);
}

function clearFormErrors(form = $("integration-form"), box = $("form-error")) {
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  box.hidden = true;
  box.textContent = "";
}

function openIntegrationForm(integration) {
  state.editing = integration || null;
  const form = $("integration-form"), f = form.elements;
  form.reset();
  clearFormErrors();
  const retry = (integration && integration.retry) || {};
  f.name.value = integration ? integration.name : "";
  f.orderingScope.value = integration ? integration.orderingScope : "integration";
  f.maxAttempts.value = retry.maxAttempts ?? "";
  f.baseDelaySeconds.value = retry.baseDelaySeconds ?? "";
  $("integration-dialog-title").textContent = integration ? `Change “${integration.name}”` : "New integration";
  $("integration-save").textContent = integration ? "Save changes" : "Create";
  $("integration-dialog").showModal();
  f.name.focus();
}

function formValues() {
  const f = $("integration-form").elements;
  return {
    name: f.name.value.trim(), orderingScope: f.orderingScope.value,
    retry: { maxAttempts: numberOrNull(f.maxAttempts.value), baseDelaySeconds: numberOrNull(f.baseDelaySeconds.value) },
  };
}

// Only what differs from the integration as it was shown.
function changesTo(integration, values) {
  const change = {}, before = integration.retry || {};
  if (values.name !== integration.name) change.name = values.name;
  if (values.orderingScope !== integration.orderingScope) change.orderingScope = values.orderingScope;
  if (values.retry.maxAttempts !== (before.maxAttempts ?? null)
    || values.retry.baseDelaySeconds !== (before.baseDelaySeconds ?? null)) change.retry = values.retry;
  return change;
}

function showFormErrors(err, form = $("integration-form"), box = $("form-error")) {
  if (!(err instanceof ApiError) || err.status === 401) { handleError(err, "Not saved"); return; }
  const loose = [];
  for (const problem of err.details || []) {
    const path = String(problem.path || "");
    const slot = [...form.querySelectorAll(".field-error")].find((el) => el.dataset.field === path)
      || [...form.querySelectorAll(".field-error")].find((el) => path.startsWith(el.dataset.field + "."));
    if (!slot) { loose.push(`${path}: ${problem.message}`); continue; }
    slot.textContent = slot.textContent ? `${slot.textContent} ${problem.message}` : problem.message;
    const input = form.querySelector(`[aria-describedby~="${slot.id}"]`);
    if (input) input.setAttribute("aria-invalid", "true");
  }
  // A conflict (409), a missing role (403) or a problem with no field: said above the form.
  if (loose.length || !(err.details || []).length) {
    box.textContent = [err.message, ...loose].join("\n");
    box.hidden = false;
  }
}

async function saveIntegration(e) {
  e.preventDefault();
  clearFormErrors();
  const editing = state.editing, values = formValues(), button = $("integration-save");
  button.disabled = true;
  try {
    if (editing) {
      const change = changesTo(editing, values);
      if (Object.keys(change).length) {
        await api("PATCH", `v1/integrations/${seg(editing.id)}`, change);
        notify(`Saved: “${values.name || editing.name}”.`, { testid: "integration-saved" });
      }
      $("integration-dialog").close();
    } else {
      await createIntegration(values);
    }
    await refreshIntegrations({ quiet: true });
  } catch (err) {
    showFormErrors(err);
  } finally {
    button.disabled = false;
  }
}

async function createIntegration(values) {
  const created = await api("POST", "v1/integrations",
    { service: "custom", name: values.name, enabled: true, orderingScope: values.orderingScope });
  $("integration-dialog").close();
  // Retry settings are a change to the new integration (the create route takes none). The
  // key is shown whatever happens to them: it cannot be shown again.
  let note = "";
  if (values.retry.maxAttempts !== null || values.retry.baseDelaySeconds !== null) {
    try {
      await api("PATCH", `v1/integrations/${seg(created.id)}`, { retry: values.retry });
    } catch (err) {
      const details = (err.details || []).map((d) => `${d.path}: ${d.message}`).join("; ");
      note = `The integration was created, but its retry settings were not saved: ${err.message}`
        + `${details ? ` (${details})` : ""} Set them with Edit.`;
    }
  }
  showKey(`“${created.name}” is created. Its API key:`, created.apiKey, note);
}

/* =====================================================================================
   Admin: enable or disable, regenerate the key. Each says what it does before it is done.
   ===================================================================================== */

function confirmAction({ title, paragraphs, confirmLabel, danger = true, run }) {
  $("confirm-title").textContent = title;
  const body = clear($("confirm-body"));
  for (const text of paragraphs) body.append(h("p", {}, text));
  const ok = $("confirm-ok");
  ok.textContent = confirmLabel;
  ok.className = danger ? "btn danger" : "btn primary";
  ok.disabled = false;
  $("confirm-error").hidden = true;
  state.confirmRun = run;
  $("confirm-dialog").showModal();
}

async function runConfirmed() {
  const ok = $("confirm-ok"), run = state.confirmRun;
  if (!run) return;
  ok.disabled = true;
  try {
    await run();
    state.confirmRun = null;
    $("confirm-dialog").close();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { $("confirm-dialog").close(); handleError(err, ""); return; }
    const box = $("confirm-error");
    box.textContent = err instanceof ApiError ? err.message : String(err);
    box.hidden = false;
  } finally {
    ok.disabled = false;
  }
}

function confirmToggle(integration) {
  const disable = integration.enabled;
  confirmAction({
    title: `${disable ? "Disable" : "Enable"} “${integration.name}”?`,
    paragraphs: disable ? [
      "While it is disabled, every push with its API key is refused with 403 Forbidden on the "
        + "inbound route (POST /integrations/custom/inbound). The sending system must keep its "
        + "data and send it again once the integration is enabled.",
      "Events already accepted are still delivered, and failed ones can still be resubmitted.",
      "Its key stays the same; enable the integration to accept pushes again.",
    ] : [
      "Pushes with its API key are accepted again from now on.",
    ],
    confirmLabel: disable ? "Disable" : "Enable",
    danger: disable,
    run: async () => {
      await api("PATCH", `v1/integrations/${seg(integration.id)}`, { enabled: !disable });
      notify(`“${integration.name}” is ${disable ? "disabled" : "enabled"}.`, { testid: "integration-saved" });
      await refreshIntegrations({ quiet: true });
      wantStats(integration.id, true);
    },
  });
}

function confirmRegenerate(integration) {
  confirmAction({
    title: `Regenerate the API key of “${integration.name}”?`,
    paragraphs: [
      "A new key is made and shown to you once.",
      `The current key (${integration.apiKeyHint}) stops working at once: every push with it is `
        + "refused with 401 from now on. Put the new key into the sending system straight away.",
      "Events already accepted are not affected.",
    ],
    confirmLabel: "Regenerate key",
    run: async () => {
      const issued = await api("POST", `v1/integrations/${seg(integration.id)}/regenerate-key`);
      showKey(`The new API key of “${integration.name}”. The old key no longer works.`, issued.apiKey, "");
      await refreshIntegrations({ quiet: true });
      wantStats(integration.id, true);
    },
  });
}

/* =====================================================================================
   A new API key or token, shown once: copied from here, then gone from the page.
   ===================================================================================== */

const SECRETS = {
  key: { title: "API key", done: "I have stored the key", warning: ["This key is shown only now.",
    " Copy it and store it where the sending system keeps its secrets: it cannot be shown again."
    + " If it is lost, regenerate the key."] },
  token: { title: "New token", done: "I have stored the token", warning: ["This token is shown only now.",
    " Copy it and hand it to its holder through a password manager or another safe channel (not"
    + " e-mail or chat): it cannot be shown again. Anyone holding it acts under its name. If it is"
    + " lost, revoke it and make a new one."] },
};

function showKey(intro, key, note, kind = "key") {
  const texts = SECRETS[kind];
  $("key-title").textContent = texts.title;
  appendAll(clear($("key-warning")), [h("strong", {}, texts.warning[0]), texts.warning[1]]);
  $("key-done").textContent = texts.done;
  $("key-intro").textContent = intro;
  $("api-key").textContent = key;
  $("key-copied").textContent = "";
  $("key-note").textContent = note || "";
  $("key-note").hidden = !note;
  const dialog = $("key-dialog");
  if (!dialog.open) dialog.showModal();
  $("copy-key").focus();
}

async function copyKey() {
  const key = $("api-key").textContent;
  try {
    await navigator.clipboard.writeText(key);
  } catch (err) {
    // No clipboard permission: select the key so Ctrl+C (or the old copy command) takes it.
    const range = document.createRange();
    range.selectNodeContents($("api-key"));
    const selection = getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    if (!document.execCommand("copy")) { $("key-copied").textContent = "Selected: press Ctrl+C (⌘C) to copy."; return; }
  }
  $("key-copied").textContent = "Copied to the clipboard.";
}

/* =====================================================================================
   Audit trail of one integration, newest first, a page at a time. Entries are shown
   field by field: who, what, when, and what changed when the entry says so.
   ===================================================================================== */

async function openAudit(id) {
  state.audit = { integrationId: id, entries: [], continuationToken: null };
  showView("audit");
  renderAudit("Loading…");
  await loadAudit();
}

async function loadAudit({ more = false } = {}) {
  const audit = state.audit;
  if (!audit.integrationId) { showView("integrations"); return refreshIntegrations(); }
  const query = more && audit.continuationToken ? `?continuationToken=${seg(audit.continuationToken)}` : "";
  $("audit-more").disabled = true;
  try {
    if (!state.integrations.length) await loadIntegrations();
    const data = await api("GET", `v1/integrations/${seg(audit.integrationId)}/audit${query}`);
    if (state.audit !== audit) return;
    const entries = (data && data.entries) || [];
    audit.entries = more ? audit.entries.concat(entries) : entries;
    audit.continuationToken = (data && data.continuationToken) || null;
    renderAudit();
    $("last-updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    if (state.audit !== audit) return;
    renderAudit(err.message);
    handleError(err, "Could not load the audit trail");
  } finally {
    $("audit-more").disabled = false;
  }
}

function shortValue(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

// {retry: {maxAttempts: 5}} as {"retry.maxAttempts": 5}, so each setting is a line of its own.
function flatten(value, prefix = "", out = {}) {
  for (const [key, inner] of Object.entries(value || {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (inner && typeof inner === "object" && !Array.isArray(inner)) flatten(inner, path, out);
    else out[path] = inner;
  }
  return out;
}

const isObject = (value) => !!value && typeof value === "object" && !Array.isArray(value);

// What an entry changed, as lines: before → after for each field that differs, the events
// it names, and any other field it carries (who and from where are shown beside "Who").
function auditChanges(entry) {
  const lines = [];
  const before = isObject(entry.before) ? flatten(entry.before) : null;
  const after = isObject(entry.after) ? flatten(entry.after) : null;
  if (before || after) {
    const keys = new Set([...Object.keys(before || {}), ...Object.keys(after || {})]);
    for (const key of keys) {
      const was = before ? before[key] : undefined, now = after ? after[key] : undefined;
      if (before && after && JSON.stringify(was) === JSON.stringify(now)) continue;
      lines.push(before && after ? `${key}: ${shortValue(was)} → ${shortValue(now)}`
        : `${key}: ${shortValue(after ? now : was)}`);
    }
  } else {
    if (entry.before !== undefined && entry.before !== null) lines.push(`before: ${shortValue(entry.before)}`);
    if (entry.after !== undefined && entry.after !== null) lines.push(`after: ${shortValue(entry.after)}`);
  }
  const ids = Array.isArray(entry.eventIds) ? entry.eventIds : [];
  const total = typeof entry.eventCount === "number" ? entry.eventCount : ids.length;
  if (total) lines.push(`${total} event${total === 1 ? "" : "s"}: ${ids.slice(0, 3).join(", ")}${total > 3 ? ", …" : ""}`);
  if (entry.jobId) lines.push(`Bulk job ${entry.jobId}`);
  const shown = new Set(["at", "actor", "action", "before", "after", "eventIds", "eventCount", "jobId",
    "integrationId", "role", "address"]);
  for (const [key, value] of Object.entries(entry)) {
    if (shown.has(key) || value === null || value === undefined) continue;
    lines.push(`${key}: ${shortValue(value)}`);
  }
  return lines;
}

// Who: the actor, with the token's role when the actor does not already say it, and the
// address the request came from.
function auditWho(entry) {
  const actor = entry.actor || "—";
  const role = entry.role && !actor.startsWith(entry.role) ? `${entry.role} token` : null;
  const from = entry.address ? `from ${entry.address}` : null;
  const extra = [role, from].filter(Boolean).join(", ");
  return [h("span", { dataset: { testid: "audit-actor" } }, actor),
    extra ? h("span", { className: "sub muted" }, extra) : null];
}

// A trail's entries as table rows, newest first whatever order the pages came in.
function renderTrail(body, unordered) {
  clear(body);
  const entries = unordered.slice().sort((a, b) => String(b.at || "").localeCompare(String(a.at || "")));
  for (const entry of entries) {
    const lines = auditChanges(entry);
    body.append(h("tr", { dataset: { testid: "audit-entry", action: entry.action || "" } },
      h("td", { className: "when" }, entry.at ? [absolute(entry.at), h("br"), timeEl(entry.at)] : "—"),
      h("td", { className: "who" }, auditWho(entry)),
      h("td", { className: "mono", dataset: { testid: "audit-action" } }, entry.action || "—"),
      h("td", { className: "what", dataset: { testid: "audit-what" } },
        lines.length ? h("ul", { className: "changes" }, lines.map((line) => h("li", {}, line)))
          : h("span", { className: "muted" }, "—"))));
  }
  return entries;
}

function renderAudit(message) {
  const audit = state.audit;
  const integration = state.integrations.find((i) => i.id === audit.integrationId);
  const name = integration ? integration.name : audit.integrationId;
  const title = $("audit-title");
  title.textContent = `Audit trail · ${name}`;
  title.title = name;
  const entries = renderTrail($("audit-body"), audit.entries);
  const empty = $("audit-empty");
  empty.hidden = entries.length > 0;
  empty.textContent = message || "No management actions recorded for this integration yet.";
  $("audit-more").hidden = !audit.continuationToken;
}

/* =====================================================================================
   Tokens (an admin token for every integration): the named tokens with their state, a
   new one (its secret shown once), revoking one; under them the account's own audit
   trail (tokens made and revoked, data erased), a page at a time.
   ===================================================================================== */

const DAY_MS = 86400e3;

async function refreshTokens({ quiet = false } = {}) {
  try {
    if (state.roleMissing) await loadRole();
    if (!managesAccount()) return;
    // The integrations' names, for the tokens limited to some and for the new-token form.
    if (!quiet || !state.integrations.length) await loadIntegrations();
    const data = await api("GET", "v1/tokens");
    state.tokens = (data && data.tokens) || [];
    renderTokens();
    $("last-updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    $("last-updated").textContent = "Update failed";
    if (!quiet || err.status === 401) handleError(err, "Could not load the tokens");
    return;
  }
  // The trail reloads when asked only: a timer would drop the pages loaded with "Load more".
  if (!quiet) await loadAccountAudit();
}

function integrationName(id) {
  const known = state.integrations.find((i) => i.id === id);
  return known ? known.name : id;
}

function tokenScope(token) {
  const ids = token.integrationIds;
  if (!Array.isArray(ids)) return { short: "Every integration", long: "Every integration, and those made later" };
  const names = ids.map(integrationName);
  return { short: names.length === 1 ? names[0] : `${names.length} integrations`, long: names.join(", ") };
}

function tokenState(token, now = Date.now()) {
  if (token.revokedAt) return { key: "revoked", label: "Revoked",
    title: `Revoked ${absolute(token.revokedAt)} by ${token.revokedBy || "an admin"}` };
  if (token.expiresAt && Date.parse(token.expiresAt) <= now) return { key: "expired", label: "Expired",
    title: `Expired ${absolute(token.expiresAt)}` };
  return { key: "active", label: "Active", title: "Accepted" };
}

function renderTokens() {
  // Newest first: one just made is at the top. Unchanged data is not drawn again.
  const tokens = state.tokens.slice().sort((a, b) => String(b.createdAt).localeCompare(String(a.createdAt)));
  const json = JSON.stringify([tokens, state.integrations.map((i) => [i.id, i.name])]);
  const active = tokens.filter((t) => tokenState(t).key === "active").length;
  $("tokens-summary").textContent = tokens.length
    ? `Tokens · ${active} active of ${tokens.length}` : "Tokens";
  const empty = $("tokens-empty");
  empty.hidden = tokens.length > 0;
  empty.textContent = "No named tokens yet: make one per person or tool with “New token…”.";
  const body = $("tokens-body");
  if (json === body.dataset.shown) return;
  body.dataset.shown = json;
  clear(body);
  for (const t of tokens) {
    const scope = tokenScope(t), st = tokenState(t);
    body.append(h("tr", { dataset: { testid: "token-row", tokenId: t.id, state: st.key } },
      h("td", { className: "name" },
        h("span", { className: "ellipsis strong", title: t.name, dataset: { testid: "token-name-cell" } }, t.name),
        h("span", { className: "sub ellipsis", title: `Made ${absolute(t.createdAt)} by ${t.createdBy}` },
          h("span", { className: "mono" }, t.id), ` · made by ${t.createdBy}`)),
      h("td", { dataset: { testid: "token-role-cell" } }, t.role),
      h("td", {}, h("span", { className: "ellipsis", title: scope.long, dataset: { testid: "token-scope-cell" } }, scope.short)),
      h("td", { dataset: { testid: "token-expires" } },
        t.expiresAt ? h("time", { datetime: t.expiresAt, title: absolute(t.expiresAt) },
          new Date(t.expiresAt).toLocaleDateString(undefined, { dateStyle: "medium" })) : h("span", { className: "muted" }, "never")),
      h("td", { className: "age", dataset: { testid: "token-last-used" } },
        t.lastUsedAt ? timeEl(t.lastUsedAt) : h("span", { className: "muted" }, "never")),
      h("td", {}, h("span", { className: `chip token-${st.key}`, title: st.title, dataset: { testid: "token-state" } }, st.label)),
      h("td", {}, t.revokedAt ? null : h("button", { className: "btn small outline-danger", type: "button",
        dataset: { testid: "revoke-token" }, "aria-label": `Revoke the token ${t.name}`,
        onclick: () => confirmRevoke(t) }, "Revoke…"))));
  }
}

function confirmRevoke(token) {
  const own = token.name === state.actor && token.role === state.role;
  confirmAction({
    title: `Revoke the token “${token.name}”?`,
    paragraphs: [
      "Whoever holds it is refused from their next request (401 Unauthorized): a dashboard "
        + "open with it, the command line and any script using it stop at once.",
      "What was done with it stays in the audit trails under its name. A revoked token cannot "
        + "be used again: to give access back, make a new one.",
      own ? "This looks like the token you are signed in with: this page will ask for another." : null,
    ].filter(Boolean),
    confirmLabel: "Revoke token",
    run: async () => {
      await api("DELETE", `v1/tokens/${seg(token.id)}`);
      notify(`The token “${token.name}” is revoked.`, { testid: "token-revoked" });
      await refreshTokens();
    },
  });
}

// --- a new token ----------------------------------------------------------------------

const localDate = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;

function openTokenForm() {
  const form = $("new-token-form");
  form.reset();
  clearFormErrors(form, $("token-form-error"));
  state.tokenScope = new Set();
  $("token-expiry-date").min = localDate(new Date(Date.now() + DAY_MS));
  renderScopeChoices();
  renderExpiry();
  $("token-dialog").showModal();
  $("token-name").focus();
}

// The integrations to tick, narrowed by the search (ticked ones always stay in the list).
function renderScopeChoices() {
  const text = $("token-scope-search").value;
  const list = clear($("token-scope"));
  const shown = state.integrations.filter((i) => matchesSearch(i, text) || state.tokenScope.has(i.id)).reverse();
  for (const i of shown) {
    list.append(h("label", { className: "scope-item", title: `${i.name} (${i.id})` },
      h("input", { type: "checkbox", value: i.id, checked: state.tokenScope.has(i.id),
        dataset: { testid: "token-scope-choice" }, "aria-label": i.name,
        onchange: (e) => {
          if (e.target.checked) state.tokenScope.add(i.id); else state.tokenScope.delete(i.id);
          renderScopeSummary();
        } }),
      h("span", { className: "ellipsis" }, i.name), h("span", { className: "mono muted" }, i.id)));
  }
  if (!shown.length) {
    list.append(h("p", { className: "muted" }, state.integrations.length ? "No integration matches." : "No integrations yet."));
  }
  renderScopeSummary();
}

function renderScopeSummary() {
  const n = state.tokenScope.size;
  $("token-scope-summary").textContent = n
    ? `Limited to ${n} integration${n === 1 ? "" : "s"}: it sees nothing of the others and cannot make tokens or integrations.`
    : "Every integration, and those made later.";
}

// The expiry chosen: a preset from now, or the end of a chosen day in the viewer's time.
function chosenExpiry() {
  const choice = $("token-expiry").value;
  if (!choice) return { at: null };
  if (choice !== "date") return { at: new Date(Date.now() + Number(choice) * DAY_MS) };
  const day = $("token-expiry-date").value;
  const at = day ? new Date(`${day}T23:59:59`) : null;
  if (!at || isNaN(at)) return { error: "Choose the day it stops working." };
  if (at.getTime() <= Date.now()) return { error: "Choose a day to come." };
  return { at };
}

function renderExpiry() {
  $("token-expiry-date").hidden = $("token-expiry").value !== "date";
  const expiry = chosenExpiry();
  $("token-expiry-hint").textContent = expiry.error ? "It stops working at the end of the day you choose."
    : expiry.at ? `It stops working on ${absolute(expiry.at.toISOString())} (your time).`
      : "It works until it is revoked.";
}

async function saveToken(e) {
  e.preventDefault();
  const form = $("new-token-form"), box = $("token-form-error"), button = $("token-save");
  clearFormErrors(form, box);
  const expiry = chosenExpiry();
  if (expiry.error) {
    $("error-token-expiresAt").textContent = expiry.error;
    $("token-expiry-date").setAttribute("aria-invalid", "true");
    return;
  }
  const body = { name: $("token-name").value.trim(), role: $("token-role").value };
  if (state.tokenScope.size) body.integrationIds = [...state.tokenScope];
  if (expiry.at) body.expiresAt = expiry.at.toISOString();
  button.disabled = true;
  try {
    const created = await api("POST", "v1/tokens", body);
    $("token-dialog").close();
    const scope = tokenScope(created).long;
    showKey(`The token “${created.name}”: ${created.role}, ${scope === "Every integration, and those made later"
      ? "every integration" : `limited to ${scope}`}, ${created.expiresAt
      ? `until ${absolute(created.expiresAt)}` : "no expiry"}. Its secret:`, created.token, "", "token");
    await refreshTokens();
  } catch (err) {
    showFormErrors(err, form, box);
  } finally {
    button.disabled = false;
  }
}

// --- the account's audit trail ----------------------------------------------------------

async function loadAccountAudit({ more = false } = {}) {
  const trail = more ? state.accountAudit : { entries: [], continuationToken: null };
  if (!more) state.accountAudit = trail;
  const query = more && trail.continuationToken ? `?continuationToken=${seg(trail.continuationToken)}` : "";
  $("account-audit-more").disabled = true;
  try {
    const data = await api("GET", `v1/audit${query}`);
    if (state.accountAudit !== trail) return;
    const entries = (data && data.entries) || [];
    trail.entries = more ? trail.entries.concat(entries) : entries;
    trail.continuationToken = (data && data.continuationToken) || null;
    renderAccountAudit();
  } catch (err) {
    if (state.accountAudit !== trail) return;
    renderAccountAudit(err.message);
    handleError(err, "Could not load the account's audit trail");
  } finally {
    $("account-audit-more").disabled = false;
  }
}

function renderAccountAudit(message) {
  const trail = state.accountAudit;
  const entries = renderTrail($("account-audit-body"), trail.entries);
  const empty = $("account-audit-empty");
  empty.hidden = entries.length > 0;
  empty.textContent = message || "Nothing recorded yet: making or revoking a token is.";
  $("account-audit-more").hidden = !trail.continuationToken;
}

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

/* =====================================================================================
   Timers: auto-refresh every 5 s (paused while the tab is hidden), a faster watch of a
   just-resubmitted event, and the age ticker.
   ===================================================================================== */

function stopTimers() {
  for (const t of Object.values(state.timers)) { clearTimeout(t); clearInterval(t); }
  state.timers = {};
}

function schedule() {
  clearTimeout(state.timers.refresh);
  if (!$("auto-refresh").checked && Date.now() > state.watchUntil) return;
  const watching = Date.now() < state.watchUntil && state.detail
    && ["queued", "processing", "failed"].includes(state.detail.status);
  const delay = watching ? WATCH_MS : REFRESH_MS;
  state.timers.refresh = setTimeout(async () => {
    if (!document.hidden) {
      if (watching && !$("auto-refresh").checked) await loadDetail({ quiet: true });
      else await refresh({ quiet: true });
    }
    if (state.detail && ["success", "skipped"].includes(state.detail.status)) state.watchUntil = 0;
    schedule();
  }, delay);
}

/* =====================================================================================
   Wiring
   ===================================================================================== */

for (const a of ACTIONS) $("action-filter").append(h("option", { value: a }, a));

$("filters").addEventListener("submit", (e) => { e.preventDefault(); filtersFromForm(); reload(); });
// Selects and the checkbox apply at once; the search box on Enter (or Apply).
$("filters").addEventListener("change", (e) => {
  if (e.target.type === "search" || e.target.type === "datetime-local") return;
  filtersFromForm();
  $("custom-range-from").hidden = $("custom-range-to").hidden = state.filters.range !== "custom";
  if (state.filters.range === "custom" && !state.filters.from && !state.filters.to) return;
  reload();
});
$("reset-filters").addEventListener("click", () => {
  state.filters = { status: "", action: "", search: "", range: "", from: "", to: "", deadLettered: false };
  filtersToForm(); reload();
});
$("integration-search").addEventListener("input", renderPicker);
// Enter shows the first integration matching the search.
$("integration-search").addEventListener("keydown", (e) => {
  if (e.key !== "Enter") return;
  e.preventDefault();
  const first = state.integrations.find((i) => matchesSearch(i, e.target.value));
  if (first && first.id !== state.integrationId) openEvents(first.id);
});
$("integration-select").addEventListener("change", (e) => {
  state.integrationId = e.target.value;
  sessionStorage.setItem(KEY_INTEGRATION, state.integrationId);
  state.selectedId = null; state.detail = null; renderDetail();
  reload();
});
$("auto-refresh").addEventListener("change", () => { schedule(); if ($("auto-refresh").checked) refresh({ quiet: true }); });
$("refresh-now").addEventListener("click", () => refresh({ recount: true }));
$("sign-out").addEventListener("click", () => signOut("Enter another token (the current one was forgotten)."));
$("load-more").addEventListener("click", loadMore);
$("bulk-retry").addEventListener("click", openBulkDialog);
$("bulk-cancel").addEventListener("click", () => $("bulk-dialog").close());
$("bulk-confirm").addEventListener("click", startBulk);
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && state.selectedId && !document.querySelector("dialog[open]")) closeDetail();
});
for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => switchView(tab.dataset.view));
$("integrations-search").addEventListener("input", renderIntegrations);
$("window-select").addEventListener("change", (e) => {
  state.window = e.target.value;
  for (const row of $("integrations-body").rows) renderStats(row.dataset.integrationId, row);
  for (const id of state.visibleRows) wantStats(id, true);
});
$("create-integration").addEventListener("click", () => openIntegrationForm(null));
$("integration-form").addEventListener("submit", saveIntegration);
$("integration-cancel").addEventListener("click", () => $("integration-dialog").close());
$("confirm-ok").addEventListener("click", runConfirmed);
$("confirm-cancel").addEventListener("click", () => $("confirm-dialog").close());
$("confirm-dialog").addEventListener("close", () => { state.confirmRun = null; });
$("copy-key").addEventListener("click", copyKey);
$("key-done").addEventListener("click", () => $("key-dialog").close());
// Escape does not close the key by accident: only the button does, once it is stored.
$("key-dialog").addEventListener("cancel", (e) => e.preventDefault());
// Once closed, the key leaves the page: it is shown once.
$("key-dialog").addEventListener("close", () => { $("api-key").textContent = ""; $("key-copied").textContent = ""; });
$("audit-back").addEventListener("click", () => switchView("integrations"));
$("audit-more").addEventListener("click", () => loadAudit({ more: true }));
$("create-token").addEventListener("click", openTokenForm);
$("new-token-form").addEventListener("submit", saveToken);
$("token-cancel").addEventListener("click", () => $("token-dialog").close());
$("token-scope-search").addEventListener("input", renderScopeChoices);
$("token-expiry").addEventListener("change", renderExpiry);
$("token-expiry-date").addEventListener("input", renderExpiry);
$("account-audit-more").addEventListener("click", () => loadAccountAudit({ more: true }));
document.addEventListener("visibilitychange", () => { if (!document.hidden && state.token) refresh({ quiet: true }); });

async function start() {
  $("signin").hidden = true;
  $("app").hidden = false;
  const preferred = readStateFromHash();
  filtersToForm();
  renderListLoading();
  try {
    await Promise.all([loadRole(), loadIntegrations(preferred)]);
  } catch (err) {
    if (err.status === 401 || err.status === 403) { signOut(`The token was not accepted: ${err.message}`); return; }
    handleError(err, "Could not load integrations");
    return;
  }
  renderRole();  // again, now that the names of a limited token's integrations are known
  if (state.view === "tokens" && !managesAccount()) state.view = "events";
  if (state.view === "audit") state.audit = { integrationId: preferred || "", entries: [], continuationToken: null };
  showView(state.view);
  await refresh();
  renderDetail();
  schedule();
  clearInterval(state.timers.ages);
  state.timers.ages = setInterval(tickAges, 10000);
}

takeTokenFromUrl();
if (state.token) start(); else showSignIn("");
