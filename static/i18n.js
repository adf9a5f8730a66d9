// shoplens words in the shopper's language on our own pages: one catalog per language (static/messages/<lang>.json,
// served together by /i18n/messages.js; the functions are the shared /common/i18n-core.js). Prices and numbers go through Intl, so a French
// page prints "24,00 €". ?lang=fr forces a language; otherwise the browser's preferred ones decide.
"use strict";

window.shoplensI18n = (() => {
  const core = window.shoplensShared["i18n-core"](window.SHOPLENS_MESSAGES || { en: {} });

  // Elements carry data-i18n="key" (their text) and data-i18n-attr="attribute=key;..." (attributes).
  function translate(root = document, language = current) {
    for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = core.t(node.dataset.i18n, {}, language);
    for (const node of root.querySelectorAll("[data-i18n-attr]")) {
      for (const pair of node.dataset.i18nAttr.split(";")) {
        const [attribute, key] = pair.split("=");
        if (attribute && key) node.setAttribute(attribute.trim(), core.t(key.trim(), {}, language));
      }
    }
  }

  const current = core.supported(new URLSearchParams(location.search).get("lang")) || core.browserLanguage();
  return {
    language: current,
    languageOf: core.languageOf,
    t: (key, params = {}, language = current) => core.t(key, params, language),
    price: (amount, currency, language = current) => core.price(amount, currency, language),
    number: (value, digits, language = current) => core.number(value, digits, language),
    errorMessage: (error, language = current) => core.errorMessage(error, language),
    translate,
  };
})();

// The page's own words (its title too) in the chosen language, before any other script runs.
document.documentElement.lang = window.shoplensI18n.language;
if (window.shoplensI18n.language !== "en") window.shoplensI18n.translate();
