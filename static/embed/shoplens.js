// shoplens in a shop's own pages: custom elements in open shadow roots, so the shop's CSS cannot break them
// and theirs cannot leak out. One script, no framework. Themable with CSS custom properties
// (--shoplens-accent, --shoplens-font, --shoplens-radius) and ::part(card|title|price|button). Requests go
// only to the shoplens server (the origin of this script, or the element's `server` attribute), without
// cookies. Buying goes through the shop: cards link to the product page and dispatch `shoplens:select` and
// `shoplens:add-to-cart` (bubbling, composed; detail.productId), which the shop may handle instead.
"use strict";

(() => {
  const MESSAGES = __SHOPLENS_MESSAGES__;  // the server writes the catalogs in (static/messages/*.json)
  const SCRIPT_ORIGIN = document.currentScript ? new URL(document.currentScript.src, location.href).origin : "";

  function language(element) {
    const holder = element.closest("[lang]");
    const tags = [holder && holder.getAttribute("lang"), ...(navigator.languages || [navigator.language])];
    for (const tag of tags) {
      const base = String(tag || "").toLowerCase().split("-")[0];
      if (base in MESSAGES) return base;
    }
    return "en";
  }

  function t(lang, key, params = {}) {
    let text = (MESSAGES[lang] || {})[key] ?? MESSAGES.en[key] ?? key;
    if (typeof params.count === "number") {
      const plural = `${key}.${new Intl.PluralRules(lang).select(params.count)}`;
      text = (MESSAGES[lang] || {})[plural] ?? MESSAGES.en[plural] ?? text;
    }
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  }

  function price(lang, amount, currency) {
    if (amount === null || amount === undefined) return "";
    try {
      return new Intl.NumberFormat(lang, { style: "currency", currency: currency || "USD" }).format(amount);
    } catch (_) {
      return String(amount);
    }
  }

  const STYLE = `
    :host { all: initial; display: block; font: 15px/1.4 var(--shoplens-font, system-ui, sans-serif);
            color: var(--shoplens-text, #1d1b20); --accent: var(--shoplens-accent, #8e2453);
            --radius: var(--shoplens-radius, 12px); }
    :host([hidden]) { display: none; }
    * { box-sizing: border-box; }
    h2 { font-size: 1.1em; margin: 0 0 .5em; }
    .row { display: grid; grid-auto-flow: column; grid-auto-columns: minmax(140px, 1fr); gap: 12px;
           overflow-x: auto; list-style: none; margin: 0; padding: 0 0 4px; }
    .card { display: flex; flex-direction: column; border: 1px solid #e4dfe6; border-radius: var(--radius);
            overflow: hidden; background: #fff; min-width: 0; }
    .card a { color: inherit; text-decoration: none; display: block; }
    .card img { display: block; width: 100%; aspect-ratio: 1; object-fit: cover; background: #f3eff4; }
    .body { padding: 8px; display: flex; flex-direction: column; gap: 4px; flex: 1; }
    .title { font-weight: 600; overflow: hidden; display: -webkit-box; -webkit-line-clamp: 2;
             -webkit-box-orient: vertical; }
    .price { color: #514a55; }
    button { font: inherit; min-height: 44px; margin-top: auto; border: 0; border-radius: var(--radius);
             background: var(--accent); color: #fff; cursor: pointer; padding: 0 12px; }
    button:focus-visible, a:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
    .status { color: #514a55; margin: 0; }
    .status.error { color: #b00020; }
  `;

  class ShoplensElement extends HTMLElement {
    constructor() {
      super();
      this.root = this.attachShadow({ mode: "open" });
    }

    get server() {
      return (this.getAttribute("server") || SCRIPT_ORIGIN || location.origin).replace(/\/+$/, "");
    }

    get lang() {
      return language(this);
    }

    async api(path, options = {}) {
      let response;
      try {
        response = await fetch(this.server + path, { ...options, credentials: "omit", mode: "cors" });
      } catch (_) {
        throw new Error(t(this.lang, "network.problem"));
      }
      const body = await response.json().catch(() => null);
      if (!response.ok) {
        const error = body && body.error;
        const text = error && this.lang !== "en" ? (MESSAGES[this.lang] || {})[`error.${error.code}`] : null;
        throw new Error(text || (error ? error.message : t(this.lang, "network.failed", { status: response.status })));
      }
      return body;
    }

    emit(name, detail) {
      return this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true, cancelable: true }));
    }

    card(product) {
      const lang = this.lang;
      const item = document.createElement("li");
      item.className = "card";
      item.setAttribute("part", "card");
      item.dataset.productId = product.id;
      const link = document.createElement("a");
      link.href = product.url || "#";
      const image = document.createElement("img");
      image.src = this.server + product.image_url;
      image.alt = product.title;
      image.loading = "lazy";
      const body = document.createElement("div");
      body.className = "body";
      const title = document.createElement("span");
      title.className = "title";
      title.setAttribute("part", "title");
      title.textContent = product.title;
      const cost = document.createElement("span");
      cost.className = "price";
      cost.setAttribute("part", "price");
      cost.textContent = price(lang, product.price, product.currency);
      body.append(title, cost);
      link.append(image, body);
      link.addEventListener("click", (event) => {
        if (!this.emit("shoplens:select", { productId: product.id, url: product.url || null }) || !product.url) {
          event.preventDefault();
        }
      });
      const add = document.createElement("button");
      add.type = "button";
      add.setAttribute("part", "button");
      add.textContent = t(lang, "embed.add_to_cart");
      add.setAttribute("aria-label", t(lang, "embed.add_to_cart_named", { title: product.title }));
      add.addEventListener("click", () => this.emit("shoplens:add-to-cart", { productId: product.id, variant: null }));
      const actions = document.createElement("div");
      actions.className = "body";
      actions.append(add);
      item.append(link, actions);
      return item;
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
      const k = Math.min(Math.max(parseInt(this.getAttribute("k") || "8", 10) || 8, 1), 50);
      const heading = document.createElement("h2");
      heading.setAttribute("part", "heading");
      heading.textContent = t(lang, "embed.similar_title");
      const status = document.createElement("p");
      status.className = "status";
      status.setAttribute("role", "status");
      const row = document.createElement("ul");
      row.className = "row";
      row.setAttribute("aria-label", heading.textContent);
      const style = document.createElement("style");
      style.textContent = STYLE;
      this.root.replaceChildren(style, heading, status, row);
      if (!id) return;
      const request = (this.pending = {});
      try {
        const body = await this.api(`/api/v1/products/${encodeURIComponent(id)}/similar?k=${k}`);
        if (request !== this.pending) return;
        row.replaceChildren(...body.results.map((product) => this.card(product)));
        status.textContent = body.results.length ? "" : t(lang, "status.no_results");
      } catch (error) {
        if (request !== this.pending) return;
        status.textContent = error.message;
        status.classList.add("error");
      }
    }
  }

  if (!customElements.get("shoplens-similar")) customElements.define("shoplens-similar", ShoplensSimilar);
})();
