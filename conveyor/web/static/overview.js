// Overview: every queue's counts from the API's aggregates, live consumers, oldest ready job,
// a throughput sparkline from a client-side history of samples, stranded-queue banners and the
// workers at a glance.
import {
  $, api, boot, busy, canOperate, clear, copyButton, every, fmtAge, fmtNum, h, live, markReady, patch, plural, qs,
  renderStranded, setDeadCount, startWorkerButton, STRANDED_POLL_MS, throttle, toast, workerCommand,
} from "./app.js";
import { barChart } from "./charts.js";

await boot();

const HISTORY_KEY = "conveyor.throughputHistory";
const HISTORY_WINDOW_MS = 15 * 60 * 1000;
const HISTORY_MAX = 400;
const REFRESH_MS = 2000;
const COUNT_COLUMNS = [
  ["queued", "Ready"], ["running", "Running"], ["scheduled", "Scheduled"], ["failed", "Failed"], ["dead", "Dead"],
];

let history = loadHistory();
let lastUpdate = 0;

function loadHistory() {
  try {
    const raw = JSON.parse(sessionStorage.getItem(HISTORY_KEY) || "{}");
    return raw && typeof raw === "object" ? raw : {};
  } catch {
    return {};
  }
}

function record(queues) {
  const now = Date.now();
  const keep = now - HISTORY_WINDOW_MS;
  for (const q of queues) {
    const series = (history[q.name] || []).filter(([t]) => t >= keep);
    series.push([now, q.throughput ? q.throughput.last_minute : 0]);
    history[q.name] = series.slice(-HISTORY_MAX);
  }
  const total = (history["*"] || []).filter(([t]) => t >= keep);
  total.push([now, queues.reduce((s, q) => s + (q.throughput ? q.throughput.last_minute : 0), 0)]);
  history["*"] = total.slice(-HISTORY_MAX);
  try { sessionStorage.setItem(HISTORY_KEY, JSON.stringify(history)); } catch { /* full: keep in memory */ }
}

