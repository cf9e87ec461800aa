// The tag review page: plan, decide per file (accept, reject, edit), write, undo.
"use strict";
(() => {
  const section = document.querySelector(".tag-review");
  const say = (text) => { document.getElementById("tag-status").textContent = text; };
  // What a write or an undo did, said again on the page it reloads into.
  const sayAfterReload = (text, url) => {
    sessionStorage.setItem("earmark.tagSaid", text);
    location.assign(url || location.href);
  };
  const said = sessionStorage.getItem("earmark.tagSaid");
  if (said) { sessionStorage.removeItem("earmark.tagSaid"); say(said); }
  const review = () => section.dataset.review;
  const lastBatch = () => sessionStorage.getItem("earmark.tagBatch");
  const counts = (c) => Object.entries(c).map(([k, n]) => `${n} ${k}`).join(", ");

  async function run(label, work) {
    say(`${label}…`);
    try { await work(); } catch (error) { say(`${label} failed: ${error.message}`); }
  }

  document.getElementById("plan").addEventListener("click", () => run("Planning", async () => {
    await earmark.post("/api/tag-review", {mode: document.getElementById("mode").value});
    location.reload();
  }));

  document.getElementById("accept-pending")?.addEventListener("click", () => run("Accepting", async () => {
    const reply = await earmark.post(`/api/tag-review/${review()}/accept-pending`, {});
    sayAfterReload(`Accepted ${reply.accepted} files; Write accepted writes them`);
  }));

  document.getElementById("apply")?.addEventListener("click", () => run("Writing", async () => {
    const reply = await earmark.post(`/api/tag-review/${review()}/apply`, {});
    sessionStorage.setItem("earmark.tagBatch", reply.batch);
    // Written files leave the default 'planned' list: show them where they went.
    const shown = ["written", "failed"].find((s) => reply.counts[s]) || "all";
    sayAfterReload(`Written: ${counts(reply.counts)}`, `/tags?status=${shown}`);
  }));

  document.getElementById("undo")?.addEventListener("click", () => run("Undoing", async () => {
    const reply = await earmark.post("/api/tag-review/undo", {batch: lastBatch()});
    sessionStorage.removeItem("earmark.tagBatch");
    const restored = reply.results.filter((r) => r.status === "restored").length;
    // Restored files are planned again (marked undone); refused ones keep their reason.
    sayAfterReload(`Undone: ${restored} of ${reply.results.length} files restored`,
                   restored ? "/tags?status=planned" : undefined);
  }));

  section.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const row = button.closest("tr[data-track]");
    const action = button.dataset.action;
    const genres = action === "edit"
      ? row.querySelector("input.genres").value.split(";").map((g) => g.trim()).filter(Boolean)
      : [];
    run(action, async () => {
      const item = await earmark.post(
        `/api/tag-review/${review()}/items/${row.dataset.track}`, {action, genres});
      row.dataset.decision = item.decision;
      row.querySelector(".decision").textContent = item.decision;
      row.querySelector(".status").textContent = item.status;
      row.querySelector(".reason").textContent = item.reason || "";
      row.querySelector(".new").textContent = (item.new || []).join("; ");
      say(`${row.querySelector(".path").textContent}: ${item.decision}`);
    });
  });
})();
