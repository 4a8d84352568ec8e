// Schedules: each with its next fire time and last outcome; pause/resume, delete, add.
import { $, api, boot, busy, canOperate, clear, fillErrorBox, h, markReady, reportError, startHealth, timeEl, toast } from "./app.js";

await boot();
startHealth();

async function load() {
  const data = await api("/api/schedules");
  $("#schedules-empty").hidden = data.items.length > 0;
  clear($("#schedules-table tbody"), ...data.items.map((s) => {
    const toggle = h("input", { type: "checkbox", "data-testid": "schedule-active", "aria-label": `active: ${s.name}` });
    toggle.checked = s.active;
    toggle.disabled = !canOperate();
    toggle.addEventListener("change", () => busy(toggle, async () => {
      await api(`/api/schedules/${s.id}`, { method: "PATCH", body: { active: toggle.checked } });
      await load();
    }));
    const del = h("button", { type: "button", class: "btn btn-sm btn-danger-ghost" }, "Delete");
    del.hidden = !canOperate();
    del.addEventListener("click", () => busy(del, async () => {
      await api(`/api/schedules/${s.id}`, { method: "DELETE" });
      await load();
    }));
    return h("tr", { "data-schedule": s.name },
      h("td", {}, h("strong", {}, s.name), h("div", { class: "muted small" }, `${s.tenant}${s.in_code ? " · in code" : ""}`)),
      h("td", { class: "mono small" }, `${s.target_kind}: ${s.target}`),
      h("td", {}, s.every, h("div", { class: "muted small" }, `${s.timezone} · misfire ${s.misfire}`)),
      h("td", { "data-testid": "schedule-next" }, s.active && s.next_fire_at ? timeEl(s.next_fire_at) : "paused"),
      h("td", { "data-testid": "schedule-outcome" }, s.last_outcome ? `${s.last_outcome} ` : "never fired",
        s.last_fire_at ? timeEl(s.last_fire_at) : "",
        s.last_error ? h("div", { class: "small error-text" }, s.last_error) : ""),
      h("td", {}, toggle), h("td", {}, del));
  }));
}

$("#schedule-add-card").hidden = !canOperate();
$("#schedule-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const box = $("#schedule-error");
  box.hidden = true;
  try {
    const body = { target: form.get("target"), timezone: form.get("timezone") || "UTC", misfire: form.get("misfire") };
    if (form.get("name")) body.name = form.get("name");
    if (form.get("cron")) body.cron = form.get("cron");
    if (form.get("interval")) body.interval = Number(form.get("interval"));
    body.args = JSON.parse(form.get("args") || "[]");
    body.kwargs = JSON.parse(form.get("kwargs") || "{}");
    await api("/api/schedules", { method: "POST", body });
    toast("Schedule added");
    await load();
  } catch (err) {
    box.className = "alert alert-error";
    fillErrorBox(box, err.error ? err : { error: String(err.message || err), action: "Args must be a JSON list and kwargs a JSON object." });
  }
});

try { await load(); } catch (err) { reportError(err); }
setInterval(() => load().catch(() => {}), 5000);
markReady();