/** An SVG sparkline of [time, value] samples; the window is at least two minutes wide. */
function sparkline(series, { width = 110, height = 26, label = "" } = {}) {
  const svg = h("svg:svg", { class: "spark", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": label });
  const points = series && series.length ? series : [[Date.now(), 0]];
  const t1 = points[points.length - 1][0];
  const t0 = Math.min(points[0][0], t1 - 2 * 60 * 1000);
  const max = Math.max(1, ...points.map(([, v]) => v));
  const pad = 2;
  const x = (t) => pad + ((t - t0) / Math.max(1, t1 - t0)) * (width - 2 * pad);
  const y = (v) => height - pad - (v / max) * (height - 2 * pad);
  const coords = points.map(([t, v]) => [x(t), y(v)]);
  if (coords.length === 1) coords.unshift([Math.max(pad, coords[0][0] - 4), coords[0][1]]);
  const line = coords.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(" ");
  const [lx, ly] = coords[coords.length - 1];
  svg.append(
    h("svg:title", {}, label),
    h("svg:line", { class: "base", x1: pad, x2: width - pad, y1: height - pad, y2: height - pad }),
    h("svg:path", { class: "area", d: `M${coords[0][0].toFixed(1)},${height - pad} L${line.replaceAll(" ", " L")} L${lx.toFixed(1)},${height - pad} Z` }),
    h("svg:polyline", { class: "line", points: line }),
    h("svg:circle", { class: "last", cx: lx.toFixed(1), cy: ly.toFixed(1), r: 2 }),
  );
  return svg;
}

function countCell(queue, state, value) {
  const text = fmtNum(value || 0);
  const cls = ["count", `s-${state}`, !value && "zero"];
  const link = h("a", { class: cls, href: `/jobs${qs({ queue: queue.name, state })}`,
    title: `${text} ${state} job(s) in ${queue.name}` }, text);
  return h("td", { class: "num", "data-label": COUNT_COLUMNS.find(([s]) => s === state)[1], "data-count": state }, link);
}

function queueRow(q) {
  const waiting = (q.counts.queued || 0) + (q.counts.scheduled || 0);
  const consumers = h("td", { class: "num", "data-label": "Consumers", "data-testid": "consumers" },
    h("span", { class: q.live_workers === 0 && (waiting || q.counts.running) ? "consumers-none" : "count",
      title: q.live_workers === 0 ? "No live worker serves this queue" : `${q.live_workers} live worker(s)` },
    String(q.live_workers)));
  const age = q.oldest_ready_age;
  const oldest = h("td", { class: "num", "data-label": "Oldest ready" },
    h("span", { class: age !== null && age > 60 ? "age-warn" : "", title: age === null ? "No ready job" :
      "How long the oldest ready job has been waiting" }, age === null ? "—" : fmtAge(age)));
  const tp = q.throughput || { last_minute: 0, last_hour: 0 };
  const throughput = h("td", { "data-label": "Throughput (completed)", class: "span" },
    h("div", { class: "tp" },
      sparkline(history[q.name], { label: `${q.name}: ${tp.last_minute} completed in the last minute` }),
      h("span", { class: "rate" }, `${fmtNum(tp.last_minute)}/min · ${fmtNum(tp.last_hour)}/h`)));
  const actions = h("td", { class: "actions-cell span" });
  if (canOperate()) {
    const button = h("button", { type: "button", class: "btn btn-sm op-only",
      "data-testid": q.paused ? "queue-resume" : "queue-pause",
      title: q.paused ? "Workers take jobs from this queue again" : "Workers stop taking new jobs from this queue" },
    q.paused ? "Resume" : "Pause");
    button.addEventListener("click", () => busy(button, async () => {
      await api(`/api/queues/${encodeURIComponent(q.name)}/${q.paused ? "resume" : "pause"}`, { method: "POST" });
      toast(`Queue ${q.name} ${q.paused ? "resumed" : "paused"}.`);
      await poller.now();
    }));
    actions.append(button);
  }
  const flags = h("span", { class: "queue-flags" },
    q.paused ? h("span", { class: "badge state-paused", title: "Paused: workers take no new jobs from it" }, "paused") : null,
    q.stranded ? h("span", { class: "badge state-dead", title: "Jobs and no live worker" }, "stranded") : null);
  return h("tr", { "data-queue": q.name, "data-key": q.name },
    h("th", { scope: "row", class: "span", "data-label": "Queue" },
      h("a", { class: "queue-name", href: `/jobs${qs({ queue: q.name })}` }, q.name), flags),
    COUNT_COLUMNS.map(([state]) => countCell(q, state, q.counts[state])),
    consumers, oldest, throughput, actions);
}

function tile(label, value, { state, sub, href, testid, extra } = {}) {
  const tag = href ? "a" : "div";
  return h(tag, { class: ["tile", state && `s-${state}`], href, "data-testid": testid },
    h("div", { class: "label" }, label),
    h("div", { class: "value" }, value),
    sub ? h("div", { class: "sub" }, sub) : null,
    extra || null);
}

function renderTiles(queues, workers) {
  const sum = (state) => queues.reduce((s, q) => s + (q.counts[state] || 0), 0);
  const alive = workers.filter((w) => w.alive).length;
  const dead = workers.filter((w) => !w.alive && w.state === "dead").length;
  const perMinute = queues.reduce((s, q) => s + (q.throughput ? q.throughput.last_minute : 0), 0);
  const perHour = queues.reduce((s, q) => s + (q.throughput ? q.throughput.last_hour : 0), 0);
  patch($("#tiles"), [
    tile("Ready", fmtNum(sum("queued")), { state: "queued", href: "/jobs?state=queued", testid: "tile-queued" }),
    tile("Running", fmtNum(sum("running")), { state: "running", href: "/jobs?state=running", testid: "tile-running" }),
    tile("Scheduled", fmtNum(sum("scheduled")), { state: "scheduled", href: "/jobs?state=scheduled", testid: "tile-scheduled" }),
    tile("Failed", fmtNum(sum("failed")), { state: "failed", href: "/jobs?state=failed", testid: "tile-failed" }),
    tile("Dead", fmtNum(sum("dead")), { state: "dead", href: "/dead", testid: "tile-dead" }),
    tile("Workers", `${alive}`, { state: alive ? "completed" : "dead", href: "/workers", testid: "tile-workers",
      sub: dead ? `alive · ${dead} dead` : "alive" }),
    tile("Throughput", `${fmtNum(perMinute)}/min`, { state: "completed", testid: "tile-throughput",
      sub: `${fmtNum(perHour)} in the last hour`,
      extra: sparkline(history["*"], { width: 130, height: 22, label: "Jobs completed per minute, all queues" }) }),
  ], 0);
}

function renderQueues(queues) {
  const tbody = $("#queues-table tbody");
  const sorted = [...queues].sort((a, b) => (b.stranded - a.stranded) || a.name.localeCompare(b.name));
  patch(tbody, sorted.map(queueRow));
  $("#queues-empty").hidden = queues.length > 0;
  $("#queues-table").hidden = queues.length === 0;
}

const WORKER_STATE_CLASS = { running: "completed", paused: "paused", stopping: "cancelled", stopped: "cancelled", dead: "dead" };

function renderWorkers(workers) {
  const glance = $("#workers-glance");
  const alive = workers.filter((w) => w.alive);
  const dead = workers.filter((w) => !w.alive && w.state === "dead");
  const paused = alive.filter((w) => w.state === "paused");
  const summary = h("span", { class: "glance-summary", "data-testid": "workers-summary" },
    `${plural(alive.length, "worker")} alive`,
    paused.length ? ` (${paused.length} paused)` : "",
    dead.length ? h("span", { class: "count s-dead" }, ` · ${dead.length} dead`) : "");
  const chips = [...alive, ...dead].map((w) => {
    const state = w.alive ? w.state : "dead";
    return h("a", { class: ["worker-chip", `state-${WORKER_STATE_CLASS[state] || "cancelled"}`],
      href: `/workers#${encodeURIComponent(w.id)}`,
      title: `${w.id}\n${state}, heartbeat ${fmtAge(w.heartbeat_age)} ago\nqueues: ${w.queues.join(", ")}` },
    h("span", { class: "dot", "aria-hidden": "true" }),
    w.id,
    h("span", { class: "muted" }, w.alive ? `${busyCount(w)}/${w.concurrency} busy` : "dead"),
    state === "paused" ? h("span", { class: "muted" }, "paused") : null);
  });
  const stopped = workers.filter((w) => !w.alive && w.state === "stopped");
  const cmd = workerCommand("high,default,low");
  clear(glance, summary, chips.length ? chips : h("span", { class: "muted", "data-testid": "no-worker" },
    stopped.length ? `No worker is running (${plural(stopped.length, "worker")} stopped in the last hour). `
      : "No worker is running. ",
    "Start one with ", h("code", { class: "cmd" }, cmd), " ", copyButton(cmd), " ",
    startWorkerButton("high,default,low")));
}

/** Jobs running on a worker now: the same rows the Running counts come from. */
function busyCount(w) {
  return (w.current_jobs || []).length;
}

let historyAt = 0;

/** Processed and failed attempts in the last hour, a bar per minute (per-minute aggregates). */
async function refreshHistory() {
  if (Date.now() - historyAt < 5000) return;
  historyAt = Date.now();
  const data = await api("/api/metrics/tasks?window=hour");
  $("#h-processed").textContent = fmtNum(data.totals.processed);
  $("#h-failed").textContent = fmtNum(data.totals.failed);
  $("#h-failed").classList.toggle("zero", !data.totals.failed);
  const box = $("#h-chart");
  clear(box, barChart(data.series, { width: Math.max(240, box.clientWidth), height: 70, step: data.step_seconds,
    label: "Attempts per minute, last hour: succeeded and failed" }));
}

async function refresh() {
  const [queues, workers] = await Promise.all([api("/api/queues"), api("/api/workers")]);
  record(queues.items);
  const stranded = renderStranded($("#stranded"), queues.items);
  setDeadCount(queues.items);
  renderTiles(queues.items, workers.items);
  renderQueues(queues.items);
  renderWorkers(workers.items);
  await refreshHistory();
  lastUpdate = Date.now();
  updatedText();
  markReady();
  return stranded ? STRANDED_POLL_MS : REFRESH_MS;
}

function updatedText() {
  if (!lastUpdate) return;
  const s = Math.round((Date.now() - lastUpdate) / 1000);
  $("#updated").textContent = `Updated ${s < 2 ? "just now" : `${s} s ago`} · refreshes every ${REFRESH_MS / 1000} s and on every job event`;
}
setInterval(updatedText, 1000);

const poller = every(REFRESH_MS, refresh);
// Job events make the counts move at once (throttled: a busy system sends many).
const onEvent = throttle(() => poller.now(), 700);
live("/ws/events", {}, onEvent);
