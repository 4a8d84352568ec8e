// Jobs: filter by state, queue, task, token and creation time; keyset-paged (the API's cursor);
// rows update live from the WebSocket event stream.
import {
  $, $$, STATES, STATE_LABELS, api, boot, clear, every, argsPreview, fmtDuration, fmtNum, h, jobFromMessage, live, markReady, parseTime, progressBar,
  qs, shortId, startHealth, stateBadge, timeEl,
} from "./app.js";

await boot();
startHealth();

const FILTER_FIELDS = ["queue", "task", "token", "created_after", "created_before", "limit"];
const tbody = $("#jobs-table tbody");
let filters = readUrl();
let cursors = []; // cursors of the pages before the current one ("" for the first)
let cursor = "";
let nextCursor = null;
let stream = null;
let loadSeq = 0;

// ---- filters <-> URL <-> form ----------------------------------------------------------------
function readUrl() {
  const params = new URLSearchParams(location.search);
  const f = { state: (params.get("state") || "").split(",").filter((s) => STATES.includes(s)) };
  for (const name of FILTER_FIELDS) f[name] = params.get(name) || "";
  if (!["25", "50", "100", "200"].includes(f.limit)) f.limit = "50";
  return f;
}

function writeUrl(push) {
  const url = `/jobs${qs({ ...filters, state: filters.state, limit: filters.limit === "50" ? "" : filters.limit })}`;
  if (url !== location.pathname + location.search) history[push ? "pushState" : "replaceState"](null, "", url);
}

