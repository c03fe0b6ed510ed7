// alflow label: the keyboard. d defect, g good, s unsure (each moves on), arrows move, u/Backspace undo,
// Enter submits the batch, c toggles GradCAM, p the prediction. Every label is a POST the server has
// committed before it answers; the card's badge changes only then.
(function () {
  "use strict";
  const params = new URLSearchParams(location.search);
  let tab = sessionStorage.getItem("alflowTab");
  if (!tab) {
    tab = (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2)).replace(/[^A-Za-z0-9-]/g, "");
    sessionStorage.setItem("alflowTab", tab);
  }
  if (params.get("tab") !== tab) {
    params.set("tab", tab);
    location.replace(location.pathname + "?" + params.toString());
    return;
  }
  const body = document.body;
  if (body.dataset.showPrediction === "0") body.classList.add("hide-prediction");
  const cards = Array.from(document.querySelectorAll(".card"));
  const message = document.getElementById("message");
  const pageRound = body.dataset.round;
  let current = Math.max(0, cards.findIndex((c) => c.dataset.open === "1" && !c.dataset.label));
  let shownAt = performance.now();
  const undoStack = [];
  let queue = Promise.resolve();
  let submitted = false;

  function say(text, bad) {
    message.textContent = text;
    message.className = bad ? "bad" : "";
  }
  function select(i) {
    if (!cards.length) return;
    current = Math.min(Math.max(i, 0), cards.length - 1);
    cards.forEach((c, k) => c.classList.toggle("current", k === current));
    cards[current].scrollIntoView({ block: "nearest" });
    shownAt = performance.now();
  }
  async function post(url, data) {
    const response = await fetch(url, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data),
    });
    const json = await response.json().catch(() => ({ detail: response.statusText }));
    if (!response.ok) throw new Error(json.detail || response.statusText);
    return json;
  }
  function show(card, label, version) {
    card.dataset.label = label || "";
    card.dataset.version = String(version);
    card.querySelector(".badge").textContent = label || "–";
  }
  function label(value) {
    const card = cards[current];
    if (!card) return;
    const seconds = (performance.now() - shownAt) / 1000;
    queue = queue.then(async () => {
      try {
        const r = await post("/api/label", {
          image_id: Number(card.dataset.id), label: value, version: Number(card.dataset.version), tab: tab,
          seconds: Math.min(seconds, 86400),
        });
        show(card, r.label, r.version);
        undoStack.push(card);
        say("saved " + card.querySelector(".path").textContent + ": " + value);
      } catch (e) {
        say(e.message, true);
      }
    });
    select(current + 1);
  }
  function undo() {
    const card = undoStack.pop();
    if (!card) return say("nothing to undo", true);
    queue = queue.then(async () => {
      try {
        const r = await post("/api/undo", { image_id: Number(card.dataset.id), version: Number(card.dataset.version), tab: tab });
        show(card, r.label, r.version);
        say("undone: " + card.querySelector(".path").textContent + " is " + (r.label || "unlabeled") + " again");
      } catch (e) {
        say(e.message, true);
      }
    });
    select(cards.indexOf(card));
  }
  function submit() {
    const open = cards.filter((c) => c.dataset.open === "1");
    if (!open.length || submitted) return;
    queue = queue.then(async () => {
      const missing = open.filter((c) => !c.dataset.label).length;
      if (missing) return say(missing + " image(s) have no label yet: d defect, g good, s unsure", true);
      try {
        const r = await post("/api/submit", { round: Number(pageRound), tab: tab, image_ids: open.map((c) => Number(c.dataset.id)) });
        submitted = true;
        say(r.complete ? "Batch submitted: the model is learning; the next batch appears here." :
          "Submitted; waiting for the rest of this batch (open in another tab).");
        const button = document.getElementById("submit");
        if (button) button.disabled = true;
      } catch (e) {
        say(e.message, true);
      }
    });
  }
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    const actions = {
      d: () => label("defect"), g: () => label("good"), s: () => label("unsure"),
      ArrowRight: () => select(current + 1), ArrowDown: () => select(current + 1),
      ArrowLeft: () => select(current - 1), ArrowUp: () => select(current - 1),
      u: undo, Backspace: undo, Enter: submit,
      c: () => body.classList.toggle("show-cam"), p: () => body.classList.toggle("hide-prediction"),
    };
    const action = actions[key];
    if (action) {
      event.preventDefault();
      action();
    }
  });
  cards.forEach((c, k) => c.addEventListener("click", () => select(k)));
  const button = document.getElementById("submit");
  if (button) button.addEventListener("click", submit);
  select(current);

  async function poll() {
    try {
      const s = await (await fetch("/api/status")).json();
      document.getElementById("phase").textContent = s.phase + (s.phase.startsWith("training") || s.phase.startsWith("scoring")
        ? " (" + Math.round(s.phase_seconds) + " s" + (s.last_round_seconds ? ", last round took " + s.last_round_seconds + " s" : "") + ")" : "");
      const fields = { "n-labeled": s.labeled, "n-defects": s.defects, left: s.expected_defects_left,
        auroc: s.audit_auroc, rate: s.labels_per_hour, rounds: s.rounds };
      for (const [id, value] of Object.entries(fields)) {
        const element = document.getElementById(id);
        if (element) element.textContent = value === null ? "n/a" : String(value);
      }
      const openHere = cards.some((c) => c.dataset.open === "1");
      const next = s.open_round === null ? "" : String(s.open_round);
      if ((!openHere || submitted) && next !== "" && next !== pageRound) location.reload();
    } catch (e) {
      document.getElementById("phase").textContent = "server not answering: " + e.message;
    }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 1000);
})();
