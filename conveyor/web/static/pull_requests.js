// Pull requests: the list from GET /api/pull-requests with filters and "Show more" (keyset pages;
// each PR links to its own page, each work item key to the work item's),
// and the weekly medians of coding / pickup / review times from GET /api/pull-requests/weekly.
import { $, api, boot, clear, h, markReady, qs, reportError, startHealth } from "./app.js";
import { duration, prRow } from "./pr_common.js";

await boot();
startHealth();

const SVG = "svg:";
const SERIES = [["coding_time_median_seconds", "pr-coding"], ["pickup_time_median_seconds", "pr-pickup"],
  ["review_time_median_seconds", "pr-review"]];
let next = null;

function filters() {
  return Object.fromEntries(new FormData($("#pr-filters")).entries());
}

const COLUMNS = ["pr", "title", "state", "author", "coding", "pickup", "review", "commits", "work_items", "updated"];

async function loadPage(reset) {
  const params = { ...filters(), limit: 50 };
  if (!reset && next) params.cursor = next;
  const page = await api(`/api/pull-requests${qs(params)}`);
  const body = $("#pr-table tbody");
  if (reset) clear(body);
  for (const pr of page.items) body.append(prRow(pr, COLUMNS));
  next = page.next_cursor;
  $("#pr-more").hidden = !next;
  $("#pr-empty").hidden = body.children.length > 0;
}

function chart(weeks) {
  const width = 720, height = 180, left = 44, right = 8, top = 8, bottom = 20;
  const plotW = width - left - right, plotH = height - top - bottom;
  const values = weeks.flatMap((w) => SERIES.map(([key]) => w[key]).filter((v) => v !== null));
  const max = Math.max(3600, ...values);
  const slot = plotW / Math.max(1, weeks.length);
  const svg = h(`${SVG}svg`, { class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": "Median coding, pickup and review time per week" });
  svg.append(h(`${SVG}line`, { class: "axis", x1: left, x2: width - right, y1: top + plotH, y2: top + plotH }));
  svg.append(h(`${SVG}text`, { class: "tick", x: left - 4, y: top + 8, "text-anchor": "end" }, duration(max)));
  svg.append(h(`${SVG}text`, { class: "tick", x: left - 4, y: top + plotH, "text-anchor": "end" }, "0"));
  if (weeks.length) {
    svg.append(h(`${SVG}text`, { class: "tick", x: left, y: height - 4 }, weeks[0].week));
    svg.append(h(`${SVG}text`, { class: "tick", x: width - right, y: height - 4, "text-anchor": "end" }, weeks.at(-1).week));
  }
  const barW = Math.max(1, slot / (SERIES.length + 1));
  weeks.forEach((w, i) => {
    const g = h(`${SVG}g`, { class: "bar", "data-week": w.week });
    g.append(h(`${SVG}title`, {}, `week of ${w.week}: ${w.merged} merged; coding ${duration(w.coding_time_median_seconds)}, ` +
      `pickup ${duration(w.pickup_time_median_seconds)}, review ${duration(w.review_time_median_seconds)}`));
    SERIES.forEach(([key, cls], j) => {
      const v = w[key];
      if (v === null || v === undefined) return;
      const barH = Math.max(1, (v / max) * plotH);
      g.append(h(`${SVG}rect`, { class: cls, x: (left + i * slot + j * barW).toFixed(2), y: (top + plotH - barH).toFixed(2),
        width: (barW - 0.5).toFixed(2), height: barH.toFixed(2) }));
    });
    svg.append(g);
  });
  return svg;
}

async function loadChart() {
  const { repository } = filters();
  const data = await api(`/api/pull-requests/weekly${qs({ repository, weeks: 26 })}`);
  const merged = data.weeks.reduce((n, w) => n + w.merged, 0);
  $("#pr-weeks-note").textContent = `last ${data.weeks.length} weeks · ${merged} merged`;
  clear($("#pr-chart"), chart(data.weeks));
}

async function refresh() {
  await Promise.all([loadPage(true), loadChart()]);
}

try {
  const repos = await api("/api/repositories");
  for (const r of repos.items) $("#pr-repository").append(h("option", { value: r.name_with_owner }, r.name_with_owner));
  await refresh();
} catch (err) {
  reportError(err);
}
$("#pr-filters").addEventListener("submit", (event) => {
  event.preventDefault();
  refresh().catch(reportError);
});
$("#pr-more").addEventListener("click", () => loadPage(false).catch(reportError));
markReady();
