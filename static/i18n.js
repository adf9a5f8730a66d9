// shoplens words in the shopper's language: one catalog per language (static/messages/<lang>.json, served
// together by /i18n/messages.js), English as the fallback. Prices and numbers go through Intl, so a French
// page prints "24,00 €". ?lang=fr forces a language; otherwise the browser's preferred ones decide.
"use strict";

window.shoplensI18n = (() => {
  const catalogs = window.SHOPLENS_MESSAGES || { en: {} };
  const FALLBACK = "en";

  function supported(tag) {
    const base = String(tag || "").toLowerCase().split("-")[0];
    return base in catalogs ? base : null;
  }

  function browserLanguage() {
    for (const tag of navigator.languages || [navigator.language]) {
      const language = supported(tag);
      if (language) return language;
    }
    return FALLBACK;
  }

  // An element's language: its own or nearest ancestor's lang attribute, then the browser's.
  function languageOf(element) {
    const holder = element && element.closest ? element.closest("[lang]") : null;
    return supported(holder && holder.getAttribute("lang")) || browserLanguage();
  }

  function lookup(language, key) {
    const catalog = catalogs[language] || {};
    return key in catalog ? catalog[key] : (catalogs[FALLBACK] || {})[key];
  }

  // t("status.results", { count: 3 }) picks "status.results.one" / ".other" by the language's plural rules.
  function t(key, params = {}, language = current) {
    let text;
    if (typeof params.count === "number") {
      text = lookup(language, `${key}.${new Intl.PluralRules(language).select(params.count)}`) ??
        lookup(language, `${key}.other`);
    }
    text = text ?? lookup(language, key) ?? key;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  }

  function price(amount, currency, language = current) {
    if (amount === null || amount === undefined) return "";
    try {
      return new Intl.NumberFormat(language, { style: "currency", currency: currency || "USD" }).format(amount);
    } catch (_) {  // a currency code Intl does not know
      return `${new Intl.NumberFormat(language, { minimumFractionDigits: 2 }).format(amount)} ${currency || ""}`.trim();
    }
  }

  function number(value, digits, language = current) {
    return new Intl.NumberFormat(language, { minimumFractionDigits: digits, maximumFractionDigits: digits })
      .format(value);
  }

  // An API error in the shopper's language: the server's own message in English (it is the most precise),
  // the catalog's word for its code otherwise.
  function errorMessage(error, language = current) {
    if (!error) return "";
    const translated = language !== FALLBACK ? lookup(language, `error.${error.code}`) : null;
    return translated || error.message;
  }

  // Elements carry data-i18n="key" (their text) and data-i18n-attr="attribute=key;..." (attributes).
  function translate(root = document, language = current) {
    for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n, {}, language);
    for (const node of root.querySelectorAll("[data-i18n-attr]")) {
      for (const pair of node.dataset.i18nAttr.split(";")) {
        const [attribute, key] = pair.split("=");
        if (attribute && key) node.setAttribute(attribute.trim(), t(key.trim(), {}, language));
      }
    }
  }

  const current = supported(new URLSearchParams(location.search).get("lang")) || browserLanguage();
  return { language: current, languageOf, t, price, number, errorMessage, translate };
})();

// The page's own words (its title too) in the chosen language, before any other script runs.
document.documentElement.lang = window.shoplensI18n.language;
if (window.shoplensI18n.language !== "en") window.shoplensI18n.translate();