function toLocalInput(iso) {
  const t = parseTime(iso);
  if (t === null) return "";
  const d = new Date(t);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function fromLocalInput(value) {
  if (!value) return "";
  const t = new Date(value);
  return Number.isNaN(t.getTime()) ? "" : t.toISOString();
}

function fillForm(f = filters) {
  for (const chip of $$(".chip", $("#state-chips"))) {
    chip.setAttribute("aria-pressed", String(f.state.includes(chip.dataset.state)));
  }
  ensureOption($("#f-queue"), f.queue);
  $("#f-queue").value = f.queue;
  $("#f-task").value = f.task;
  $("#f-token").value = f.token;
  $("#f-after").value = toLocalInput(f.created_after);
  $("#f-before").value = toLocalInput(f.created_before);
  $("#f-limit").value = f.limit;
}

function readForm() {
  return {
    state: $$(".chip[aria-pressed=true]", $("#state-chips")).map((c) => c.dataset.state),
    queue: $("#f-queue").value,
    task: $("#f-task").value.trim(),
    token: $("#f-token").value.trim(),
    created_after: fromLocalInput($("#f-after").value),
    created_before: fromLocalInput($("#f-before").value),
    limit: $("#f-limit").value,
  };
}

function ensureOption(select, value) {
  if (value && ![...select.options].some((o) => o.value === value)) select.append(h("option", { value }, value));
}

clear($("#state-chips"), STATES.map((state) => {
  const chip = h("button", { type: "button", class: `chip state-${state}`, "data-state": state,
    style: `--chip-colour: var(--c-${state})`, "aria-pressed": "false", "data-testid": `filter-state-${state}` },
  STATE_LABELS[state], h("span", { class: "chip-count", "data-testid": `chip-count-${state}`, hidden: true }));
  chip.addEventListener("click", () => {
    chip.setAttribute("aria-pressed", String(chip.getAttribute("aria-pressed") !== "true"));
    apply(true);
  });
  return chip;
}));

$("#filters").addEventListener("submit", (event) => {
  event.preventDefault();
  apply(true);
});
for (const id of ["#f-queue", "#f-limit", "#f-after", "#f-before"]) $(id).addEventListener("change", () => apply(true));
$("#f-clear").addEventListener("click", () => {
  fillForm({ state: [], queue: "", task: "", token: "", created_after: "", created_before: "", limit: filters.limit });
  apply(true);
});
window.addEventListener("popstate", () => {
  filters = readUrl();
  fillForm();
  resetPaging();
  load();
  connect();
});

function apply(push) {
  const before = streamKey();
  filters = readForm();
  writeUrl(push);
  resetPaging();
  load();
  if (before !== streamKey()) connect();
}

/** The filters the server applies to the event stream: a change needs a new connection. */
function streamKey() {
  return JSON.stringify([filters.queue, filters.task, filters.token]);
}

function resetPaging() {
  cursors = [];
  cursor = "";
}

// ---- the table ------------------------------------------------------------------------------
function row(job) {
  const p = job.progress || {};
  const hasProgress = p.percent !== null && p.percent !== undefined;
  const progress = hasProgress || job.state === "running"
    ? h("div", { class: "mini-progress" }, progressBar(p, job.state),
      h("span", {}, hasProgress ? `${Math.round(p.percent)}%` : ""))
    : h("span", { class: "muted" }, "—");
  return h("tr", { "data-job-id": job.id, "data-state": job.state },
    h("td", { class: "state-cell" }, stateBadge(job.state), job.cancel_requested && job.state === "running"
      ? h("span", { class: "pending", title: "Cancel requested" }, " cancelling") : null),
    h("td", { class: "job-cell" },
      h("a", { href: `/jobs/${encodeURIComponent(job.id)}` }, job.task),
      h("span", { class: "mono", title: job.id }, shortId(job.id))),
    h("td", { "data-label": "Queue" }, h("a", { href: `/jobs${qs({ queue: job.queue })}` }, job.queue)),
    h("td", { "data-label": "Arguments", class: "args-cell mono small" }, argsPreview(job)),
    h("td", { "data-label": "Progress" }, progress),
    h("td", { class: "num", "data-label": "Attempts" }, `${job.attempts}/${job.max_attempts}`),
    h("td", { "data-label": "Created" }, timeEl(job.created_at)),
    h("td", { "data-label": "Runtime", class: "num", "data-testid": "runtime" }, runtime(job)),
    h("td", { "data-label": "Updated" }, timeEl(job.updated_at)),
    h("td", { "data-label": "Worker", class: "mono small" }, job.worker_id
      ? h("a", { href: `/workers#${encodeURIComponent(job.worker_id)}`, title: job.worker_id }, shortWorker(job.worker_id))
      : h("span", { class: "muted" }, "—")));
}

function runtime(job) {
  if (!job.started_at) return h("span", { class: "muted" }, "—");
  const running = job.state === "running";
  const end = running ? null : (job.ended_at || job.updated_at);
  return h("span", { title: `${running ? "Running since" : "Ran from"} ${job.started_at}${end ? ` to ${end}` : ""}`,
    "data-started": job.started_at, "data-running": running ? "1" : "" }, fmtDuration(job.started_at, end));
}

/** Counts per state on the filter chips, from the per-queue counts (the active states and the
 * dead-letter list; completed and cancelled are not counted: that would scan finished history). */
async function refreshChipCounts() {
  const data = await api("/api/queues");
  const counts = {};
  for (const q of data.items) {
    if (filters.queue && q.name !== filters.queue) continue;
    for (const [state, n] of Object.entries(q.counts || {})) counts[state] = (counts[state] || 0) + n;
  }
  for (const chip of $$(".chip", $("#state-chips"))) {
    const n = counts[chip.dataset.state];
    const badge = chip.querySelector(".chip-count");
    const text = n === undefined ? "" : fmtNum(n);
    if (badge.textContent !== text) badge.textContent = text;
    badge.hidden = n === undefined;
  }
}

function shortWorker(id) {
  return id.length > 28 ? `${id.slice(0, 26)}…` : id;
}

async function load() {
  const seq = ++loadSeq;
  const query = {
    state: filters.state, queue: filters.queue, task: filters.task, token: filters.token,
    created_after: filters.created_after, created_before: filters.created_before, limit: filters.limit, cursor,
  };
  $("#jobs-table").setAttribute("aria-busy", "true");
  try {
    const data = await api(`/api/jobs${qs(query)}`);
    if (seq !== loadSeq) return; // a newer load is on its way
    nextCursor = data.next_cursor || null;
    clear(tbody, data.items.map(row));
    $("#jobs-empty").hidden = data.items.length > 0;
    renderPager(data.items.length);
    markReady();
  } finally {
    if (seq === loadSeq) $("#jobs-table").removeAttribute("aria-busy");
  }
}

function renderPager(count) {
  const page = cursors.length + 1;
  const from = cursors.length * Number(filters.limit) + (count ? 1 : 0);
  $("#page-info").textContent = count ? `Page ${page} · jobs ${fmtNum(from)}–${fmtNum(from + count - 1)}` : `Page ${page}`;
  $("#page-prev").disabled = cursors.length === 0;
  $("#page-first").disabled = cursors.length === 0;
  $("#page-next").disabled = !nextCursor;
  const active = [filters.state.length && `state ${filters.state.join(", ")}`, filters.queue && `queue ${filters.queue}`,
    filters.task && `task ${filters.task}`, filters.token && `token ${filters.token}`,
    (filters.created_after || filters.created_before) && "a time range"].filter(Boolean);
  $("#jobs-summary").textContent = active.length ? `Filtered by ${active.join(" · ")}. Newest first.`
    : "All jobs, newest first.";
}

$("#page-next").addEventListener("click", () => {
  if (!nextCursor) return;
  cursors.push(cursor);
  cursor = nextCursor;
  load();
});
$("#page-prev").addEventListener("click", () => {
  if (!cursors.length) return;
  cursor = cursors.pop();
  load();
});
$("#page-first").addEventListener("click", () => {
  resetPaging();
  load();
});

// ---- live rows ------------------------------------------------------------------------------
function matches(job) {
  if (filters.state.length && !filters.state.includes(job.state)) return false;
  if (filters.queue && job.queue !== filters.queue) return false;
  if (filters.task && job.task !== filters.task) return false;
  if (filters.token && job.token !== filters.token) return false;
  const created = parseTime(job.created_at);
  if (filters.created_after && created !== null && created < parseTime(filters.created_after)) return false;
  if (filters.created_before && created !== null && created >= parseTime(filters.created_before)) return false;
  return true;
}

function onMessage(message) {
  if (message && message.type === "deleted") {
    const tr = tbody.querySelector(`tr[data-job-id="${CSS.escape(message.id)}"]`);
    if (tr) tr.remove();
    return;
  }
  const job = jobFromMessage(message);
  if (!job) return;
  const existing = tbody.querySelector(`tr[data-job-id="${CSS.escape(job.id)}"]`);
  if (existing) {
    const fresh = row(job);
    if (existing.dataset.state !== job.state) fresh.classList.add("flash");
    existing.replaceWith(fresh);
  } else if (cursors.length === 0 && matches(job) && !isOlderThanPage(job)) {
    const fresh = row(job);
    fresh.classList.add("flash");
    tbody.prepend(fresh);
    $("#jobs-empty").hidden = true;
  }
}

function isOlderThanPage(job) {
  // An update to a job that was never on this page (an older one, e.g. a retry of last week's
  // job) must not jump to the top of "newest first". Order: id descending, as the API's keyset
  // cursor (ids are UUIDv7, so they sort by creation time as text).
  if (tbody.children.length < Number(filters.limit)) return false;
  const last = tbody.lastElementChild;
  return Boolean(last && last.dataset.jobId && job.id < last.dataset.jobId);
}

function connect() {
  if (stream) stream.close();
  stream = live("/ws/events", { queue: filters.queue, task: filters.task, token: filters.token }, onMessage, {
    onOpen: () => { if (loaded) load(); }, // resync after a reconnect
  });
}

// ---- start ----------------------------------------------------------------------------------
let loaded = false;
const [queues, tasks] = await Promise.all([api("/api/queues").catch(() => ({ items: [] })),
  api("/api/tasks").catch(() => ({ items: [] }))]);
for (const q of queues.items.map((x) => x.name).sort()) $("#f-queue").append(h("option", { value: q }, q));
clear($("#task-names"), tasks.items.map((t) => h("option", { value: t.name })));
fillForm();
connect();
await load();
loaded = true;
// The socket carries row updates; while it is down the page polls instead.
every(5000, () => (stream && stream.open ? undefined : load()));
every(3000, refreshChipCounts);
// Running jobs' runtimes tick.
setInterval(() => {
  for (const el of $$("[data-running='1']", tbody)) el.textContent = fmtDuration(el.dataset.started, null);
}, 1000);
