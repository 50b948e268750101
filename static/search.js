// Headline completions under the header search box. Without JavaScript the box is a
// plain form that submits to /search, so this only adds to it.
(() => {
  'use strict';
  const input = document.getElementById('site-search-q');
  const list = document.getElementById('site-search-suggestions');
  if (!input || !list) return;
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
})();
