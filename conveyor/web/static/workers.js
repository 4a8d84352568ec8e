// Workers: host, pid, queues, heartbeat age, current jobs and counts; pause, resume, stop. With a
// supervised pool (`conveyor up --workers N`): start another worker or stop one.
import {
  $, api, boot, busy, canOperate, confirmAction, every, fmtAge, fmtNum, h, markPolling, markReady, patch, plural,
  shortId, startHealth, timeEl, toast,
} from "./app.js";

await boot();
startHealth();
markPolling();

const REFRESH_MS = 2000;
let supervised = false;
let highlightId = null; // the worker named in the URL's #fragment (links from jobs and the overview)

const STATE_CLASS = { running: "completed", paused: "paused", stopping: "cancelled", stopped: "cancelled", dead: "dead" };
const PENDING_TEXT = { paused: "pausing…", running: "resuming…", stopping: "stopping…" };

function stat(label, value, testid) {
  return h("div", { class: "stat" }, h("div", { class: "label" }, label),
    h("div", { class: "value", "data-testid": testid }, value));
}

function heartbeatText(w) {
  return `${fmtAge(w.heartbeat_age)} ago`;
}

// How a dead worker was found out, and when: its process ended (the lock it held was released) or
// it went silent (heartbeat expired: hung, partitioned, machine lost).
const DETECTED_TEXT = { exited: "process exited", "heartbeat expired": "heartbeat expired" };

function detectedLine(w) {
  const how = DETECTED_TEXT[w.detected_by] || "heartbeat expired";
  return h("div", { class: "small", "data-testid": "worker-detected", "data-detected": w.detected_by || "" },
    h("span", { class: "muted" }, "Declared dead: "), h("strong", {}, how), h("span", { class: "muted" }, " · "),
    timeEl(w.stopped_at));
}

function card(w) {
  const state = w.alive ? w.state : (w.state === "stopped" ? "stopped" : "dead");
  const pending = w.alive && w.desired_state && w.desired_state !== w.state ? PENDING_TEXT[w.desired_state] : null;
  const actions = h("div", { class: "row op-only" });
  if (canOperate() && w.alive && !["stopping", "stopped"].includes(w.state)) {
    const wantsPause = w.desired_state ? w.desired_state === "paused" : w.state === "paused";
    if (wantsPause) {
      actions.append(actionButton("Resume", "resume", w, "btn btn-sm", "worker-resume"));
    } else {
      actions.append(actionButton("Pause", "pause", w, "btn btn-sm", "worker-pause"));
    }
    actions.append(actionButton("Stop", "stop", w, "btn btn-sm btn-danger-ghost", "worker-stop"));
  }
  const current = (w.current_jobs || []).length
    ? w.current_jobs.map((id) => h("a", { href: `/jobs/${encodeURIComponent(id)}`, title: id }, shortId(id)))
    : [h("span", { class: "muted" }, "idle")];
  const stale = w.alive && w.heartbeat_age > 5;
  return h("article", {
    class: ["card", "worker-card", `state-${STATE_CLASS[state] || "cancelled"}`, !w.alive && "gone",
      w.id === highlightId && "highlight"],
    id: w.id, "data-worker-id": w.id, "data-key": w.id, "data-state": state, "data-testid": "worker-card",
  },
  h("div", { class: "worker-title" },
    h("div", {},
      h("div", { class: "id" }, w.id),
      h("div", { class: "host" }, `${w.hostname} · pid ${w.pid} · v${w.version}${w.supervised ? " · pool" : ""}`)),
    h("div", { class: "stack", style: "align-items:flex-end;gap:2px" },
      h("span", { class: `badge state-${STATE_CLASS[state] || "cancelled"}`, "data-testid": "worker-state",
        "data-state": state }, state),
      pending ? h("span", { class: "pending", "data-testid": "worker-pending" }, pending) : null)),
  h("div", { class: "queue-chips", title: "Queues, in priority order" },
    w.queues.map((q) => h("span", { class: "queue-chip" }, q))),
  h("div", { class: "stats" },
    stat("Busy", `${(w.current_jobs || []).length}/${w.concurrency}`, "worker-busy"),
    stat("Processed", fmtNum(w.processed), "worker-processed"),
    stat("Failed", fmtNum(w.failed), "worker-failed")),
  h("div", { class: "small" },
    h("span", { class: "muted" }, "Heartbeat "),
    h("span", { class: stale ? "hb-stale" : "", "data-testid": "worker-heartbeat",
      title: `Last heartbeat ${w.last_heartbeat}` }, heartbeatText(w)),
    h("span", { class: "muted" }, " · started "), timeEl(w.started_at)),
  state === "dead" && w.stopped_at ? detectedLine(w) : null,
  h("div", { class: "current-jobs" }, h("span", { class: "muted" }, "Current jobs:"), current),
  actions);
}

