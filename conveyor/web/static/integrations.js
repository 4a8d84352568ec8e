// Integrations: the tenant's connections (test connection, sync now), a form to add a Jira or a
// GitHub one, the custom-field mapping of the selected Jira integration, and its work items.
import { $, api, boot, busy, canOperate, clear, fmtNum, h, markReady, relTime, reportError, timeEl, toast } from "./app.js";

await boot();
let selected = null;

function fmtDays(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  return `${(seconds / 86400).toFixed(1)} d`;
}

async function load() {
  const { items } = await api("/api/integrations");
  const body = $("#integrations-table tbody");
  clear(body, ...items.map(row));
  $("#integrations-empty").hidden = items.length > 0;
  const jira = items.find((i) => i.type === "jira");
  if (!selected && jira) await select(jira);
}

function row(item) {
  const last = item.last_test;
  const testCell = last ? h("span", { class: last.ok ? "ok" : "bad" }, last.ok ? "ok" : "problem", " · ", timeEl(last.tested_at)) : "never";
  const actions = h("div", { class: "row" },
    h("button", { type: "button", class: "btn btn-sm", "data-testid": "test-connection", onclick: (e) => test(item, e.target) }, "Test connection"),
    h("button", { type: "button", class: "btn btn-sm btn-ghost", "data-testid": "sync-now", onclick: (e) => sync(item, e.target) }, "Sync now"),
    item.type === "jira" ? h("button", { type: "button", class: "btn btn-sm btn-ghost", onclick: () => select(item) }, "Mapping & items")
      : h("a", { class: "btn btn-sm btn-ghost", href: "/pull-requests" }, "Pull requests"));
  return h("tr", { "data-integration": item.id },
    h("td", {}, item.name), h("td", {}, item.type), h("td", {}, item.tenant), h("td", { class: "mono small" }, site(item)),
    h("td", {}, item.active ? "active" : "inactive"), h("td", {}, testCell), h("td", {}, canOperate() ? actions : ""));
}

function site(item) {
  if (item.type !== "github") return item.base_url;
  const { owner, repositories } = item.settings || {};
  return `${item.base_url} · ${owner || "(token's user)"}${repositories && repositories.length ? ` · ${repositories.join(", ")}` : ""}`;
}

// What Test connection found, in words: who we are and what the provider says besides.
function testMessage(item, report) {
  if (!report.ok) return `${item.name}: ${report.problem}`;
  const d = report.details || {};
  if (item.type === "github") {
    const scopes = d.scopes && d.scopes.length ? d.scopes.join(", ") : "none reported (fine-grained or app token)";
    const rate = d.rate_limit_remaining === undefined ? "rate limit not reported"
      : `${fmtNum(d.rate_limit_remaining)} of ${fmtNum(d.rate_limit_limit)} GraphQL points left (the window resets ${relTime(d.rate_limit_reset_at)})`;
    return `Connected to ${item.name} as ${report.user}; scopes: ${scopes}; ${rate}.`;
  }
  return `Connected to ${item.name} as ${report.user} (time zone ${report.time_zone}); ${fmtNum(d.projects_visible)} project(s) visible.`;
}

async function test(item, button) {
  await busy(button, async () => {
    const report = await api(`/api/integrations/${item.id}/test`, { method: "POST" });
    const box = $("#test-result");
    box.hidden = false;
    box.className = `alert ${report.ok ? "alert-info" : "alert-error"}`;
    box.dataset.type = item.type;
    clear(box, testMessage(item, report));
    await load();
  }).catch(reportError);
}

async function sync(item, button) {
  await busy(button, async () => {
    let runId;
    try {
      runId = (await api(`/api/integrations/${item.id}/sync`, { method: "POST", body: {} })).id;
      toast("Sync started");
    } catch (err) {
      if (err.status !== 409 || !err.runId) throw err;
      runId = err.runId; // one sync per integration: its ETL job (or someone) started one already
      toast("A sync of this integration is already running: showing it");
    }
    window.location.href = `/pipelines/runs/${runId}`;
  }).catch(reportError);
}

async function select(item) {
  selected = item;
  if (item.type !== "jira") return;
  const mapping = await api(`/api/integrations/${item.id}/custom-fields`);
  $("#mapping-card").hidden = false;
  $("#mapping-name").textContent = item.name;
  const options = [["", "— none —"], ...mapping.fields.map((f) => [f.id, `${f.name} (${f.id})`])];
  clear($("#mapping-table tbody"), ...Object.entries(mapping.columns).map(([column, field]) => h("tr", {},
    h("th", { scope: "row", class: "mono" }, column),
    h("td", {}, h("select", { "data-column": column, "aria-label": column },
      ...options.map(([id, label]) => h("option", { value: id, ...(id === (field || "") ? { selected: "" } : {}) }, label)))))));
  $("#mapping-save").onclick = (e) => saveMapping(item, mapping, e.target);
  await items(item);
}

