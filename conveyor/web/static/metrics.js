// Metrics: per task and per queue over the last hour, day or week — processed and failed
// attempts, duration p50/p95/max, pickup latency, and a chart per task. Data: /api/metrics/tasks
// (per-minute aggregates written with the completion batches; never a scan of the jobs table).
import { $, api, boot, clear, every, fmtNum, h, markPolling, markReady, qs, startHealth } from "./app.js";
import { barChart, fmtSeconds } from "./charts.js";

await boot();
startHealth();
markPolling();

const REFRESH_MS = 5000;
const STEP_WORDS = { 60: "minute", 900: "15 minutes", 7200: "2 hours" };
const WINDOW_WORDS = { hour: "the last hour", day: "the last day", week: "the last week" };
const params = new URLSearchParams(location.search);
let windowName = ["hour", "day", "week"].includes(params.get("window")) ? params.get("window") : "hour";
let queueName = params.get("queue") || "";
let last = null;

function setUrl() {
  const url = `/stats${qs({ window: windowName === "hour" ? "" : windowName, queue: queueName })}`;
  if (url !== location.pathname + location.search) history.replaceState(null, "", url);
}

function pressWindow() {
  for (const b of $("#m-window").querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.window === windowName));
}

function tile(label, value, { sub, state, testid } = {}) {
  return h("div", { class: ["tile", state && `s-${state}`], "data-testid": testid },
    h("div", { class: "label" }, label), h("div", { class: "value" }, value), sub ? h("div", { class: "sub" }, sub) : null);
}

function rate(f) {
  return f.failure_rate === null ? "" : `${(f.failure_rate * 100).toFixed(f.failure_rate < 0.1 ? 1 : 0)}% of attempts`;
}

function figureCells(f, label) {
  return [
    h("td", { class: "num", "data-label": "Processed", "data-testid": `${label}-processed` }, fmtNum(f.processed)),
    h("td", { class: ["num", f.failed && "count s-dead"], "data-label": "Failed", "data-testid": `${label}-failed`,
      title: rate(f) }, fmtNum(f.failed), f.failed ? h("span", { class: "muted small" }, ` ${rate(f).split(" ")[0]}`) : null),
    h("td", { class: "num", "data-label": "p50", "data-testid": `${label}-p50` }, fmtSeconds(f.duration.p50)),
    h("td", { class: "num", "data-label": "p95", "data-testid": `${label}-p95` }, fmtSeconds(f.duration.p95)),
    h("td", { class: "num", "data-label": "Max" }, fmtSeconds(f.duration.max)),
    h("td", { class: "num", "data-label": "Pickup avg / max" },
      f.pickup.avg === null ? "—" : `${fmtSeconds(f.pickup.avg)} / ${fmtSeconds(f.pickup.max)}`),
  ];
}

function render(data) {
  const t = data.totals;
  clear($("#m-tiles"),
    tile("Processed", fmtNum(t.processed), { state: "completed", sub: `attempts in ${WINDOW_WORDS[data.window]}`, testid: "m-processed" }),
    tile("Failed", fmtNum(t.failed), { state: t.failed ? "dead" : undefined, sub: rate(t) || "none", testid: "m-failed" }),
    tile("Duration p50", fmtSeconds(t.duration.p50), { sub: `avg ${fmtSeconds(t.duration.avg)}` }),
    tile("Duration p95", fmtSeconds(t.duration.p95), { sub: `max ${fmtSeconds(t.duration.max)}` }),
    tile("Pickup latency", fmtSeconds(t.pickup.avg), { sub: `avg · max ${fmtSeconds(t.pickup.max)}`, state: "queued" }));
  const box = $("#m-chart");
  const width = Math.max(280, box.clientWidth);
  clear(box, barChart(data.series, { width, height: 180, step: data.step_seconds, p95: true,
    label: `Attempts per ${fmtSeconds(data.step_seconds)}, ${WINDOW_WORDS[data.window]}` }));
  const chartWidth = Math.min(260, Math.max(160, Math.round(width / 4)));
  clear($("#m-tasks tbody"), data.tasks.map((task) => h("tr", { "data-task": task.task, "data-testid": "metrics-task-row" },
    h("th", { scope: "row", class: "span", "data-label": "Task" },
      h("a", { href: `/jobs${qs({ task: task.task })}` }, task.task),
      h("div", { class: "muted small" }, task.queues.join(", "))),
    figureCells(task, "task"),
    h("td", { class: "span spark-cell", "data-label": "Over time" },
      barChart(task.series, { width: chartWidth, height: 34, step: data.step_seconds, compact: true, p95: true,
        label: `${task.task}: attempts over ${WINDOW_WORDS[data.window]}` })))));
  $("#m-tasks-empty").hidden = data.tasks.length > 0;
  $("#m-tasks").hidden = data.tasks.length === 0;
  clear($("#m-queues tbody"), data.queues.map((q) => h("tr", { "data-queue": q.queue },
    h("th", { scope: "row", class: "span", "data-label": "Queue" }, h("a", { href: `/jobs${qs({ queue: q.queue })}` }, q.queue)),
    figureCells(q, "queue"))));
  $("#m-queues").hidden = data.queues.length === 0;
  $("#m-queues-empty").hidden = data.queues.length > 0;
  const stepText = STEP_WORDS[data.step_seconds] || `${data.step_seconds} s`;
  $("#metrics-summary").textContent = `${WINDOW_WORDS[data.window][0].toUpperCase()}${WINDOW_WORDS[data.window].slice(1)}` +
    `${queueName ? `, queue ${queueName}` : ""}: one bar per ${stepText}. Refreshes every ${REFRESH_MS / 1000} s.`;
}

async function refresh() {
  const data = await api(`/api/metrics/tasks${qs({ window: windowName, queue: queueName })}`);
  last = data;
  render(data);
  markReady();
}

for (const b of $("#m-window").querySelectorAll("button")) {
  b.addEventListener("click", () => {
    windowName = b.dataset.window;
    pressWindow();
    setUrl();
    poller.now();
  });
}
$("#m-queue").addEventListener("change", () => {
  queueName = $("#m-queue").value;
  setUrl();
  poller.now();
});
let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => { if (last) render(last); }, 150);
});

const queues = await api("/api/queues").catch(() => ({ items: [] }));
for (const name of queues.items.map((q) => q.name).sort()) $("#m-queue").append(h("option", { value: name }, name));
if (queueName && ![...$("#m-queue").options].some((o) => o.value === queueName)) {
  $("#m-queue").append(h("option", { value: queueName }, queueName));
}
$("#m-queue").value = queueName;
pressWindow();
const poller = every(REFRESH_MS, refresh);
