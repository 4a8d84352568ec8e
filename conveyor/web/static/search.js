// Search: semantic search (GET /api/search) with source, project and size filters. The query lives
// in the URL (?q=...&source=...), so a result list can be linked and reloaded. A hit opens the work
// item or pull request itself (its link) in a new tab.
import { $, api, boot, clear, fillErrorBox, h, markReady, qs, session } from "./app.js";

await boot();

const form = $("#search-form");
const fields = { q: $("#s-q"), source: $("#s-source"), project: $("#s-project"), limit: $("#s-limit"),
  tenant: $("#s-tenant") };
const errorEl = $("#s-error");
const hitsEl = $("#s-hits");
const summary = $("#s-summary");
let current = null; // the AbortController of the search in flight

// Admin keys (every tenant) choose the tenant to search; a tenant key searches its own.
if (session.me && session.me.tenant == null) $("#s-tenant-wrap").hidden = false;

function params() {
  return { q: fields.q.value.trim(), source: fields.source.value, project: fields.project.value.trim(),
    limit: fields.limit.value, tenant: fields.tenant.value.trim() };
}

function hitItem(hit, rank) {
  const label = `${hit.table}/${hit.external_id}`;
  const title = hit.title || label;
  return h("li", { class: "search-hit", "data-testid": "search-hit", "data-id": hit.external_id },
    h("div", { class: "hit-head" },
      h("span", { class: "hit-rank muted" }, `${rank}.`),
      hit.url ? h("a", { href: hit.url, target: "_blank", rel: "noopener noreferrer", class: "hit-title",
        "data-testid": "search-hit-link" }, title) : h("span", { class: "hit-title" }, title),
      h("span", { class: "queue-chip", title: "Source" }, hit.source_type),
      h("span", { class: "hit-score muted small", title: "Cosine similarity" }, hit.score.toFixed(3))),
    h("div", { class: "muted small" }, label, hit.project ? ` · project ${hit.project}` : ""),
    hit.snippet ? h("p", { class: "hit-snippet" }, hit.snippet) : null);
}

async function run(push = true) {
  const p = params();
  if (!p.q) return;
  if (push) history.replaceState(null, "", `/search${qs(p)}`);
  if (current) current.abort();
  current = new AbortController();
  errorEl.hidden = true;
  summary.textContent = "Searching…";
  const started = performance.now();
  try {
    const answer = await api(`/api/search${qs(p)}`, { signal: current.signal });
    const ms = Math.round(performance.now() - started);
    summary.textContent = `${answer.hits.length} result${answer.hits.length === 1 ? "" : "s"} in tenant ${answer.tenant} · ${ms} ms`;
    clear(hitsEl, ...(answer.hits.length ? answer.hits.map((hit, i) => hitItem(hit, i + 1))
      : [h("li", { class: "empty", "data-testid": "search-empty" }, "No matches. Try other words or fewer filters.")]));
  } catch (err) {
    if (err && err.name === "AbortError") return;
    summary.textContent = "";
    clear(hitsEl);
    fillErrorBox(errorEl, err, { title: "Search failed" });
  } finally {
    markReady();
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  run();
});
for (const el of [fields.source, fields.limit]) el.addEventListener("change", () => run());

const initial = new URLSearchParams(location.search);
for (const [name, el] of Object.entries(fields)) {
  if (initial.get(name)) el.value = initial.get(name);
}
if (fields.q.value) run(false); else markReady();
fields.q.focus();
