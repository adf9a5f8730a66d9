// shoplens "For you": products like the ones this shopper looked at, with no tracking.
// The history lives in this browser's localStorage only (no cookie); it leaves the device only inside the
// POST /api/v1/recommend request that uses it, and "Clear my history" deletes it.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const HISTORY_KEY = "shoplens.history.v1";
  const NOT_FOR_ME_KEY = "shoplens.notForMe.v1";
  const MAX_HISTORY = 30;      // the server takes at most 50 ids a list
  const MAX_NOT_FOR_ME = 20;
  const ROW_SIZE = 8;
  // How much an action says about taste: trying a shade on says more than a glance.
  const WEIGHTS = { viewed: 1, explored: 1.5, tried: 2 };

  function read(key) {
    try {
      const value = JSON.parse(localStorage.getItem(key) || "[]");
      return Array.isArray(value)
        ? value.filter((entry) => entry && typeof entry.id === "string" && entry.id && entry.id.length <= 500)
        : [];
    } catch (_) {
      return [];  // storage disabled (private mode) or damaged: start afresh
    }
  }

  function write(key, entries) {
    try {
      if (entries.length) localStorage.setItem(key, JSON.stringify(entries));
      else localStorage.removeItem(key);
    } catch (_) { /* storage full or disabled: the row just does not remember */ }
  }

  function remember(product, kind) {
    const earlier = read(HISTORY_KEY).find((entry) => entry.id === product.id);
    const weight = Math.max(WEIGHTS[kind] || 1, earlier ? earlier.weight : 0);
    const entry = { id: product.id, title: product.title, weight };
    write(HISTORY_KEY, [entry, ...read(HISTORY_KEY).filter((other) => other.id !== product.id)].slice(0, MAX_HISTORY));
    write(NOT_FOR_ME_KEY, read(NOT_FOR_ME_KEY).filter((other) => other.id !== product.id));
  }

  function notForMe(product) {
    write(NOT_FOR_ME_KEY, [{ id: product.id, title: product.title },
                           ...read(NOT_FOR_ME_KEY).filter((other) => other.id !== product.id)].slice(0, MAX_NOT_FOR_ME));
    write(HISTORY_KEY, read(HISTORY_KEY).filter((other) => other.id !== product.id));
    refresh();
  }

  function forget() {
    write(HISTORY_KEY, []);
    write(NOT_FOR_ME_KEY, []);
    refresh();
  }

  function because(history) {
    const i18n = window.shoplensI18n;
    const titles = history.slice(0, 3).map((entry) => i18n.t("quote", { text: entry.title }))
      .join(i18n.t("list.separator"));
    const count = history.length - 3;
    return i18n.t("foryou.because", { titles: count > 0 ? i18n.t("foryou.because_more", { titles, count }) : titles });
  }

  let pending = null;
  async function refresh() {
    const section = $("for-you");
    const history = read(HISTORY_KEY);
    if (!history.length) {
      section.hidden = true;
      $("for-you-row").replaceChildren();
      return;
    }
    const request = (pending = {});
    const weight = (value) => (Number.isFinite(value) && value > 0 ? Math.min(value, 1000) : 1);  // storage is editable
    const positive = Object.fromEntries(history.map((entry) => [entry.id, weight(entry.weight)]));
    const negative = read(NOT_FOR_ME_KEY).map((entry) => entry.id).filter((id) => !(id in positive));
    let body;
    try {
      body = await window.shoplens.callApi("/api/v1/recommend", {
        method: "POST", credentials: "omit", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ positive, negative, k: ROW_SIZE, skip_unknown: true }),
      });
    } catch (error) {
      if (request !== pending) return;
      $("for-you-status").textContent = error.message;
      section.hidden = false;
      return;
    }
    if (request !== pending) return;  // a newer interaction asked again meanwhile
    if (body.unknown.length) {  // products the shop no longer has: drop them for good
      const gone = new Set(body.unknown);
      write(HISTORY_KEY, read(HISTORY_KEY).filter((entry) => !gone.has(entry.id)));
      write(NOT_FOR_ME_KEY, read(NOT_FOR_ME_KEY).filter((entry) => !gone.has(entry.id)));
    }
    const known = read(HISTORY_KEY);
    const titles = new Map(known.map((entry) => [entry.id, entry.title]));
    $("for-you-because").textContent = known.length ? because(known) : "";
    $("for-you-status").textContent = body.results.length ? "" : window.shoplensI18n.t("foryou.empty");
    $("for-you-row").replaceChildren(...body.results.map((product) => {
      const hide = window.shoplens.element("button", "button not-for-me", window.shoplensI18n.t("foryou.not_for_me"));
      hide.type = "button";
      hide.addEventListener("click", () => notForMe(product));
      const note = titles.has(product.because) ? window.shoplensI18n.t("foryou.like", {
        title: window.shoplensI18n.t("quote", { text: titles.get(product.because) }) }) : "";
      return window.shoplens.productCard(product, { note, extraActions: [hide] });
    }));
    section.hidden = !known.length;
  }

  let timer = null;
  function refreshSoon() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);  // several quick taps ask once
  }

  document.addEventListener("shoplens:interaction", (event) => {
    remember(event.detail.product, event.detail.kind);
    refreshSoon();
  });
  document.addEventListener("DOMContentLoaded", () => {
    $("for-you-clear").addEventListener("click", forget);
    refresh();
  });
})();
