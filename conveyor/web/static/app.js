// Conveyor dashboard core: API client, login, live updates, formatting and DOM helpers.
// Plain ES module, no build step. Every page module imports it and awaits boot().

const KEY_STORAGE = "conveyor.apiKey";

export const STATES = ["scheduled", "queued", "running", "completed", "failed", "dead", "cancelled"];
export const ACTIVE_STATES = new Set(["scheduled", "queued", "running"]);
export const FINISHED_STATES = new Set(["completed", "failed", "dead", "cancelled"]);
export const STATE_LABELS = {
  scheduled: "scheduled", queued: "ready", running: "running", completed: "completed",
  failed: "failed", dead: "dead", cancelled: "cancelled",
};

export const session = { me: null };

// ---------------------------------------------------------------------------------------------
// DOM helpers
export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

/** h("a", {href, class: "x", onclick}, "text", child, [more]) -> Element. Text is always textContent. */
export function h(tag, attrs, ...children) {
  const el = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name === "text") {
      el.textContent = String(value);
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Call fn at most once per `ms`, trailing call guaranteed. */
export function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  return (...args) => {
    const wait = last + ms - Date.now();
    if (wait <= 0 && !timer) {
      last = Date.now();
      fn(...args);
    } else if (!timer) {
      timer = setTimeout(() => {
        timer = null;
        last = Date.now();
        fn(...args);
      }, Math.max(wait, 0));
    }
  };
}

/** Run `fn` now and every `ms` while the tab is visible; never two runs at once. */
export function every(ms, fn) {
  let running = false;
  let pending = false;
  let timer = null;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    clearTimeout(timer);
    if (running) {
      pending = true; // run again as soon as the current run ends
      return;
    }
    if (document.hidden) {
      timer = setTimeout(tick, ms);
      return;
    }
    running = true;
    let next = ms;
    try {
      const asked = await fn();
      if (typeof asked === "number") next = asked; // e.g. sooner while something is about to change
    } catch (err) {
      reportError(err);
    } finally {
      running = false;
    }
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(tick, pending ? 0 : next);
    pending = false;
  };
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && !stopped) tick();
  });
  tick();
  return {
    now() { return tick(); },
    stop() { stopped = true; clearTimeout(timer); },
  };
}

/**
 * Make `parent`'s element children look like `nodes` while keeping every unchanged element (so a
 * button under the pointer survives a refresh). With depth > 0, an element whose own children
 * are all elements is patched child by child instead of replaced.
 */
export function patch(parent, nodes, depth = 1) {
  const old = Array.from(parent.children);
  nodes.forEach((node, i) => {
    const cur = old[i];
    if (!cur) {
      parent.append(node);
    } else if (cur.isEqualNode(node)) {
      // unchanged
    } else if (depth > 0 && cur.tagName === node.tagName && cur.childNodes.length === cur.children.length
      && node.childNodes.length === node.children.length && cur.dataset.key === node.dataset.key) {
      for (const attr of Array.from(cur.attributes)) if (!node.hasAttribute(attr.name)) cur.removeAttribute(attr.name);
      for (const attr of Array.from(node.attributes)) {
        if (cur.getAttribute(attr.name) !== attr.value) cur.setAttribute(attr.name, attr.value);
      }
      patch(cur, Array.from(node.children), depth - 1);
    } else {
      cur.replaceWith(node);
    }
  });
  for (let i = nodes.length; i < old.length; i += 1) old[i].remove();
}

// ---------------------------------------------------------------------------------------------
// API client
export class ApiError extends Error {
  constructor(status, body) {
    const info = normaliseError(status, body);
    super(info.error);
    this.status = status;
    this.error = info.error;
    this.action = info.action;
    this.technical = info.technical_details;
    this.fields = body && typeof body === "object" && Array.isArray(body.fields) ? body.fields : null;
    this.queue = body && typeof body === "object" && typeof body.queue === "string" ? body.queue : null;
    this.runId = body && typeof body === "object" && typeof body.run_id === "string" ? body.run_id : null;
  }
}

