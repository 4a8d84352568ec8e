// Job detail: state timeline, progress bar, every attempt with its error and traceback, result and
// meta as JSON, worker and token links, retry / cancel / delete. Live over /ws/jobs/{id}.
import {
  $, FINISHED_STATES, ACTIVE_STATES, api, boot, busy, canOperate, clear, confirmAction, exactTime, fillErrorBox,
  fmtDuration, fmtNum, h, jobFromMessage, jsonView, live, markReady, parseTime, plural, qs, setProgress, startHealth,
  timeEl, toast, trimTraceback,
} from "./app.js";

await boot();
startHealth();

const jobId = document.body.dataset.jobId;
let current = null;
let deleted = false;
let pollTimer = null;
const rendered = {}; // last JSON text per block, to leave unchanged blocks (and selections) alone

// ---- rendering ------------------------------------------------------------------------------
function render(job) {
  current = job;
  $("#job-missing").hidden = true;
  $("#job-body").hidden = false;
  document.title = `${job.task} (${job.state}) · Conveyor`;
  $("#job-task").textContent = job.task;
  const badge = $("#job-state");
  badge.className = `badge state-${job.state}`;
  badge.dataset.state = job.state;
  badge.textContent = job.state === "queued" ? "queued (ready)" : job.state;
  if (job.cancel_requested && job.state === "running") badge.textContent = "running · cancelling";
  clear($("#job-sub"),
    "queue ", h("a", { href: `/jobs${qs({ queue: job.queue })}` }, job.queue),
    ` · attempt ${job.attempts} of ${job.max_attempts} · created `, timeEl(job.created_at),
    job.ended_at ? [` · ${job.state} `, h("span", { title: "From creation to the end" }, fmtDuration(job.created_at, job.ended_at)),
      " after it was created"] : null);
  renderActions(job);
  renderProgress(job);
  renderTimeline(job);
  renderDetails(job);
  renderError(job);
  renderAttempts(job);
  renderJson("result", job.result, job.state === "completed" ? null
    : ACTIVE_STATES.has(job.state) ? "No result yet." : `No result: the job ended ${job.state}.`);
  renderJson("meta", job.meta);
  renderJson("args", job.args);
  renderJson("kwargs", job.kwargs);
}

function renderActions(job) {
  const operate = canOperate() && !deleted;
  $("#btn-retry").hidden = !operate || !FINISHED_STATES.has(job.state);
  $("#btn-retry").textContent = job.state === "completed" ? "Run again" : "Retry";
  const cancel = $("#btn-cancel");
  cancel.hidden = !operate || !ACTIVE_STATES.has(job.state);
  cancel.disabled = job.cancel_requested;
  cancel.textContent = job.cancel_requested ? "Cancelling…" : "Cancel";
  $("#btn-delete").hidden = !operate;
}

function renderProgress(job) {
  const p = job.progress || { percent: null, processed: 0, failed: 0 };
  setProgress($("#progress"), p, job.state);
  const pct = p.percent === null || p.percent === undefined ? null : Math.round(p.percent * 10) / 10;
  $("#progress-text").textContent = pct !== null ? `${pct}%`
    : job.state === "completed" ? "done (no progress reported)"
      : job.state === "running" ? "running, no progress reported yet"
        : ACTIVE_STATES.has(job.state) ? "not started" : "no progress reported";
  clear($("#progress-counts"),
    h("span", { "data-testid": "progress-processed" }, `${fmtNum(p.processed || 0)} processed`), " · ",
    h("span", { class: p.failed ? "count s-failed" : "", "data-testid": "progress-failed" }, `${fmtNum(p.failed || 0)} failed`));
}

function renderTimeline(job) {
  // The state flow at a glance: queued -> running -> <end state>, the current one highlighted.
  let flow;
  if (job.state === "failed") flow = ["failed"];
  else if (job.state === "cancelled" && job.attempts === 0) flow = ["queued", "cancelled"];
  else flow = ["queued", "running", FINISHED_STATES.has(job.state) ? job.state : "completed"];
  if (job.state === "scheduled") flow.unshift("scheduled");
  const reached = flow.indexOf(job.state);
  clear($("#state-flow"), flow.map((state, i) => [
    i ? h("span", { class: "step-arrow", "aria-hidden": "true" }, "→") : null,
    h("span", { class: ["step", `state-${state}`, i < reached && "done", i === reached && "current"],
      "aria-current": i === reached ? "step" : null }, state),
  ]));
  clear($("#timeline"), timelineEvents(job).map((e) => h("li", { class: `state-${e.state}` },
    h("span", { class: "what" }, e.what),
    e.at ? h("span", { class: "when" }, timeEl(e.at)) : null,
    e.note ? h("div", { class: "note" }, e.note) : null)));
}

