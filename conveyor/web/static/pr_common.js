// What the pull request pages share: durations as people read them, the link to a PR's page and
// one table row per PR with its state and metrics.
import { fmtNum, h, timeEl } from "./app.js";

export function duration(s) {
  if (s === null || s === undefined) return "—";
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400 * 2) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

export function prHref(repository, number) {
  const [owner, name] = repository.split("/");
  return `/pull-requests/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/${number}`;
}

export function workItemHref(key) {
  return `/work-items/${encodeURIComponent(key)}`;
}

export function stateBadge(state) {
  return h("span", { class: "badge", "data-state": state }, state);
}

// A PR as a row: the columns are picked by name, so each page shows the ones it has room for.
const CELLS = {
  pr: (pr) => h("td", { class: "mono" }, h("a", { href: prHref(pr.repository, pr.number) }, `${pr.repository.split("/")[1]}#${pr.number}`)),
  title: (pr) => h("td", {}, pr.title),
  state: (pr) => h("td", {}, stateBadge(pr.state)),
  author: (pr) => h("td", {}, pr.author || "—"),
  coding: (pr) => h("td", { class: "num", "data-metric": "coding" }, duration(pr.coding_time_seconds)),
  pickup: (pr) => h("td", { class: "num", "data-metric": "pickup" }, duration(pr.pickup_time_seconds)),
  review: (pr) => h("td", { class: "num", "data-metric": "review" }, duration(pr.review_time_seconds)),
  merge: (pr) => h("td", { class: "num", "data-metric": "open_to_merge" }, duration(pr.open_to_merge_seconds)),
  commits: (pr) => h("td", { class: "num" }, fmtNum(pr.commit_count)),
  work_items: (pr) => h("td", { class: "mono" }, ...((pr.work_items || []).length
    ? pr.work_items.flatMap((k, i) => [i ? ", " : "", h("a", { href: workItemHref(k) }, k)]) : ["—"])),
  updated: (pr) => h("td", {}, timeEl(pr.updated_at)),
};

export function prRow(pr, columns) {
  return h("tr", { "data-pr": `${pr.repository}#${pr.number}` }, ...columns.map((c) => CELLS[c](pr)));
}
