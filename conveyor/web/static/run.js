// Run now: pick a task, fill its arguments in a validated JSON editor, run it. When no worker
// serves the task's queue the API refuses (503) and the page shows its actionable error at once:
// nothing is queued.
import {
  $, api, boot, canOperate, clear, every, fillErrorBox, h, markPolling, markReady, plural, setDeadCount, renderStranded, STRANDED_POLL_MS,
  workerCommand,
} from "./app.js";

await boot();
markPolling();
const readOnly = !canOperate();
if (readOnly) {
  $("#run-form").before(h("p", { class: "alert alert-info" },
    "Your API key has the viewer role: it can look but not run jobs. Log in with an operator or admin key to use Run now."));
}

const taskSelect = $("#task");
const kwargsEditor = $("#kwargs");
const argsEditor = $("#args");
const submit = $("#run-submit");
const errorBox = $("#run-error");
let tasks = new Map();
let queues = new Map();
let kwargsTouched = false;

// ---- JSON editors ---------------------------------------------------------------------------
function parseEditor(editor, kind) {
  const text = editor.value.trim();
  if (!text) return { ok: true, value: kind === "object" ? {} : [] };
  try {
    const value = JSON.parse(text);
    const isObject = value !== null && typeof value === "object" && !Array.isArray(value);
    if (kind === "object" && !isObject) return { ok: false, message: "Must be a JSON object: { \"name\": value, … }" };
    if (kind === "array" && !Array.isArray(value)) return { ok: false, message: "Must be a JSON array: [value, …]" };
    return { ok: true, value };
  } catch (err) {
    return { ok: false, message: describeJsonError(err, editor.value) };
  }
}

function describeJsonError(err, text) {
  const pos = jsonErrorPosition(text);
  const message = String(err.message || err).replace(/^JSON\.parse: /, "").replace(/ in JSON at position \d+.*$/, "");
  if (pos === null) return `Invalid JSON: ${message}`;
  const before = text.slice(0, pos);
  const line = before.split("\n").length;
  const column = pos - before.lastIndexOf("\n");
  const found = pos >= text.length ? "end of input" : `“${text[pos]}”`;
  return `Invalid JSON at line ${line}, column ${column}: unexpected ${found}`;
}

/** Where a JSON text first goes wrong (the browser's own message often does not say). */
function jsonErrorPosition(text) {
  let i = 0;
  const ws = () => { while (i < text.length && " \t\n\r".includes(text[i])) i += 1; };
  const fail = () => { throw i; };
  const literal = (word) => { if (text.startsWith(word, i)) i += word.length; else fail(); };
  const string = () => {
    i += 1;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\\") {
        i += 1;
        if (text[i] === "u") { if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail(); i += 4; }
        else if (!'"\\/bfnrt'.includes(text[i] ?? "x")) fail();
      } else if (text.charCodeAt(i) < 32) fail();
      i += 1;
    }
    if (i >= text.length) fail();
    i += 1;
  };
  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (!m) fail();
    i += m[0].length;
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === "{") {
      i += 1; ws();
      if (text[i] === "}") { i += 1; return; }
      for (;;) {
        ws(); if (text[i] !== '"') fail(); string(); ws();
        if (text[i] !== ":") fail(); i += 1; value(); ws();
        if (text[i] === ",") { i += 1; continue; }
        if (text[i] === "}") { i += 1; return; }
        fail();
      }
    } else if (c === "[") {
      i += 1; ws();
      if (text[i] === "]") { i += 1; return; }
      for (;;) {
        value(); ws();
        if (text[i] === ",") { i += 1; continue; }
        if (text[i] === "]") { i += 1; return; }
        fail();
      }
    } else if (c === '"') string();
    else if (c === "t") literal("true");
    else if (c === "f") literal("false");
    else if (c === "n") literal("null");
    else if (c === "-" || (c >= "0" && c <= "9")) number();
    else fail();
  };
  try {
    value(); ws();
    return i < text.length ? i : null;
  } catch (pos) {
    return typeof pos === "number" ? pos : null;
  }
}

