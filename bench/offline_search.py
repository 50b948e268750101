"""Time offline search over stories kept on the device, in headless Chromium.

Usage: python bench/offline_search.py [STORIES]   (default 200)

Imports the first STORIES Wikinews articles of the demo archive into a scratch
archive, serves it, saves every story for offline reading through the service
worker, then times searches the way the offline search page asks for them (a
message to the worker and its answer), cold (first search builds the word sets)
and warm, and prints the median and worst of each.
"""

from __future__ import annotations

import gzip
import itertools
import os
import platform
import statistics
import sys
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright
from waitress.server import create_server

from readerapp import create_app

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ["government", "president", "election", "oil prices", "police said",
           "united nations", "minister", "court", "bank", "war"]  # fmt: skip
ASK = """async (q) => {
  const registration = await navigator.serviceWorker.ready;
  const started = performance.now();
  const results = await new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = (event) => resolve(event.data);
    registration.active.postMessage({type: 'search', q}, [channel.port2]);
  });
  return [performance.now() - started, results.total, results.stories];
}"""
SAVE = """async (url) => {
  const registration = await navigator.serviceWorker.ready;
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = (event) => resolve(event.data);
    registration.active.postMessage({type: 'save', url}, [channel.port2]);
  });
}"""


def main() -> None:
    """Build, serve, fill the device with stories, then time offline searches."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    scratch = Path(tempfile.mkdtemp())
    lines = gzip.open(ROOT / "demo" / "wikinews-en.jsonl.gz", "rt", encoding="utf-8")
    sample = scratch / "sample.jsonl"
    sample.write_text("".join(itertools.islice(lines, count)), encoding="utf-8")
    app = create_app(
        {
            "DATABASE": scratch / "archive.sqlite3",
            "INDEX_DIR": scratch / "index",
            "CACHE_TYPE": "NullCache",
            "CACHE_NO_NULL_WARNING": True,
        }
    )
    result = app.test_cli_runner().invoke(args=["import", str(sample)])
    assert result.exit_code == 0, result.output
    with app.test_request_context():
        from readerapp.extensions import get_store

        store = get_store()
        urls = [f"/news/{a.section.slug}/{a.slug}" for a in store.latest(count)]
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{server.effective_port}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        page.goto(base + "/")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        for url in urls:
            assert page.evaluate(SAVE, url), url
        cold = [page.evaluate(ASK, QUERIES[0])]
        warm = {q: [page.evaluate(ASK, q) for _ in range(10)] for q in QUERIES}
        browser.close()
    server.close()
    stories = cold[0][2]
    timings = [statistics.median(t for t, _, _ in runs) for runs in warm.values()]
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()},"
        f" Chromium headless"
    )
    print(f"stories on the device: {stories}")
    print(f"first search (builds the word sets): {cold[0][0]:.1f} ms")
    print(
        f"warm searches, median per query: p50 {statistics.median(timings):.1f} ms,"
        f" max {max(timings):.1f} ms"
    )
    for q, runs in warm.items():
        print(
            f"  {q!r}: {statistics.median(t for t, _, _ in runs):.1f} ms,"
            f" {runs[0][1]} results"
        )


if __name__ == "__main__":
    main()
