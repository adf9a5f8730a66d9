// shoplens in a shop's own pages: custom elements in open shadow roots, so the shop's CSS cannot break them
// and theirs cannot leak out. One script, no framework:
//   <shoplens-search k="N">           a photo button and a text box that open a results drawer
//   <shoplens-similar product-id="ID" k="N">   a row of products that look like this one
//   <shoplens-tryon product-id="ID">  a "Try it on" button: that shade on the shopper's photo, before/after
// Themable with CSS custom properties (--shoplens-accent, --shoplens-font, --shoplens-radius, --shoplens-text)
// and ::part(card|title|price|button|heading|input|drawer). Requests go only to the shoplens server (the
// origin of this script, or the element's `server` attribute), without cookies. Buying goes through the
// shop: cards link to the product page and dispatch `shoplens:select` and `shoplens:add-to-cart` (bubbling,
// composed, cancelable; detail.productId, detail.variant), which the shop may handle instead.
"use strict";

(() => {
  const MESSAGES = __SHOPLENS_MESSAGES__;  // the server writes the catalogs in (static/messages/*.json)
  const i18n = (/*shared:i18n-core*/)(MESSAGES);
  const framing = /*shared:face-frame*/;
  const SCRIPT_ORIGIN = document.currentScript ? new URL(document.currentScript.src, location.href).origin : "";
  const t = (lang, key, params = {}) => i18n.t(key, params, lang);
  const MIN_CROP = 0.05;  // a drag smaller than this share of the photo's side is a tap, not a crop
  // what the shop's cart needs besides the id: the product a variant belongs to and its option values
  const variantOf = (product) => (product.group ? { group: product.group, options: product.options } : null);

  const STYLE = `
    :host { all: initial; display: block; font: 15px/1.4 var(--shoplens-font, system-ui, sans-serif);
            color: var(--shoplens-text, #1d1b20); --accent: var(--shoplens-accent, #8e2453);
            --radius: var(--shoplens-radius, 12px); }
    :host([hidden]) { display: none; }
    * { box-sizing: border-box; }
    [hidden] { display: none !important; }
    h2 { font-size: 1.1em; margin: 0 0 .5em; }
    h3 { font-size: 1em; margin: .75em 0 .4em; }
    .row { display: grid; grid-auto-flow: column; grid-auto-columns: minmax(140px, 1fr); gap: 12px;
           overflow-x: auto; list-style: none; margin: 0; padding: 0 0 4px; }
    .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); gap: 12px;
            list-style: none; margin: 0; padding: 0; }
    .card { display: flex; flex-direction: column; border: 1px solid #e4dfe6; border-radius: var(--radius);
            overflow: hidden; background: #fff; min-width: 0; }
    .card a { color: inherit; text-decoration: none; display: block; }
    .card img { display: block; width: 100%; aspect-ratio: 1; object-fit: cover; background: #f3eff4; }
    .body { padding: 8px; display: flex; flex-direction: column; gap: 4px; flex: 1; }
    .title { font-weight: 600; overflow: hidden; display: -webkit-box; -webkit-line-clamp: 2;
             -webkit-box-orient: vertical; }
    .price { color: #514a55; }
    button, .button { font: inherit; min-height: 44px; border: 0; border-radius: var(--radius);
             background: var(--accent); color: #fff; cursor: pointer; padding: 0 14px; }
    .card button { margin-top: auto; }
    button.quiet { background: #f3eff4; color: #1d1b20; }
    button:focus-visible, a:focus-visible, input:focus-visible, summary:focus-visible {
      outline: 3px solid var(--accent); outline-offset: 2px; }
    input { font: inherit; min-height: 44px; border: 1px solid #8b8290; border-radius: var(--radius);
            padding: 0 12px; background: #fff; color: #1d1b20; min-width: 0; }
    input[type=checkbox] { min-height: 0; width: 20px; height: 20px; }
    input[type=range] { padding: 0; border: 0; width: 100%; accent-color: var(--accent); }
    label { display: flex; flex-direction: column; gap: 2px; font-size: .9em; }
    label.check { flex-direction: row; align-items: center; gap: 8px; }
    .status { color: #514a55; margin: .5em 0; }
    .status.error { color: #b00020; }
    .bar { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; }
    .bar input[type=search] { flex: 1 1 12em; }
    dialog { border: 0; padding: 0; border-radius: var(--radius) 0 0 var(--radius); margin: 0 0 0 auto;
             width: min(100vw, 760px); height: 100%; max-height: 100%; max-width: 100vw; background: #fbf9fc;
             color: inherit; font: inherit; }
    dialog::backdrop { background: rgba(20, 10, 25, .45); }
    .sheet { display: flex; flex-direction: column; gap: 12px; padding: 16px; min-height: 100%; }
    .sheet > header { display: flex; align-items: center; justify-content: space-between; gap: 8px; }
    .sheet > header h2 { margin: 0; }
    .close { background: #f3eff4; color: #1d1b20; width: 44px; padding: 0; font-size: 1.4em; }
    .filters { display: grid; grid-template-columns: repeat(auto-fill, minmax(120px, 1fr)); gap: 8px;
               margin-top: 8px; }
    .stage { position: relative; max-width: 100%; width: max-content; touch-action: none; user-select: none;
             overflow: hidden; border-radius: var(--radius); }
    .stage img { display: block; max-width: 100%; max-height: 40vh; }
    .box { position: absolute; border: 3px solid var(--accent); box-shadow: 0 0 0 9999px rgba(0, 0, 0, .25);
           pointer-events: none; }
    .chips { display: flex; flex-wrap: wrap; gap: 6px; }
    .chips button[aria-pressed=true], .swatch[aria-pressed=true] { outline: 3px solid #1d1b20; }
    .swatches { display: flex; flex-wrap: wrap; gap: 8px; }
    .swatch { display: inline-flex; align-items: center; gap: 8px; background: #fff; color: #1d1b20;
              border: 1px solid #c9c1cd; }
    .chip { width: 24px; height: 24px; border-radius: 50%; border: 1px solid rgba(0, 0, 0, .2); }
    .compare { position: relative; overflow: hidden; border-radius: var(--radius); background: #f3eff4;
               max-height: 60vh; }
    .compare img { display: block; width: 100%; }
    .compare.framed img { position: absolute; max-width: none; }
    .compare .after { position: absolute; left: 0; top: 0; }
    .compare:not(.framed) .after { width: 100%; height: 100%; }
    .handle { position: absolute; top: 0; bottom: 0; width: 3px; background: #fff; pointer-events: none;
              box-shadow: 0 0 0 1px rgba(0, 0, 0, .3); }
    .notice { font-size: .85em; color: #514a55; margin: 0; }
  `;

  // A constructed style sheet, not a <style> element: a shop's Content-Security-Policy needs no 'unsafe-inline'.
  const SHEET = new CSSStyleSheet();
  SHEET.replaceSync(STYLE);

  function node(tag, props = {}, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(props)) {
      if (name === "part" || name.startsWith("aria-") || name === "role" || name === "for") {
        element.setAttribute(name, value);
      } else if (name === "dataset") Object.assign(element.dataset, value);
      else element[name] = value;
    }
    element.append(...children.filter((child) => child !== null && child !== undefined));
    return element;
  }

  class ShoplensElement extends HTMLElement {
    constructor() {
      super();
      this.root = this.attachShadow({ mode: "open" });
      this.root.adoptedStyleSheets = [SHEET];
    }

    get server() {
      return (this.getAttribute("server") || SCRIPT_ORIGIN || location.origin).replace(/\/+$/, "");
    }

    get lang() {
      return i18n.languageOf(this);
    }

    async api(path, options = {}) {
      const response = await this.request(path, options);
      return response.json();
    }

    // The response when it is OK; otherwise the API's error in the shopper's language.
    async request(path, options = {}) {
      let response;
      try {
        response = await fetch(this.server + path, { ...options, credentials: "omit", mode: "cors" });
      } catch (_) {
        throw new Error(t(this.lang, "network.problem"));
      }
      if (!response.ok) {
        const body = await response.json().catch(() => null);
        const error = body && body.error;
        throw new Error(error ? i18n.errorMessage(error, this.lang) : t(this.lang, "network.failed", { status: response.status }));
      }
      return response;
    }

    emit(name, detail) {
      return this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true, cancelable: true }));
    }

    status() {
      return node("p", { className: "status", role: "status" });
    }

    setStatus(element, text, error = false) {
      element.textContent = text;
      element.classList.toggle("error", error);
    }

    card(product) {
      const lang = this.lang;
      const link = node("a", { href: product.url || "#" },
        node("img", { src: this.server + (product.matched_image_url || product.image_url), alt: product.title,
                      loading: "lazy" }),
        node("div", { className: "body" },
          node("span", { className: "title", part: "title", textContent: product.title }),
          node("span", { className: "price", part: "price", textContent: i18n.price(product.price, product.currency, lang) })));
      link.addEventListener("click", (event) => {
        if (!this.emit("shoplens:select", { productId: product.id, variant: variantOf(product), url: product.url || null }) || !product.url) {
          event.preventDefault();
        }
      });
      const add = node("button", {
        type: "button", part: "button", textContent: t(lang, "embed.add_to_cart"),
        "aria-label": t(lang, "embed.add_to_cart_named", { title: product.title }),
      });
      add.addEventListener("click", () => this.emit("shoplens:add-to-cart", { productId: product.id, variant: variantOf(product) }));
      return node("li", { className: "card", part: "card", dataset: { productId: product.id } },
        link, node("div", { className: "body" }, add));
    }

    // A modal drawer: the page behind is inert while it is open, Escape closes it, and focus goes back to
    // the button that opened it.
    drawer(titleText) {
      const lang = this.lang;
      const title = node("h2", { part: "heading", id: "drawer-title", textContent: titleText });
      const close = node("button", { type: "button", className: "close", "aria-label": t(lang, "embed.close"), textContent: "×" });
      const sheet = node("div", { className: "sheet" }, node("header", {}, title, close));
      const dialog = node("dialog", { part: "drawer", "aria-labelledby": "drawer-title" }, sheet);
      close.addEventListener("click", () => dialog.close());
      dialog.addEventListener("click", (event) => { if (event.target === dialog) dialog.close(); });  // the backdrop
      dialog.addEventListener("close", () => { if (this.opener && this.opener.isConnected) this.opener.focus(); });
      return { dialog, sheet, title };
    }

    open(dialog, opener) {
      this.opener = opener;
      if (!dialog.open) dialog.showModal();
    }
  }

  // <shoplens-similar product-id="ID" k="N">: products that look like this one, for a product page.
  class ShoplensSimilar extends ShoplensElement {
    static get observedAttributes() { return ["product-id", "k", "server", "lang"]; }

    connectedCallback() { this.load(); }

    attributeChangedCallback() { if (this.isConnected) this.load(); }

    async load() {
      const id = this.getAttribute("product-id");
      const lang = this.lang;
      const k = boundedK(this.getAttribute("k"), 8);
      const heading = node("h2", { part: "heading", textContent: t(lang, "embed.similar_title") });
      const status = this.status();
      const row = node("ul", { className: "row", "aria-label": heading.textContent });
      this.root.replaceChildren(heading, status, row);
      if (!id) return;
      const request = (this.pending = {});
      try {
        const body = await this.api(`/api/v1/products/${encodeURIComponent(id)}/similar?k=${k}`);
        if (request !== this.pending) return;
        row.replaceChildren(...body.results.map((product) => this.card(product)));
        status.textContent = body.results.length ? "" : t(lang, "status.no_results");
      } catch (error) {
        if (request === this.pending) this.setStatus(status, error.message, true);
      }
    }
  }

  // <shoplens-search k="N">: photo, crop, text and filters as on the shoplens page, in a drawer of results.
  class ShoplensSearch extends ShoplensElement {
    static get observedAttributes() { return ["server", "lang"]; }

    connectedCallback() { if (!this.ui) this.render(); }

    attributeChangedCallback() { if (this.ui) this.render(); }

    render() {
      const lang = this.lang;
      const ui = (this.ui = {});
      this.state = { file: null, crop: null, items: [], item: null, url: null };
      ui.file = node("input", { type: "file", accept: "image/*", hidden: true, tabIndex: -1 });
      ui.photoButton = node("button", { type: "button", part: "button", textContent: t(lang, "embed.search_photo") });
      ui.query = node("input", { type: "search", part: "input", name: "q", placeholder: t(lang, "search.placeholder"),
                                 "aria-label": t(lang, "search.query_label") });
      const bar = node("form", { className: "bar", role: "search", "aria-label": t(lang, "embed.search_label") },
        ui.photoButton, ui.query, node("button", { type: "submit", part: "button", textContent: t(lang, "search.button") }), ui.file);

      const { dialog, sheet } = this.drawer(t(lang, "embed.results_title"));
      ui.dialog = dialog;
      ui.image = node("img", { alt: t(lang, "embed.photo_title"), draggable: false });
      ui.box = node("div", { className: "box", hidden: true });
      ui.stage = node("div", { className: "stage" }, ui.image, ui.box);
      ui.removePhoto = node("button", { type: "button", className: "quiet", textContent: t(lang, "search.remove_photo") });
      ui.wholePhoto = node("button", { type: "button", className: "quiet", textContent: t(lang, "look.whole_photo"), hidden: true });
      ui.items = node("div", { className: "chips", role: "group", "aria-label": t(lang, "look.group") });
      ui.photo = node("section", { hidden: true }, ui.stage,
        node("p", { className: "notice", textContent: t(lang, "embed.crop_hint") }),
        node("div", { className: "bar" }, ui.wholePhoto, ui.removePhoto), ui.items);
      ui.refineQuery = node("input", { type: "search", name: "q", placeholder: t(lang, "search.placeholder"),
                                       "aria-label": t(lang, "search.query_label") });
      ui.category = node("input", { type: "text", name: "category" });
      ui.brand = node("input", { type: "text", name: "brand" });
      ui.min = node("input", { type: "number", name: "min_price", min: "0", step: "0.01", inputMode: "decimal" });
      ui.max = node("input", { type: "number", name: "max_price", min: "0", step: "0.01", inputMode: "decimal" });
      ui.stock = node("input", { type: "checkbox", name: "in_stock" });
      const field = (key, input) => node("label", {}, node("span", { textContent: t(lang, key) }), input);
      const refine = node("form", {},
        node("div", { className: "bar" }, ui.refineQuery, node("button", { type: "submit", textContent: t(lang, "search.button") })),
        node("details", {}, node("summary", { textContent: t(lang, "filters.title") }),
          node("div", { className: "filters" }, field("filters.category", ui.category), field("filters.brand", ui.brand),
            field("filters.min_price", ui.min), field("filters.max_price", ui.max),
            node("label", { className: "check" }, ui.stock, node("span", { textContent: t(lang, "filters.in_stock") })))));
      ui.status = this.status();
      ui.results = node("ul", { className: "grid", "aria-label": t(lang, "embed.results_title") });
      sheet.append(ui.photo, refine, ui.status, ui.results);
      this.root.replaceChildren(bar, dialog);

      ui.photoButton.addEventListener("click", () => ui.file.click());
      ui.file.addEventListener("change", () => {
        const file = ui.file.files && ui.file.files[0];
        ui.file.value = "";
        if (file) this.usePhoto(file);
      });
      bar.addEventListener("submit", (event) => {
        event.preventDefault();
        ui.refineQuery.value = ui.query.value;
        this.open(dialog, ui.query);
        this.search();
      });
      refine.addEventListener("submit", (event) => {
        event.preventDefault();
        ui.query.value = ui.refineQuery.value;
        this.search();
      });
      ui.removePhoto.addEventListener("click", () => {
        this.forgetPhoto();
        this.search();
      });
      ui.wholePhoto.addEventListener("click", () => {
        this.state.crop = null;
        this.search();
      });
      this.dragToCrop();
    }

    usePhoto(file) {
      this.forgetPhoto();
      this.state.file = file;
      this.state.url = URL.createObjectURL(file);
      this.ui.image.src = this.state.url;
      this.ui.photo.hidden = false;
      this.open(this.ui.dialog, this.ui.photoButton);
      this.search();
    }

    forgetPhoto() {
      if (this.state.url) URL.revokeObjectURL(this.state.url);
      Object.assign(this.state, { file: null, url: null, crop: null, items: [], item: null });
      this.ui.photo.hidden = true;
      this.ui.box.hidden = true;
      this.ui.items.replaceChildren();
    }

    // A box dragged on the photo searches that part of it (in the photo's own pixels, as the API wants).
    dragToCrop() {
      const { stage, image } = this.ui;
      let start = null;
      const point = (event) => {
        const rect = image.getBoundingClientRect();
        const x = Math.min(Math.max((event.clientX - rect.left) / rect.width, 0), 1);
        const y = Math.min(Math.max((event.clientY - rect.top) / rect.height, 0), 1);
        return { x, y };
      };
      const boxOf = (a, b) => ({ x: Math.min(a.x, b.x), y: Math.min(a.y, b.y), w: Math.abs(a.x - b.x), h: Math.abs(a.y - b.y) });
      stage.addEventListener("pointerdown", (event) => {
        if (!this.state.file) return;
        start = point(event);
        stage.setPointerCapture(event.pointerId);
      });
      stage.addEventListener("pointermove", (event) => {
        if (start) this.showBox(boxOf(start, point(event)));
      });
      stage.addEventListener("pointerup", (event) => {
        if (!start) return;
        const box = boxOf(start, point(event));
        start = null;
        if (box.w < MIN_CROP || box.h < MIN_CROP) {
          this.showBox(this.state.crop ? this.state.cropBox : null);
          return;
        }
        const width = image.naturalWidth, height = image.naturalHeight;
        this.state.crop = [box.x * width, box.y * height, box.w * width, box.h * height].map(Math.round);
        this.state.cropBox = box;
        this.search();
      });
    }

    showBox(box) {
      const { box: outline } = this.ui;
      outline.hidden = !box;
      if (box) {
        Object.assign(outline.style, { left: `${100 * box.x}%`, top: `${100 * box.y}%`,
                                       width: `${100 * box.w}%`, height: `${100 * box.h}%` });
      }
    }

    params() {
      const { category, brand, min, max, stock } = this.ui;
      const params = new URLSearchParams({ k: String(boundedK(this.getAttribute("k"), 12)) });
      const add = (name, value) => { if (value !== "") params.set(name, value); };
      add("category", category.value.trim());
      add("brand", brand.value.trim());
      add("min_price", min.value);
      add("max_price", max.value);
      if (stock.checked) params.set("in_stock", "true");
      return params;
    }

    async search() {
      const lang = this.lang;
      const { ui, state } = this;
      const text = ui.refineQuery.value.trim();
      state.items = [];
      state.item = null;
      ui.items.replaceChildren();
      ui.wholePhoto.hidden = !state.crop;
      this.showBox(state.crop ? state.cropBox : null);
      if (!state.file && !text) {
        ui.results.replaceChildren();
        this.setStatus(ui.status, t(lang, "status.need_query"), true);
        return;
      }
      const params = this.params();
      let call;
      if (state.file) {
        const form = new FormData();
        form.append("image", state.file);
        if (text) form.append("q", text);
        if (state.crop) form.append("crop", state.crop.join(","));
        else form.append("detect", "true");  // shop the look: the items of the whole photo
        call = this.api(`/api/v1/search?${params}`, { method: "POST", body: form });
      } else {
        params.set("q", text);
        call = this.api(`/api/v1/search?${params}`);
      }
      const request = (this.pending = {});
      this.setStatus(ui.status, t(lang, state.file ? "status.searching_photo" : "status.searching"));
      try {
        const body = await call;
        if (request !== this.pending) return;
        this.showResults(body.results);
        if (state.file && !state.crop && body.items && body.items.length) this.showItems(body.items, body.results);
      } catch (error) {
        if (request === this.pending) this.setStatus(this.ui.status, error.message, true);
      }
    }

    showResults(results) {
      const lang = this.lang;
      this.ui.results.replaceChildren(...results.map((product) => this.card(product)));
      this.setStatus(this.ui.status, results.length ? t(lang, "status.results", { count: results.length }) : t(lang, "status.no_results"));
    }

    // Shop the look: one chip per item found in the photo; picking one outlines it and shows its products.
    showItems(items, wholeResults) {
      const lang = this.lang;
      const { image } = this.ui;
      const chips = [];
      const pick = (index) => {
        chips.forEach((chip, i) => chip.setAttribute("aria-pressed", String(i === index)));
        if (index === 0) {
          this.showBox(null);
          this.showResults(wholeResults);
          return;
        }
        const [x, y, w, h] = items[index - 1].box;
        const width = image.naturalWidth || 1, height = image.naturalHeight || 1;
        this.showBox({ x: x / width, y: y / height, w: w / width, h: h / height });
        this.showResults(items[index - 1].results);
      };
      const labels = [t(lang, "look.whole_photo"), ...items.map((item, i) => t(lang, "look.dot", { number: i + 1 }))];
      labels.forEach((label, index) => {
        const chip = node("button", { type: "button", className: "quiet", textContent: label, "aria-pressed": String(index === 0) });
        chip.addEventListener("click", () => pick(index));
        chips.push(chip);
      });
      this.ui.items.replaceChildren(...chips);
    }
  }

  // <shoplens-tryon product-id="ID">: that shade on the shopper's own photo, the line's other shades beside
  // it, before/after, framed on the face. The photo goes to the shoplens server for each render, nowhere else,
  // and is never stored.
  class ShoplensTryon extends ShoplensElement {
    static get observedAttributes() { return ["product-id", "server", "lang"]; }

    connectedCallback() { if (!this.ui) this.render(); }

    attributeChangedCallback() { if (this.ui) this.render(); }

    render() {
      const lang = this.lang;
      const ui = (this.ui = {});
      this.state = { photo: null, chosen: this.getAttribute("product-id"), line: [], renderId: 0, faces: [],
                     frame: null, wholePhoto: false, urls: [] };
      ui.button = node("button", { type: "button", part: "button", textContent: t(lang, "embed.try_on") });
      const { dialog, sheet, title } = this.drawer(t(lang, "embed.try_on"));
      ui.dialog = dialog;
      ui.title = title;
      const pickers = ["tryon.take_selfie", "tryon.choose_photo"].map((key, index) => {
        const input = node("input", { type: "file", accept: "image/*", hidden: true, tabIndex: -1 });
        if (index === 0) input.setAttribute("capture", "user");
        const button = node("button", { type: "button", textContent: t(lang, key), className: index ? "quiet" : "" });
        button.addEventListener("click", () => input.click());
        input.addEventListener("change", () => {
          const file = input.files && input.files[0];
          input.value = "";
          if (file) this.usePhoto(file);
        });
        return [button, input];
      }).flat();
      ui.swatches = node("div", { className: "swatches", role: "group", "aria-label": t(lang, "embed.shades") });
      ui.before = node("img", { alt: t(lang, "tryon.before"), className: "before" });
      ui.after = node("img", { alt: t(lang, "tryon.after_alt"), className: "after" });
      ui.handle = node("div", { className: "handle" });
      ui.stage = node("div", { className: "compare" }, ui.before, ui.after, ui.handle);
      ui.split = node("input", { type: "range", min: "0", max: "100", value: "50", "aria-label": t(lang, "tryon.before_after_label") });
      ui.frameToggle = node("button", { type: "button", className: "quiet", hidden: true });
      ui.intensity = node("input", { type: "range", min: "0", max: "100", value: "80", "aria-label": t(lang, "tryon.intensity_label") });
      ui.compare = node("section", { hidden: true }, ui.stage, ui.split, node("div", { className: "bar" }, ui.frameToggle));
      ui.status = this.status();
      ui.buy = node("div", { className: "bar" });
      sheet.append(node("p", { className: "notice", textContent: t(lang, "tryon.notice") }),
                   node("div", { className: "bar" }, ...pickers), ui.compare,
                   node("label", {}, node("span", { textContent: t(lang, "tryon.intensity") }), ui.intensity),
                   node("h3", { textContent: t(lang, "embed.shades") }), ui.swatches, ui.status, ui.buy);
      this.root.replaceChildren(ui.button, dialog);

      ui.button.addEventListener("click", () => {
        this.open(dialog, ui.button);
        this.loadLine();
      });
      ui.split.addEventListener("input", () => this.applySplit());
      ui.intensity.addEventListener("change", () => this.renderLook());
      ui.frameToggle.addEventListener("click", () => {
        this.state.wholePhoto = !this.state.wholePhoto;
        this.applyFrame();
      });
      dialog.addEventListener("close", () => this.forgetPhoto());  // the photo lives only while try-on is open
    }

    // The product and the other shades of its line: the variants of its group, or for a catalog without
    // groups the products of the same type and brand with the same name before " — " (the shade).
    async loadLine() {
      const lang = this.lang;
      const id = this.getAttribute("product-id");
      if (this.state.line.length) return;
      try {
        const body = await this.api("/api/v1/tryon/products");
        const entries = Object.values(body.groups).flat();
        const all = entries.flatMap((entry) => (entry.shades.length ? entry.shades : [entry]));
        const product = all.find((candidate) => candidate.id === id);
        if (!product) {
          this.setStatus(this.ui.status, t(lang, "embed.not_tryable"), true);
          return;
        }
        const stem = (candidate) => candidate.title.split("—")[0].trim().toLowerCase();
        const group = product.group && entries.find((entry) => entry.group === product.group);
        this.state.line = group ? group.shades : all.filter((candidate) => candidate.product_type === product.product_type &&
          (candidate.brand || "") === (product.brand || "") && stem(candidate) === stem(product));
        this.ui.title.textContent = t(lang, "embed.try_on_title", { title: product.title });
        this.showSwatches();
        this.setStatus(this.ui.status, t(lang, "tryon.need_selfie"));
      } catch (error) {
        this.setStatus(this.ui.status, error.message, true);
      }
    }

    showSwatches() {
      const lang = this.lang;
      const swatches = this.state.line.map((product) => {
        const shade = Object.values(product.options || {}).join(" · ") || product.title.split("—").pop().trim();
        const swatch = node("button", {
          type: "button", className: "swatch", dataset: { productId: product.id },
          "aria-pressed": String(product.id === this.state.chosen),
          "aria-label": `${shade}, ${i18n.price(product.price, product.currency, lang)}`,
        }, chip(product.shade_hex), node("span", { textContent: shade }));
        swatch.addEventListener("click", () => {
          this.state.chosen = product.id;
          this.showSwatches();
          this.ui.swatches.querySelector(`[data-product-id="${CSS.escape(product.id)}"]`).focus();
          this.renderLook();
        });
        return swatch;
      });
      this.ui.swatches.replaceChildren(...swatches);
      const product = this.state.line.find((candidate) => candidate.id === this.state.chosen);
      this.ui.buy.replaceChildren();
      if (!product) return;
      const add = node("button", { type: "button", part: "button", textContent: t(lang, "embed.add_to_cart_named", { title: product.title }) });
      add.addEventListener("click", () => this.emit("shoplens:add-to-cart", { productId: product.id, variant: variantOf(product) }));
      this.ui.buy.append(add);
      if (product.url) {
        const view = node("a", { href: product.url, className: "button quiet", textContent: t(lang, "card.view") });
        view.addEventListener("click", (event) => {
          if (!this.emit("shoplens:select", { productId: product.id, variant: variantOf(product), url: product.url })) event.preventDefault();
        });
        this.ui.buy.append(view);
      }
    }

    usePhoto(file) {
      this.forgetPhoto();
      this.state.photo = file;
      const url = URL.createObjectURL(file);
      this.state.urls.push(url);
      this.ui.before.src = url;
      this.ui.after.src = url;
      this.ui.compare.hidden = false;
      this.renderLook();
    }

    forgetPhoto() {
      this.state.urls.forEach((url) => URL.revokeObjectURL(url));
      Object.assign(this.state, { photo: null, urls: [], faces: [], frame: null, wholePhoto: false });
      this.state.renderId += 1;  // a render still on its way is dropped
      this.ui.before.removeAttribute("src");
      this.ui.after.removeAttribute("src");
      this.ui.compare.hidden = true;
      this.ui.frameToggle.hidden = true;
    }

    async renderLook() {
      const lang = this.lang;
      const { state, ui } = this;
      if (!state.photo || !state.chosen) return;
      const form = new FormData();
      form.append("image", state.photo);
      form.append("looks", JSON.stringify([{ product_id: state.chosen, intensity: Number(ui.intensity.value) / 100 }]));
      const renderId = ++state.renderId;
      this.setStatus(ui.status, t(lang, "tryon.applying"));
      try {
        const response = await this.request("/api/v1/tryon", { method: "POST", body: form });
        const blob = await response.blob();
        if (renderId !== state.renderId) return;
        state.faces = framing.parseBoxes(response.headers.get("X-Face-Boxes"));
        const url = URL.createObjectURL(blob);
        state.urls.push(url);
        ui.after.addEventListener("load", () => {
          state.frame = framing.faceFrame(state.faces, ui.after.naturalWidth, ui.after.naturalHeight);
          ui.frameToggle.hidden = !state.frame;
          this.applyFrame();
          this.emit("shoplens:tryon-rendered", { productId: state.chosen });
        }, { once: true });
        ui.after.src = url;
        this.setStatus(ui.status, t(lang, "tryon.compare"));
      } catch (error) {
        if (renderId === state.renderId) this.setStatus(ui.status, error.message, true);
      }
    }

    applyFrame() {
      const { state, ui } = this;
      const shown = state.wholePhoto ? null : state.frame;
      const layout = framing.frameLayout(shown, ui.after.naturalWidth, ui.after.naturalHeight);
      ui.stage.classList.toggle("framed", Boolean(shown));
      ui.stage.style.aspectRatio = layout.stage;
      for (const image of [ui.before, ui.after]) Object.assign(image.style, layout.picture);
      ui.frameToggle.textContent = t(this.lang, state.wholePhoto ? "tryon.zoom_face" : "tryon.whole_photo");
      this.applySplit();
    }

    applySplit() {
      const { state, ui } = this;
      const value = Number(ui.split.value);
      const inset = framing.splitInset(state.wholePhoto ? null : state.frame, value);
      ui.after.style.clipPath = `inset(0 0 0 ${inset}%)`;
      ui.handle.style.left = `${value}%`;
    }
  }

  function chip(colour) {
    const swatch = node("span", { className: "chip" });
    swatch.style.background = colour;  // through the CSSOM, which a Content-Security-Policy allows
    return swatch;
  }

  function boundedK(value, fallback) {
    return Math.min(Math.max(parseInt(value || String(fallback), 10) || fallback, 1), 50);
  }

  for (const [name, element] of [["shoplens-similar", ShoplensSimilar], ["shoplens-search", ShoplensSearch],
                                 ["shoplens-tryon", ShoplensTryon]]) {
    if (!customElements.get(name)) customElements.define(name, element);
  }
})();
