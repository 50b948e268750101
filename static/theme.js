// Runs before the stylesheet and <body>: the first paint has the reader's settings.
try {
  for (const name of ['theme', 'text-size', 'line-spacing']) {
    const value = localStorage.getItem(`readerapp-${name}`);
    if (value) document.documentElement.setAttribute(`data-${name}`, value);
  }
} catch {} // storage off: the defaults stand
