// shoplens shopper page: photo / text / mixed search with an optional crop, results grid, "more like this".
// Plain JS with no dependencies, so the page works offline and under a strict Content-Security-Policy.
"use strict";

const $ = (id) => document.getElementById(id);
const i18n = window.shoplensI18n;

const state = { file: null, crop: null, naturalSize: null, look: null };

function setStatus(text, kind = "") {
  const status = $("status");
  status.textContent = text;
  status.className = "status" + (kind ? " " + kind : "");
}


function filterParams() {
  const params = new URLSearchParams();
  const add = (name, value) => { if (value !== "" && value !== null) params.set(name, value); };
  add("category", $("f-category").value.trim());
  add("brand", $("f-brand").value.trim());
  add("min_price", $("f-min").value);
  add("max_price", $("f-max").value);
  if ($("f-stock").checked) params.set("in_stock", "true");
  return params;
}

async function callApi(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (_) {
    throw new Error(i18n.t("network.problem"));
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body && body.error ? i18n.errorMessage(body.error) : i18n.t("network.failed", { status: response.status });
    throw new Error(message);
  }
  return body;
}

// A product the shopper acted on, for the "For you" row (foryou.js keeps it in this browser only).
function announce(product, kind) {
  document.dispatchEvent(new CustomEvent("shoplens:interaction", { detail: { product, kind } }));
}

function element(tag, className, text = "") {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text;
  return node;
}

function productCard(product, { note = "", extraActions = [] } = {}) {
  const item = element("li", "card");
  item.dataset.productId = product.id;
  const image = document.createElement("img");
  // the photo that matched (on-model, detail...) when the search says which; the packshot otherwise
  const photo = product.matched_image_url || product.image_url;
  image.src = photo + (photo.includes("?") ? "&" : "?") + "size=384";
  image.alt = product.title;
  image.loading = "lazy";
  const body = element("div", "body");
  body.append(element("p", "title", product.title),
              element("span", "price", i18n.price(product.price, product.currency)),
              element("span", "meta", [product.brand, product.in_stock ? "" : i18n.t("card.out_of_stock")].filter(Boolean).join(" · ")));
  if (Object.keys(product.options || {}).length) body.append(element("span", "meta options", optionText(product)));
  if ((product.variants || []).length) body.append(variantPicker(product, { note, extraActions }));
  if (note) body.append(element("span", "meta why", note));
  const actions = element("div", "actions");
  const more = element("button", "button more-like-this", i18n.t("card.more_like_this"));
  more.type = "button";
  more.addEventListener("click", () => moreLikeThis(product));
  actions.append(more);
  if (product.url) {
    const buy = element("a", "button primary", i18n.t("card.view"));
    buy.href = product.url;
    buy.rel = "noopener";
    buy.addEventListener("click", () => announce(product, "viewed"));
    actions.append(buy);
  }
  actions.append(...extraActions);
  body.append(actions);
  item.append(image, body);
  return item;
}

function optionText(variant) {
  return Object.values(variant.options || {}).join(" · ");
}

// The other colours/sizes/shades of a result: a tap shows that variant on the card (its photo, price, stock,
// link) with the one shown before among the choices.
function variantPicker(product, cardOptions) {
  const row = element("div", "variants");
  row.setAttribute("role", "group");
  row.setAttribute("aria-label", i18n.t("card.variants", { count: product.variants.length }));
  for (const variant of product.variants) {
    const choice = element("button", "variant", variant.shade_hex ? "" : optionText(variant));
    choice.type = "button";
    choice.dataset.variantId = variant.id;
    if (variant.shade_hex) {
      choice.classList.add("shade");
      choice.style.background = variant.shade_hex;
    }
    if (!variant.in_stock) choice.classList.add("sold-out");
    choice.setAttribute("aria-label", [optionText(variant), i18n.price(variant.price, variant.currency),
                                       variant.in_stock ? "" : i18n.t("card.out_of_stock")].filter(Boolean).join(", "));
    choice.addEventListener("click", () => {
      const shown = { id: product.id, options: product.options, price: product.price, currency: product.currency,
                      in_stock: product.in_stock, shade_hex: product.shade_hex, url: product.url,
                      image_url: product.image_url };
      const others = product.variants.map((other) => (other.id === variant.id ? shown : other));
      const card = row.closest("li.card");
      const swapped = productCard({ ...product, ...variant, matched_image_url: variant.image_url, variants: others },
                                  cardOptions);
      card.replaceWith(swapped);
      swapped.querySelector(`.variant[data-variant-id="${CSS.escape(product.id)}"]`)?.focus();
    });
    row.append(choice);
  }
  return row;
}

function renderResults(results) {
  $("results").replaceChildren(...results.map((product) => productCard(product)));
}