function validate() {
  const kwargs = parseEditor(kwargsEditor, "object");
  const args = parseEditor(argsEditor, "array");
  showValidation(kwargsEditor, $("#kwargs-status"), kwargs);
  showValidation(argsEditor, $("#args-status"), args);
  const task = tasks.get(taskSelect.value);
  if (kwargs.ok && task && task.parameters.length) {
    const unknown = Object.keys(kwargs.value).filter((k) => !task.parameters.includes(k));
    const status = $("#kwargs-status");
    if (unknown.length) {
      status.className = "validation small warn";
      status.textContent = `⚠ ${task.name} takes no parameter ${unknown.map((u) => `“${u}”`).join(", ")}` +
        ` (it takes: ${task.parameters.join(", ")}). The job would fail when it runs.`;
    }
  }
  const ok = kwargs.ok && args.ok && Boolean(task) && !readOnly;
  submit.disabled = !ok;
  return ok ? { kwargs: kwargs.value, args: args.value, task } : null;
}

function showValidation(editor, status, result) {
  editor.setAttribute("aria-invalid", String(!result.ok));
  status.className = `validation small ${result.ok ? "ok" : "bad"}`;
  status.textContent = result.ok ? "✓ valid JSON" : `✗ ${result.message}`;
}

for (const editor of [kwargsEditor, argsEditor]) {
  editor.addEventListener("input", () => {
    if (editor === kwargsEditor) kwargsTouched = true;
    errorBox.hidden = true;
    validate();
  });
  editor.addEventListener("keydown", (event) => {
    if (event.key === "Tab" && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey) {
      // Indent instead of leaving the editor (Esc then Tab still moves focus on).
      if (editor.dataset.escaped === "1") return;
      event.preventDefault();
      editor.setRangeText("  ", editor.selectionStart, editor.selectionEnd, "end");
      editor.dispatchEvent(new Event("input"));
    } else if (event.key === "Escape") {
      editor.dataset.escaped = "1";
    } else if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      $("#run-form").requestSubmit();
    } else {
      editor.dataset.escaped = "";
    }
  });
}

$("#format").addEventListener("click", () => {
  for (const [editor, kind] of [[kwargsEditor, "object"], [argsEditor, "array"]]) {
    const parsed = parseEditor(editor, kind);
    if (parsed.ok) editor.value = JSON.stringify(parsed.value, null, 2);
  }
  validate();
});

// ---- task picker ----------------------------------------------------------------------------
function template(task) {
  // Required parameters as null to fill in; the others with their real default, or left out when
  // the default is not JSON (the task then uses it).
  const body = {};
  for (const p of task.signature || []) {
    if (!p.keyword) continue;
    if (p.required) body[p.name] = null;
    else if (p.default_is_json) body[p.name] = p.default;
  }
  return Object.keys(body).length ? JSON.stringify(body, null, 2) : "{}";
}

function describeParameter(p) {
  if (p.required) return `${p.name} (required)`;
  return `${p.name}=${p.default_is_json ? JSON.stringify(p.default) : p.default}`;
}

function chooseTask() {
  const task = tasks.get(taskSelect.value);
  errorBox.hidden = true;
  $("#task-info").hidden = !task;
  if (!task) {
    validate();
    return;
  }
  const url = new URL(location.href);
  url.searchParams.set("task", task.name);
  history.replaceState(null, "", url.pathname + url.search);
  $("#task-doc").textContent = task.doc || "No docstring.";
  $("#task-doc").classList.toggle("muted", !task.doc);
  clear($("#task-meta"),
    h("dt", {}, "Queue"), h("dd", {}, task.queue),
    h("dt", {}, "Parameters"), h("dd", { class: "mono", "data-testid": "task-parameters" },
      (task.signature || []).length ? task.signature.map(describeParameter).join(", ") : "none"),
    h("dt", {}, "Attempts"), h("dd", {}, String(task.max_attempts)),
    h("dt", {}, "Timeout"), h("dd", {}, task.timeout ? `${task.timeout} s` : "none"),
    h("dt", {}, "Priority"), h("dd", {}, String(task.priority)),
    h("dt", {}, "Kind"), h("dd", {}, task.is_async ? "async def" : "def"));
  $("#opt-queue").placeholder = task.queue;
  $("#opt-priority").placeholder = String(task.priority);
  if (!kwargsTouched || !kwargsEditor.value.trim() || kwargsEditor.value.trim() === "{}") {
    kwargsEditor.value = template(task);
    kwargsTouched = false;
  }
  renderQueueStatus();
  validate();
}

