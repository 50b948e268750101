// Served at /sw.js after the constants views/offline.py writes.
const STATIC = 'readerapp-static-' + VERSION;
const PAGES = 'readerapp-pages';
const IMAGES = 'readerapp-images';
const SAVED = 'readerapp-saved';
const LIMITS = {[PAGES]: PAGE_LIMIT, [IMAGES]: IMAGE_LIMIT};
const IMAGE_MS = 30 * 864e5;
const NETWORK_WAIT = 3000;
const ARTICLE = /^\/news\/[^/]+\/[^/]+$/;
// A page's own images (the CSP blocks others).
const images = (html) => [...html.matchAll(/<img [^>]*src="([^"]+)"/g)]
  .map(([, src]) => new URL(src.replace(/&amp;/g, '&'), location.origin))
  .filter((image) => image.origin === location.origin).map((image) => image.href);

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(STATIC).then((cache) =>
    cache.addAll(PRECACHE.map((url) => new Request(url, {cache: 'reload'})))));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    // Only our own stale shells go: other caches on this origin are not ours.
    for (const name of await caches.keys()) {
      if (name.startsWith('readerapp-static-') && name !== STATIC) await caches.delete(name);
    }
    await self.registration.navigationPreload?.enable();
    await self.clients.claim();
  })());
});

self.addEventListener('message', (event) => {
  const {type, url, q} = event.data || {};
  const port = event.ports[0];
  const tasks = {
    'skip-waiting': async () => self.skipWaiting(),
    visited: () => keep(url).then(() => refreshLatest(false)),
    save: () => save(url),
    remove: () => remove(url),
    list: () => all().then((stories) => stories.map(({text, words, ...rest}) => rest)),
    search: () => searchHere(q),
  };
  if (!tasks[type]) return;
  event.waitUntil(tasks[type]().then((value) => port?.postMessage(value),
    () => port?.postMessage(null)));
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== location.origin) return;
  if (request.mode === 'navigate') event.respondWith(navigate(event, url));
  else if (url.pathname.startsWith('/static/')) event.respondWith(staticFirst(request));
  else if (request.destination === 'image') event.respondWith(imageFirst(request));
});

const ok = (response) => response?.ok && response.type === 'basic';
const keyOf = (url) => url.pathname + url.search;
const fromSaved = (key) => caches.match(key, {cacheName: SAVED});
const cached = async (key) => (await fromSaved(key)) || caches.match(key, {cacheName: PAGES});

async function navigate(event, url) {
  // Stale search results mislead: offline, the device's own search answers.
  const keepable = url.pathname !== '/search';
  const network = (async () => (await event.preloadResponse) || fetch(event.request))();
  let timer;
  const wait = new Promise((resolve) => { timer = setTimeout(resolve, NETWORK_WAIT); });
  try {
    const response = await Promise.race([network, wait]);
    clearTimeout(timer);
    if (response) {
      if (keepable && ok(response)) event.waitUntil(store(url, response.clone()));
      if (response.status < 500) return response;
    }
  } catch {
    clearTimeout(timer);
  }
  const copy = keepable && ((await cached(keyOf(url))) ||
    await caches.match(keyOf(url), {cacheName: STATIC}));
  if (copy && !copy.headers.get('x-cached-at')) return copy;
  if (copy) {
    // A late answer from the network is kept, and the reader told if it is newer.
    event.waitUntil(network.then((fresh) => ok(fresh) &&
      store(url, fresh, event.resultingClientId || event.clientId)).catch(() => {}));
    const html = (await copy.text()).replace('<body ',
      `<body data-offline-copy="${copy.headers.get('x-cached-at')}" `);
    return new Response(html, {headers: {'Content-Type': 'text/html; charset=utf-8'}});
  }
  return caches.match(OFFLINE_URL, {cacheName: STATIC});
}

async function stamped(response) {
  const headers = new Headers(response.headers);
  headers.set('x-cached-at', new Date().toISOString());
  return new Response(await response.blob(), {status: response.status, headers});
}

// Cache writes run one at a time, so the bounds hold.
let writing = Promise.resolve();
const serially = (task) => (writing = writing.then(task, task));

async function store(url, response, clientId) {
  const key = keyOf(url);
  const html = await response.clone().text();
  const copy = await stamped(response);
  const before = await serially(async () => {
    const previous = await cached(key);
    if (previous && (await previous.clone().text()) === html) return false;
    await makeRoom(PAGES);
    await (await caches.open(PAGES)).put(key, copy.clone());
    if (await fromSaved(key)) await (await caches.open(SAVED)).put(key, copy);
    if (ARTICLE.test(url.pathname)) await remember(key, html);
    return previous || null;
  });
  if (before === false) return;
  if (url.pathname === '/' && before) await refreshLatest(true);
  const client = before && clientId && await self.clients.get(clientId);
  if (client) client.postMessage({type: 'updated', url: key});
}

async function makeRoom(name) {
  const cache = await caches.open(name);
  const keys = await cache.keys();
  for (const [index, key] of keys.entries()) {
    const stale = name === IMAGES &&
      !(Date.now() - Date.parse((await cache.match(key)).headers.get('x-cached-at')) < IMAGE_MS);
    if (stale || index <= keys.length - LIMITS[name]) {
      await cache.delete(key);
      const path = new URL(key.url).pathname;
      if (name === PAGES && !(await fromSaved(path))) await forget(path);
    }
  }
}

