// Dead letters: grouped by task and error; requeue or purge one job, a group, a selection or all.
import {
  $, $$, api, argsPreview, boot, busy, canOperate, clear, confirmAction, every, fmtNum, h, jobFromMessage, live, markReady, patch, plural, qs,
  shortId, startHealth, throttle, timeEl, toast,
} from "./app.js";

await boot();
startHealth();

let filters = readUrl();
let items = [];
let nextCursor = null;
let total = 0;
const selected = new Set();

function readUrl() {
  const p = new URLSearchParams(location.search);
  return { queue: p.get("queue") || "", task: p.get("task") || "", error: p.get("error") || "" };
}

function fillForm() {
  const select = $("#d-queue");
  if (filters.queue && ![...select.options].some((o) => o.value === filters.queue)) {
    select.append(h("option", { value: filters.queue }, filters.queue));
  }
  select.value = filters.queue;
  $("#d-task").value = filters.task;
  $("#d-error").value = filters.error;
}

function hasFilter() {
  return Boolean(filters.queue || filters.task || filters.error);
}

$("#dead-filters").addEventListener("submit", (event) => {
  event.preventDefault();
  filters = { queue: $("#d-queue").value, task: $("#d-task").value.trim(), error: $("#d-error").value.trim() };
  history.pushState(null, "", `/dead${qs(filters)}`);
  load();
});
$("#d-queue").addEventListener("change", () => $("#dead-filters").requestSubmit());
$("#d-clear").addEventListener("click", () => {
  filters = { queue: "", task: "", error: "" };
  fillForm();
  history.pushState(null, "", "/dead");
  load();
});
window.addEventListener("popstate", () => {
  filters = readUrl();
  fillForm();
  load();
});

// ---- actions --------------------------------------------------------------------------------
async function act(kind, body, description, count, button) {
  const purge = kind === "purge";
  if (purge || count > 1) {
    const ok = await confirmAction(
      purge ? `Purge ${description}?` : `Requeue ${description}?`,
      purge ? `${plural(count, "job")} will be deleted for good, with their errors and history.`
        : `${plural(count, "job")} go back to their queues with fresh attempts.`,
      purge ? "Purge" : "Requeue", { danger: purge });
    if (!ok) return;
  }
  await busy(button, async () => {
    const answer = await api(`/api/dead/${kind}`, { method: "POST", body });
    const n = answer && typeof answer.count === "number" ? answer.count : 0;
    toast(`${purge ? "Purged" : "Requeued"} ${plural(n, "job")}.`);
    for (const id of body.ids || []) selected.delete(id);
    await load();
  });
}

function button(label, cls, testid, onClick) {
  const b = h("button", { type: "button", class: `btn btn-sm ${cls} op-only`, "data-testid": testid }, label);
  b.addEventListener("click", () => onClick(b));
  return b;
}

$("#requeue-all").addEventListener("click", (e) => act("requeue", hasFilter() ? { ...cleanFilters() } : { all: true },
  hasFilter() ? "every dead job matching the filter" : "every dead job", total, e.currentTarget));
$("#purge-all").addEventListener("click", (e) => act("purge", hasFilter() ? { ...cleanFilters() } : { all: true },
  hasFilter() ? "every dead job matching the filter" : "every dead job", total, e.currentTarget));
$("#requeue-selected").addEventListener("click", (e) => act("requeue", { ids: [...selected] },
  `${plural(selected.size, "selected job")}`, selected.size, e.currentTarget));
$("#purge-selected").addEventListener("click", (e) => act("purge", { ids: [...selected] },
  `${plural(selected.size, "selected job")}`, selected.size, e.currentTarget));

function cleanFilters() {
  const body = {};
  for (const [k, v] of Object.entries(filters)) if (v) body[k] = v;
  return body;
}

// ---- rendering ------------------------------------------------------------------------------
function groupRow(g) {
  const body = { task: g.task, queue: g.queue, error: g.error };
  const label = `the ${g.task} group (${plural(g.count, "job")})`;
  return h("tr", { "data-group-task": g.task, "data-testid": "dead-group", "data-key": `${g.task}|${g.queue}|${g.error}` },
    h("td", { class: "span", "data-label": "Task" },
      h("a", { href: `/dead${qs({ task: g.task, queue: filters.queue, error: filters.error })}`, class: "queue-name" }, g.task)),
    h("td", { "data-label": "Queue" }, g.queue),
    h("td", { class: "error-cell span", "data-label": "Error", title: g.error }, g.error || "—"),
    h("td", { class: "num", "data-label": "Jobs" }, h("span", { class: "count s-dead" }, fmtNum(g.count))),
    h("td", { class: "actions-cell span" }, canOperate() ? [
      button("Requeue", "", "dead-group-requeue", (b) => act("requeue", body, label, g.count, b)), " ",
      button("Purge", "btn-danger-ghost", "dead-group-purge", (b) => act("purge", body, label, g.count, b)),
    ] : null));
}

