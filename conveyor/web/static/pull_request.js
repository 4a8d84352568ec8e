// One pull request (GET /api/pull-requests/{owner}/{name}/{number}): its coding / pickup / review
// times, details, the Jira work items it links to (each to its page), its reviews and commits.
import { $, api, boot, clear, fmtNum, h, markReady, reportError, startHealth, timeEl } from "./app.js";
import { duration, workItemHref } from "./pr_common.js";

await boot();
startHealth();

const REPOSITORY = document.body.dataset.repository;
const NUMBER = document.body.dataset.number;
const SHOWN = 200; // rows per table: a PR with 250 commits still loads fast

function kv(list, pairs) {
  clear(list, ...pairs.flatMap(([label, value, attrs]) => [h("dt", {}, label), h("dd", attrs || {}, value ?? "—")]));
}

function when(iso) {
  return iso ? timeEl(iso) : null;
}

function render(pr) {
  $("#pr-title").textContent = pr.title;
  Object.assign($("#pr-state"), { hidden: false, textContent: pr.state });
  $("#pr-state").dataset.state = pr.state;
  $("#pr-sub").textContent = `${pr.repository}#${pr.number} by ${pr.author || "a deleted user"}` +
    (pr.is_draft ? " · draft" : "") + (pr.review_decision ? ` · ${pr.review_decision.toLowerCase().replaceAll("_", " ")}` : "");
  if (pr.url) Object.assign($("#pr-github"), { hidden: false, href: pr.url });
  kv($("#pr-metrics"), [
    ["Coding (first commit → opened)", duration(pr.coding_time_seconds), { "data-metric": "coding" }],
    ["Pickup (opened → first review)", duration(pr.pickup_time_seconds), { "data-metric": "pickup" }],
    ["Review (first review → merge)", duration(pr.review_time_seconds), { "data-metric": "review" }],
    ["Open → merge", duration(pr.open_to_merge_seconds), { "data-metric": "open_to_merge" }],
    ["First commit", when(pr.first_commit_at)], ["First review", when(pr.first_review_at)],
  ]);
  kv($("#pr-details"), [
    ["Branches", `${pr.head_branch || "?"} → ${pr.base_branch || "?"}`], ["Created", when(pr.created_at)],
    ["Updated", when(pr.updated_at)], ["Merged", pr.merged_at ? h("span", {}, when(pr.merged_at), pr.merged_by ? ` by ${pr.merged_by}` : "") : null],
    ["Closed", when(pr.closed_at)], ["Changes", `+${fmtNum(pr.additions)} −${fmtNum(pr.deletions)} in ${fmtNum(pr.changed_files)} file(s)`],
    ["Comments", `${fmtNum(pr.comment_count)} · ${fmtNum(pr.review_thread_count)} review thread(s)`],
  ]);
  const keys = new Map();
  for (const link of pr.links) keys.set(link.work_item_key, [...(keys.get(link.work_item_key) || []), link.source.replace("_", "-")]);
  clear($("#pr-links"), ...[...keys].map(([key, sources]) => h("li", { "data-key": key },
    h("a", { class: "mono", href: workItemHref(key) }, key), h("span", { class: "muted small" }, ` found in ${sources.join(", ")}`))));
  $("#pr-links-empty").hidden = keys.size > 0;
  $("#pr-reviews-count").textContent = `${fmtNum(pr.reviews.length)}`;
  clear($("#pr-reviews tbody"), ...pr.reviews.slice(0, SHOWN).map((r) => h("tr", {},
    h("td", {}, r.author || "—"), h("td", {}, r.state), h("td", {}, when(r.submitted_at) || "—"))));
  $("#pr-commits-count").textContent = pr.commits.length > SHOWN ? `first ${SHOWN} of ${fmtNum(pr.commits.length)}` : fmtNum(pr.commits.length);
  clear($("#pr-commits tbody"), ...pr.commits.slice(0, SHOWN).map((c) => h("tr", {},
    h("td", { class: "mono" }, c.oid.slice(0, 8)), h("td", {}, (c.message || "").split("\n")[0]),
    h("td", {}, c.author_login || c.author_name || "—"), h("td", {}, when(c.authored_at) || "—"))));
  $("#pr-body").hidden = false;
}

try {
  const [owner, name] = REPOSITORY.split("/");
  render(await api(`/api/pull-requests/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/${NUMBER}`));
} catch (err) {
  const box = $("#pr-missing");
  box.hidden = false;
  box.textContent = err.status === 404 ? `No pull request ${REPOSITORY}#${NUMBER} has been synced (for your tenant).` : (err.error || String(err));
  if (err.status !== 404) reportError(err);
}
markReady();
