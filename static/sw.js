// Served at /sw.js after the constants views/offline.py writes.
const STATIC = 'readerapp-static-' + VERSION;
// Pages the reader opened, and what is kept in the background, apart: a download
// never pushes out a page the reader read, and never waits in front of one.
const PAGES = 'readerapp-pages';
const LATEST = 'readerapp-latest';
const IMAGES = 'readerapp-images';
const SAVED = 'readerapp-saved';
const LIMITS = {[PAGES]: PAGE_LIMIT, [IMAGES]: IMAGE_LIMIT};
const IMAGE_MS = 30 * 864e5;
const NETWORK_WAIT = 3000;
const ARTICLE = /^\/news\/[^/]+\/[^/]+$/;
// A kept picture is kept once, in the largest width this device asked for (the
// lead's, on a phone), under /media/<digest>/: offline, any width of it will do.
const MEDIA = /^(\/media\/\w+\/)(\d+)/;
let need = 960;
const widthOf = (copy) => +copy?.headers.get('x-from')?.match(/(\d+)\.\w+$/)?.[1] || 0;
// A story's own pictures (not its cards'): [the width this device needs, its key].
const pictures = (html) => [...html.matchAll(/<picture data-offline>.*?image\/webp" srcset="([^"]+)/g)]
  .map(([, set]) => {
    const options = set.split(', ').map((o) => o.split(' '));
    const [url] = options.find(([, w]) => parseInt(w) >= need) || options.at(-1);
    return [url, url.match(MEDIA)[1]];
  });

addEventListener('install', (event) => {
  // A hashed file in the HTTP cache is the right one (the page just loaded most of
  // them); the offline and saved pages are fetched afresh.
  event.waitUntil(open(STATIC).then((cache) => cache.addAll(PRECACHE.map((url) =>
    new Request(url, {cache: url.includes('?v=') ? 'default' : 'reload'})))));
});

addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    // Only our own stale shells go: other caches on this origin are not ours.
    for (const name of await caches.keys()) {
      if (name.startsWith('readerapp-static-') && name !== STATIC) await caches.delete(name);
    }
    await registration.navigationPreload?.enable();
    await clients.claim();
  })());
});

addEventListener('message', (event) => {
  const {type, url, q} = event.data || {};
  const port = event.ports[0];
  const tasks = {
    'skip-waiting': () => skipWaiting(),
    visited: () => (kept = keep(url)),
    // After the page itself is kept, so that neither downloads it twice.
    latest: () => (latest ||= kept.catch(() => {}).then(keepLatest)
      .finally(() => { latest = null; })),
    save: () => save(url),
    remove: () => remove(url),
    list: () => all().then((stories) => stories.map(({text, words, ...rest}) => rest)),
    search: () => searchHere(q),
  };
  if (!tasks[type]) return;
  event.waitUntil(tasks[type]().then((value) => port?.postMessage(value),
    () => port?.postMessage(null)));
});

addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== location.origin) return;
  if (request.mode === 'navigate') event.respondWith(navigate(event, url));
  else if (url.pathname.startsWith('/static/')) event.respondWith(staticFirst(request));
  else if (request.destination === 'image') event.respondWith(imageFirst(request));
});

const ok = (response) => response?.ok && response.type === 'basic';
const keyOf = (url) => url.pathname + url.search;
const open = (name) => caches.open(name);
const fromSaved = (key) => caches.match(key, {cacheName: SAVED});
const stampOf = (copy) => Date.parse(copy.headers.get('x-cached-at')) || 0;
// The freshest copy on the device, wherever it is kept.
const cached = async (key) => (await Promise.all([SAVED, PAGES, LATEST].map((cacheName) =>
  caches.match(key, {cacheName})))).filter(Boolean).sort((a, b) => stampOf(b) - stampOf(a))[0];

async function navigate(event, url) {
  // Stale search results mislead: offline, the device's own search answers.
  const keepable = url.pathname !== '/search';
  const network = (async () => (await event.preloadResponse) || fetch(event.request))();
  const wait = new Promise((resolve) => setTimeout(resolve, NETWORK_WAIT));
  try {
    const response = await Promise.race([network, wait]);
    if (response) {
      if (keepable && ok(response)) event.waitUntil(store(url, response.clone()));
      if (response.status < 500) return response;
    }
  } catch {}
  // The offline and saved pages are in the shell.
  const copy = keepable && ((await cached(keyOf(url))) || await caches.match(keyOf(url)));
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
  headers.set('x-from', response.url);
  return new Response(await response.blob(), {status: response.status, headers});
}

async function store(url, response, clientId) {
  const key = keyOf(url);
  const html = await response.clone().text();
  const previous = await cached(key);
  await put(PAGES, key, response, html);
  const client = clientId && previous && (await previous.text()) !== html &&
    await clients.get(clientId);
  if (client) client.postMessage({type: 'updated', url: key});
}