function actionButton(label, action, w, cls, testid) {
  const button = h("button", { type: "button", class: cls, "data-testid": testid, "data-action": action }, label);
  button.addEventListener("click", () => busy(button, async () => {
    if (action === "stop") {
      const ok = await confirmAction(`Stop worker ${w.id}?`,
        "It finishes (or hands back) its running jobs and exits. " +
        (w.supervised ? "The pool does not restart it." : "Start it again from where it runs."), "Stop worker");
      if (!ok) return;
    }
    if (action === "stop" && supervised && w.supervised) {
      await api(`/api/pool/workers/${encodeURIComponent(w.id)}`, { method: "DELETE" });
      toast("Stopping: the pool asks the process to finish or hand back its jobs and exit.");
    } else {
      await api(`/api/workers/${encodeURIComponent(w.id)}/${action}`, { method: "POST" });
      toast({ pause: "Pause requested", resume: "Resume requested", stop: "Stop requested" }[action] +
        ": the worker applies it at its next heartbeat.");
    }
    await poller.now();
  }));
  return button;
}

async function refresh() {
  const data = await api("/api/workers");
  supervised = Boolean(data.supervised);
  $("#pool-actions").hidden = !supervised || !canOperate();
  const alive = data.items.filter((w) => w.alive);
  const gone = data.items.filter((w) => !w.alive);
  const dead = gone.filter((w) => w.state !== "stopped");
  const paused = alive.filter((w) => w.state === "paused");
  const busyCount = alive.reduce((s, w) => s + (w.current_jobs || []).length, 0);
  const slots = alive.reduce((s, w) => s + w.concurrency, 0);
  $("#workers-summary").textContent = `${plural(alive.length, "worker")} alive` +
    (paused.length ? ` (${paused.length} paused)` : "") +
    (dead.length ? ` · ${dead.length} dead` : "") +
    ` · ${busyCount} of ${slots} slots busy · refreshes every ${REFRESH_MS / 1000} s`;
  $("#no-workers").hidden = alive.length > 0;
  patch($("#workers-live"), alive.map(card), 2);
  $("#gone-wrap").hidden = gone.length === 0;
  $("#gone-count").textContent = gone.length ? `(${gone.length})` : "";
  patch($("#workers-gone"), gone.map(card), 2);
  markReady();
  if (highlightId === null && location.hash) {
    highlightId = decodeURIComponent(location.hash.slice(1));
    const target = document.getElementById(highlightId);
    if (target) {
      target.classList.add("highlight");
      if (target.closest("details")) target.closest("details").open = true;
      target.scrollIntoView({ block: "center" });
    }
  }
}

$("#pool-start").addEventListener("click", (event) => busy(event.currentTarget, async () => {
  const answer = await api("/api/pool/workers", { method: "POST" });
  toast(`Starting worker ${answer && answer.id ? answer.id : ""}; it appears here once it sends its first heartbeat.`);
  await poller.now();
}));

const poller = every(REFRESH_MS, refresh);