function timelineEvents(job) {
  const events = [];
  const push = (at, state, what, note) => events.push({ at, state, what, note, t: parseTime(at) ?? Infinity });
  push(job.created_at, "queued", "Created", job.parent_id ? "enqueued by another job" : null);
  const runAt = parseTime(job.run_at);
  const created = parseTime(job.created_at);
  if (runAt !== null && created !== null && runAt - created > 1000 && job.attempts === 0) {
    push(job.run_at, "scheduled", job.state === "scheduled" ? "Scheduled to run" : "Became due", null);
  }
  for (const a of job.attempt_history || []) {
    if (a.started_at) push(a.started_at, "running", `Attempt ${a.attempt} started`, a.worker_id ? `on ${a.worker_id}` : null);
    if (a.ended_at && a.outcome !== "running") {
      const state = a.outcome === "completed" ? "completed" : a.outcome === "cancelled" ? "cancelled" : "failed";
      const label = { completed: "completed", failed: "failed", timed_out: "timed out", orphaned: "lost its worker",
        cancelled: "was cancelled" }[a.outcome] || a.outcome;
      push(a.ended_at, state, `Attempt ${a.attempt} ${label}`, a.error || null);
    }
  }
  if (job.state === "scheduled" && job.attempts > 0) push(job.run_at, "scheduled", "Retry scheduled", `after backoff, attempt ${job.attempts + 1} of ${job.max_attempts}`);
  if (job.state === "queued" && job.enqueued_at && job.attempts > 0) push(job.enqueued_at, "queued", "Queued again", null);
  if (job.state === "running" && !(job.attempt_history || []).some((a) => a.outcome === "running")) {
    push(job.started_at, "running", `Running attempt ${job.attempts}`, job.worker_id ? `on ${job.worker_id}` : null);
  }
  if (job.state === "dead") push(job.ended_at, "dead", "Moved to dead letters", job.error);
  if (job.state === "failed") push(job.ended_at || job.created_at, "failed", "Failed at enqueue (never ran)", job.error);
  if (job.state === "cancelled" && !(job.attempt_history || []).some((a) => a.outcome === "cancelled")) {
    push(job.ended_at, "cancelled", "Cancelled", null);
  }
  if (job.state === "completed" && !(job.attempt_history || []).some((a) => a.outcome === "completed")) {
    push(job.ended_at, "completed", "Completed", null);
  }
  if (job.state === "queued" && job.attempts === 0) events.push({ at: null, state: "queued", what: "Waiting for a worker", t: Infinity });
  return events.sort((a, b) => a.t - b.t);
}

