// berth console: the admin API, seen and driven from a browser.
// The token lives in this page's memory only (services share berth's
// origin, so no storage they could read holds it) and travels only as an
// Authorization header to this origin. Every value from the server is put
// in the page as text (textContent), never as HTML.
"use strict";

const REFRESH_MS = 2000;
const MAX_LOG_LINES = 500;
const $ = (id) => document.getElementById(id);

const state = {
  token: null,
  tenant: "default",
  timer: null,
  rows: new Map(),
  known: [],
  log: null,
  paused: false,
  skipped: 0,
};

class Failure extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// --- the admin API -------------------------------------------------------

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + state.token };
  if (body) headers["Content-Type"] = "application/wasm";
  let response;
  try {
    response = await fetch("/admin" + path, { method, headers, body, cache: "no-store", credentials: "omit" });
  } catch (error) {
    throw new Failure(0, "unreachable", "berth cannot be reached: " + error.message);
  }
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
  if (response.status === 401) {
    signOut("The token was refused. Sign in again.");
    throw new Failure(401, "unauthorized", "The token was refused.");
  }
  if (!response.ok) {
    const error = (json && json.error) || {};
    throw new Failure(response.status, error.code || "error", error.message || text || response.statusText);
  }
  return json;
}

const scope = () => "/tenants/" + encodeURIComponent(state.tenant);
const describe = (f) => f.status ? `${f.message} (${f.status} ${f.code})` : f.message;

// --- signing in and out --------------------------------------------------

async function signIn(token) {
  state.token = token;
  try {
    await api("GET", "/tenants");
  } catch (failure) {
    state.token = null;
    showLogin(failure.status === 401 ? "The token was refused." : describe(failure));
    return;
  }
  $("token").value = "";
  $("login").hidden = true;
  $("app").hidden = false;
  $("session").hidden = false;
  $("main").focus();
  await refresh();
  state.timer = setInterval(refresh, REFRESH_MS);
}

function signOut(message) {
  clearInterval(state.timer);
  stopLog();
  state.token = null;
  state.rows.clear();
  $("services-body").replaceChildren();
  $("history-body").replaceChildren();
  showLogin(message);
}

function showLogin(message) {
  $("app").hidden = true;
  $("session").hidden = true;
  $("login").hidden = false;
  const error = $("login-error");
  error.hidden = !message;
  error.textContent = message || "";
  $("token").focus();
}

// --- refreshing ------------------------------------------------------------

async function refresh() {
  if (!state.token) return;
  const pulse = $("pulse");
  try {
    // The tenants first: a tenant's operator token sees its own only.
    const tenants = await api("GET", "/tenants");
    renderTenants(tenants.tenants);
    const [services, history] = await Promise.all([
      api("GET", scope() + "/services"),
      api("GET", scope() + "/history?limit=30"),
    ]);
    renderServices(services.services);
    renderHistory(history.history);
    pulse.textContent = "Updated " + new Date().toLocaleTimeString();
    pulse.classList.remove("stale");
  } catch (failure) {
    if (!state.token) return;
    if (failure.code === "unknown_tenant") {
      switchTenant("default", false);
      return;
    }
    pulse.textContent = "Not updated: " + describe(failure);
    pulse.classList.add("stale");
  }
}

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function cell(label, content, className) {
  const td = el("td", { className: className || "" }, content);
  td.dataset.label = label;
  return td;
}

function badge(kind, text) {
  return el("span", { className: "status " + kind }, text || kind);
}

const ms = (v) => v === null || v === undefined ? "—" : (v < 10 ? v.toFixed(1) : Math.round(v)) + " ms";
const rate = (v) => v === null || v === undefined ? "—" : v.toFixed(1);
const percent = (v) => v === null || v === undefined ? "—" : (v * 100).toFixed(1) + " %";

