// shoplens as an installed app: registers the service worker (offline shell) and says when the page is offline.
"use strict";

(() => {
  function showConnection() {
    document.getElementById("offline").hidden = navigator.onLine;
  }
  window.addEventListener("online", showConnection);
  window.addEventListener("offline", showConnection);
  document.addEventListener("DOMContentLoaded", showConnection);
  if ("serviceWorker" in navigator) {
    window.addEventListener("load", () => {
      navigator.serviceWorker.register("/sw.js").catch(() => { /* no offline shell: the page still works */ });
    });
  }
})();
