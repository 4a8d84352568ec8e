// Login: asks for an API key, checks it with GET /api/me and keeps it in localStorage.
import { $, api, boot, fillErrorBox, setKey } from "./app.js";

const form = $("#login-form");
const input = $("#api-key");
const errorBox = $("#login-error");

function nextUrl() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  // Only same-origin paths: never an open redirect.
  return next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

const message = sessionStorage.getItem("conveyor.loginMessage");
if (message) {
  sessionStorage.removeItem("conveyor.loginMessage");
  fillErrorBox(errorBox, { error: message });
}

// Already logged in (stored key or ?key=), or a server without auth: go straight on.
try {
  await boot({ loginPage: true });
  location.replace(nextUrl());
} catch (err) {
  if (err && err.status !== 401 && err.status !== 403) {
    fillErrorBox(errorBox, err);
  }
  $("#main").dataset.loading = "false";
  input.focus();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = input.value.trim();
  if (!key) return;
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await api("/api/me", { key, auth: false });
    setKey(key);
    location.replace(nextUrl());
  } catch (err) {
    fillErrorBox(errorBox, err.status === 401 || err.status === 403
      ? { error: "That key was not accepted.", action: err.action || "Check it for typos, or create a new one with `conveyor apikey create`." }
      : err);
    input.select();
  } finally {
    button.disabled = false;
  }
});
