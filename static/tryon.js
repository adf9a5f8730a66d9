// shoplens try-on tab: selfie -> catalog swatches -> rendered look with a before/after slider.
// The selfie stays in this page's memory and goes only to /api/v1/tryon for each render.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const i18n = window.shoplensI18n;
  const framing = window.shoplensShared["face-frame"];  // the view framed on the face(s)
  const GROUPS = ["lipstick", "lip_liner", "eyeshadow", "eyeliner", "blush", "foundation", "concealer", "brow"];
  const state = { selfie: null, products: new Map(), chosen: new Map(), pending: null, renderId: 0,
                  faces: [], frame: null, wholePhoto: false, lines: new Map() };  // lines: group -> its shades
  const SWIPE_PX = 40;

  function status(text, kind = "") {
    $("tryon-status").textContent = text;
    $("tryon-status").className = "status" + (kind ? " " + kind : "");
  }

  function price(product) {
    return i18n.price(product.price, product.currency);
  }

  async function loadSwatches() {
    let body;
    try {
      const response = await fetch("/api/v1/tryon/products");
      body = await response.json();
      if (!response.ok) throw new Error(body.error ? i18n.errorMessage(body.error) : i18n.t("tryon.shades_failed"));
    } catch (error) {
      status(error.message || i18n.t("tryon.shades_failed"), "error");
      return;
    }
    const container = $("swatches");
    container.replaceChildren();
    const types = [...GROUPS.filter((type) => type in body.groups),
                   ...Object.keys(body.groups).filter((type) => !GROUPS.includes(type))];
    for (const type of types) {
      const items = body.groups[type];
      const title = document.createElement("h2");
      title.textContent = GROUPS.includes(type) ? i18n.t(`group.${type}`) : type;
      const row = document.createElement("div");
      row.className = "swatch-row";
      for (const product of items) row.append(product.shades.length > 1 ? shadeLine(product) : swatch(product));
      container.append(title, row);
    }
  }

  function shadeName(product) {
    return Object.values(product.options || {}).join(" · ") || product.title.split("—").pop().trim();
  }

  // A line sold in shades: its name over a strip of its shades that the shopper swipes through.
  function shadeLine(line) {
    state.lines.set(line.group, line.shades);
    const box = document.createElement("div");
    box.className = "shade-line";
    box.dataset.group = line.group;
    const name = document.createElement("p");
    name.className = "line-name";
    name.textContent = `${line.title} · ${i18n.t("tryon.shade_count", { count: line.shades.length })}`;
    const strip = document.createElement("div");
    strip.className = "shade-strip";
    strip.setAttribute("role", "group");
    strip.setAttribute("aria-label", line.title);
    strip.append(...line.shades.map((shade) => swatch(shade)));
    box.append(name, strip);
    return box;
  }

  // The next (1) or previous (-1) shade of the line the product belongs to, tried on in its place.
  function stepShade(product, direction) {
    const shades = state.lines.get(product.group) || [];
    const index = shades.findIndex((shade) => shade.id === product.id);
    if (index < 0 || shades.length < 2) return;
    const next = shades[(index + direction + shades.length) % shades.length];
    toggle(next);
    document.querySelector(`.shade-strip .swatch[data-product-id="${CSS.escape(next.id)}"]`)
      ?.scrollIntoView({ block: "nearest", inline: "center" });
    status(i18n.t("tryon.now_trying", { shade: shadeName(next) }));
  }

  function onSwipe(target, handler) {
    let start = null;
    target.addEventListener("pointerdown", (event) => { start = event.clientX; });
    target.addEventListener("pointerup", (event) => {
      if (start !== null && Math.abs(event.clientX - start) >= SWIPE_PX) handler(event.clientX < start ? 1 : -1);
      start = null;
    });
    target.addEventListener("pointercancel", () => { start = null; });
  }

  function swatch(product, note = "") {
    state.products.set(product.id, product);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "swatch";
    button.dataset.productId = product.id;
    button.dataset.type = product.product_type;
    button.setAttribute("aria-pressed", String(state.chosen.get(product.product_type) === product.id));
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.style.background = product.shade_hex;
    const name = document.createElement("span");
    name.textContent = shadeName(product);
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = [product.finish && i18n.t(`finish.${product.finish}`), price(product)].filter(Boolean).join(" · ");
    button.append(chip, name, meta);
    if (note) {
      const distance = document.createElement("span");
      distance.className = "distance";
      distance.textContent = note;
      button.append(distance);
    }
    button.addEventListener("click", () => toggle(product));
    return button;
  }

  function closeness(deltaE, first) {
    const label = i18n.t(deltaE < 2 ? "tryon.near_identical" : deltaE < 5 ? "tryon.close" : "tryon.nearest");
    return i18n.t(first ? "tryon.closeness_first" : "tryon.closeness", { label, delta: i18n.number(deltaE, 1) });
  }

  async function postPhoto(url, file) {
    const form = new FormData();
    form.append("image", file);
    const response = await fetch(url, { method: "POST", body: form });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      throw new Error(body && body.error ? i18n.errorMessage(body.error) : i18n.t("network.failed", { status: response.status }));
    }
    return body;
  }

  async function analyzeSelfie(file) {
    $("your-shade").hidden = true;
    try {
      const body = await postPhoto("/api/v1/face/analyze", file);
      const face = body.faces[0];
      const skin = face.skin;
      $("skin-chip").style.background = skin.hex;
      $("skin-facts").textContent = i18n.t("tryon.skin_facts", {
        monk: skin.monk, undertone: i18n.t(`undertone.${skin.undertone}`), ita: Math.round(skin.ita),
        category: i18n.t(`ita.${skin.ita_category}`),
      });
      $("skin-caution").hidden = skin.confidence >= 0.5;
      const row = $("foundation-matches");
      row.replaceChildren(...face.recommendations.map((p, i) => swatch(p, closeness(p.delta_e, i === 0))));
      $("your-shade").hidden = false;
    } catch (error) {
      // The try-on itself reports problems with the photo; the shade panel just stays hidden.
    }
  }

  async function findLipstick(input) {
    const file = input.files && input.files[0];
    input.value = "";
    if (!file) return;
    $("lip-result").hidden = true;
    $("lip-status").textContent = i18n.t("tryon.reading_lip");
    $("lip-status").className = "status loading";
    try {
      const body = await postPhoto("/api/v1/shades/match?k=3", file);
      $("lip-chip").style.background = body.lip_color;
      $("lip-hex").textContent = body.lip_color;
      $("lip-matches").replaceChildren(...body.matches.map((p, i) => swatch(p, closeness(p.delta_e, i === 0))));
      $("lip-result").hidden = false;
      $("lip-status").textContent = i18n.t("tryon.tap_shade");
      $("lip-status").className = "status";
    } catch (error) {
      $("lip-status").textContent = error.message;
      $("lip-status").className = "status error";
    }
  }

  // One shade per product type, like a real face: picking another lipstick replaces the first.
  function toggle(product) {
    if (state.chosen.get(product.product_type) === product.id) state.chosen.delete(product.product_type);
    else {
      state.chosen.set(product.product_type, product.id);
      document.dispatchEvent(new CustomEvent("shoplens:interaction", { detail: { product, kind: "tried" } }));
    }
    for (const button of document.querySelectorAll(".swatch")) {
      button.setAttribute("aria-pressed", String(state.chosen.get(button.dataset.type) === button.dataset.productId));
    }
    renderApplied();
    scheduleRender();
  }

  // The look as the live (camera) renderer takes it; it listens, since it draws every frame on the device.
  function announceLook() {
    const intensity = Number($("intensity").value) / 100;
    const layers = [...state.chosen.values()].map((id) => state.products.get(id)).map((product) => ({
      product_id: product.id, product_type: product.product_type, shade_hex: product.shade_hex,
      finish: product.finish, intensity, title: product.title }));
    document.dispatchEvent(new CustomEvent("shoplens:look", { detail: { layers } }));
  }

  function renderApplied() {
    const list = $("applied-list");
    list.replaceChildren();
    for (const id of state.chosen.values()) {
      const product = state.products.get(id);
      const item = document.createElement("li");
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.style.background = product.shade_hex;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = `${product.title} ${product.group ? shadeName(product) + " " : ""}${price(product)}`;
      item.append(chip, name);
      if ((state.lines.get(product.group) || []).length > 1) {  // swipe or step through the line's shades
        item.classList.add("line");
        const previous = stepButton("‹", "tryon.previous_shade", () => stepShade(product, -1));
        const next = stepButton("›", "tryon.next_shade", () => stepShade(product, 1));
        item.insertBefore(previous, chip);
        item.append(next);
        onSwipe(item, (direction) => stepShade(product, direction));
      }
      if (product.url) {
        const buy = document.createElement("a");
        buy.className = "button primary buy";
        buy.href = product.url;
        buy.rel = "noopener";
        buy.textContent = i18n.t("card.buy");
        item.append(buy);
      }
      list.append(item);
    }
    $("applied").hidden = state.chosen.size === 0;
  }

  function stepButton(text, label, action) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button step";
    button.textContent = text;
    button.setAttribute("aria-label", i18n.t(label));
    button.addEventListener("click", action);
    return button;
  }

  function scheduleRender() {
    announceLook();
    if (document.body.dataset.tryonMode === "live") return;  // drawn on the device: no upload, no wait
    clearTimeout(state.pending);
    state.pending = setTimeout(render, 200);
  }

  async function render() {
    if (!state.selfie) {
      if (state.chosen.size) status(i18n.t("tryon.need_selfie"));
      return;
    }
    if (state.chosen.size === 0) {
      $("after-img").src = $("before-img").src;
      status(i18n.t("tryon.tap_shade"));
      return;
    }
    const intensity = Number($("intensity").value) / 100;
    const looks = [...state.chosen.values()].map((id) => ({ product_id: id, intensity }));
    const form = new FormData();
    form.append("image", state.selfie);
    form.append("looks", JSON.stringify(looks));
    const renderId = ++state.renderId;
    status(i18n.t("tryon.applying"), "loading");
    try {
      const response = await fetch("/api/v1/tryon", { method: "POST", body: form });
      if (!response.ok) {
        const body = await response.json().catch(() => null);
        throw new Error(body && body.error ? i18n.errorMessage(body.error) : i18n.t("tryon.failed", { status: response.status }));
      }
      const blob = await response.blob();
      if (renderId !== state.renderId) return;  // a newer render is on its way
      state.faces = framing.parseBoxes(response.headers.get("X-Face-Boxes"));
      const after = $("after-img");
      after.addEventListener("load", () => frameFaces(after), { once: true });
      if (after.dataset.url) URL.revokeObjectURL(after.dataset.url);
      after.dataset.url = URL.createObjectURL(blob);
      after.src = after.dataset.url;
      status(i18n.t("tryon.compare"));
    } catch (error) {
      if (renderId === state.renderId) status(error.message || i18n.t("tryon.network"), "error");
    }
  }

  function pickSelfie(input) {
    const file = input.files && input.files[0];
    input.value = "";
    if (!file) return;
    state.selfie = file;
    Object.assign(state, { faces: [], frame: null, wholePhoto: false });
    $("frame-toggle").hidden = true;
    applyFrame();
    const before = $("before-img");
    if (before.dataset.url) URL.revokeObjectURL(before.dataset.url);
    before.dataset.url = URL.createObjectURL(file);
    before.src = before.dataset.url;
    $("after-img").src = before.dataset.url;
    $("compare").hidden = false;
    render();
    analyzeSelfie(file);
  }

  function frameFaces(image) {
    const width = image.naturalWidth, height = image.naturalHeight;
    state.frame = framing.faceFrame(state.faces || [], width, height);
    $("frame-toggle").hidden = !state.frame;
    applyFrame();
  }

  function applyFrame() {
    const stage = $("compare-stage");
    const shown = state.wholePhoto ? null : state.frame;
    stage.classList.toggle("framed", Boolean(shown));
    const after = $("after-img");
    const layout = framing.frameLayout(shown, after.naturalWidth, after.naturalHeight);
    stage.style.aspectRatio = layout.stage;
    for (const image of [$("before-img"), after]) Object.assign(image.style, layout.picture);
    $("frame-toggle").textContent = i18n.t(state.wholePhoto ? "tryon.zoom_face" : "tryon.whole_photo");
    setCompare($("compare-slider").value);
  }

  // The split line is where the slider says on the visible frame, which is part of the picture when zoomed.
  function setCompare(value) {
    const inset = framing.splitInset(state.wholePhoto ? null : state.frame, value);
    $("after-img").style.clipPath = `inset(0 0 0 ${inset}%)`;
    $("compare-handle").style.left = `${value}%`;
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("selfie-camera").addEventListener("change", (event) => pickSelfie(event.target));
    $("selfie-file").addEventListener("change", (event) => pickSelfie(event.target));
    $("lip-photo").addEventListener("change", (event) => findLipstick(event.target));
    $("compare-slider").addEventListener("input", (event) => setCompare(event.target.value));
    $("frame-toggle").addEventListener("click", () => {
      state.wholePhoto = !state.wholePhoto;
      applyFrame();
    });
    $("intensity").addEventListener("input", (event) => {
      $("intensity-value").textContent = `${event.target.value}%`;
      scheduleRender();
    });
    document.addEventListener("shoplens:tryon-mode", (event) => {  // back from Live: the photo shows today's look
      if (event.detail.mode === "photo" && state.selfie) scheduleRender();
    });
    $("tab-tryon").addEventListener("click", () => { if (!state.products.size) loadSwatches(); }, { once: true });
    setCompare(50);
  });
})();
