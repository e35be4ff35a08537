/* The operations dashboard: changing integrations (admin), new keys and tokens shown once,
   the audit trails, and the tokens view.
   Loaded after dashboard.js, whose helpers (h, api, state, ...) it uses; see there.
*/
"use strict";

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

// `paragraphs`: text, or elements (a choice the action reads when it runs).
function confirmAction({ title, paragraphs, confirmLabel, danger = true, run }) {
  $("confirm-title").textContent = title;
  const body = clear($("confirm-body"));
  for (const part of paragraphs) body.append(part instanceof Node ? part : h("p", {}, part));
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

// How long the old key keeps working after a regeneration (graceSeconds): at once by
// default, or long enough for the sending system to switch without a refused push.
const KEY_GRACE = [
  { seconds: 0, label: "Refused at once (the default)" },
  { seconds: 3600, label: "Keeps working for 1 hour" },
  { seconds: 86400, label: "Keeps working for 1 day" },
  { seconds: 7 * 86400, label: "Keeps working for 7 days" },
];

function confirmRegenerate(integration) {
  const old = integration.apiKeyHint;
  const note = h("p", { dataset: { testid: "grace-note" }, "aria-live": "polite" });
  const describe = (seconds) => {
    note.textContent = seconds
      ? `The current key (${old}) keeps working until ${absolute(new Date(Date.now() + seconds * 1000).toISOString())} `
        + "(your time), then every push with it is refused with 401. Put the new key into the "
        + "sending system before then."
      : `The current key (${old}) stops working at once: every push with it is refused with 401 `
        + "from now on. Put the new key into the sending system straight away.";
  };
  const choice = h("fieldset", { className: "grace", dataset: { testid: "key-grace" } },
    h("legend", {}, "The current key"),
    KEY_GRACE.map((g) => h("label", {}, h("input", { type: "radio", name: "grace", value: String(g.seconds),
      checked: g.seconds === 0, dataset: { testid: `grace-${g.seconds}` },
      onchange: () => describe(g.seconds) }), ` ${g.label}`)));
  describe(0);
  confirmAction({
    title: `Regenerate the API key of “${integration.name}”?`,
    paragraphs: ["A new key is made and shown to you once.", choice, note,
      "Events already accepted are not affected."],
    confirmLabel: "Regenerate key",
    run: async () => {
      const picked = choice.querySelector("input:checked");
      const graceSeconds = picked ? Number(picked.value) : 0;
      const issued = await api("POST", `v1/integrations/${seg(integration.id)}/regenerate-key`,
        graceSeconds ? { graceSeconds } : undefined);
      const until = issued.previousKeyValidUntil;
      showKey(`The new API key of “${integration.name}”. ${until
        ? `The old key (${issued.previousKeyHint || old}) keeps working until ${absolute(until)} (your time).`
        : "The old key no longer works."}`, issued.apiKey, "");
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
   Wiring of the controls above
   ===================================================================================== */

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
