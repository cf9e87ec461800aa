// The song page: rating buttons, genres/tags, similar songs and the radio queue.
"use strict";
(() => {
  const page = document.getElementById("song");
  if (!page) return;
  const id = page.dataset.song;
  const player = document.getElementById("player");
  const $ = (selector) => document.getElementById(selector);

  function item(parts) {
    const li = document.createElement("li");
    for (const part of parts) li.append(part);
    return li;
  }
  function songLink(song) {
    const a = document.createElement("a");
    a.href = `/songs/${song.id}`;
    a.textContent = song.name;
    return a;
  }
  function playButton(song) {
    const b = document.createElement("button");
    b.type = "button"; b.className = "play"; b.dataset.play = song.id; b.textContent = "▶";
    b.setAttribute("aria-label", `Play ${song.name}`);
    return b;
  }
  function muted(text) {
    const s = document.createElement("span");
    s.className = "muted"; s.textContent = text;
    return s;
  }
  function showTimes() {
    for (const t of document.querySelectorAll("time[data-epoch]")) {
      t.textContent = new Date(Number(t.dataset.epoch) * 1000).toLocaleString();
    }
  }
  showTimes();

  // Ratings: saved at once; the current rating and the history follow.
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-rate]");
    if (!button) return;
    $("rate-error").textContent = "";
    try {
      const reply = await earmark.post(`/api/songs/${id}/rating`, {rating: button.dataset.rate});
      $("current-rating").textContent = reply.rating ? reply.rating.text : "not rated";
      const history = $("history");
      history.querySelector(".muted:only-child")?.remove();
      const time = document.createElement("time");
      time.dataset.epoch = reply.saved.rated_at;
      history.prepend(item([`${reply.saved.text} `, muted("("), muted(`${reply.saved.source}, `), time, muted(")")]));
      showTimes();
    } catch (error) {
      $("rate-error").textContent = error.message;
    }
  });

  async function getJSON(url) {
    const reply = await fetch(url, {credentials: "same-origin"});
    const body = await reply.json();
    if (!reply.ok) throw new Error(body.detail || reply.statusText);
    return body;
  }
  function fill(list, rows, empty) {
    list.replaceChildren(...(rows.length ? rows : [item([muted(empty)])]));
  }

  getJSON(`/api/songs/${id}/labels`).then((labels) => {
    const rows = (xs) => xs.map((x) => item([`${x.label} `, muted(`${Math.round(x.confidence * 100)} %`)]));
    fill($("genres"), rows(labels.genres), labels.reason || "none");
    fill($("tags"), rows(labels.tags), labels.reason || "none");
  }).catch((error) => { fill($("genres"), [], error.message); fill($("tags"), [], error.message); });

  getJSON(`/api/songs/${id}/similar`).then((found) => {
    fill($("similar"), found.songs.map((s) => item([playButton(s), " ", songLink(s), " ", muted(s.similarity.toFixed(2))])),
         "No other song with an embedding yet.");
  }).catch((error) => fill($("similar"), [], error.message));

  // The radio: a queue played one after another, fetched a page at a time as it plays.
  const queue = [];
  let playing = -1;
  let exhausted = false;
  async function more() {
    if (exhausted) return;
    const after = queue.map((s) => s.id).join(",");
    const page = await getJSON(`/api/songs/${id}/radio?count=10&after=${after}`);
    if (!page.songs.length) exhausted = true;
    for (const song of page.songs) {
      queue.push(song);
      const li = item([playButton(song), " ", songLink(song), " ", muted(song.artist || "")]);
      li.dataset.queued = song.id;
      $("radio").append(li);
    }
  }
  function play(index) {
    if (index >= queue.length) return;
    playing = index;
    const song = queue[index];
    for (const li of $("radio").children) li.classList.toggle("current", li.dataset.queued === String(song.id));
    $("now-playing").hidden = false;
    $("now-playing").textContent = `Radio: ${song.name}`;
    player.src = `/api/songs/${song.id}/audio`;
    player.play();
    if (queue.length - index < 3) more().catch((error) => { $("radio-error").textContent = error.message; });
  }
  $("radio-start")?.addEventListener("click", async () => {
    $("radio-error").textContent = "";
    try {
      if (!queue.length) await more();
      if (!queue.length) { $("radio-error").textContent = "Nothing to play after this song yet."; return; }
      play(0);
    } catch (error) {
      $("radio-error").textContent = error.message;
    }
  });
  player?.addEventListener("ended", () => { if (playing >= 0) play(playing + 1); });
})();
