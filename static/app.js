// Progressive enhancement: search completions, sharing, the service worker, offline
// notices, saving, installing. Every page works without this file.
(() => {
  'use strict';
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

  // Headline completions under the header search box (a plain form without this).
  const input = $('#site-search-q');
  const list = $('#site-search-suggestions');
  let timer = null;
  let latest = 0;

  const close = () => {
    list.hidden = true;
    list.textContent = '';
    input.setAttribute('aria-expanded', 'false');
  };
  const show = (suggestions) => {
    list.textContent = '';
    for (const item of suggestions) {
      const option = list.appendChild(document.createElement('li'));
      option.setAttribute('role', 'option');
      const link = option.appendChild(document.createElement('a'));
      link.href = item.url;
      link.textContent = item.headline;
    }
    list.hidden = !suggestions.length;
    input.setAttribute('aria-expanded', String(!list.hidden));
  };
  const lookUp = () => {
    const prefix = input.value.trim();
    if (prefix.length < 2) return close();
    const ticket = ++latest;
    fetch(`${input.dataset.suggestUrl}?q=${encodeURIComponent(prefix)}`)
      .then((response) => (response.ok ? response.json() : {suggestions: []}))
      .then((data) => ticket === latest && show(data.suggestions))
      .catch(close);
  };

  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(lookUp, 150);
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowDown' && !list.hidden) {
      event.preventDefault();
      list.querySelector('a').focus();
    } else if (event.key === 'Escape') {
      close();
    }
  });
  // Suggestions are links: Tab and Shift+Tab move through them, Escape leaves.
  list.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      close();
      input.focus();
    }
  });
  document.addEventListener('click', (event) => {
    if (!event.target.closest('.site-search')) close();
  });

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

  if (!sw) return;

  const ask = (message) => sw.ready.then((registration) => new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = (event) => resolve(event.data);
    registration.active.postMessage(message, [channel.port2]);
  }));

  const hadController = Boolean(sw.controller);
  sw.register('/sw.js').then((registration) => {
    // A new worker waits until the reader reloads: no page mixes old and new files.
    const offer = (worker) => say('A new version of this site is ready.', 'Reload',
      () => worker.postMessage({type: 'skip-waiting'}));
    if (registration.waiting && hadController) offer(registration.waiting);
    registration.addEventListener('updatefound', () => {
      const worker = registration.installing;
      worker.addEventListener('statechange', () => {
        if (worker.state === 'installed' && hadController) offer(worker);
      });
    });
  });
  sw.addEventListener('controllerchange', () => hadController && location.reload());
  sw.addEventListener('message', ({data}) => {
    if (data.type === 'updated' && data.url === here) {
      say('An updated version of this story is available.', 'Show it', () => location.reload());
    }
  });
  if (kind !== 'offline' && !body.dataset.offlineCopy) ask({type: 'visited', url: here});

  const save = $('.save-button');
  if (save) {
    let saved = false;
    const show = () => { save.textContent = saved ? 'Remove from saved' : 'Save for offline'; };
    ask({type: 'list'}).then((stories) => {
      saved = stories?.some((s) => s.url === here && s.savedAt);
      show();
      save.hidden = false;
    });
    save.addEventListener('click', () => {
      if (!saved) navigator.storage?.persist?.();
      ask({type: saved ? 'remove' : 'save', url: here}).then((done) => {
        if (!done) return;
        saved = !saved;
        show();
        say(saved ? 'Saved: this story stays on your device.' : 'Removed from saved stories.');
      });
    });
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
        add(item, 'button', '', 'Remove').addEventListener('click',
          () => ask({type: 'remove', url: story.url}).then(() => item.remove()));
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

  const standalone = matchMedia('(display-mode: standalone)').matches || navigator.standalone;
  // iOS Safari has no install prompt: say how to add the site by hand.
  if (!standalone && /iPhone|iPad|iPod/.test(navigator.userAgent)) $('.ios-install').hidden = false;
  addEventListener('beforeinstallprompt', (event) => {
    event.preventDefault();
    const install = $('.install-button');
    install.hidden = false;
    install.onclick = () => { event.prompt(); install.hidden = true; };
  });
})();
