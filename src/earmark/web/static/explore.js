// The explore page: draw /api/map's points on a canvas, colour them, hover and click to play.
"use strict";
(() => {
  const canvas = document.getElementById("map");
  const context = canvas.getContext("2d");
  const status = document.getElementById("map-status");
  const hover = document.getElementById("hover");
  const legend = document.getElementById("legend");
  const colourBy = document.getElementById("colour");
  const player = document.getElementById("player");
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                   "#17becf", "#bcbd22", "#393b79", "#ad494a", "#637939"];
  const UNKNOWN = "#c8c8c8";
  const OTHER = "#888888";
  const MARGIN = 12;
  let points = null;
  let colours = [];
  let grid = new Map();  // cell -> indices, so hovering 100,000 points stays instant
  const CELL = 12;

  const radius = () => (points.count > 20000 ? 1.5 : points.count > 2000 ? 2.5 : 5);
  const px = (i) => MARGIN + points.x[i] * (canvas.width - 2 * MARGIN);
  const py = (i) => MARGIN + (1 - points.y[i]) * (canvas.height - 2 * MARGIN);

  // /api/map sends names as indices into name lists and liking in whole percent (compact at
  // 100,000 songs); the page works on names and P(like).
  function decode(body) {
    const named = (names) => (k) => (k < 0 ? null : names[k]);
    return {...body, genre: body.genre.map(named(body.genres)),
            rating: body.rating.map(named(body.ratings)),
            genre_predicted: body.genre_predicted.map(Boolean),
            liking: body.liking.map((v) => (v === null ? null : v / 100))};
  }

  function liking(p) {  // red (0) -> yellow -> green (1)
    const hue = Math.round(120 * p);
    return `hsl(${hue}, 70%, 45%)`;
  }

  function colourOf(by) {
    const values = by === "liking" ? points.liking : by === "rating" ? points.rating : points.genre;
    legend.replaceChildren();
    if (by === "liking") {
      if (values.every((v) => v === null)) {
        legend.textContent = "Predicted liking appears once a few liked and disliked songs are rated.";
      } else {
        legend.innerHTML = `<span><i style="background:${liking(0)}"></i>disliked (0)</span>` +
          `<span><i style="background:${liking(0.5)}"></i>0.5</span>` +
          `<span><i style="background:${liking(1)}"></i>liked (1)</span>`;
      }
      return values.map((v) => (v === null ? UNKNOWN : liking(v)));
    }
    // Names that differ only in case (a file's "jazz", a predicted "Jazz") are one colour.
    const key = (v) => v.toLowerCase();
    const counts = new Map();
    const shown = new Map();
    values.forEach((v) => {
      if (v === null) return;
      counts.set(key(v), (counts.get(key(v)) || 0) + 1);
      if (!shown.has(key(v)) || v !== v.toLowerCase()) shown.set(key(v), v);
    });
    const named = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, PALETTE.length);
    const colour = new Map(named.map(([name], k) => [name, PALETTE[k]]));
    for (const [name, n] of named) {
      const item = document.createElement("span");
      item.innerHTML = `<i style="background:${colour.get(name)}"></i>`;
      item.append(`${shown.get(name)} (${n})`);
      legend.append(item);
    }
    if (counts.size > named.length) {
      legend.insertAdjacentHTML("beforeend", `<span><i style="background:${OTHER}"></i>other</span>`);
    }
    return values.map((v) => (v === null ? UNKNOWN : colour.get(key(v)) || OTHER));
  }

  function draw() {
    context.clearRect(0, 0, canvas.width, canvas.height);
    const r = radius();
    // Unknown first, so coloured points stay on top.
    for (const pass of [true, false]) {
      for (let i = 0; i < points.count; i++) {
        if ((colours[i] === UNKNOWN) !== pass) continue;
        context.fillStyle = colours[i];
        context.beginPath();
        context.arc(px(i), py(i), r, 0, 2 * Math.PI);
        context.fill();
      }
    }
  }

  function index() {
    grid = new Map();
    for (let i = 0; i < points.count; i++) {
      const key = `${Math.floor(px(i) / CELL)},${Math.floor(py(i) / CELL)}`;
      if (!grid.has(key)) grid.set(key, []);
      grid.get(key).push(i);
    }
  }

  function nearest(event) {
    const box = canvas.getBoundingClientRect();
    const x = (event.clientX - box.left) * (canvas.width / box.width);
    const y = (event.clientY - box.top) * (canvas.height / box.height);
    const cx = Math.floor(x / CELL), cy = Math.floor(y / CELL);
    let best = -1, bestDistance = (radius() + 6) ** 2;
    for (let dx = -1; dx <= 1; dx++) {
      for (let dy = -1; dy <= 1; dy++) {
        for (const i of grid.get(`${cx + dx},${cy + dy}`) || []) {
          const d = (px(i) - x) ** 2 + (py(i) - y) ** 2;
          if (d < bestDistance) { best = i; bestDistance = d; }
        }
      }
    }
    return best;
  }

  const names = new Map();  // song id -> name, asked of /api/songs/ID once per song

  async function songName(i) {
    const id = points.ids[i];
    if (!names.has(id)) {
      names.set(id, fetch(`/api/songs/${id}`, {credentials: "same-origin"})
        .then((reply) => reply.json()).then((body) => body.song.name)
        .catch(() => `song ${id}`));
    }
    return names.get(id);
  }

  async function describe(i) {
    const parts = [await songName(i)];
    if (points.genre[i]) parts.push(points.genre[i] + (points.genre_predicted[i] ? " (predicted)" : ""));
    if (points.rating[i]) parts.push(points.rating[i]);
    if (points.liking[i] !== null) parts.push(`liking ${Math.round(points.liking[i] * 100)} %`);
    return parts.join(" · ");
  }

  let hovered = -1;
  canvas.addEventListener("mousemove", async (event) => {
    if (!points) return;
    const i = nearest(event);
    canvas.style.cursor = i < 0 ? "crosshair" : "pointer";
    if (i === hovered) return;
    hovered = i;
    const text = i < 0 ? "" : await describe(i);
    if (hovered === i) hover.textContent = text;  // the mouse may have moved on meanwhile
  });

  canvas.addEventListener("click", async (event) => {
    if (!points) return;
    const i = nearest(event);
    if (i < 0) return;
    player.src = `/api/songs/${points.ids[i]}/audio`;
    player.play();
    canvas.dataset.playing = points.ids[i];
    hover.textContent = `▶ ${await describe(i)}`;
  });

  colourBy.addEventListener("change", () => {
    colours = colourOf(colourBy.value);
    draw();
  });

  fetch("/api/map", {credentials: "same-origin"})
    .then(async (reply) => {
      const body = await reply.json();
      if (!reply.ok) throw new Error(body.detail || reply.statusText);
      return body;
    })
    .then((body) => {
      points = decode(body);
      status.textContent = body.count
        ? `${body.count.toLocaleString()} songs: ${body.method}.`
        : "No song has an embedding yet: run earmark embed.";
      colours = colourOf(colourBy.value);
      index();
      draw();
      canvas.dataset.ready = "1";
    })
    .catch((error) => { status.textContent = `The map could not be made: ${error.message}`; });
})();
