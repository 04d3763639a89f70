// Facet's service worker: the gallery's shell (page, script, style sheet,
// translation tables, manifest, icons) is cached so that the installed app
// opens at once and offline, always revalidated against the server when it
// answers; thumbnails are cached as they are seen (cache first: a photo's
// thumbnail changes only when the photo does, and the URL names the photo). The API is never cached.
const SHELL = "facet-shell-v2";
const THUMBS = "facet-thumbnails-v1";
const SHELL_URLS = [
  "/", "/assets/app.js", "/assets/app.css", "/assets/i18n/en.json", "/assets/i18n/fr.json",
  "/manifest.webmanifest", "/assets/icon-192.png", "/assets/icon-512.png",
];
const MAX_THUMBS = 2000;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((c) => c.addAll(SHELL_URLS)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== SHELL && k !== THUMBS).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

async function networkFirst(request) {
  const cache = await caches.open(SHELL);
  try {
    const response = await fetch(request);
    if (response.ok) cache.put(request, response.clone());
    return response;
  } catch (e) {
    const cached = await cache.match(request, { ignoreSearch: true });
    if (cached) return cached;
    throw e;
  }
}

async function thumbnail(request) {
  const cache = await caches.open(THUMBS);
  const cached = await cache.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) {
    await cache.put(request, response.clone());
    const keys = await cache.keys();
    for (const old of keys.slice(0, Math.max(0, keys.length - MAX_THUMBS))) await cache.delete(old);
  }
  return response;
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname === "/thumbnail" && !url.searchParams.has("share")) {
    event.respondWith(thumbnail(event.request));
  } else if (url.pathname === "/" || url.pathname.startsWith("/assets/") || url.pathname === "/manifest.webmanifest") {
    event.respondWith(networkFirst(event.request));
  }
});
