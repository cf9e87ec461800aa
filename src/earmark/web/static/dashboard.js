// The dashboard: refresh the counts from /api/stats every few seconds (live progress while a
// scan or embed runs from the command line).
"use strict";
(() => {
  const section = document.querySelector(".dashboard");
  const every = 1000 * Number(section.dataset.poll || 3);
  const refreshed = document.getElementById("refreshed");

  async function refresh() {
    try {
      const reply = await fetch("/api/stats", {credentials: "same-origin"});
      if (!reply.ok) throw new Error((await reply.json()).detail || reply.statusText);
      const stats = await reply.json();
      for (const cell of section.querySelectorAll("[data-count]")) {
        cell.textContent = stats[cell.dataset.count];
      }
      refreshed.textContent = `Updated ${new Date().toLocaleTimeString()}.`;
    } catch (error) {
      refreshed.textContent = `Not updated: ${error.message}`;
    }
  }
  setInterval(refresh, every);
})();
