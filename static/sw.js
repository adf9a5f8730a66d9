// shoplens service worker: the page shell works offline. Uploads, shares, API answers and catalog images
// are never cached — a shopper's photo must not outlive the request that carries it.
"use strict";

const CACHE = "shoplens-shell-__SHELL_VERSION__";
const SHELL = ["/", "/static/style.css", "/i18n/messages.js", "/common/i18n-core.js", "/common/face-frame.js",
               "/static/i18n.js", "/static/app.js",
               "/static/foryou.js", "/static/webapp.js", "/static/tryon.js",
               "/static/live-render.js", "/static/live.js", "/static/favicon.svg",
               "/manifest.webmanifest", "/icons/icon-192.png"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((key) => key.startsWith("shoplens-shell-") && key !== CACHE)
                                    .map((key) => caches.delete(key))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    // The page from the network when there is one; offline, the cached shell, which says it is offline.
    // A share (POST) goes to the network only: its photo is never put in a cache.
    if (request.method === "GET" && url.pathname !== "/") return;
    event.respondWith(fetch(request).catch(() => caches.match("/")));
    return;
  }
  if (request.method === "GET" && SHELL.includes(url.pathname)) {
    event.respondWith(fetch(request).catch(() => caches.match(url.pathname)));
  }
});