function renderTenants(tenants) {
  const select = $("tenant");
  const names = tenants.map((t) => t.name);
  if (!names.includes(state.tenant)) switchTenant(names.includes("default") ? "default" : names[0], false);
  if (select.options.length !== names.length || [...select.options].some((o, i) => o.value !== names[i])) {
    select.replaceChildren(...names.map((n) => el("option", { value: n, textContent: n })));
  }
  select.value = state.tenant;
  $("tenants-state").hidden = tenants.length > 0;
  const list = $("tenants");
  const items = tenants.map((t) => {
    const count = Array.isArray(t.services) ? t.services.length : Number(t.services) || 0;
    const label = el("span", { textContent: `${t.name} · ${count} service${count === 1 ? "" : "s"}` });
    const actions = el("span", { className: "actions" });
    if (t.name !== state.tenant) {
      actions.append(el("button", { type: "button", textContent: "Open", onclick: () => switchTenant(t.name) }));
    }
    if (t.name !== "default") {
      actions.append(el("button", {
        type: "button", textContent: "Delete", ariaLabel: "Delete tenant " + t.name,
        onclick: () => deleteTenant(t.name),
      }));
    }
    return el("li", {}, label, actions);
  });
  // Rebuilt only when it changed, so that keyboard focus stays put.
  const signature = JSON.stringify(tenants.map((t) => [t.name, t.services])) + state.tenant;
  if (list.dataset.signature !== signature) {
    list.dataset.signature = signature;
    list.replaceChildren(...items);
  }
}

function renderServices(services) {
  $("services-tenant").textContent = "· tenant " + state.tenant;
  const body = $("services-body");
  const stateLine = $("services-state");
  stateLine.hidden = services.length > 0;
  stateLine.textContent = `No service is deployed for tenant ${state.tenant} yet. Deploy one below.`;
  $("services").hidden = services.length === 0;
  const seen = new Set();
  for (const service of services) {
    seen.add(service.name);
    let row = state.rows.get(service.name);
    if (!row) {
      row = makeRow(service.name);
      state.rows.set(service.name, row);
    }
    fillRow(row, service);
  }
  for (const [name, row] of state.rows) {
    if (!seen.has(name)) {
      row.main.remove();
      row.sub.remove();
      state.rows.delete(name);
    }
  }
  // Keep rows in name order without moving the focused one needlessly.
  const ordered = [...state.rows.keys()].sort();
  ordered.forEach((name, i) => {
    const row = state.rows.get(name);
    if (body.children[i * 2] !== row.main) body.append(row.main, row.sub);
  });
  const names = services.filter((s) => s.state !== "failed").map((s) => s.name);
  syncLogChoices(names);
}

function makeRow(name) {
  const main = el("tr");
  main.dataset.service = name;
  const cells = {};
  for (const label of ["Service", "Status", "Version", "Share", "Req/s", "p50", "p99", "Errors"]) {
    cells[label] = cell(label, "", ["Req/s", "p50", "p99", "Errors", "Share"].includes(label) ? "num" : "");
    main.append(cells[label]);
  }
  const actions = el("div", { className: "actions" });
  const buttons = {
    logs: el("button", { type: "button", textContent: "Logs", ariaLabel: "Follow the log of " + name,
      onclick: () => { $("logs-service").value = name; startLog(name); $("logs").focus(); } }),
    rollback: el("button", { type: "button", textContent: "Roll back", ariaLabel: "Roll back " + name,
      onclick: () => act("rollback", name) }),
    undeploy: el("button", { type: "button", textContent: "Undeploy", ariaLabel: "Undeploy " + name,
      onclick: () => act("undeploy", name) }),
    promote: el("button", { type: "button", textContent: "Promote canary", ariaLabel: "Promote the canary of " + name,
      onclick: () => act("promote", name) }),
    abort: el("button", { type: "button", textContent: "Abort canary", ariaLabel: "Abort the canary of " + name,
      onclick: () => act("abort", name) }),
  };
  actions.append(buttons.logs, buttons.rollback, buttons.undeploy, buttons.promote, buttons.abort);
  main.append(cell("Actions", actions));
  const sub = el("tr", { className: "sub" });
  const detail = el("td", { colSpan: 9 });
  sub.append(detail);
  return { main, sub, cells, buttons, detail };
}

