// A work item: its Jira details (GET /api/work-items/{key}) and the pull requests linked to it
// (GET /api/pull-requests?work_item=KEY) with their state and metrics, each linking to its page.
// A key GitHub names but Jira has not synced still shows its PRs, with a note.
import { $, ApiError, api, boot, clear, fmtNum, h, markReady, qs, reportError, startHealth, timeEl } from "./app.js";
import { duration, prRow } from "./pr_common.js";

await boot();
startHealth();

const KEY = document.body.dataset.key.toUpperCase(); // Jira keys are upper case
const COLUMNS = ["pr", "title", "state", "author", "coding", "pickup", "review", "merge", "commits", "updated"];
let next = null;
let shown = 0;

function kv(list, pairs) {
  clear(list, ...pairs.flatMap(([label, value]) => [h("dt", {}, label), h("dd", {}, value ?? "—")]));
}

async function details() {
  let item;
  try {
    item = await api(`/api/work-items/${encodeURIComponent(KEY)}`);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
    const note = $("#wi-missing");
    note.hidden = false;
    note.textContent = `${KEY} is not among the synced Jira work items (no Jira integration covers it yet, or it was not synced): its linked pull requests are shown all the same.`;
    return;
  }
  $("#wi-summary").textContent = item.summary;
  if (item.status_name) Object.assign($("#wi-status"), { hidden: false, textContent: item.status_name });
  $("#wi-sub").textContent = [item.type_name, item.project_key, item.deleted ? "deleted in Jira" : ""].filter(Boolean).join(" · ");
  $("#wi-details-card").hidden = false;
  kv($("#wi-details"), [
    ["Workflow step", item.workflow_step], ["Assignee", item.assignee_name], ["Priority", item.priority],
    ["Created", timeEl(item.created)], ["Updated", timeEl(item.updated)], ["Resolved", item.resolved ? timeEl(item.resolved) : null],
    ["Cycle time", duration(item.total_cycle_time_seconds)], ["Lead time", duration(item.total_lead_time_seconds)],
    ["Work starts", fmtNum(item.total_work_starts)],
  ]);
}

async function pulls(reset) {
  const params = { work_item: KEY, limit: 100 };
  if (!reset && next) params.cursor = next;
  const page = await api(`/api/pull-requests${qs(params)}`);
  const body = $("#wi-prs tbody");
  if (reset) { clear(body); shown = 0; }
  for (const pr of page.items) body.append(prRow(pr, COLUMNS));
  shown += page.items.length;
  next = page.next_cursor;
  $("#wi-prs-more").hidden = !next;
  $("#wi-prs-empty").hidden = shown > 0;
  $("#wi-prs-count").textContent = `${fmtNum(shown)}${next ? "+" : ""} linked`;
}

$("#wi-prs-more").addEventListener("click", () => pulls(false).catch(reportError));
try {
  await Promise.all([details(), pulls(true)]);
} catch (err) {
  reportError(err);
}
markReady();