function itemRow(job) {
  const check = h("input", { type: "checkbox", "aria-label": `Select job ${job.id}`, "data-id": job.id,
    checked: selected.has(job.id) });
  check.addEventListener("change", () => {
    if (check.checked) selected.add(job.id);
    else selected.delete(job.id);
    updateSelection();
  });
  return h("tr", { "data-job-id": job.id, "data-testid": "dead-item", "data-key": job.id },
    h("td", { class: "check", "data-label": "" }, canOperate() ? check : null),
    h("td", { class: "job-cell span", "data-label": "Job" },
      h("a", { href: `/jobs/${encodeURIComponent(job.id)}` }, job.task), h("span", { class: "mono", title: job.id }, shortId(job.id)),
      h("div", { class: "mono small muted args-line" }, argsPreview(job))),
    h("td", { "data-label": "Queue" }, job.queue),
    h("td", { class: "error-cell span", "data-label": "Error", title: job.error || "" }, job.error || "—"),
    h("td", { class: "num", "data-label": "Attempts" }, `${job.attempts}/${job.max_attempts}`),
    h("td", { "data-label": "Died" }, timeEl(job.ended_at || job.updated_at)),
    h("td", { class: "actions-cell span" }, canOperate() ? [
      button("Requeue", "", "dead-item-requeue", (b) => act("requeue", { ids: [job.id] }, "this job", 1, b)), " ",
      button("Purge", "btn-danger-ghost", "dead-item-purge", (b) => act("purge", { ids: [job.id] }, "this job", 1, b)),
    ] : null));
}

function updateSelection() {
  const shown = items.map((j) => j.id);
  for (const id of [...selected]) if (!shown.includes(id)) selected.delete(id);
  $("#selected-count").textContent = selected.size ? `${selected.size} selected` : "";
  $("#requeue-selected").disabled = selected.size === 0;
  $("#purge-selected").disabled = selected.size === 0;
  const all = $("#select-all");
  all.checked = shown.length > 0 && selected.size === shown.length;
  all.indeterminate = selected.size > 0 && selected.size < shown.length;
}

$("#select-all").addEventListener("change", (event) => {
  for (const job of items) {
    if (event.target.checked) selected.add(job.id);
    else selected.delete(job.id);
  }
  for (const box of $$("#items-table tbody input[type=checkbox]")) box.checked = event.target.checked;
  updateSelection();
});

function render(data, append) {
  items = append ? [...items, ...data.items] : data.items;
  nextCursor = data.next_cursor || null;
  const groups = data.groups || [];
  total = groups.reduce((s, g) => s + g.count, 0);
  patch($("#groups-table tbody"), groups.map(groupRow));
  $("#groups-table").hidden = groups.length === 0;
  $("#dead-empty").hidden = groups.length > 0 || items.length > 0;
  $("#dead-empty").textContent = hasFilter() ? "No dead letters match this filter."
    : "No dead letters. Every job either finished or is still on its way.";
  $("#groups-summary").textContent = groups.length
    ? `${plural(total, "job")} in ${plural(groups.length, "group")}${data.groups_complete === false ? " (newest jobs only)" : ""}`
    : "";
  $("#all-actions").hidden = !canOperate() || total === 0;
  $("#requeue-all").textContent = `Requeue ${hasFilter() ? "matching" : "all"} (${fmtNum(total)})`;
  $("#purge-all").textContent = `Purge ${hasFilter() ? "matching" : "all"}`;
  $("#items-card").hidden = items.length === 0;
  const tbody = $("#items-table tbody");
  if (append) tbody.append(...data.items.map(itemRow));
  else patch(tbody, items.map(itemRow));
  $("#dead-more").hidden = !nextCursor;
  updateSelection();
}

let loadSeq = 0;
async function load() {
  const seq = ++loadSeq;
  const data = await api(`/api/dead${qs(filters)}`);
  if (seq === loadSeq) {
    render(data, false);
    markReady();
  }
}

$("#dead-more").addEventListener("click", (event) => busy(event.currentTarget, async () => {
  if (!nextCursor) return;
  render(await api(`/api/dead${qs({ ...filters, cursor: nextCursor })}`), true);
}));

// ---- start ----------------------------------------------------------------------------------
const [queues, tasks] = await Promise.all([api("/api/queues").catch(() => ({ items: [] })),
  api("/api/tasks").catch(() => ({ items: [] }))]);
for (const q of queues.items.map((x) => x.name).sort()) $("#d-queue").append(h("option", { value: q }, q));
clear($("#dead-task-names"), tasks.items.map((t) => h("option", { value: t.name })));
fillForm();
const poller = every(10000, load);
// A job entering or leaving the dead-letter list refreshes the page (throttled).
const refreshSoon = throttle(() => poller.now(), 1000);
const shownIds = () => new Set(items.map((j) => j.id));
live("/ws/events", {}, (message) => {
  if (message && message.type === "deleted") {
    if (shownIds().has(message.id)) refreshSoon();
    return;
  }
  const job = jobFromMessage(message);
  if (job && (job.state === "dead" || shownIds().has(job.id))) refreshSoon();
});