function fillRow(row, s) {
  const c = row.cells;
  const failed = s.state === "failed";
  c.Service.replaceChildren(...[el("strong", { textContent: s.name }),
    s.prefix && el("div", { className: "detail", textContent: s.prefix })].filter(Boolean));
  c.Status.replaceChildren(failed ? badge("failed", "refused") : badge("live"));
  c.Version.textContent = s.version || "—";
  c.Share.textContent = failed ? "—" : (s.weight ?? 100) + " %";
  const stats = s.stats || {};
  c["Req/s"].textContent = rate(stats.per_second);
  c.p50.textContent = ms(stats.p50_ms);
  c.p99.textContent = ms(stats.p99_ms);
  c.Errors.textContent = stats.requests ? `${percent(stats.error_rate)} (${stats.errors})` : "—";
  row.buttons.rollback.hidden = failed || !!s.canary;
  row.buttons.undeploy.hidden = failed;
  row.buttons.logs.hidden = failed;
  row.buttons.promote.hidden = !s.canary;
  row.buttons.abort.hidden = !s.canary;
  const lines = [];
  if (s.canary) {
    const k = s.canary;
    const ks = k.stats || {};
    lines.push(el("div", {},
      badge("canary", `canary ${k.weight} %`), " ",
      el("span", { textContent: `${k.version} · ${rate(ks.per_second)} req/s · p50 ${ms(ks.p50_ms)} · ` +
        `p99 ${ms(ks.p99_ms)} · errors ${ks.requests ? percent(ks.error_rate) : "—"} · running ${k.running_for_s} s` })));
  }
  if (s.last_error) {
    lines.push(el("div", { className: "detail bad" },
      el("strong", { textContent: "Last refused deploy: " }),
      el("span", { textContent: `${s.last_error.message} (${s.last_error.source}, ${s.last_error.at})` })));
  }
  row.detail.replaceChildren(...lines);
  row.sub.hidden = lines.length === 0;
}

function renderHistory(history) {
  const body = $("history-body");
  $("history-state").hidden = history.length > 0;
  $("history-state").textContent = "Nothing has been deployed for this tenant yet.";
  $("history").hidden = history.length === 0;
  const signature = JSON.stringify(history.map((h) => [h.id, h.state]));
  if (body.dataset.signature === signature) return;
  body.dataset.signature = signature;
  body.replaceChildren(...history.map((h) => {
    const why = h.error || h.note || (h.state === "retired" ? "replaced by a later version" : "");
    return el("tr", {},
      cell("When", h.created_at || "—"),
      cell("Service", h.service),
      cell("Version", h.version || "—"),
      cell("Outcome", badge(h.state, h.state === "failed" ? "refused" : h.state)),
      cell("Who", h.source || "—"),
      cell("Why", why ? el("span", { className: h.error ? "detail bad" : "detail", textContent: why }) : "—"));
  }));
}

// --- acting --------------------------------------------------------------

function notify(ok, message) {
  const notice = $("notice");
  notice.hidden = false;
  notice.className = "notice " + (ok ? "ok" : "bad");
  notice.textContent = message;
}