async function runSearch(event) {
  if (event) event.preventDefault();
  const text = $("query").value.trim();
  if (!state.file && !text) {
    setStatus(i18n.t("status.need_query"), "error");
    return;
  }
  const params = filterParams();
  let request;
  if (!state.file && isLink(text)) {  // a link to a picture, or to a page that names one (og:image)
    const form = new FormData();
    form.append("image_url", text);
    request = callApi(`/api/v1/search?${params}`, { method: "POST", body: form });
    await show(request, i18n.t("status.fetching_link"));
    return;
  }
  if (state.file) {
    const form = new FormData();
    form.append("image", state.file);
    if (text) form.append("q", text);
    if (state.crop) form.append("crop", state.crop.join(","));
    else form.append("detect", "true");  // shop the look: dots on the items of the whole photo
    request = callApi(`/api/v1/search?${params}`, { method: "POST", body: form });
  } else {
    params.set("q", text);
    request = callApi(`/api/v1/search?${params}`);
  }
  await show(request, i18n.t(state.file ? "status.searching_photo" : "status.searching"));
}

async function moreLikeThis(product) {
  announce(product, "explored");
  const params = filterParams();
  await show(callApi(`/api/v1/products/${encodeURIComponent(product.id)}/similar?${params}`),
             i18n.t("status.finding_like", { title: product.title }));
  window.scrollTo({ top: 0, behavior: "smooth" });
}

async function show(request, loadingText) {
  const button = $("search-button");
  button.disabled = true;
  setStatus(loadingText, "loading");
  try {
    const body = await request;
    renderResults(body.results);
    setStatus(resultsStatus(body.results));
    if (!state.crop) showLook(body);
  } catch (error) {
    setStatus(error.message, "error");
  } finally {
    button.disabled = false;
  }
}

// Shop the look: a dot on each item the server found; tapping one shows that item's results.
function showLook(body) {
  state.look = body.items && body.items.length ? body : null;
  const dots = $("look-dots");
  $("whole-photo").hidden = true;
  if (!state.look) {
    dots.replaceChildren();
    return;
  }
  if (!state.naturalSize) {  // the answer came before the preview finished loading
    $("preview-img").addEventListener("load", () => showLook(body), { once: true });
    return;
  }
  const [width, height] = state.naturalSize;
  dots.replaceChildren(...body.items.map((item, index) => {
    const [x, y, w, h] = item.box;
    const top = item.results[0];
    const dot = element("button", "look-dot");
    dot.type = "button";
    dot.dataset.item = String(index);
    dot.setAttribute("aria-pressed", "false");
    dot.setAttribute("aria-label", i18n.t(top ? "look.dot_like" : "look.dot", { number: index + 1, title: top && top.title }));
    Object.assign(dot.style, { left: `${((x + w / 2) / width) * 100}%`, top: `${((y + h / 2) / height) * 100}%` });
    dot.addEventListener("click", () => showItem(index));
    return dot;
  }));
  const count = body.items.length;
  dots.setAttribute("aria-label", i18n.t("look.found", { count }));
}

function showItem(index) {
  const look = state.look;
  if (!look) return;
  const item = look.items[index];
  for (const dot of $("look-dots").children) {
    dot.setAttribute("aria-pressed", String(dot.dataset.item === String(index)));
  }
  const box = $("crop-box");
  const [width, height] = state.naturalSize;
  const [x, y, w, h] = item.box;
  Object.assign(box.style, { left: `${(x / width) * 100}%`, top: `${(y / height) * 100}%`,
                             width: `${(w / width) * 100}%`, height: `${(h / height) * 100}%` });
  box.hidden = false;
  $("whole-photo").hidden = false;
  renderResults(item.results);
  setStatus(i18n.t("look.item_status", { number: index + 1, count: look.items.length, results: resultsStatus(item.results) }));
}

function showWholePhoto() {
  if (!state.look) return;
  for (const dot of $("look-dots").children) dot.setAttribute("aria-pressed", "false");
  $("crop-box").hidden = true;
  $("whole-photo").hidden = true;
  renderResults(state.look.results);
  setStatus(resultsStatus(state.look.results));
}

function isLink(text) {
  return /^https?:\/\/\S+$/i.test(text);
}

function pickPhoto(input) {
  const file = input.files && input.files[0];
  if (!file) return;
  input.value = "";
  usePhoto(file);
}

// A picture from anywhere: the file pickers, a paste (Ctrl/Cmd+V), a drop, or a share from another app.
function usePhoto(file, { search = true } = {}) {
  if (!file || !file.type.startsWith("image/")) {
    setStatus(i18n.t("status.not_a_picture"), "error");
    return;
  }
  state.file = file;
  state.crop = null;
  const img = $("preview-img");
  if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
  img.dataset.url = URL.createObjectURL(file);
  img.src = img.dataset.url;
  img.onload = () => { state.naturalSize = [img.naturalWidth, img.naturalHeight]; };
  $("crop-box").hidden = true;
  $("look-dots").replaceChildren();
  state.look = null;
  $("preview").hidden = false;
  if (isLink($("query").value.trim())) $("query").value = "";  // the picture replaces a pasted link
  if (search) runSearch();
}