function normaliseError(status, body) {
  if (body && typeof body === "object") {
    if (body.error) return { error: String(body.error), action: body.action || "", technical_details: body.technical_details || "" };
    if (body.detail !== undefined) {
      const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail, null, 2);
      return { error: `The server rejected the request (HTTP ${status}).`, action: "", technical_details: detail };
    }
  }
  const text = typeof body === "string" && body ? body : "";
  return { error: `The server answered HTTP ${status}.`, action: "", technical_details: text };
}

export function getKey() {
  try { return localStorage.getItem(KEY_STORAGE) || null; } catch { return null; }
}
export function setKey(key) {
  try { localStorage.setItem(KEY_STORAGE, key); } catch { /* private mode: key lives for this page only */ }
}
export function clearKey() {
  try { localStorage.removeItem(KEY_STORAGE); } catch { /* ignore */ }
}

/**
 * api("/api/jobs", {method: "POST", body: {...}}) -> parsed JSON.
 * Throws ApiError with {status, error, action, technical}. A 401 sends the user to the login page
 * unless `auth: false` (the login checks themselves).
 */
export async function api(path, { method = "GET", body, key, auth = true, signal } = {}) {
  const headers = { Accept: "application/json" };
  const useKey = key === undefined ? getKey() : key;
  if (useKey) headers.Authorization = `Bearer ${useKey}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, signal, cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, {
      error: "Cannot reach the Conveyor server.",
      action: "Check that `conveyor serve` or `conveyor up` is still running, then reload.",
      technical_details: String(err),
    });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (response.status === 401 && auth) {
    clearKey();
    goLogin("Your API key was not accepted any more. Log in again.");
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export function qs(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "") continue;
    search.set(name, Array.isArray(value) ? value.join(",") : String(value));
  }
  const s = search.toString();
  return s ? `?${s}` : "";
}

// ---------------------------------------------------------------------------------------------
// Login
let leaving = false;

export function goLogin(message) {
  if (leaving) return new Promise(() => {});
  leaving = true;
  const next = location.pathname + location.search + location.hash;
  const target = new URL("/login", location.href);
  if (next && next !== "/login") target.searchParams.set("next", next);
  if (message) sessionStorage.setItem("conveyor.loginMessage", message);
  location.replace(target.pathname + target.search);
  return new Promise(() => {}); // the page is going away: stop whatever awaited this
}

/**
 * Logs in: a ?key= in the URL wins (and is removed from the address bar), then the stored key,
 * then no key at all (a server with auth disabled answers /api/me without one).
 * Resolves to the /api/me answer; never resolves when it sends the user to the login page.
 */
export async function boot({ loginPage = false } = {}) {
  const url = new URL(location.href);
  const urlKey = url.searchParams.get("key");
  if (urlKey !== null) {
    url.searchParams.delete("key");
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
    try {
      const me = await api("/api/me", { key: urlKey, auth: false });
      setKey(urlKey);
      return started(me);
    } catch (err) {
      if (err.status === 401 || err.status === 403) {
        clearKey();
        if (loginPage) throw err;
        return goLogin("The key in the link was not accepted. Paste a valid API key.");
      }
      fatal(err);
      throw err;
    }
  }
  const stored = getKey();
  try {
    const me = await api("/api/me", { key: stored, auth: false });
    if (me && me.auth && !stored) {
      // Should not happen (auth on but no key sent), but never show data without a login.
      if (loginPage) throw new ApiError(401, { error: "Log in with an API key." });
      return goLogin();
    }
    return started(me);
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      clearKey();
      if (loginPage) throw err;
      return goLogin(stored ? "Your stored API key was not accepted. Log in again." : null);
    }
    if (!loginPage) fatal(err);
    throw err;
  }
}

function started(me) {
  // A page that neither listens live nor polls (Search, Integrations) hides the "connecting" dot.
  setTimeout(() => { if (!liveChannels.size && !pollingMode) renderLive(); }, 3000);
  session.me = me || { role: "admin", auth: false, tenant: "default" };
  document.body.dataset.role = session.me.role || "viewer";
  const who = $("#who");
  if (who) {
    clear(who);
    if (session.me.auth) {
      who.append(h("span", { class: "tenant", title: "Tenant" }, session.me.tenant ?? "all tenants"), " ",
        h("span", { class: `role role-${session.me.role}`, title: "Role" }, session.me.role));
    } else {
      who.append(h("span", { class: "muted small", title: "The server runs without API keys (--no-auth)" }, "auth off"));
    }
  }
  const logout = $("#logout");
  if (logout && session.me.auth) {
    logout.hidden = false;
    logout.addEventListener("click", () => {
      clearKey();
      location.href = "/login";
    });
  }
  const main = $("#main");
  if (main) main.dataset.loading = "false";
  return session.me;
}

/** The page has rendered its first data (tests and screenshots wait for this). */
export function markReady() {
  const main = $("#main");
  if (main && main.dataset.ready !== "true") main.dataset.ready = "true";
}

export function canOperate() {
  const role = session.me && session.me.role;
  return role === "operator" || role === "admin";
}

function fatal(err) {
  const main = $("#main");
  if (!main) return;
  main.dataset.loading = "false";
  main.prepend(errorBox(err));
}

// ---------------------------------------------------------------------------------------------
// Live updates (WebSocket with reconnect) and the indicator in the top bar
const liveChannels = new Set();
let pollingMode = false;

function renderLive() {
  const el = $("#live");
  if (!el) return;
  const open = [...liveChannels].some((c) => c.open);
  const state = open ? "on" : liveChannels.size ? "off" : pollingMode ? "poll" : "idle";
  el.dataset.state = state;
  const label = { on: "live", off: "reconnecting", poll: "auto-refresh", idle: "" }[state];
  $(".live-label", el).textContent = label;
  el.title = {
    on: "Live: updates arrive over a WebSocket as jobs change",
    off: "The live connection dropped; reconnecting (the page refreshes by polling meanwhile)",
    poll: "This page refreshes itself every few seconds",
    idle: "",
  }[state];
}

export function markPolling() {
  pollingMode = true;
  renderLive();
}

/**
 * live("/ws/events", {queue: "x"}, onMessage, {onOpen, onClose}) -> {close()}.
 * Reconnects with backoff; onOpen runs after every (re)connect so the page can resync.
 */
export function live(path, params, onMessage, { onOpen, onClose } = {}) {
  const channel = { open: false };
  let ws = null;
  let closed = false;
  let failures = 0;
  let timer = null;
  liveChannels.add(channel);

  const connect = () => {
    const url = new URL(path, location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    for (const [name, value] of Object.entries(params || {})) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, value);
    }
    const key = getKey();
    if (key) url.searchParams.set("api_key", key);
    try {
      ws = new WebSocket(url.href);
    } catch {
      scheduleReconnect();
      return;
    }
    ws.addEventListener("open", () => {
      failures = 0;
      channel.open = true;
      renderLive();
      if (onOpen) onOpen();
    });
    ws.addEventListener("message", (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      // The server's database feed reconnected and changes may have been missed: re-read.
      if (message && message.type === "resync") {
        if (onOpen) onOpen();
        return;
      }
      try { onMessage(message); } catch (err) { console.error(err); }
    });
    ws.addEventListener("close", (event) => {
      const wasOpen = channel.open;
      channel.open = false;
      renderLive();
      if (wasOpen && onClose) onClose();
      if (!wasOpen && failures === 0 && onClose) onClose();
      if (closed) return;
      if (event.code === 4401) {
        goLogin("Your API key was not accepted for live updates. Log in again.");
        return;
      }
      if (event.code === 4403 || event.code === 4404) return; // not allowed / no such job: retrying cannot help
      scheduleReconnect();
    });
  };
  const scheduleReconnect = () => {
    failures += 1;
    timer = setTimeout(connect, Math.min(10000, 400 * 2 ** Math.min(failures, 5)));
  };
  connect();
  renderLive();
  return {
    get open() { return channel.open; },
    close() {
      closed = true;
      clearTimeout(timer);
      liveChannels.delete(channel);
      if (ws) ws.close();
      renderLive();
    },
  };
}

/** A job message from either WebSocket: {type: "job", job} or a bare job object. */
export function jobFromMessage(message) {
  if (!message || typeof message !== "object") return null;
  if (message.type === "job" && message.job) return message.job;
  if (message.job && message.job.id) return message.job;
  if (message.id && message.state && message.task) return message;
  return null;
}

// ---------------------------------------------------------------------------------------------
// Formatting
const rtf = typeof Intl !== "undefined" && Intl.RelativeTimeFormat
  ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "short" }) : null;

export function parseTime(iso) {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

export function relTime(iso, now = Date.now()) {
  const t = parseTime(iso);
  if (t === null) return "—";
  const diff = (t - now) / 1000; // negative: past
  const abs = Math.abs(diff);
  if (abs < 2) return "just now";
  const sign = diff < 0 ? -1 : 1;
  if (abs < 60) return fmtRel(sign * Math.round(abs), "second", diff);
  if (abs < 3600) return fmtRel(sign * Math.round(abs / 60), "minute", diff);
  if (abs < 86400) return fmtRel(sign * Math.round(abs / 3600), "hour", diff);
  if (abs < 86400 * 30) return fmtRel(sign * Math.round(abs / 86400), "day", diff);
  return new Date(t).toLocaleDateString(undefined, { dateStyle: "medium" });
}

function fmtRel(value, unit, diff) {
  if (rtf) return rtf.format(value, unit);
  const n = Math.abs(value);
  return diff < 0 ? `${n} ${unit}s ago` : `in ${n} ${unit}s`;
}

export function exactTime(iso) {
  const t = parseTime(iso);
  if (t === null) return "";
  const local = new Date(t).toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
    timeZoneName: "short",
  });
  return `${local}\n${new Date(t).toISOString()}`;
}

/** <time> showing relative time, the exact time on hover; kept fresh by the global ticker. */
export function timeEl(iso, { prefix = "" } = {}) {
  if (!iso) return h("span", { class: "muted" }, "—");
  return h("time", { datetime: iso, title: exactTime(iso), "data-rel": "", "data-prefix": prefix },
    prefix + relTime(iso));
}

export function fmtAge(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  const s = Math.max(0, seconds);
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

export function fmtDuration(startIso, endIso) {
  const a = parseTime(startIso);
  const b = endIso ? parseTime(endIso) : Date.now();
  if (a === null || b === null) return "";
  const ms = Math.max(0, b - a);
  if (ms < 1000) return `${ms} ms`;
  return fmtAge(ms / 1000);
}

const numberFormat = new Intl.NumberFormat();
export const fmtNum = (n) => (n === null || n === undefined ? "—" : numberFormat.format(n));

// Frames of Conveyor's own runner and of the standard library's executors: not the user's code.
const RUNNER_FRAME = /File "[^"]*(\/conveyor\/(worker|context|process_isolation|app)\.py|\/concurrent\/futures\/[^"]*|\/asyncio\/[^"]*|\/threading\.py)"/;

/** A Python traceback with Conveyor's and the executors' frames left out: { text, hidden }. */
export function trimTraceback(text) {
  if (!text) return { text: "", hidden: 0 };
  const lines = String(text).replace(/\s+$/, "").split("\n");
  const out = [];
  let hidden = 0;
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i];
    if (/^ {2}File "/.test(line)) {
      const frame = [line];
      while (i + 1 < lines.length && /^ {4}/.test(lines[i + 1])) frame.push(lines[(i += 1)]);
      if (RUNNER_FRAME.test(line)) hidden += 1;
      else out.push(...frame);
    } else {
      out.push(line);
    }
  }
  return { text: out.join("\n"), hidden };
}

/** args and kwargs as the call would read: (1, 2, size=3); the whole of it on hover. */
export function argsPreview(job) {
  const parts = [...(job.args || []).map((a) => JSON.stringify(a)),
    ...Object.entries(job.kwargs || {}).map(([k, v]) => `${k}=${JSON.stringify(v)}`)];
  if (!parts.length) return h("span", { class: "muted" }, "()");
  const text = `(${parts.join(", ")})`;
  return h("span", { title: text, "data-testid": "args-preview" }, text.length > 48 ? `${text.slice(0, 47)}…` : text);
}

/** The random tail of a UUIDv7 id: its head is the creation time, the same for every job made
 * within ~65 s. (`conveyor status` takes this tail too.) */
export function shortId(id) {
  return id ? String(id).slice(-8) : "";
}

export function stateBadge(state, extra = "") {
  return h("span", { class: ["badge", `state-${state}`, extra], "data-state": state, title: stateHelp[state] || state },
    STATE_LABELS[state] || state);
}

const stateHelp = {
  scheduled: "Waiting for its run time (a delayed job or a retry after backoff)",
  queued: "Ready: waiting for a worker to pick it up",
  running: "Leased to a live worker",
  completed: "Finished successfully",
  failed: "Written as failed when enqueued: it never ran",
  dead: "In the dead-letter list: attempts spent, a permanent error or timed out for good",
  cancelled: "Cancelled by an operator",
};

export function progressBar(progress, state, { large = false } = {}) {
  const bar = h("div", { class: ["progress", large && "progress-lg"], role: "progressbar",
    "aria-valuemin": "0", "aria-valuemax": "100" }, h("div", { class: "bar" }));
  setProgress(bar, progress, state);
  return bar;
}

export function setProgress(el, progress, state) {
  const pct = progress && progress.percent !== null && progress.percent !== undefined
    ? Math.max(0, Math.min(100, Number(progress.percent))) : null;
  const shown = pct === null && state === "completed" ? 100 : pct;
  el.dataset.state = state || "";
  if (shown === null) {
    el.removeAttribute("aria-valuenow");
    el.dataset.indeterminate = state === "running" ? "true" : "false";
    el.firstElementChild.style.width = state === "running" ? "" : "0%";
    el.setAttribute("aria-valuetext", state === "running" ? "running, no progress reported" : "no progress reported");
  } else {
    el.dataset.indeterminate = "false";
    const rounded = Math.round(shown * 10) / 10;
    el.setAttribute("aria-valuenow", String(rounded));
    el.setAttribute("aria-valuetext", `${rounded}%`);
    el.firstElementChild.style.width = `${shown}%`;
  }
}

/** Pretty JSON with syntax colouring, built from text nodes (never innerHTML). */
export function jsonView(value) {
  const frag = document.createDocumentFragment();
  if (value === undefined) {
    frag.append(h("span", { class: "j-null" }, "—"));
    return frag;
  }
  const text = JSON.stringify(value, null, 2) ?? "null";
  const token = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false)\b|\bnull\b|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;
  let last = 0;
  for (const match of text.matchAll(token)) {
    if (match.index > last) frag.append(text.slice(last, match.index));
    let cls = "j-num";
    if (match[1]) cls = match[2] ? "j-key" : "j-str";
    else if (match[3]) cls = "j-bool";
    else if (match[0] === "null") cls = "j-null";
    if (match[1] && match[2]) {
      frag.append(h("span", { class: cls }, match[1]), match[2]);
    } else {
      frag.append(h("span", { class: cls }, match[0]));
    }
    last = match.index + match[0].length;
  }
  if (last < text.length) frag.append(text.slice(last));
  return frag;
}

/** The API's {error, action, technical_details} as a readable alert. */
export function errorBox(err, { title } = {}) {
  const box = h("div", { class: "alert alert-error", role: "alert" });
  fillErrorBox(box, err, { title });
  return box;
}

export function fillErrorBox(box, err, { title } = {}) {
  const error = err && (err.error || err.message) ? (err.error || err.message) : String(err);
  const action = err && err.action;
  const technical = err && (err.technical || err.technical_details);
  clear(box,
    h("p", { class: "alert-title" }, title ? `${title}: ` : "", h("span", { class: "error-message" }, error)),
    err && err.fields && err.fields.length ? h("ul", { class: "field-errors" },
      err.fields.map((f) => h("li", {}, h("code", {}, f.field), ": ", f.message))) : null,
    action ? h("p", { class: "alert-action" }, h("strong", {}, "What to do: "), commandText(action)) : null,
    err && err.status === 503 && err.queue ? startWorkerButton(err.queue) : null,
    technical ? h("details", { class: "technical" }, h("summary", {}, "Technical details"),
      h("pre", {}, typeof technical === "string" ? technical : JSON.stringify(technical, null, 2))) : null);
  box.hidden = false;
  return box;
}

/** Renders `conveyor ...` commands inside a sentence as copyable <code>. */
export function commandText(text) {
  const frag = document.createDocumentFragment();
  const re = /`([^`]+)`|(conveyor [^\n;`]*?)(?=\.?\s*$|\.\s|[;\n)])/g;
  let last = 0;
  for (const m of String(text).matchAll(re)) {
    if (m.index > last) frag.append(String(text).slice(last, m.index));
    frag.append(h("code", { class: "cmd" }, m[1] || m[2]));
    last = m.index + m[0].length;
  }
  if (last < String(text).length) frag.append(String(text).slice(last));
  return frag;
}

export function copyButton(text, label = "Copy") {
  const btn = h("button", { type: "button", class: "btn btn-sm btn-ghost copy", title: "Copy to clipboard" }, label);
  btn.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      btn.textContent = "Copied";
    } catch {
      btn.textContent = "Select and copy";
    }
    setTimeout(() => { btn.textContent = label; }, 1500);
  });
  return btn;
}

// ---------------------------------------------------------------------------------------------
// Toasts, confirmation, errors
export function toast(message, kind = "ok", { timeout = 4000 } = {}) {
  const box = $("#toasts");
  if (!box) return;
  const el = h("div", { class: `toast toast-${kind}` }, message);
  box.append(el);
  setTimeout(() => {
    el.classList.add("leaving");
    setTimeout(() => el.remove(), 300);
  }, kind === "error" ? Math.max(timeout, 8000) : timeout);
}

export function reportError(err) {
  console.error(err);
  if (err && err.name === "AbortError") return;
  const message = err && err.error ? err.error + (err.action ? ` ${err.action}` : "") : String(err && err.message || err);
  toast(message, "error");
}

export function confirmAction(title, text, okLabel = "Confirm", { danger = true } = {}) {
  const dialog = $("#confirm");
  if (!dialog || typeof dialog.showModal !== "function") return Promise.resolve(window.confirm(`${title}\n\n${text}`));
  $("#confirm-title").textContent = title;
  $("#confirm-text").textContent = text;
  const ok = $("#confirm-ok");
  ok.textContent = okLabel;
  ok.className = danger ? "btn btn-danger" : "btn btn-primary";
  dialog.returnValue = "";
  dialog.showModal();
  ok.focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

/** Disable a button while `work` runs; report failures as a toast. */
export async function busy(button, work) {
  if (button) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
  }
  try {
    return await work();
  } catch (err) {
    reportError(err);
    return undefined;
  } finally {
    if (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }
}

export function plural(n, word, many = `${word}s`) {
  return `${fmtNum(n)} ${n === 1 ? word : many}`;
}

// ---------------------------------------------------------------------------------------------
// Stranded queues: the same red banner on every page
export function cliCommand() {
  return document.body.dataset.cli || "conveyor";
}

export function workerCommand(queue) {
  const app = document.body.dataset.appPath || "your_module:app";
  return `${cliCommand()} worker --app ${app} --queues ${queue}`;
}

/** Under `conveyor up` (a supervised pool) an admin can start a worker for the queue from here. */
export function startWorkerButton(queue) {
  if (document.body.dataset.supervised !== "1" || !session.me || session.me.role !== "admin") return null;
  const button = h("button", { type: "button", class: "btn btn-sm btn-primary", "data-testid": "start-worker",
    title: `Start a supervised worker process that serves queue ${queue}` }, `Start a worker for “${queue}”`);
  button.addEventListener("click", () => busy(button, async () => {
    const answer = await api("/api/pool/workers", { method: "POST", body: { queues: [queue] } });
    toast(`Starting worker ${answer.id} for queue ${queue}; the banner clears once it sends its first heartbeat.`);
    button.textContent = "Starting…";
    button.dataset.started = "1";
  }));
  return button;
}

export function renderStranded(container, queues) {
  const stranded = (queues || []).filter((q) => q.stranded);
  const seen = new Set();
  for (const q of stranded) {
    seen.add(q.name);
    const waiting = (q.counts.queued || 0) + (q.counts.scheduled || 0) + (q.counts.running || 0);
    const cmd = workerCommand(q.name);
    let banner = container.querySelector(`[data-stranded="${CSS.escape(q.name)}"]`);
    const body = [
      h("div", { class: "banner-text" },
        h("strong", {}, `Queue “${q.name}” is stranded: `),
        `${plural(waiting, "job")} waiting and no live worker serves it: nothing runs there until a worker starts.`,
        h("div", { class: "banner-fix" }, "Fix: ", h("code", { class: "cmd" }, cmd), copyButton(cmd),
          startWorkerButton(q.name))),
    ];
    if (!banner) {
      banner = h("div", { class: "banner banner-danger", role: "alert", "data-stranded": q.name, "data-testid": "stranded-banner" });
      container.append(banner);
    }
    if (banner.dataset.sig !== `${waiting}|${cmd}`) {
      clear(banner, body);
      banner.dataset.sig = `${waiting}|${cmd}`;
    }
  }
  for (const el of $$("[data-stranded]", container)) {
    if (!seen.has(el.dataset.stranded)) el.remove();
  }
  return stranded.length;
}

/** While a queue is stranded, poll this often: its banner goes as soon as a worker is live. */
export const STRANDED_POLL_MS = 500;

export function setDeadCount(queues) {
  const el = $("#nav-dead-count");
  if (!el) return;
  const dead = (queues || []).reduce((sum, q) => sum + (q.counts.dead || 0), 0);
  el.hidden = dead === 0;
  el.textContent = dead > 999 ? "999+" : String(dead);
  el.title = `${dead} dead letters`;
}

/** Pages other than the overview poll /api/queues for the stranded banners and the nav count. */
export function startHealth(intervalMs = 5000) {
  const container = $("#banners");
  return every(intervalMs, async () => {
    const data = await api("/api/queues");
    const stranded = renderStranded(container, data.items);
    setDeadCount(data.items);
    return stranded ? STRANDED_POLL_MS : intervalMs;
  });
}

// Keep every relative time fresh.
setInterval(() => {
  const now = Date.now();
  for (const el of $$("time[data-rel]")) {
    el.textContent = (el.dataset.prefix || "") + relTime(el.getAttribute("datetime"), now);
  }
}, 1000);
