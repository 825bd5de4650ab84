// The only script of the staff page: forms that submit once, and the live
// call table of the overview. No libraries, no other hosts.
"use strict";

// A form marked data-once submits once: the button is disabled at the first
// submit and later submits are dropped. The server's idempotency key still
// guards against a submit that slips through (a reload, a second tab).
function guardForms() {
  for (const form of document.querySelectorAll("form[data-once]")) {
    form.addEventListener("submit", (event) => {
      if (form.dataset.submitted === "1") {
        event.preventDefault();
        return;
      }
      form.dataset.submitted = "1";
      for (const button of form.querySelectorAll("button[type=submit]")) {
        button.disabled = true;
        button.setAttribute("aria-busy", "true");
      }
    });
  }
}

// Refresh the overview's call tables from /web/live every few seconds.
function followLiveCalls() {
  const container = document.getElementById("live");
  if (!container) {
    return;
  }
  const problem = document.getElementById("live-problem");
  const url = container.dataset.liveUrl;
  const interval = Number(container.dataset.refreshMs) || 2500;
  // A request that hangs is abandoned so that the next one can start.
  const timeout = 8000;
  let stopped = false;

  function showProblem(text) {
    problem.textContent = text;
    problem.hidden = false;
  }

  async function refresh() {
    if (stopped || document.hidden) {
      return;
    }
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeout);
    try {
      const response = await fetch(url, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "text/html" },
        signal: controller.signal,
      });
      if (response.status === 401) {
        stopped = true;
        showProblem(container.dataset.loggedOutText);
        return;
      }
      if (!response.ok) {
        throw new Error("status " + response.status);
      }
      container.innerHTML = await response.text();
      problem.hidden = true;
    } catch (error) {
      showProblem(container.dataset.staleText);
    } finally {
      clearTimeout(timer);
    }
  }

  setInterval(refresh, interval);
  document.addEventListener("visibilitychange", refresh);
}

document.addEventListener("DOMContentLoaded", () => {
  guardForms();
  followLiveCalls();
});