function renderDetails(job) {
  const rows = [
    ["Job id", h("span", { class: "mono" }, job.id)],
    ["Queue", h("a", { href: `/jobs${qs({ queue: job.queue })}` }, job.queue)],
    ["Priority", String(job.priority)],
    ["Tenant", job.tenant],
    ["Attempts", `${job.attempts} of ${job.max_attempts}`],
    ["Timeout", job.timeout ? `${job.timeout} s` : "none"],
    ["Worker", job.worker_id ? h("a", { class: "mono", href: `/workers#${encodeURIComponent(job.worker_id)}`, "data-testid": "job-worker" }, job.worker_id) : "—"],
    ["Token", h("a", { class: "mono", href: `/jobs${qs({ token: job.token })}`, "data-testid": "job-token",
      title: "All jobs that share this token" }, job.token)],
    job.parent_id ? ["Parent", h("a", { class: "mono", href: `/jobs/${encodeURIComponent(job.parent_id)}` }, job.parent_id)] : null,
    job.idempotency_key ? ["Idempotency key", h("span", { class: "mono" }, job.idempotency_key)] : null,
    ["Created", timeEl(job.created_at)],
    ["Enqueued", timeEl(job.enqueued_at)],
    ["Run at", timeEl(job.run_at)],
    ["Started", timeEl(job.started_at)],
    ["Ended", timeEl(job.ended_at)],
    job.deadline && job.state === "running" ? ["Deadline", timeEl(job.deadline)] : null,
    ["Updated", timeEl(job.updated_at)],
  ].filter(Boolean);
  clear($("#details"), rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function renderError(job) {
  const show = Boolean(job.error) && job.state !== "completed";
  $("#error-card").hidden = !show;
  if (!show) return;
  $("#error-text").textContent = job.error;
  const trimmed = trimTraceback(job.traceback);
  $("#error-tb").hidden = !job.traceback;
  $("#error-tb").textContent = trimmed.text;
  $("#error-tb-wrap").hidden = !trimmed.hidden;
  $("#error-tb-summary").textContent = `Full traceback (with ${plural(trimmed.hidden, "Conveyor and executor frame")})`;
  $("#error-tb-full").textContent = job.traceback || "";
}

/** An attempt's traceback: the user's frames, the whole one a click away. */
function attemptTraceback(a, job, open) {
  if (a.traceback === job.traceback && !$("#error-card").hidden) {
    return h("p", { class: "small muted" }, h("a", { href: "#error-card" }, "Traceback: shown under Error above"));
  }
  const trimmed = trimTraceback(a.traceback);
  return h("details", { "data-attempt": a.attempt, open },
    h("summary", {}, "Traceback"), h("pre", { class: "traceback" }, trimmed.text),
    trimmed.hidden ? h("details", { class: "full-tb" }, h("summary", {}, "Full traceback"),
      h("pre", { class: "traceback" }, a.traceback)) : null);
}

function renderAttempts(job) {
  const list = $("#attempts");
  const open = new Set([...list.querySelectorAll("details[open]")].map((d) => d.dataset.attempt));
  const attempts = [...(job.attempt_history || [])].sort((a, b) => b.attempt - a.attempt);
  $("#attempt-count").textContent = attempts.length ? `(${attempts.length})` : "";
  if (!attempts.length) {
    clear(list, h("li", { class: "muted" }, job.state === "failed" ? "It never ran." : "Not started yet."));
    return;
  }
  clear(list, attempts.map((a, index) => {
    const state = { completed: "completed", running: "running", cancelled: "cancelled" }[a.outcome] || "failed";
    const tbOpen = open.has(String(a.attempt)) || (index === 0 && !list.dataset.seen && Boolean(a.traceback));
    return h("li", { class: `attempt state-${state}`, "data-attempt": a.attempt },
      h("div", { class: "attempt-head" },
        h("span", { class: "n" }, `Attempt ${a.attempt}`),
        h("span", { class: `badge state-${state}` }, a.outcome.replace("_", " ")),
        a.worker_id ? h("a", { class: "mono small", href: `/workers#${encodeURIComponent(a.worker_id)}` }, a.worker_id) : null,
        h("span", { class: "muted small", title: `${exactTime(a.started_at)}\n→ ${exactTime(a.ended_at)}` },
          a.started_at ? ["started ", timeEl(a.started_at)] : null,
          a.ended_at ? ` · ran ${fmtDuration(a.started_at, a.ended_at)}` : a.outcome === "running" ? ` · running for ${fmtDuration(a.started_at)}` : "")),
      a.error ? h("div", { class: "error-line" }, a.error) : null,
      a.traceback ? attemptTraceback(a, job, tbOpen) : null);
  }));
  list.dataset.seen = "1";
}

function renderJson(name, value, emptyText) {
  const el = $(`#json-${name}`);
  const isEmpty = value === null || value === undefined || (typeof value === "object" && Object.keys(value).length === 0);
  const text = isEmpty && emptyText ? `empty:${emptyText}` : JSON.stringify(value);
  if (rendered[name] === text) return;
  rendered[name] = text;
  if (isEmpty && emptyText) clear(el, h("span", { class: "muted" }, emptyText));
  else clear(el, jsonView(value));
}

function showMissing(message) {
  deleted = true;
  const box = $("#job-missing");
  fillErrorBox(box, { error: message, action: "Find other jobs on the Jobs page." });
  if (!current) $("#job-body").hidden = true;
  else renderActions(current);
  $("#main").dataset.loading = "false";
  markReady();
}

// ---- actions --------------------------------------------------------------------------------
$("#btn-retry").addEventListener("click", (event) => busy(event.currentTarget, async () => {
  const job = await api(`/api/jobs/${encodeURIComponent(jobId)}/retry`, { method: "POST" });
  toast("Queued again.");
  if (job && job.id) render(job);
}));

$("#btn-cancel").addEventListener("click", (event) => busy(event.currentTarget, async () => {
  const ok = await confirmAction("Cancel this job?", current && current.state === "running"
    ? "The worker is asked to stop it; a task that checks ctx.cancelled stops at once." : "It will not run.", "Cancel job");
  if (!ok) return;
  const answer = await api(`/api/jobs/${encodeURIComponent(jobId)}/cancel`, { method: "POST" });
  toast(answer && answer.state === "running" ? "Cancel requested: the worker stops it." : "Cancelled.");
  await refresh();
}));

$("#btn-delete").addEventListener("click", (event) => busy(event.currentTarget, async () => {
  const ok = await confirmAction("Delete this job?", "Its record, result and history are removed for good.", "Delete");
  if (!ok) return;
  await api(`/api/jobs/${encodeURIComponent(jobId)}`, { method: "DELETE" });
  toast("Deleted.");
  location.href = "/jobs";
}));

// ---- data -----------------------------------------------------------------------------------
async function refresh() {
  try {
    render(await api(`/api/jobs/${encodeURIComponent(jobId)}`));
    markReady();
  } catch (err) {
    if (err.status === 404) showMissing(`No job ${jobId}: it was deleted or pruned, or the id is wrong.`);
    else throw err;
  }
}

function startPolling() {
  if (pollTimer || deleted) return;
  pollTimer = setInterval(() => refresh().catch(() => {}), 1000);
}
function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = null;
}

await refresh();
if (!deleted) {
  live(`/ws/jobs/${encodeURIComponent(jobId)}`, {}, (message) => {
    if (message && message.type === "deleted") {
      showMissing("This job was deleted.");
      return;
    }
    if (message && message.type === "error") return;
    const job = jobFromMessage(message);
    if (job && job.id === current?.id) render(job);
    else if (job && !current) render(job);
  }, { onOpen: stopPolling, onClose: startPolling });
}
// Relative durations ("running for ...") stay fresh between events.
setInterval(() => { if (current && current.state === "running") renderAttempts(current); }, 5000);