function renderQueueStatus() {
  const task = tasks.get(taskSelect.value);
  const box = $("#queue-status");
  if (!task) {
    clear(box);
    return;
  }
  const name = $("#opt-queue").value.trim() || task.queue;
  const q = queues.get(name);
  const liveWorkers = q ? q.live_workers : 0;
  if (liveWorkers > 0) {
    clear(box, h("span", { class: "queue-ok" }, `✓ ${plural(liveWorkers, "live worker")} serve${liveWorkers === 1 ? "s" : ""} queue “${name}”.`),
      q.paused ? h("span", { class: "pending" }, " The queue is paused: the job waits until it is resumed.") : null);
  } else {
    clear(box, h("span", { class: "queue-none" }, `No live worker serves queue “${name}” right now: Run now will be refused. `),
      "Start one: ", h("code", { class: "cmd" }, workerCommand(name)));
  }
}

taskSelect.addEventListener("change", chooseTask);
$("#opt-queue").addEventListener("input", renderQueueStatus);

// ---- run ------------------------------------------------------------------------------------
$("#run-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = validate();
  if (!input) return;
  const body = { task: input.task.name, args: input.args, kwargs: input.kwargs, policy: "refuse" };
  const queue = $("#opt-queue").value.trim();
  const priority = $("#opt-priority").value.trim();
  const delay = $("#opt-delay").value.trim();
  if (queue) body.queue = queue;
  if (priority) body.priority = Number(priority);
  if (delay && Number(delay) > 0) body.delay = Number(delay);
  submit.disabled = true;
  submit.textContent = "Running…";
  errorBox.hidden = true;
  try {
    const job = await api("/api/jobs", { method: "POST", body });
    location.href = `/jobs/${encodeURIComponent(job.id)}`;
    return;
  } catch (err) {
    showRunError(err);
    refreshQueues();
  } finally {
    submit.textContent = "Run now";
    submit.disabled = !validate();
  }
});

function showRunError(err) {
  const title = err.status === 503 ? "Not queued" : err.status === 422 ? "Rejected" : "Failed";
  fillErrorBox(errorBox, err, { title });
  if (err.status === 503) {
    errorBox.append(h("p", { class: "small", "data-testid": "run-nothing-queued" },
      "Nothing was queued. Start a worker for the queue, then run it again."));
  }
  errorBox.scrollIntoView({ block: "nearest" });
  errorBox.focus?.();
}

// ---- start ----------------------------------------------------------------------------------
async function refreshQueues() {
  const data = await api("/api/queues");
  queues = new Map(data.items.map((q) => [q.name, q]));
  const stranded = renderStranded($("#banners"), data.items);
  setDeadCount(data.items);
  renderQueueStatus();
  return stranded ? STRANDED_POLL_MS : 3000;
}

const data = await api("/api/tasks");
tasks = new Map(data.items.map((t) => [t.name, t]));
const userTasks = data.items.filter((t) => !t.name.startsWith("conveyor.")).sort((a, b) => a.name.localeCompare(b.name));
const builtIn = data.items.filter((t) => t.name.startsWith("conveyor."));
clear(taskSelect, h("option", { value: "" }, data.items.length ? "Choose a task…" : "No tasks registered"),
  userTasks.map((t) => h("option", { value: t.name }, `${t.name}  ·  ${t.queue}`)),
  builtIn.length ? h("optgroup", { label: "Built in" }, builtIn.map((t) => h("option", { value: t.name }, t.name))) : null);
const wanted = new URLSearchParams(location.search).get("task");
if (wanted && tasks.has(wanted)) taskSelect.value = wanted;
every(3000, refreshQueues);
chooseTask();
markReady();
