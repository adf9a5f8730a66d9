// shoplens words and numbers in a language, from the message catalogs ({language: {key: text}}, English the
// fallback). A shared piece (static/shared/): one expression the server serves to our pages as
// /common/i18n-core.js and writes into /embed/shoplens.js, where it stays private to the shop's page.
(catalogs) => {
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

  // An element's language: its own or nearest ancestor's lang attribute (<html lang> included), then the
  // browser's.
  function languageOf(element) {
    const holder = element && element.closest ? element.closest("[lang]") : null;
    return supported(holder && holder.getAttribute("lang")) || browserLanguage();
  }

  function lookup(language, key) {
    const catalog = catalogs[language] || {};
    return key in catalog ? catalog[key] : (catalogs[FALLBACK] || {})[key];
  }

  // t("status.results", { count: 3 }, "fr") picks "status.results.one" / ".other" by the language's plural rules.
  function t(key, params, language) {
    let text;
    if (typeof params.count === "number") {
      text = lookup(language, `${key}.${new Intl.PluralRules(language).select(params.count)}`) ??
        lookup(language, `${key}.other`);
    }
    text = text ?? lookup(language, key) ?? key;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  }

  function price(amount, currency, language) {
    if (amount === null || amount === undefined) return "";
    try {
      return new Intl.NumberFormat(language, { style: "currency", currency: currency || "USD" }).format(amount);
    } catch (_) {  // a currency code Intl does not know
      return `${new Intl.NumberFormat(language, { minimumFractionDigits: 2 }).format(amount)} ${currency || ""}`.trim();
    }
  }

  function number(value, digits, language) {
    return new Intl.NumberFormat(language, { minimumFractionDigits: digits, maximumFractionDigits: digits })
      .format(value);
  }

  // An API error in the shopper's language: the server's own message in English (it is the most precise),
  // the catalog's word for its code otherwise.
  function errorMessage(error, language) {
    if (!error) return "";
    const translated = language !== FALLBACK ? lookup(language, `error.${error.code}`) : null;
    return translated || error.message;
  }

  return { supported, browserLanguage, languageOf, t, price, number, errorMessage };
}
