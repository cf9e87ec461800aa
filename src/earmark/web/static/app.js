// earmark's shared page script: a fetch that carries the page's CSRF token, for every page.
"use strict";
window.earmark = {
  csrfToken() {
    return document.querySelector('meta[name="csrf-token"]').content;
  },
  // POST `data` as JSON to `url` (same origin, CSRF header set); resolves to the parsed reply,
  // rejects with the server's reason.
  async post(url, data) {
    const reply = await fetch(url, {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": earmark.csrfToken()},
      body: JSON.stringify(data ?? {}),
      credentials: "same-origin",
    });
    const body = reply.headers.get("content-type")?.includes("json") ? await reply.json() : {};
    if (!reply.ok) throw new Error(body.detail || reply.statusText);
    return body;
  },
};

// Any button with data-play="<song id>" plays that song in the page's <audio id="player">.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-play]");
  const player = document.getElementById("player");
  if (!button || !player) return;
  player.src = `/api/songs/${encodeURIComponent(button.dataset.play)}/audio`;
  player.hidden = false;
  player.play();
});
