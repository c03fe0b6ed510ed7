// alflow label: a close look. Space or z (or a click on the selected card) opens the selected image large,
// at the file's own resolution up to the screen; the wheel or +/- zoom, a drag pans, 0 fits it again.
// Brightness and contrast (and the GradCAM opacity) persist in this browser (localStorage). d/g/s still
// label and move on, and the large view follows the selection; Space, z or Escape close it.
(function () {
  "use strict";
  const page = window.alflow;
  if (!page) return;
  const body = document.body;
  const large = document.getElementById("large");
  const img = document.getElementById("large-img");
  const cam = document.getElementById("large-cam");
  const frame = document.getElementById("large-frame");
  const stage = document.getElementById("large-stage");
  const zoomText = document.getElementById("large-zoom");
  const sizeText = document.getElementById("large-size");
  const nameText = document.getElementById("large-name");
  const sliders = { brightness: document.getElementById("brightness"), contrast: document.getElementById("contrast") };
  const opacity = document.getElementById("cam-opacity");
  const LOOK = "alflowLook";
  let look = { brightness: 1, contrast: 1, camOpacity: 1 };
  try { look = Object.assign(look, JSON.parse(localStorage.getItem(LOOK) || "{}")); } catch (e) { /* a fresh look */ }
  let zoom = 1, fit = 1, panX = 0, panY = 0, openedAt = 0;

  function apply() {
    img.style.filter = "brightness(" + look.brightness + ") contrast(" + look.contrast + ")";
    sliders.brightness.value = look.brightness;
    sliders.contrast.value = look.contrast;
    opacity.value = look.camOpacity;
    body.style.setProperty("--cam-opacity", String(look.camOpacity));
    localStorage.setItem(LOOK, JSON.stringify(look));
  }
  function place() {
    const w = img.naturalWidth * zoom, h = img.naturalHeight * zoom;
    frame.style.width = w + "px";
    frame.style.height = h + "px";
    img.style.width = w + "px";
    img.style.height = h + "px";
    img.style.imageRendering = zoom > 1 ? "pixelated" : "auto";
    frame.style.transform = "translate(" + (-w / 2 + panX) + "px," + (-h / 2 + panY) + "px)";
    zoomText.textContent = Math.round(zoom * 100) + " %";
  }
  function fitToScreen() {
    if (!img.naturalWidth) return;
    const r = stage.getBoundingClientRect();
    fit = Math.min(1, r.width / img.naturalWidth, r.height / img.naturalHeight); // own pixels, up to the screen
    zoom = fit;
    panX = panY = 0;
    place();
  }
  function setZoom(z) {
    zoom = Math.min(Math.max(z, 0.05), 32);
    place();
  }
  function show(card) {
    if (!card) return;
    const id = card.dataset.id;
    nameText.textContent = card.dataset.path + " (" + (card.dataset.label || "unlabeled") + ")";
    sizeText.textContent = "";
    openedAt = performance.now();
    const camImg = card.querySelector(".cam");
    cam.classList.toggle("has", !!camImg);
    if (camImg) cam.src = camImg.src; else cam.removeAttribute("src");
    img.src = "/full/" + id;
  }
  img.addEventListener("load", () => {
    window.alflowLargeMs = Math.round(performance.now() - openedAt);
    sizeText.textContent = img.naturalWidth + " × " + img.naturalHeight + " px (the file's own pixels)";
    fitToScreen();
  });
  function open() {
    const card = page.current();
    if (!card) return page.refuse("no image selected to look at");
    large.hidden = false;
    body.classList.add("large-open");
    show(card);
  }
  function close() {
    large.hidden = true;
    body.classList.remove("large-open");
  }
  window.alflowLarge = { open, close, zoom: () => zoom, fit: () => fit };
  page.actions[" "] = open;
  page.actions.z = open;
  document.addEventListener("alflow-select", (e) => { if (!large.hidden) show(e.detail); });
  const observer = new MutationObserver(() => {
    const card = page.current();
    if (!large.hidden && card) nameText.textContent = card.dataset.path + " (" + (card.dataset.label || "unlabeled") + ")";
  });
  page.cards.forEach((c) => observer.observe(c, { attributes: true, attributeFilter: ["data-label"] }));
  window.alflowOverlay = function (event) {
    if (large.hidden) return false;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const own = {
      Escape: close, " ": close, z: close, "+": () => setZoom(zoom * 1.25), "=": () => setZoom(zoom * 1.25),
      "-": () => setZoom(zoom / 1.25), "0": fitToScreen, "1": () => setZoom(1),
    };
    if (!own[key]) return false; // d/g/s, arrows, u, Enter, c: the page's keys
    event.preventDefault();
    own[key]();
    return true;
  };
  stage.addEventListener("wheel", (e) => {
    e.preventDefault();
    setZoom(zoom * (e.deltaY < 0 ? 1.15 : 1 / 1.15));
  }, { passive: false });
  let drag = null;
  stage.addEventListener("mousedown", (e) => { drag = { x: e.clientX - panX, y: e.clientY - panY }; });
  window.addEventListener("mouseup", () => { drag = null; });
  window.addEventListener("mousemove", (e) => {
    if (!drag) return;
    panX = e.clientX - drag.x;
    panY = e.clientY - drag.y;
    place();
  });
  window.addEventListener("resize", () => { if (!large.hidden) fitToScreen(); });
  for (const [key, slider] of Object.entries(sliders)) {
    slider.addEventListener("input", () => { look[key] = Number(slider.value); apply(); });
    slider.addEventListener("change", () => slider.blur()); // the keys go back to the page
  }
  opacity.addEventListener("input", () => { look.camOpacity = Number(opacity.value); apply(); });
  opacity.addEventListener("change", () => opacity.blur());
  document.getElementById("look-reset").addEventListener("click", () => {
    look.brightness = 1;
    look.contrast = 1;
    apply();
  });
  page.cards.forEach((c) => c.querySelector(".frame").addEventListener("click", (e) => {
    if (page.current() === c && c.classList.contains("current") && e.detail === 1 && c.dataset.wasCurrent === "1") open();
  }));
  page.cards.forEach((c) => c.addEventListener("mousedown", () => { c.dataset.wasCurrent = page.current() === c ? "1" : "0"; }));
  apply();
})();
