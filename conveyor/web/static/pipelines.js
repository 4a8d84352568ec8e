// Pipelines: declared pipelines and recent runs (live), or one run as a live steps x stages grid.
import {
  $, api, boot, busy, canOperate, clear, confirmAction, fmtNum, h, live, markReady, reportError, shortId, startHealth,
  timeEl, toast,
} from "./app.js";

await boot();
startHealth();

const RUN_STATE = { READY: "queued", RUNNING: "running", FINISHED: "completed", FAILED: "dead", CANCELLED: "cancelled" };
const CELL_STATE = { idle: "cancelled", waiting: "scheduled", running: "running", finished: "completed", failed: "dead", partial: "failed" };

function badge(word, mapped) {
  return h("span", { class: ["badge", `state-${mapped}`], "data-state": word }, word);
}

function seconds(run) {
  if (!run.duration && run.duration !== 0) return "—";
  return `${run.duration.toFixed(run.duration < 10 ? 2 : 0)} s`;
}

const runId = document.body.dataset.runId;
if (runId) await showRun(runId); else await showList();
markReady();

// ---- one run --------------------------------------------------------------------------------
async function showRun(id) {
  let run;
  try {
    run = await api(`/api/runs/${encodeURIComponent(id)}`);
  } catch (err) {
    reportError(err);
    return;
  }
  render(run, null);
  // run.version comes from the database: after a reconnect (maybe to another API process, whose
  // seq numbers are its own) a message older than what is shown is dropped.
  let shown = run.version || 0;
  live(`/ws/runs/${encodeURIComponent(id)}`, {}, (message) => {
    if (!message.run || (message.run.version || 0) < shown) return;
    shown = message.run.version || 0;
    render(message.run, message.seq);
  });
  const cancel = $("#run-cancel");
  cancel.addEventListener("click", () => busy(cancel, async () => {
    if (!(await confirmAction("Cancel this run?", "Its queued jobs are cancelled at once; running ones are asked to stop."))) return;
    const cancelled = await api(`/api/runs/${encodeURIComponent(id)}/cancel`, { method: "POST" });
    shown = Math.max(shown, cancelled.version || 0);
    render(cancelled, null);
    toast("Run cancelled");
  }));
}

function render(run, seq) {
  clear($("#run-state"), badge(run.state, RUN_STATE[run.state] || "queued"));
  $("#run-state").dataset.testid = "run-state";
  clear($("#run-meta"), `${run.pipeline} · tenant ${run.tenant} · token `, h("span", { class: "mono" }, run.token),
    run.started_at ? " · started " : "", run.started_at ? timeEl(run.started_at) : "", ` · ${seconds(run)}`);
  $("#run-jobs").href = `/jobs?token=${encodeURIComponent(run.token)}`;
  $("#run-cancel").hidden = !canOperate() || !["READY", "RUNNING"].includes(run.state);
  if (seq !== null) $("#run-seq").textContent = `live · update ${seq}`;
  const box = $("#run-error");
  box.hidden = !run.error;
  if (run.error) clear(box, h("strong", {}, "Error: "), run.error);
  const steps = Object.entries(run.status.steps || {});
  const stageNames = [];
  for (const [, step] of steps) for (const name of Object.keys(step.stages || {})) if (!stageNames.includes(name)) stageNames.push(name);
  clear($("#grid thead"), h("tr", {}, h("th", { scope: "col" }, "Step"), ...stageNames.map((s) => h("th", { scope: "col" }, s))));
  clear($("#grid tbody"), ...steps.map(([name, step]) => h("tr", { "data-step": name },
    h("th", { scope: "row" }, h("div", {}, `${step.order}. ${step.display_name}`), h("div", { class: "muted small" }, badge(step.state, CELL_STATE[step.state] || "queued")),
      step.resume_at ? h("div", { class: "muted small", "data-testid": `resume-${name}` }, "resumes ", timeEl(step.resume_at)) : "",
      retryButton(run, name, step)),
    ...stageNames.map((stage) => cell(step.stages?.[stage])))));
}

