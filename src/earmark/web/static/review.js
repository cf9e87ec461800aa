// The review page: play the batch one song after another, rate with the keyboard (each rating
// saved at once), retrain in the background and show the new quality and top picks.
"use strict";
(() => {
  const page = document.getElementById("review");
  if (!page) return;
  const player = document.getElementById("player");
  const $ = (selector) => document.getElementById(selector);
  const KEYS = {l: "like", d: "dislike", s: "skip", 1: "1", 2: "2", 3: "3", 4: "4", 5: "5"};
  let current = -1;

  const rows = () => [...$("batch").querySelectorAll("li[data-review]")];
  function select(index, autoplay) {
    const list = rows();
    if (index >= list.length) {
      current = list.length;
      $("review-title").textContent = "batch done: press Next batch (or Retrain first)";
      $("review-guess").textContent = "";
      player.removeAttribute("src");
      return;
    }
    current = index;
    const row = list[index];
    for (const li of list) li.classList.toggle("current", li === row);
    $("review-title").textContent = row.dataset.name;
    const p = row.dataset.pLike;
    $("review-guess").textContent = p === "" ? "(no guess yet)" : `(earmark guesses ${Math.round(p * 100)} % you like it)`;
    player.src = `/api/songs/${row.dataset.review}/audio`;
    if (autoplay) player.play().catch(() => {});
  }

  async function rate(answer) {
    const row = rows()[current];
    if (!row) return;
    $("review-error").textContent = "";
    try {
      const reply = await earmark.post(`/api/songs/${row.dataset.review}/rating`, {rating: answer, source: "review"});
      row.querySelector(".verdict").textContent = reply.saved.text;
      row.dataset.rated = reply.saved.text;
      select(current + 1, true);
    } catch (error) {
      $("review-error").textContent = error.message;
    }
  }

  // Listened to while the event goes down (capture), and stopped there: a focused <audio> acts
  // on space and the arrows itself, so space played and paused at once and arrows seeked twice.
  window.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, textarea, select")) return;
    if ([" ", "ArrowLeft", "ArrowRight"].includes(event.key) || KEYS[event.key.toLowerCase()]) {
      event.stopPropagation();
    }
    if (event.key === " ") {
      event.preventDefault();
      if (current < 0) select(0, false);
      if (player.paused) player.play().catch(() => {}); else player.pause();
    } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      event.preventDefault();
      const step = event.key === "ArrowLeft" ? -10 : 10;
      player.currentTime = Math.max(0, Math.min(player.duration || Infinity, player.currentTime + step));
    } else if (KEYS[event.key.toLowerCase()]) {
      event.preventDefault();
      if (current < 0) select(0, false);
      rate(KEYS[event.key.toLowerCase()]);
    }
  }, true);
  player.addEventListener("ended", () => select(current + 1, true));
  $("batch").addEventListener("click", (event) => {
    const row = event.target.closest("li[data-review]");
    if (row && !event.target.closest("a")) select(rows().indexOf(row), true);
  });

  async function getJSON(url) {
    const reply = await fetch(url, {credentials: "same-origin"});
    const body = await reply.json();
    if (!reply.ok) throw new Error(body.detail || reply.statusText);
    return body;
  }
  function li(parts, attrs = {}) {
    const el = document.createElement("li");
    for (const [k, v] of Object.entries(attrs)) el.dataset[k] = v;
    for (const part of parts) el.append(part);
    return el;
  }
  function link(song) {
    const a = document.createElement("a");
    a.href = `/songs/${song.id}`; a.textContent = song.name;
    return a;
  }
  function muted(text) {
    const s = document.createElement("span");
    s.className = "muted"; s.textContent = text;
    return s;
  }

  $("next-batch").addEventListener("click", async () => {
    $("review-error").textContent = "";
    try {
      const batch = await getJSON(`/api/review/batch?size=${page.dataset.size}`);
      $("batch-empty")?.remove();
      $("batch").replaceChildren(...batch.songs.map((s) => {
        const row = li([link(s), " ", muted("")], {review: s.id, name: s.name, pLike: s.p_like ?? ""});
        row.lastChild.classList.add("verdict");
        return row;
      }));
      if (!batch.songs.length) $("batch").append(li([muted(batch.reason)]));
      select(0, false);
    } catch (error) {
      $("review-error").textContent = error.message;
    }
  });

  function qualityText(q) {
    if (!q) return "no taste model trained yet";
    const n = `${q.n_ratings} ratings (${q.n_liked} liked, ${q.n_disliked} disliked)`;
    if (q.roc_auc_mean === null) return `${n}; not measurable yet: ${q.note}`;
    return `${n}: cross-validated ROC-AUC ${q.roc_auc_mean.toFixed(2)} ± ${q.roc_auc_std.toFixed(2)}, accuracy ${q.accuracy_mean.toFixed(2)} (${q.folds} folds)`;
  }
  async function showPicks() {
    const picks = await getJSON("/api/review/picks?top=10");
    $("picks").replaceChildren(...picks.songs.map((s) => {
      const play = document.createElement("button");
      play.type = "button"; play.className = "play"; play.dataset.play = s.id; play.textContent = "▶";
      return li([play, " ", link(s), " ", muted(`${Math.round(s.score * 100)} % · ${s.reason}`)], {pick: s.id});
    }));
    if (!picks.songs.length) $("picks").append(li([muted(picks.reason)]));
  }
  async function poll() {
    const status = await getJSON("/api/review/retrain");
    if (status.state === "running") {
      $("retrain-status").textContent = status.step;
      setTimeout(poll, 500);
      return;
    }
    $("retrain").disabled = false;
    if (status.state === "failed") {
      $("retrain-status").textContent = `not retrained: ${status.reason}`;
      return;
    }
    $("retrain-status").textContent = status.step;
    $("quality").textContent = qualityText(status.quality);
    await showPicks();
  }
  $("retrain").addEventListener("click", async () => {
    $("retrain").disabled = true;
    $("retrain-status").textContent = "starting";
    try {
      await earmark.post("/api/review/retrain", {});
      await poll();
    } catch (error) {
      $("retrain").disabled = false;
      $("retrain-status").textContent = error.message;
    }
  });
  if (rows().length) select(0, false);
})();
