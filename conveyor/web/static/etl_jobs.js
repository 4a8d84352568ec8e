// ETL jobs: status, the live steps x stages grid of the current run, the reset countdown, next run,
// last sync, the active toggle and Run now (a 503 shows its error and fix at once).
import { $, api, boot, busy, canOperate, clear, fillErrorBox, h, live, markReady, reportError, startHealth, timeEl, toast } from "./app.js";

await boot();
startHealth();

const STATE_BADGE = { NOT_STARTED: "cancelled", READY: "queued", RUNNING: "running", FINISHED: "completed", FAILED: "dead" };
const CELL_BADGE = { idle: "cancelled", waiting: "scheduled", running: "running", finished: "completed", failed: "dead", partial: "failed" };
const jobs = new Map(); // id -> {job, receivedAt, seq}
const watched = new Set();

function badge(word, mapped, testid) {
  return h("span", { class: ["badge", `state-${mapped}`], "data-state": word, "data-testid": testid }, word);
}

function countdown(entry) {
  const { job, receivedAt } = entry;
  if (!job.reset_deadline) return "";
  const serverNow = Date.parse(job.server_time) + (Date.now() - receivedAt);
  const left = Math.max(0, Math.ceil((Date.parse(job.reset_deadline) - serverNow) / 1000));
  return `Resetting in ${left}s`;
}

function grid(job) {
  const steps = Object.entries(job.status_json.steps || {}).sort((a, b) => a[1].order - b[1].order);
  if (!steps.length) return "";
  // A step's stage cells are its string values; resume_at, metrics and the counts are not stages.
  const isStage = (step, key) => typeof step[key] === "string" && !["display_name", "state", "resume_at"].includes(key);
  const stages = [...(job.status_json.stage_names || [])];
  for (const [, step] of steps) {
    for (const key of Object.keys(step)) if (isStage(step, key) && !stages.includes(key)) stages.push(key);
  }
  return h("table", { class: "table pipeline-grid small", "data-testid": "etl-grid" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Step"), ...stages.map((s) => h("th", { scope: "col" }, s)))),
    h("tbody", {}, ...steps.map(([name, step]) => h("tr", { "data-step": name },
      h("th", { scope: "row" }, `${step.order}. ${step.display_name || name}`),
      ...stages.map((s) => (step[s] === undefined && job.status_json.stage_names?.length
        ? h("td", { class: "muted", title: "this step has no such stage" }, "—")
        : h("td", { "data-state": step[s] || "idle" }, badge(step[s] || "idle", CELL_BADGE[step[s]] || "queued"))))))));
}

function row(entry) {
  const { job } = entry;
  const toggle = h("input", { type: "checkbox", "data-testid": "etl-active", "aria-label": `active: ${job.name}` });
  toggle.checked = job.active;
  toggle.disabled = !canOperate();
  toggle.addEventListener("change", () => busy(toggle, async () => {
    update(await api(`/api/etl/jobs/${job.id}`, { method: "PATCH", body: { active: toggle.checked } }));
  }));
  const run = h("button", { type: "button", class: "btn btn-sm btn-primary", "data-testid": "etl-run" }, "Run now");
  run.hidden = !canOperate();
  run.addEventListener("click", () => runNow(job, run));
  const reset = h("button", { type: "button", class: "btn btn-sm btn-ghost", "data-testid": "etl-reset" }, "Reset");
  reset.hidden = !canOperate() || !["RUNNING", "FINISHED", "FAILED"].includes(job.status);
  reset.addEventListener("click", () => busy(reset, async () => update(await api(`/api/etl/jobs/${job.id}/reset`, { method: "POST" }))));
  return [
    h("tr", { "data-job": job.id },
      h("td", {}, h("strong", {}, job.name), h("div", { class: "muted small" }, `${job.tenant} · ${job.pipeline}`)),
      h("td", {}, badge(job.status, STATE_BADGE[job.status] || "queued", "etl-status"),
        h("div", { class: "small", "data-testid": "etl-countdown", "data-countdown": job.id }, countdown(entry)),
        job.error ? h("div", { class: "small error-text", "data-testid": "etl-error" }, job.error) : "",
        job.alert ? h("div", { class: "small", "data-testid": "etl-alert" }, job.alert) : ""),
      h("td", {}, job.next_run ? timeEl(job.next_run) : "—"),
      h("td", {}, job.last_sync_date ? timeEl(job.last_sync_date) : "never"),
      h("td", {}, toggle),
      h("td", {}, h("div", { class: "row" }, run, reset), h("div", { class: "muted small" }, entry.seq ? `live · update ${entry.seq}` : ""))),
    h("tr", { "data-grid-of": job.id }, h("td", { colspan: 6 }, grid(job))),
  ];
}

function draw() {
  const list = [...jobs.values()].sort((a, b) => (a.job.tenant + a.job.position).localeCompare(b.job.tenant + b.job.position));
  $("#etl-empty").hidden = list.length > 0;
  clear($("#etl-table tbody"), ...list.flatMap(row));
}

function update(job, seq) {
  const prev = jobs.get(job.id);
  jobs.set(job.id, { job, receivedAt: Date.now(), seq: seq || (prev && prev.seq) || 0 });
  draw();
  watch(job.id);
}

function watch(id) {
  if (watched.has(id)) return;
  watched.add(id);
  live(`/ws/etl/jobs/${encodeURIComponent(id)}`, {}, (message) => {
    if (message.job) update(message.job, message.seq);
  });
}

async function runNow(job, button) {
  const box = $("#etl-run-error");
  box.hidden = true;
  button.disabled = true;
  try {
    update(await api(`/api/etl/jobs/${job.id}/run`, { method: "POST" }));
    toast(`${job.name} started`);
  } catch (err) {
    if (err.status === 503 || err.status === 409) {
      box.className = "alert alert-error";
      fillErrorBox(box, err, { title: `Run now: ${job.name}` });
      try { update(await api(`/api/etl/jobs/${job.id}`)); } catch (e) { reportError(e); }
    } else {
      reportError(err);
    }
  } finally {
    button.disabled = false;
  }
}

try {
  const data = await api("/api/etl/jobs");
  for (const job of data.items) update(job, 0);
  draw();
} catch (err) {
  reportError(err);
}
// The countdown ticks here; the deadline itself is the server's (every browser shows the same).
setInterval(() => {
  for (const el of document.querySelectorAll("[data-countdown]")) {
    const entry = jobs.get(el.dataset.countdown);
    if (entry) el.textContent = countdown(entry);
  }
}, 1000);
markReady();