async function saveMapping(item, mapping, button) {
  const columns = {};
  for (const select of document.querySelectorAll("#mapping-table select")) columns[select.dataset.column] = select.value || null;
  await busy(button, async () => {
    await api(`/api/integrations/${item.id}/custom-fields`, { method: "PUT", body: {
      team_field_id: mapping.team_field_id, story_points_field_ids: mapping.story_points_field_ids,
      code_changed_field_id: mapping.code_changed_field_id, columns } });
    toast("Mapping saved: work items are being re-loaded from raw");
  }).catch(reportError);
}

async function items(item) {
  const page = await api("/api/work-items?limit=500");
  const mine = page.items.filter((i) => i.integration_id === item.id);
  $("#items-card").hidden = false;
  $("#items-count").textContent = `${fmtNum(mine.length)} shown`;
  clear($("#items-table tbody"), ...mine.slice(0, 100).map((i) => h("tr", { "data-key": i.key },
    h("td", { class: "mono" }, h("a", { href: `/work-items/${encodeURIComponent(i.key)}` }, i.key)), h("td", {}, i.summary), h("td", {}, i.status_name || ""), h("td", {}, i.workflow_step || ""),
    h("td", { class: "num" }, fmtDays(i.total_cycle_time_seconds)), h("td", { class: "num" }, fmtDays(i.total_lead_time_seconds)),
    h("td", { class: "num" }, fmtNum(i.total_work_starts)))));
  await charts(item, "");
}

// The charts of one project (or all): the server aggregates every work item in SQL, per project.
async function charts(item, project) {
  const data = await api(`/api/integrations/${item.id}/charts` + (project ? `?project=${encodeURIComponent(project)}` : ""));
  const choose = h("select", { id: "chart-project", "data-testid": "chart-project", "aria-label": "Project of the charts" },
    h("option", { value: "" }, "All projects"),
    ...data.projects.map((p) => h("option", { value: p.key, ...(p.key === project ? { selected: "" } : {}) }, `${p.key} (${fmtNum(p.items)})`)));
  choose.addEventListener("change", () => charts(item, choose.value).catch(reportError));
  clear($("#charts"), h("label", { class: "small" }, "Charts of ", choose),
    distribution("Cycle time (days)", data.cycle_time), distribution("Lead time (days)", data.lead_time),
    bars("Weekly throughput (completed)", data.throughput.map((w) => w.week), data.throughput.map((w) => w.completed)));
  $("#charts").dataset.project = project;
}

// Small SVG charts drawn by the page (no chart library, no CDN).
function svg(tag, attrs) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

function bars(title, labels, values) {
  const width = 320, height = 140, max = Math.max(1, ...values), bw = width / Math.max(1, values.length);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height + 20}`, width, height: height + 20, role: "img", "aria-label": title });
  values.forEach((v, i) => {
    const bh = (v / max) * height;
    const rect = svg("rect", { x: i * bw + 1, y: height - bh, width: Math.max(1, bw - 2), height: bh, fill: "currentColor", opacity: 0.7 });
    rect.append(Object.assign(svg("title", {}), { textContent: `${labels[i]}: ${v}` }));
    chart.append(rect);
  });
  chart.append(Object.assign(svg("text", { x: 0, y: height + 16, "font-size": 11, fill: "currentColor" }), { textContent: `${labels[0] ?? ""} … ${labels.at(-1) ?? ""}` }));
  return h("figure", { class: "card chart", "data-chart": title }, h("figcaption", { class: "small" }, title), chart);
}

function distribution(title, chart) {
  return bars(`${title} · ${chart.items} items`, chart.bins.map((b) => `${b.from_days}–${b.to_days} d`), chart.bins.map((b) => b.count));
}

function list(value) {
  return value.split(",").map((p) => p.trim()).filter(Boolean);
}

// The body POST /api/integrations takes for the chosen type; the secrets go in once, never back.
function formBody(type) {
  const name = $("#f-name").value;
  if (type === "github") {
    return { type, name, base_url: $("#f-gh-url").value.trim(), credentials: { token: $("#f-gh-token").value },
      settings: { owner: $("#f-gh-owner").value.trim(), repositories: list($("#f-gh-repositories").value) } };
  }
  return { type, name, base_url: $("#f-url").value,
    credentials: { email: $("#f-email").value, api_token: $("#f-token").value }, settings: { projects: list($("#f-projects").value) } };
}

function showType() {
  const type = $("#f-type").value;
  for (const el of document.querySelectorAll("#integration-form [data-for]")) el.hidden = el.dataset.for !== type;
}
$("#f-type").addEventListener("change", showType);
showType();

$("#integration-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const box = $("#form-error");
  box.hidden = true;
  try {
    await api("/api/integrations", { method: "POST", body: formBody($("#f-type").value) });
    $("#f-token").value = "";
    $("#f-gh-token").value = "";
    toast("Integration saved");
    await load();
  } catch (err) {
    box.hidden = false;
    clear(box, err.error || String(err), err.action ? ` ${err.action}` : "");
  }
});
if (!canOperate()) $("#integration-form").hidden = true;

await load().catch(reportError);
markReady();
