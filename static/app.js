// Progressive enhancement, loaded as a module (own scope, strict, deferred). Every
// page works without it.
const body = document.body;
const $ = (selector) => document.querySelector(selector);
const sw = navigator.serviceWorker;
const here = location.pathname + location.search;
const kind = body.dataset.page;

const say = (text, action, onClick) => {
  const button = $('.notice-action');
  $('.notice-text').textContent = text;
  button.hidden = !action;
  button.textContent = action || '';
  button.onclick = onClick || null;
  $('.notice').hidden = false;
};
const when = (iso) => new Date(iso).toLocaleString([], {dateStyle: 'medium', timeStyle: 'short'});

if (body.dataset.offlineCopy) say(`Offline: saved copy from ${when(body.dataset.offlineCopy)}.`);

// Headline completions: links under the search box; down arrow or Tab, Escape closes.
const input = $('#site-search-q');
const list = $('#site-search-suggestions');
let timer;
let latest = 0;
const show = (suggestions) => {
  list.textContent = '';
  for (const {url, headline} of suggestions) {
    const item = list.appendChild(document.createElement('li'));
    Object.assign(item.appendChild(document.createElement('a')), {href: url, textContent: headline});
  }
  list.hidden = !suggestions.length;
};
const lookUp = () => {
  const prefix = input.value.trim();
  const ticket = ++latest;
  if (prefix.length < 2) return show([]);
  fetch(`${input.dataset.suggestUrl}?q=${encodeURIComponent(prefix)}`)
    .then((response) => (response.ok ? response.json() : {suggestions: []}))
    .then((data) => ticket === latest && show(data.suggestions), () => show([]));
};
input.addEventListener('input', () => {
  clearTimeout(timer);
  timer = setTimeout(lookUp, 150);
});
$('.site-search').onkeydown = (event) => {
  if (event.key === 'Escape') {
    show([]);
    input.focus();
  } else if (event.key === 'ArrowDown' && event.target === input && !list.hidden) {
    event.preventDefault();
    list.querySelector('a').focus();
  }
};
document.addEventListener('click', (event) => event.target.closest('.site-search') || show([]));

// Display settings are kept on this device; theme.js applies them.
const root = document.documentElement;
const settings = $('.display-settings');
for (const input of settings.querySelectorAll('input')) {
  if (root.getAttribute(`data-${input.name}`) === input.value) input.checked = true;
}
settings.hidden = false;
settings.onchange = ({target: {name, value}}) => {
  root.setAttribute(`data-${name}`, value);
  try { localStorage.setItem(`readerapp-${name}`, value); } catch {}
};

// Minutes left in the story (the progress bar is CSS). Scroll events come once a frame.
const story = $('.story-body');
const left = $('.reading-left');
if (story) {
  const track = () => {
    const {top, height} = story.getBoundingClientRect();
    const read = Math.min(1, Math.max(0, (innerHeight - top) / height));
    left.textContent = read < 1 ? `${Math.ceil(left.dataset.minutes * (1 - read))} min left` : 'Finished';
    left.hidden = top > 0;
  };
  addEventListener('scroll', track, {passive: true});
  track();
}

// The device's share sheet, else the link copied; no third party sees it.
const share = $('.share-button');
if (share) {
  const url = $('link[rel="canonical"]').href;
  const copy = () => Promise.resolve().then(() => navigator.clipboard.writeText(url))
    .then(() => say(`Link copied: ${url}`), () => say(`Copy this link: ${url}`));
  share.hidden = false;
  share.onclick = () => (navigator.share
    ? navigator.share({title: $('h1').textContent, url})
      .catch((error) => error.name === 'AbortError' || copy())
    : copy());
}