function cell(d) {
  if (!d) return h("td", {}, "—");
  const outstanding = d.queued + d.running + (d.parked || 0);
  const times = d.first_start ? ` · ${d.last_finish && d.state !== "running" ? fmtSpan(d.first_start, d.last_finish) : "since " + new Date(d.first_start).toLocaleTimeString()}` : "";
  return h("td", { class: "pipeline-cell", "data-state": d.state },
    badge(d.state, CELL_STATE[d.state] || "queued"),
    h("div", { class: "small" }, `${fmtNum(d.done)} done · ${fmtNum(outstanding)} outstanding · ${fmtNum(d.failed)} failed`),
    h("div", { class: "muted small" }, `${fmtNum(d.running)} running · ${fmtNum(d.emitted)} emitted${times}`),
    // Parked by a rate limit (ParkJob): nothing of it runs before resume_at.
    d.parked ? h("div", { class: "small", "data-testid": "parked" }, `${fmtNum(d.parked)} parked`,
      d.resume_at ? h("span", {}, " · resumes ", timeEl(d.resume_at)) : "") : "",
    d.last_error ? h("div", { class: "small error-text", title: d.last_error }, d.last_error.slice(0, 120)) : "");
}

function fmtSpan(a, b) {
  const s = (Date.parse(b) - Date.parse(a)) / 1000;
  return `${s.toFixed(s < 10 ? 2 : 0)} s`;
}

function retryButton(run, name, step) {
  if (!canOperate() || !Object.values(step.stages || {}).some((d) => d.failed || d.cancelled) || run.state === "CANCELLED") return "";
  const button = h("button", { type: "button", class: "btn btn-sm", "data-testid": `retry-${name}` }, "Retry step");
  button.addEventListener("click", () => busy(button, async () => {
    const out = await api(`/api/runs/${encodeURIComponent(run.id)}/steps/${encodeURIComponent(name)}/retry`, { method: "POST" });
    toast(`${out.requeued} job(s) queued again`);
    if (out.run) render(out.run, null);
  }));
  return button;
}

// ---- list -----------------------------------------------------------------------------------
async function showList() {
  const [pipelines, runs] = await Promise.all([api("/api/pipelines"), api("/api/runs?limit=50")]);
  $("#pipelines-empty").hidden = pipelines.items.length > 0;
  clear($("#pipelines-table tbody"), ...pipelines.items.map((p) => h("tr", {},
    h("td", { class: "mono" }, p.name),
    h("td", {}, ...p.steps.map((s) => h("div", { class: "small" }, h("strong", {}, `${s.order}. ${s.display_name}: `),
      s.stages.map((st) => `${st.name} (${st.queue} · ${st.template ? "per run" : `${st.live_workers} live`})`).join(" → ")))))));
  const rows = new Map(runs.items.map((r) => [r.id, r]));
  const draw = () => {
    const list = [...rows.values()].sort((a, b) => (a.id < b.id ? 1 : -1)).slice(0, 50);
    $("#runs-empty").hidden = list.length > 0;
    clear($("#runs-table tbody"), ...list.map((r) => h("tr", { "data-run": r.id },
      h("td", {}, h("a", { href: `/pipelines/runs/${r.id}`, class: "mono" }, shortId(r.id))),
      h("td", {}, r.pipeline), h("td", {}, badge(r.state, RUN_STATE[r.state] || "queued")), h("td", {}, r.tenant),
      h("td", {}, r.started_at ? timeEl(r.started_at) : "—"), h("td", { class: "num" }, seconds(r)),
      h("td", { class: "small" }, (r.error || "").slice(0, 100)))));
  };
  draw();
  live("/ws/runs", {}, (message) => {
    const known = message.run && rows.get(message.run.id);
    if (message.run && (!known || (message.run.version || 0) >= (known.version || 0))) {  // never an older state
      rows.set(message.run.id, message.run);
      draw();
    }
  });
}