function confirmAction(title, text, verb) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = verb;
  return new Promise((resolve) => {
    const done = (answer) => {
      $("confirm-ok").onclick = null;
      $("confirm-cancel").onclick = null;
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    $("confirm-ok").onclick = () => done(true);
    $("confirm-cancel").onclick = () => done(false);
    dialog.onclose = () => done(false);
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}

async function act(action, name) {
  const base = scope() + "/services/" + encodeURIComponent(name);
  const plans = {
    rollback: ["POST", base + "/rollback", `Roll back ${name}?`, "Its previous version becomes live again.", "Roll back"],
    undeploy: ["DELETE", base, `Undeploy ${name}?`, "Its routes answer 404 once the requests in flight finish.", "Undeploy"],
    promote: ["POST", base + "/promote", `Promote the canary of ${name}?`, "The canary takes all requests.", "Promote"],
    abort: ["POST", base + "/abort", `Abort the canary of ${name}?`, "The live version takes all requests again.", "Abort"],
  };
  const [method, path, title, text, verb] = plans[action];
  if (!(await confirmAction(title, text, verb))) {
    notify(true, `Nothing was changed: ${verb.toLowerCase()} of ${name} cancelled.`);
    return;
  }
  try {
    const result = await api(method, path);
    const report = result && (result.deployed || result.promoted || result.aborted);
    notify(true, report ? `${verb}: ${name} is now at ${report.version}.` : `${name} was undeployed.`);
  } catch (failure) {
    if (failure.status !== 401) notify(false, `${verb} of ${name} failed: ${describe(failure)}`);
  }
  await refresh();
}

async function deploy(event) {
  event.preventDefault();
  const file = $("wasm").files[0];
  const name = $("deploy-name").value.trim();
  if (!file) return notify(false, "Choose a .wasm file to deploy.");
  if (!/^[a-z][a-z0-9-]{0,62}$/.test(name)) {
    return notify(false, "A service name is lower-case letters, digits and '-', starting with a letter.");
  }
  const button = $("deploy");
  button.disabled = true;
  notify(true, `Deploying ${file.name} as ${name}…`);
  try {
    const result = await api("PUT", scope() + "/services/" + encodeURIComponent(name), await file.arrayBuffer());
    const report = result.deployed;
    notify(true, `Deployed ${report.name} ${report.version} (${report.digest.slice(0, 12)}); it is live.`);
    $("deploy-form").reset();
  } catch (failure) {
    if (failure.status !== 401) notify(false, `The deploy of ${name} was refused: ${describe(failure)}`);
  } finally {
    button.disabled = false;
  }
  await refresh();
}

function chooseFile(file) {
  if (!$("deploy-name").value) {
    const stem = file.name.replace(/\.wasm$/i, "").toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^[^a-z]+/, "");
    $("deploy-name").value = stem.slice(0, 63);
  }
}

async function createTenant(event) {
  event.preventDefault();
  const name = $("new-tenant").value.trim();
  if (!name) return notify(false, "Enter a name for the new tenant.");
  try {
    const result = await api("PUT", "/tenants/" + encodeURIComponent(name));
    notify(true, result.created ? `Tenant ${name} was created.` : `Tenant ${name} already exists.`);
    $("new-tenant").value = "";
  } catch (failure) {
    if (failure.status !== 401) notify(false, `Tenant ${name} was not created: ${describe(failure)}`);
  }
  await refresh();
}

async function deleteTenant(name) {
  const sure = await confirmAction(`Delete tenant ${name}?`,
    "Its services must be undeployed first. This cannot be undone.", "Delete tenant");
  if (!sure) return notify(true, `Nothing was changed: tenant ${name} was kept.`);
  try {
    await api("DELETE", "/tenants/" + encodeURIComponent(name));
    notify(true, `Tenant ${name} was deleted.`);
    if (state.tenant === name) switchTenant("default");
  } catch (failure) {
    if (failure.status !== 401) notify(false, `Tenant ${name} was not deleted: ${describe(failure)}`);
  }
  await refresh();
}

function switchTenant(name, reload = true) {
  state.tenant = name;
  state.rows.clear();
  $("services-body").replaceChildren();
  $("history-body").dataset.signature = "";
  stopLog();
  $("logs").replaceChildren();
  if (reload) refresh();
}

// --- the live log ----------------------------------------------------------

function syncLogChoices(names) {
  const select = $("logs-service");
  const current = select.value;
  const wanted = ["", ...names];
  if (JSON.stringify([...select.options].map((o) => o.value)) !== JSON.stringify(wanted)) {
    select.replaceChildren(el("option", { value: "", textContent: "— choose —" }),
      ...names.map((n) => el("option", { value: n, textContent: n })));
    select.value = wanted.includes(current) ? current : "";
  }
}

function stopLog() {
  if (state.log) state.log.abort();
  state.log = null;
}

async function startLog(name) {
  stopLog();
  const list = $("logs");
  const status = $("logs-state");
  list.replaceChildren();
  if (!name) {
    status.textContent = "Choose a service to follow its log.";
    return;
  }
  const controller = new AbortController();
  state.log = controller;
  status.textContent = `Connecting to the log of ${name}…`;
  const path = scope() + "/services/" + encodeURIComponent(name) + "/logs?follow=true&lines=200";
  try {
    const response = await fetch("/admin" + path, {
      headers: { Authorization: "Bearer " + state.token }, cache: "no-store", credentials: "omit",
      signal: controller.signal,
    });
    if (response.status === 401) return signOut("The token was refused. Sign in again.");
    if (!response.ok) {
      const json = await response.json().catch(() => null);
      status.textContent = `The log of ${name} cannot be followed: ` +
        ((json && json.error && json.error.message) || response.statusText);
      return;
    }
    status.textContent = `Following ${name} (tenant ${state.tenant}).`;
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let pending = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += decoder.decode(value, { stream: true });
      const parts = pending.split("\n");
      pending = parts.pop();
      for (const part of parts) if (part.trim()) showLine(JSON.parse(part));
    }
    status.textContent = `The log of ${name} ended. Choose the service again to follow it.`;
  } catch (error) {
    if (error.name !== "AbortError") status.textContent = `The log of ${name} stopped: ${error.message}`;
  }
}