// Saving, offline copies and lists of stories need the worker.
if (sw) {
  const ask = (message) => sw.ready.then((registration) => new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = (event) => resolve(event.data);
    registration.active.postMessage(message, [channel.port2]);
  }));

  const hadController = !!sw.controller;
  sw.register('/sw.js').then((registration) => {
    // A new worker waits until the reader reloads: no page mixes old and new files.
    const offer = (worker) => say('A new version of this site is ready.', 'Reload',
      () => worker.postMessage({type: 'skip-waiting'}));
    if (registration.waiting && hadController) offer(registration.waiting);
    registration.onupdatefound = () => {
      const worker = registration.installing;
      worker.onstatechange = () => worker.state === 'installed' && hadController && offer(worker);
    };
  });
  sw.oncontrollerchange = () => hadController && location.reload();
  sw.onmessage = ({data}) => data.type === 'updated' && data.url === here &&
    say('An updated version of this story is available.', 'Show it', () => location.reload());
  if (kind !== 'offline' && !body.dataset.offlineCopy) {
    // Pages the worker served are kept already; this one came before it.
    if (!hadController) ask({type: 'visited', url: here});
    // The newest stories are kept once this page has loaded and is idle, never under
    // Save-Data or on 2G.
    const {saveData, effectiveType} = navigator.connection || {};
    if (!saveData && !/2g/.test(effectiveType)) {
      onload = () => (self.requestIdleCallback || setTimeout)(() => ask({type: 'latest'}));
    }
  }

  const save = $('.save-button');
  if (save) {
    let saved = false;
    const show = () => { save.textContent = saved ? 'Remove from saved' : 'Save for offline'; };
    ask({type: 'list'}).then((stories) => {
      saved = stories?.some((s) => s.url === here && s.savedAt);
      show();
      save.hidden = false;
    });
    save.onclick = () => {
      if (!saved) navigator.storage?.persist?.();
      ask({type: saved ? 'remove' : 'save', url: here}).then((done) => {
        if (!done) return;
        saved = !saved;
        show();
        say(saved ? 'Saved: this story stays on your device.' : 'Removed from saved stories.');
      });
    };
  }

  const add = (parent, tag, className, text = '') => Object.assign(
    parent.appendChild(document.createElement(tag)), {className, textContent: text});
  const render = (stories, withSaved) => {
    const list = $('.device-stories');
    list.textContent = '';
    for (const story of stories) {
      const item = add(list, 'li', 'search-hit');
      const link = add(add(item, 'h2', 'article-card-headline'), 'a', '', story.headline);
      link.href = story.url;
      add(item, 'p', 'article-meta', story.section + (withSaved ? ` · saved ${when(story.savedAt)}` : ''));
      // The worker escapes the story's text before it adds <mark>.
      if (story.snippet) add(item, 'p', 'search-snippet').innerHTML = story.snippet;
      if (withSaved) {
        add(item, 'button', '', 'Remove').onclick =
          () => ask({type: 'remove', url: story.url}).then(() => item.remove());
      }
    }
  };
  const stories = (n) => `${n} ${n === 1 ? 'story' : 'stories'}`;

  const query = new URLSearchParams(location.search).get('q');
  if (kind === 'offline' && location.pathname === '/search' && query) {
    $('#offline-q').value = query;
    ask({type: 'search', q: query}).then((results) => {
      $('.offline-status').textContent = `Searching ${stories(results.stories)} on this device: ` +
        `${results.total} result${results.total === 1 ? '' : 's'} for “${query}”.`;
      render(results.hits, false);
    });
  } else if (kind === 'offline' || kind === 'saved') {
    const onlySaved = kind === 'saved';
    ask({type: 'list'}).then((all) => {
      const shown = (all || []).filter((s) => !onlySaved || s.savedAt);
      shown.sort((a, b) => ((b.savedAt || b.published) > (a.savedAt || a.published) ? 1 : -1));
      $(onlySaved ? '.saved-status' : '.offline-status').textContent =
        `${stories(shown.length)} ${onlySaved ? 'saved ' : ''}on this device.`;
      render(shown, onlySaved);
    });
    if (onlySaved && navigator.storage?.estimate) {
      navigator.storage.estimate().then(({usage, quota}) => {
        const mb = (bytes) => `${(bytes / 1048576).toFixed(1)} MB`;
        $('.storage-estimate').textContent = `This site uses ${mb(usage)} of the ${mb(quota)} this browser allows it.`;
      });
    }
  }
}

addEventListener('beforeinstallprompt', (event) => {
  event.preventDefault();
  const install = $('.install-button');
  install.hidden = false;
  install.onclick = () => { event.prompt(); install.hidden = true; };
});
