// alflow label: the keyboard. d defect, g good, s unsure (each moves on), arrows move, u/Backspace undo,
// Enter submits the batch, Space or z the large view, c toggles GradCAM, p the prediction. Every label is a
// POST the server has committed before it answers; the card's badge changes only then.
//
// Keys never surprise: every key runs in order, one at a time; the selection moves only after the server
// has answered, never leaves the open batch (earlier labels are reviewed by clicking them, and a
// correction is confirmed by pressing its key again); a refused key moves nothing, says why in the
// header, and drops the keys typed after it. Caps Lock does not matter (D = d); a key that does nothing
// says so.
(function () {
  "use strict";
  const params = new URLSearchParams(location.search);
  // Who claims images: this tab. BROWSER_TAB, the browser's id kept across reloads and reopening
  // (localStorage) and this tab's own (sessionStorage: a reload keeps it, another tab gets its own), so two
  // tabs of one browser share a batch; a closing page gives its claim back (pagehide), and a reopened browser
  // takes the images its closed tabs held at once (the server knows them by the browser's id).
  const newId = () => (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2) + String(Date.now()))
    .replace(/[^A-Za-z0-9-]/g, "");
  let browserId = localStorage.getItem("alflowBrowser");
  if (!browserId || !/^[A-Za-z0-9-]{1,40}$/.test(browserId)) {
    browserId = newId().slice(0, 36);
    localStorage.setItem("alflowBrowser", browserId);
  }
  let tabId = sessionStorage.getItem("alflowTab");
  if (!tabId) {
    tabId = newId().slice(0, 12);
    sessionStorage.setItem("alflowTab", tabId);
  }
  const tab = browserId + "_" + tabId;
  if (params.get("tab") !== tab) {
    params.set("tab", tab);
    location.replace(location.pathname + "?" + params.toString());
    return;
  }
  if ("scrollRestoration" in history) history.scrollRestoration = "manual";
  const body = document.body;
  if (body.dataset.showPrediction === "0") body.classList.add("hide-prediction");
  const cards = Array.from(document.querySelectorAll(".card"));
  const openCards = cards.filter((c) => c.dataset.open === "1");
  const message = document.getElementById("message");
  const keynote = document.getElementById("keynote");
  const counter = document.getElementById("counter");
  const pageRound = body.dataset.round;
  let current = openCards.find((c) => !c.dataset.label) || openCards[openCards.length - 1] || null;
  let shownAt = performance.now();
  const undoStack = [];
  let queue = Promise.resolve();
  let epoch = 0; // a refused key raises it: the keys queued behind it are dropped
  let submitted = false;
  let confirmation = "";
  let pending = null; // a correction of an earlier label waiting for its key again: {card, value}
  // Who labels: asked once, kept in this browser (localStorage), sent with every label and undo.
  let inspector = (localStorage.getItem("alflowInspector") || "").trim();
  const who = document.getElementById("who");
  const whoName = document.getElementById("who-name");
  const whoIs = document.getElementById("who-is");
  const whoChange = document.getElementById("who-change");

  const name = (card) => card.dataset.path;
  const isOpen = (card) => card.dataset.open === "1";
  function say(text, bad) {
    message.textContent = text;
    message.className = bad ? "bad" : "";
    keynote.textContent = "";
  }
  function refuse(text) {
    epoch += 1;
    say(text, true);
  }
  function showName() {
    whoIs.textContent = inspector ? "Inspector: " + inspector : "";
    whoChange.hidden = !inspector;
  }
  function askName() {
    who.hidden = false;
    whoName.value = inspector;
    whoName.focus();
  }
  function needName() { // a label needs a name: the form asks for it, nothing is sent
    if (inspector) return false;
    askName();
    refuse("type your name in the yellow field first (Enter): it is recorded with each label");
    return true;
  }
  who.addEventListener("submit", (event) => {
    event.preventDefault();
    const typed = whoName.value.replace(/[\x00-\x1f\x7f]/g, "").trim().slice(0, 80);
    if (!typed) return;
    inspector = typed;
    localStorage.setItem("alflowInspector", inspector);
    who.hidden = true;
    whoName.blur();
    showName();
    say("labels from this browser are recorded as " + inspector);
  });
  whoChange.addEventListener("click", askName);
  function count() {
    if (!counter) return;
    if (!openCards.length) {
      counter.textContent = "";
      return;
    }
    const done = openCards.filter((c) => c.dataset.label).length;
    const elsewhere = Number(body.dataset.elsewhere || 0);
    counter.textContent = done + " of " + openCards.length + " labeled in this batch" +
      (elsewhere ? " (" + elsewhere + " more open elsewhere)" : "");
  }
  function select(card, where) {
    if (!card) return;
    current = card;
    cards.forEach((c) => c.classList.toggle("current", c === card));
    card.scrollIntoView({ block: where || "nearest" });
    shownAt = performance.now();
    document.dispatchEvent(new CustomEvent("alflow-select", { detail: card }));
  }
  function group(card) {
    return card && !isOpen(card) ? cards.filter((c) => !isOpen(c)) : openCards;
  }
  function move(step) {
    if (!current) return refuse("no image on this page yet");
    const list = group(current);
    const i = list.indexOf(current) + step;
    if (i < 0) return say(isOpen(current) ? "this is the first image of the batch" : "this is the first earlier label");
    if (i >= list.length) {
      return say(isOpen(current) ? "this is the last image of the batch: Enter submits it (earlier labels are reviewed by clicking them)"
        : "this is the last earlier label");
    }
    select(list[i]);
  }
  class Offline extends Error {}
  async function post(url, data) {
    let response;
    try {
      response = await fetch(url, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data),
      });
    } catch (e) {
      throw new Offline("the server is not answering: nothing was saved; press the key again when it is back");
    }
    const json = await response.json().catch(() => ({ detail: response.statusText }));
    if (!response.ok) throw new Error(json.detail || response.statusText);
    return json;
  }
  function show(card, label, version) {
    card.dataset.label = label || "";
    card.dataset.version = String(version);
    card.querySelector(".badge").textContent = label || "–";
    count();
  }
  function run(action) { // every key in order, one at a time; a refusal drops the ones queued behind it
    const mine = epoch;
    queue = queue.then(() => (mine === epoch ? action() : undefined)).catch((e) => refuse(e.message));
  }
  async function label(value) {
    const card = current;
    if (!card) return refuse("no image on this page to label");
    if (!isOpen(card)) return correct(card, value);
    if (submitted) return refuse("this batch is submitted: the next one appears here");
    if (needName()) return;
    const seconds = (performance.now() - shownAt) / 1000;
    try {
      const r = await post("/api/label", {
        image_id: Number(card.dataset.id), label: value, version: Number(card.dataset.version), tab: tab,
        seconds: Math.min(seconds, 86400), inspector: inspector,
      });
      show(card, r.label, r.version);
      undoStack.push(card);
      const i = openCards.indexOf(card);
      if (i < openCards.length - 1) {
        say("saved " + name(card) + ": " + value);
        select(openCards[i + 1]);
      } else {
        const missing = openCards.filter((c) => !c.dataset.label).length;
        say("saved " + name(card) + ": " + value + ". That was the last image of the batch: " +
          (missing ? missing + " image(s) above have no label yet" : "Enter submits it"));
      }
    } catch (e) {
      refuse(name(card) + " was not saved: " + e.message);
    }
  }
  async function correct(card, value) {
    const old = card.dataset.label;
    if (value !== "defect" && value !== "good") {
      pending = null;
      return refuse(name(card) + " was submitted as " + (old || "unlabeled") + ": a correction must be defect (d) or good (g)");
    }
    if (old === value) {
      pending = null;
      return say(name(card) + " is already " + value + ": nothing changed");
    }
    if (!pending || pending.card !== card || pending.value !== value) {
      pending = { card, value };
      say("Correct " + name(card) + " from " + (old || "unlabeled") + " to " + value + "? Press " + value[0] +
        " again to confirm; any other key cancels.");
      message.className = "ask";
      return;
    }
    pending = null;
    if (needName()) return;
    try {
      const r = await post("/api/label", {
        image_id: Number(card.dataset.id), label: value, version: Number(card.dataset.version), tab: tab, seconds: 0,
        inspector: inspector,
      });
      show(card, r.label, r.version);
      undoStack.push(card);
      say("corrected " + name(card) + ": " + old + " → " + value + " (the model learns it from the next round)");
    } catch (e) {
      refuse(name(card) + " was not corrected: " + e.message);
    }
  }
  async function undo() {
    const card = undoStack.pop();
    if (!card) return refuse("nothing to undo on this page");
    try {
      const r = await post("/api/undo", { image_id: Number(card.dataset.id), version: Number(card.dataset.version),
        tab: tab, inspector: inspector || undefined });
      show(card, r.label, r.version);
      say("undone: " + name(card) + " is " + (r.label || "unlabeled") + " again");
      select(card);
    } catch (e) {
      undoStack.push(card);
      refuse("could not undo " + name(card) + ": " + e.message);
    }
  }
  async function submit() {
    if (submitted) return say(confirmation); // a second Enter keeps the confirmation
    if (!openCards.length) return refuse("nothing to submit on this page");
    const missing = openCards.filter((c) => !c.dataset.label);
    if (missing.length) {
      select(missing[0], "center");
      return refuse(missing.length + " image(s) have no label yet (" + name(missing[0]) +
        (missing.length > 1 ? ", …" : "") + "): d defect, g good, s unsure");
    }
    try {
      const r = await post("/api/submit", { round: Number(pageRound), tab: tab, image_ids: openCards.map((c) => Number(c.dataset.id)) });
      submitted = true;
      confirmation = r.complete ? "Batch submitted: the model is learning; the next batch appears here." :
        "Submitted; waiting for the rest of this batch (open in another tab or browser).";
      say(confirmation);
      message.className = "good";
      const button = document.getElementById("submit");
      if (button) button.disabled = true;
    } catch (e) {
      refuse("the batch was not submitted: " + e.message);
    }
  }
  // The cards' size: the slider in the header or + / -, kept in this browser (localStorage).
  const sizer = document.getElementById("card-size");
  function cardSize(px, tell) {
    const lo = Number(sizer ? sizer.min : 120), hi = Number(sizer ? sizer.max : 480);
    px = Math.max(lo, Math.min(hi, Math.round(Number(px) / 20) * 20 || 180));
    document.documentElement.style.setProperty("--card", px + "px");
    if (sizer) sizer.value = String(px);
    const shown = document.getElementById("card-size-px");
    if (shown) shown.textContent = px + " px";
    localStorage.setItem("alflowCardSize", String(px));
    if (tell) say("cards are " + px + " px wide at least (+ / - or the slider)");
    if (current) current.scrollIntoView({ block: "nearest" });
  }
  cardSize(localStorage.getItem("alflowCardSize") || 180, false);
  if (sizer) sizer.addEventListener("input", () => cardSize(sizer.value, false));
  const actions = {
    "+": () => cardSize(Number(sizer.value) + 20, true), "=": () => cardSize(Number(sizer.value) + 20, true),
    "-": () => cardSize(Number(sizer.value) - 20, true),
    d: () => run(() => label("defect")), g: () => run(() => label("good")), s: () => run(() => label("unsure")),
    ArrowRight: () => run(() => move(1)), ArrowDown: () => run(() => move(1)),
    ArrowLeft: () => run(() => move(-1)), ArrowUp: () => run(() => move(-1)),
    u: () => run(undo), Backspace: () => run(undo), Enter: () => run(submit),
    c: () => body.classList.toggle("show-cam"), p: () => body.classList.toggle("hide-prediction"),
  };
  const quiet = new Set(["Shift", "Control", "Alt", "Meta", "CapsLock", "Tab", "Escape", "NumLock", "Dead",
    "PageUp", "PageDown", "Home", "End", "F5", "F11", "F12"]);
  window.alflow = { actions, quiet, say, refuse, run, current: () => current, select, cards };
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target && ["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName)) return;
    if (window.alflowOverlay && window.alflowOverlay(event)) return; // the large view's own keys
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key; // Caps Lock: D = d
    const action = actions[key];
    if (pending && !(key === pending.value[0])) {
      pending = null;
      say("correction cancelled: nothing changed");
    }
    if (action) {
      event.preventDefault();
      keynote.textContent = "";
      action();
    } else if (!quiet.has(key)) {
      const shown = key === " " ? "Space" : key;
      keynote.textContent = "“" + shown + "” does nothing here. Keys: d defect · g good · s unsure · ←/→ move · " +
        "u undo · Enter submit · Space/z large view · c GradCAM · p prediction · +/- card size";
    }
  });
  cards.forEach((c) => c.addEventListener("click", () => {
    pending = null;
    select(c);
    if (!isOpen(c)) say("reviewing " + name(c) + " (" + (c.dataset.label || "unlabeled") + "): d or g corrects it, asking you to confirm");
  }));
  const button = document.getElementById("submit");
  if (button) button.addEventListener("click", () => run(submit));
  count();
  showName();
  if (current) requestAnimationFrame(() => select(current, "center"));
  if (!inspector && openCards.length) askName();

  // The server's state: the header's phase, the panel's numbers, the next batch; a banner when it is away.
  const offline = document.getElementById("offline");
  let awaySince = null;
  let backTimer = null;
  function away(e) {
    if (awaySince === null) awaySince = new Date();
    offline.hidden = false;
    offline.className = "away";
    offline.textContent = "The server is not answering (since " + awaySince.toLocaleTimeString() + "): every label " +
      "acknowledged so far is stored. Keep this page open; it reconnects by itself.";
  }
  function back() {
    if (awaySince === null) return;
    const seconds = Math.round((Date.now() - awaySince.getTime()) / 1000);
    awaySince = null;
    offline.hidden = false;
    offline.className = "back";
    offline.textContent = "The server is back (it was away for " + seconds + " s): carry on.";
    clearTimeout(backTimer);
    backTimer = setTimeout(() => { offline.hidden = true; }, 8000);
  }
  window.alflowPoll = null; // hook: the page's other parts follow the status
  window.addEventListener("pagehide", () => {
    if (openCards.length && !submitted) {
      navigator.sendBeacon("/api/release", new Blob([JSON.stringify({ tab: tab })], { type: "application/json" }));
    }
  });
  function drop(taken) { // another tab took these unlabeled images (it had none left): they leave this page
    const gone = openCards.filter((c) => taken.includes(Number(c.dataset.id)));
    if (!gone.length || submitted) return;
    for (const card of gone) {
      openCards.splice(openCards.indexOf(card), 1);
      cards.splice(cards.indexOf(card), 1);
      card.remove();
    }
    body.dataset.elsewhere = String(Number(body.dataset.elsewhere || 0) + gone.length);
    count();
    if (!openCards.includes(current)) select(openCards.find((c) => !c.dataset.label) || openCards[openCards.length - 1]);
    say(gone.length + " image(s) of this batch went to another tab: label the rest here");
  }
  async function poll() {
    try {
      const ids = openCards.map((c) => c.dataset.id).join(",");
      const response = await fetch("/api/status?tab=" + tab + "&ids=" + ids, { cache: "no-store" });
      if (!response.ok) throw new Error(response.statusText);
      const s = await response.json();
      back();
      document.getElementById("phase").textContent = s.phase + (s.phase.startsWith("training") || s.phase.startsWith("scoring")
        ? " (" + Math.round(s.phase_seconds) + " s" + (s.last_round_seconds ? ", last round took " + s.last_round_seconds + " s" : "") + ")" : "");
      const fields = { "n-labeled": s.labeled, "n-defects": s.defects, left: s.defects_left_words,
        auroc: s.audit_auroc, rate: s.labels_per_hour, rounds: s.rounds };
      for (const [id, value] of Object.entries(fields)) {
        const element = document.getElementById(id);
        if (element && value !== undefined) element.textContent = value === null ? "n/a" : String(value);
      }
      const stop = document.getElementById("may-stop");
      if (stop && s.may_stop) {
        stop.className = "may-stop " + s.may_stop.answer.replace(/ /g, "-");
        document.getElementById("stop-line").textContent = s.may_stop.line;
      }
      if (window.alflowPoll) window.alflowPoll(s);
      for (const card of openCards) { // a label written elsewhere (an import) shows at once
        const [lab, version] = (s.labels || {})[card.dataset.id] || [null, null];
        if (version !== null && version > Number(card.dataset.version)) show(card, lab, version);
      }
      drop(s.taken || []);
      const openHere = openCards.length > 0;
      const next = s.open_round === null ? "" : String(s.open_round);
      if ((!openHere || submitted) && next !== "" && next !== pageRound) location.reload();
      // images another page held are free again (it was closed, its claim ended): take them
      // a closed tab of this browser held images of this batch (the browser was closed and reopened): take them
      if (!submitted && next !== "" && next === pageRound && s.orphaned > 0) location.reload();
      // or this page finished its part while another still holds unlabeled ones: take half of those
      if ((!openHere || submitted) && next !== "" && next === pageRound && (s.free > 0 || s.shareable > 1)) {
        location.reload();
      }
    } catch (e) {
      away(e);
    }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 1000);
})();