function showLine(line) {
  const list = $("logs");
  if (line.dropped) {
    list.append(el("li", { className: "warn", textContent: `… ${line.dropped} lines were dropped (the reader was slow)` }));
    return;
  }
  if (state.paused) {
    state.skipped += 1;
    $("logs-state").textContent = `Paused: ${state.skipped} new lines not shown.`;
    return;
  }
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  const time = (line.time || "").slice(11, 23);
  const text = line.message + (line.fields ? "  " + line.fields : "") +
    (line.request_id ? "  [" + line.request_id.slice(0, 8) + "]" : "");
  list.append(el("li", { className: line.level },
    el("span", { className: "time", textContent: time + " " }),
    el("span", { className: "lvl", textContent: line.level.toUpperCase() }), " ",
    el("span", { className: "origin", textContent: line.origin + " " }),
    el("span", { className: "msg", textContent: text })));
  while (list.children.length > MAX_LOG_LINES) list.firstChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

// --- wiring ----------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (!token) return showLogin("Enter the admin token.");
    signIn(token);
  });
  $("signout").addEventListener("click", () => signOut("Signed out."));
  $("tenant").addEventListener("change", (event) => switchTenant(event.target.value));
  $("deploy-form").addEventListener("submit", deploy);
  $("tenant-form").addEventListener("submit", createTenant);
  $("wasm").addEventListener("change", (event) => event.target.files[0] && chooseFile(event.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (!file) return;
    const files = new DataTransfer();
    files.items.add(file);
    $("wasm").files = files.files;
    chooseFile(file);
    notify(true, `${file.name} is ready to deploy.`);
  });
  $("logs-service").addEventListener("change", (event) => startLog(event.target.value));
  $("logs-pause").addEventListener("click", (event) => {
    state.paused = !state.paused;
    state.skipped = 0;
    event.target.setAttribute("aria-pressed", String(state.paused));
    event.target.textContent = state.paused ? "Resume" : "Pause";
    $("logs-state").textContent = state.paused ? "Paused." : "Following.";
  });
  $("logs-clear").addEventListener("click", () => $("logs").replaceChildren());
  showLogin("");
});