async function staticFirst(request) {
  const hit = await caches.match(request);
  if (hit) return hit;
  try {
    return await fetch(request);
  } catch {
    // An old page may ask for last version's file: today's will do.
    return (await caches.match(request, {ignoreSearch: true})) || Response.error();
  }
}

async function imageFirst(request) {
  const hit = await caches.match(request);
  if (hit) return hit;
  const response = await fetch(request);
  if (ok(response)) {
    const copy = await stamped(response.clone());
    await serially(async () => {
      await makeRoom(IMAGES);
      await (await caches.open(IMAGES)).put(request, copy);
    });
  }
  return response;
}

async function keep(path) {
  if (await cached(path)) return;
  const response = await fetch(path);
  if (ok(response)) await store(new URL(path, location.origin), response);
}

async function refreshLatest(homeChanged) {
  if (navigator.connection?.saveData) return;
  try {
    if (!homeChanged && await caches.match('/', {cacheName: PAGES})) return;
    await keep('/');
    const {urls} = await (await fetch(LATEST_URL)).json();
    for (const url of urls) await keep(url);
  } catch {
    // Offline: the next visit tries again.
  }
}

async function save(path) {
  await keep(path);
  const page = await cached(path);
  const html = await page.clone().text();
  const saved = await caches.open(SAVED);
  await saved.put(path, page);
  for (const image of images(html)) {
    const copy = (await caches.match(image)) || await fetch(image);
    if (copy.ok) await saved.put(image, copy);
  }
  await remember(path, html, new Date().toISOString());
  return true;
}

async function remove(path) {
  const saved = await caches.open(SAVED);
  const page = await saved.match(path);
  if (!page) return true;
  const html = await page.text();
  for (const image of [...images(html), path]) await saved.delete(image);
  if (await caches.match(path, {cacheName: PAGES})) await remember(path, html, null);
  else await forget(path);
  return true;
}

// Stories on this device, for the offline list and search (IndexedDB).
const done = (request) => new Promise((resolve, reject) => {
  request.onsuccess = () => resolve(request.result);
  request.onerror = () => reject(request.error);
});
let opened;
function stories(mode) {
  if (!opened) {
    const request = indexedDB.open('readerapp', 1);
    request.onupgradeneeded = () => request.result.createObjectStore('stories', {keyPath: 'url'});
    opened = done(request);
  }
  return opened.then((db) => db.transaction('stories', mode).objectStore('stories'));
}
let words = null;
const all = async () => done((await stories('readonly')).getAll());
const forget = async (url) => { words = null; await done((await stories('readwrite')).delete(url)); };
const NAMED = {amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' '};
const decode = (html) => html.replace(/<[^>]*>/g, ' ')
  .replace(/&(#x?)?(\w+);/gi, (entity, hash, name) => (hash ?
    String.fromCodePoint(parseInt(name, hash.length > 1 ? 16 : 10)) : NAMED[name] || entity))
  .replace(/\s+/g, ' ').trim();
const part = (html, re) => decode((html.match(re) || ['', ''])[1]);

async function remember(url, html, savedAt) {
  const old = await done((await stories('readonly')).get(url));
  const story = {
    url,
    headline: part(html, /<h1 class="story-headline">([\s\S]*?)<\/h1>/),
    section: part(html, /<article class="story" data-section="([^"]*)"/),
    published: part(html, /<time datetime="([^"]*)"/),
    text: part(html.replace(/<aside[\s\S]*?<\/aside>/g, ''), /<div class="story-body">([\s\S]*?)<\/div>/),
    cachedAt: new Date().toISOString(),
    savedAt: savedAt === undefined ? old?.savedAt || null : savedAt,
  };
  // Tokenised once here, so the first offline search is fast.
  story.words = [...new Set(tokens(`${story.headline} ${story.text}`))];
  words = null;
  await done((await stories('readwrite')).put(story));
}

const tokens = (text) => text.toLowerCase().match(/[\p{L}\p{N}]+/gu) || [];
const escape = (text) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function searchHere(q) {
  if (!words) {
    words = (await all()).map((story) => ({story, set: new Set(story.words)}));
  }
  const wanted = [...new Set(tokens(q || ''))];
  const hits = wanted.length ? words.filter(({set}) => wanted.every((w) => set.has(w))) : [];
  const score = ({story}) => wanted.reduce((sum, w) =>
    sum + (tokens(story.headline).includes(w) ? 3 : 1), 0);
  hits.sort((a, b) => score(b) - score(a) || (b.story.published > a.story.published ? 1 : -1));
  // Query words are letters and digits only, so safe in a RegExp.
  const marker = new RegExp(`(?<![\\p{L}\\p{N}])(${wanted.join('|')})(?![\\p{L}\\p{N}])`, 'giu');
  const mark = (text) => text.split(marker).map((piece, i) =>
    i % 2 ? `<mark>${escape(piece)}</mark>` : escape(piece)).join('');
  return {
    total: hits.length, stories: words.length,
    hits: hits.slice(0, 50).map(({story}) => {
      const at = Math.max(0, story.text.toLowerCase().indexOf(wanted[0]) - 80);
      const snippet = (at ? '…' : '') + story.text.slice(at, at + 220) + '…';
      return {url: story.url, headline: story.headline, section: story.section,
        published: story.published, snippet: mark(snippet)};
    }),
  };
}