function resultsStatus(results) {
  return results.length ? i18n.t("status.results", { count: results.length }) : i18n.t("status.no_results");
}

// A photo or link shared to the installed app: the server ran the search and wrote it into the page.
function showShared() {
  const block = $("shared-search");
  if (!block) return;
  let shared;
  try {
    shared = JSON.parse(block.textContent);
  } catch (_) {
    return;
  }
  history.replaceState(null, "", "/");  // a reload must not send the share again
  if (shared.preview) usePhoto(fileFromDataUrl(shared.preview, "shared.jpg"), { search: false });
  else if (shared.query) $("query").value = shared.query;
  if (shared.error) {
    setStatus(shared.error.message, "error");
  } else if (shared.results) {
    renderResults(shared.results.results);
    setStatus(resultsStatus(shared.results.results));
  }
}

function fileFromDataUrl(url, name) {
  const [head, data] = url.split(",");
  const bytes = Uint8Array.from(atob(data), (char) => char.charCodeAt(0));
  return new File([bytes], name, { type: head.slice(5).split(";")[0] });
}

function firstImage(items) {
  for (const item of items || []) {
    const file = item instanceof File ? item : item.kind === "file" ? item.getAsFile() : null;
    if (file && file.type.startsWith("image/")) return file;
  }
  return null;
}

function setupPasteAndDrop() {
  document.addEventListener("paste", (event) => {
    const file = firstImage(event.clipboardData && event.clipboardData.items);
    if (!file) return;  // text pastes into the search box as usual (a link is searched as one)
    event.preventDefault();
    showSearchTab();
    usePhoto(file);
  });
  document.addEventListener("dragover", (event) => {
    if (event.dataTransfer && [...event.dataTransfer.types].includes("Files")) {
      event.preventDefault();
      document.body.classList.add("dropping");
    }
  });
  document.addEventListener("dragleave", (event) => {
    if (!event.relatedTarget) document.body.classList.remove("dropping");
  });
  document.addEventListener("drop", (event) => {
    document.body.classList.remove("dropping");
    const file = firstImage(event.dataTransfer && event.dataTransfer.files);
    if (!file) return;
    event.preventDefault();
    showSearchTab();
    usePhoto(file);
  });
}

function showSearchTab() {
  const tab = $("tab-search");
  if (tab.getAttribute("aria-selected") !== "true") tab.click();
}

function clearPhoto() {
  state.file = null;
  state.crop = null;
  state.look = null;
  $("look-dots").replaceChildren();
  $("preview").hidden = true;
}

// Crop: drag a rectangle over the preview; the box is sent in pixels of the full-size upright photo.
function setupCrop() {
  const img = $("preview-img");
  const box = $("crop-box");
  let start = null;
  const point = (event) => {
    const rect = img.getBoundingClientRect();
    return [Math.min(Math.max(event.clientX - rect.left, 0), rect.width),
            Math.min(Math.max(event.clientY - rect.top, 0), rect.height)];
  };
  img.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    start = point(event);
    img.setPointerCapture(event.pointerId);
  });
  img.addEventListener("pointermove", (event) => {
    if (!start) return;
    const [x, y] = point(event);
    Object.assign(box.style, { left: `${Math.min(x, start[0])}px`, top: `${Math.min(y, start[1])}px`,
                               width: `${Math.abs(x - start[0])}px`, height: `${Math.abs(y - start[1])}px` });
    box.hidden = false;
  });
  img.addEventListener("pointerup", (event) => {
    if (!start) return;
    const [x, y] = point(event);
    const rect = img.getBoundingClientRect();
    const scale = img.naturalWidth / rect.width;
    const w = Math.abs(x - start[0]), h = Math.abs(y - start[1]);
    start = [Math.min(x, start[0]), Math.min(y, start[1])];
    if (w > 12 && h > 12) {
      state.crop = [start[0], start[1], w, h].map((v) => Math.round(v * scale));
      $("look-dots").replaceChildren();  // a box of one's own replaces the found items
      $("whole-photo").hidden = true;
      runSearch();
    } else {
      state.crop = null;
      box.hidden = true;
    }
    start = null;
  });
}

function setupTabs() {
  for (const tab of document.querySelectorAll(".tabs [role=tab]")) {
    tab.addEventListener("click", () => {
      for (const other of document.querySelectorAll(".tabs [role=tab]")) {
        const selected = other === tab;
        other.setAttribute("aria-selected", String(selected));
        $(other.dataset.panel).hidden = !selected;
      }
    });
  }
}

window.shoplens = { callApi, element, productCard };

document.addEventListener("DOMContentLoaded", () => {
  $("search-form").addEventListener("submit", runSearch);
  $("photo-camera").addEventListener("change", (event) => pickPhoto(event.target));
  $("photo-file").addEventListener("change", (event) => pickPhoto(event.target));
  $("clear-photo").addEventListener("click", clearPhoto);
  $("whole-photo").addEventListener("click", showWholePhoto);
  setupCrop();
  setupTabs();
  setupPasteAndDrop();
  showShared();
});