// Writes to each cache run one at a time, so its bound holds.
const queues = {};
async function put(name, key, response, html) {
  const copy = await stamped(response);
  const write = (queues[name] || Promise.resolve()).then(async () => {
    const cache = await open(name);
    const keys = await cache.keys();
    for (const [index, old] of keys.entries()) {
      const stale = name === IMAGES && Date.now() - stampOf(await cache.match(old)) > IMAGE_MS;
      if (stale || index <= keys.length - LIMITS[name]) await drop(cache, old);
    }
    await cache.put(key, copy.clone());
    if (await fromSaved(key)) await (await open(SAVED)).put(key, copy);
  });
  queues[name] = write.catch(() => {});
  await write;
  if (html && ARTICLE.test(new URL(key, location.origin).pathname)) await remember(key, html);
}

async function drop(cache, key) {
  await cache.delete(key);
  const path = new URL(key.url).pathname;
  if (!(await cached(path))) await forget(path);
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
  const [, media, width] = new URL(request.url).pathname.match(MEDIA) || [];
  if (width) need = Math.max(need, +width);
  const hit = await caches.match(media || request);
  if (hit && !(width > widthOf(hit))) return hit;
  try {
    const response = await fetch(request);
    if (ok(response)) await put(IMAGES, media || request.url, response.clone());
    return response;
  } catch (error) {
    if (hit) return hit;
    throw error;
  }
}

// A story's pictures, unless this device has them as wide (a card's thumbnail is not).
async function keepPictures(html) {
  for (const [url, media] of pictures(html)) {
    if (widthOf(await caches.match(media)) >= url.match(MEDIA)[2]) continue;
    const response = await fetch(url);
    if (ok(response)) await put(IMAGES, media, response);
  }
}

async function keep(path) {
  if (await caches.match(path, {cacheName: PAGES})) return;
  const response = await fetch(path);
  if (ok(response)) await store(new URL(path, location.origin), response);
}

// The home page and the newest stories, asked for by a page once it has loaded and
// the network is quiet. The list is revalidated (a 304 when nothing is new); only
// stories not on the device yet are downloaded, and the home page when the archive
// changed after the copy kept (both dates are the server's). What is missing comes
// in one answer: compressed together, the template the pages share is sent once.
let latest, kept = Promise.resolve();
async function keepLatest() {
  const response = await fetch(LATEST_URL, {cache: 'no-cache'});
  if (!ok(response)) return;
  const cache = await open(LATEST);
  const list = await response.text();
  const urls = ['/', ...JSON.parse(list).urls];
  const modified = response.headers.get('last-modified');
  // Their pictures from the reader's second visit on: a first visit keeps text.
  const again = await cache.match(LATEST_URL);
  const pages = {};
  for (const url of urls) {
    const copy = await cached(url);
    pages[url] = copy && !(url === '/' && copy.headers.get('last-modified') !== modified) &&
      await copy.text();
  }
  const missing = urls.filter((url) => !pages[url]);
  const bundle = missing[0] && await fetch(LATEST_URL + '?pages=' + encodeURIComponent(missing));
  if (ok(bundle)) for (const [url, html] of Object.entries(await bundle.json())) {
    await put(LATEST, url, new Response(html, {headers: {'last-modified': modified}}), pages[url] = html);
  }
  for (const html of Object.values(pages)) if (again && html) await keepPictures(html);
  for (const key of await cache.keys()) {
    if (!urls.includes(new URL(key.url).pathname)) await drop(cache, key);
  }
  await cache.put(LATEST_URL, new Response(list));
}

async function save(path) {
  await keep(path);
  const page = await cached(path);
  const html = await page.clone().text();
  const saved = await open(SAVED);
  await saved.put(path, page);
  await keepPictures(html);
  for (const [, media] of pictures(html)) {
    const copy = await caches.match(media);
    if (copy) await saved.put(media, copy);
  }
  await remember(path, html, new Date().toISOString());
  return true;
}

async function remove(path) {
  const saved = await open(SAVED);
  const page = await saved.match(path);
  if (!page) return true;
  const html = await page.text();
  for (const [, key] of [...pictures(html), [, path]]) await saved.delete(key);
  if (await cached(path)) await remember(path, html, null);
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

async function remember(url, html, savedAt) {
  const old = await done((await stories('readonly')).get(url));
  // The page's NewsArticle JSON-LD names it exactly, with no markup to undo.
  const {headline, articleSection: section, datePublished: published} =
    JSON.parse(html.match(/ld\+json">(.*?)<\/script>/)[1]);
  const story = {
    url, headline, section, published,
    text: decode(html.replace(/<aside[\s\S]*?<\/aside>/g, '')
      .match(/<div class="story-body">([\s\S]*?)<\/div>/)?.[1] || ''),
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
  words ||= (await all()).map((story) => ({story, set: new Set(story.words)}));
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
