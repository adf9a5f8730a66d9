// shoplens as an installed app: registers the service worker (offline shell) and says when the page is offline.
"use strict";

(() => {
  function show(offline) {
    document.getElementById("offline").hidden = !offline;
  }

  // navigator.onLine only says that a network interface is up (it stays true behind a dead Wi-Fi, and in
  // some browsers after an offline reload), so a page the service worker served from its cache asks the
  // server itself whether it can be reached.
  async function showConnection() {
    if (!navigator.onLine) return show(true);
    if (!navigator.serviceWorker || !navigator.serviceWorker.controller) return show(false);
    try {
      await fetch("/healthz", { cache: "no-store" });
      show(false);
    } catch (error) {
      show(true);
    }
  }
  window.addEventListener("online", showConnection);
  window.addEventListener("offline", () => show(true));
  document.addEventListener("DOMContentLoaded", showConnection);
  if ("serviceWorker" in navigator) {
    window.addEventListener("load", () => {
      navigator.serviceWorker.register("/sw.js").catch(() => { /* no offline shell: the page still works */ });
    });
  }
})();
