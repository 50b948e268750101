// Headline completions under the header search box. Without JavaScript the box is a
// plain form that submits to /search, so this only adds to it.
(function () {
  'use strict';
  var input = document.getElementById('site-search-q');
  var list = document.getElementById('site-search-suggestions');
  if (!input || !list || !window.fetch) return;
  var timer = null;
  var latest = 0;

  function close() {
    list.hidden = true;
    list.textContent = '';
    input.setAttribute('aria-expanded', 'false');
  }

  function show(suggestions) {
    list.textContent = '';
    suggestions.forEach(function (item) {
      var li = document.createElement('li');
      li.setAttribute('role', 'option');
      var link = document.createElement('a');
      link.href = item.url;
      link.textContent = item.headline;
      li.appendChild(link);
      list.appendChild(li);
    });
    list.hidden = suggestions.length === 0;
    input.setAttribute('aria-expanded', String(!list.hidden));
  }

  function lookUp() {
    var prefix = input.value.trim();
    if (prefix.length < 2) { close(); return; }
    var ticket = ++latest;
    fetch(input.dataset.suggestUrl + '?q=' + encodeURIComponent(prefix))
      .then(function (response) { return response.ok ? response.json() : { suggestions: [] }; })
      .then(function (data) { if (ticket === latest) show(data.suggestions); })
      .catch(close);
  }

  input.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(lookUp, 150);
  });
  input.addEventListener('keydown', function (event) {
    if (event.key === 'ArrowDown' && !list.hidden) {
      event.preventDefault();
      list.querySelector('a').focus();
    } else if (event.key === 'Escape') {
      close();
    }
  });
  list.addEventListener('keydown', function (event) {
    var item = document.activeElement.parentElement;
    if (event.key === 'ArrowDown' && item.nextElementSibling) {
      event.preventDefault();
      item.nextElementSibling.firstChild.focus();
    } else if (event.key === 'ArrowUp') {
      event.preventDefault();
      (item.previousElementSibling ? item.previousElementSibling.firstChild : input).focus();
    } else if (event.key === 'Escape') {
      close();
      input.focus();
    }
  });
  document.addEventListener('click', function (event) {
    if (!event.target.closest || !event.target.closest('.site-search')) close();
  });
}());
