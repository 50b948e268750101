"""What a reader's first visit costs in bytes, the service worker's work included.

Usage:
    python bench/first_visit.py [--work DIR] [--runs N]

    --work  folder for the demo archive and its index (default: a temp dir; reused,
            so later runs skip the import)
    --runs  fresh browser profiles per case (default 3); figures are medians

Serves the bundled demo archive with `reader serve --demo` on loopback and opens it
in Debian's Chromium (Playwright, a new profile each run, a 412 x 823 phone). For a
first visit to the home page and to the article closest to 1,000 words it adds up
the bytes transferred (headers and compressed bodies, as Chromium reports them) for
what the page requested, and, apart, for what the service worker fetched in the
background until it had kept the newest stories; then the same first visit with
Save-Data on, and a second visit the next time the reader comes back.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from lighthouse import article_near, start_demo
from playwright.sync_api import BrowserContext, Page, sync_playwright
from throughput import log

# The browser tests' Chromium and flags: one place says what this machine needs.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

KEPT = "caches.open('readerapp-latest').then(c => c.match('/api/latest')).then(Boolean)"


class Traffic:
    """Every response a browser context received: the page's and the worker's."""

    def __init__(self, context: BrowserContext, base: str) -> None:
        self.base = base
        self.page: list[tuple[str, int]] = []
        self.worker: list[tuple[str, int]] = []
        context.on("requestfinished", self._finished)

    def _finished(self, request) -> None:
        try:
            sizes = request.sizes()
        except Exception:  # noqa: BLE001 - the context closed under a late request
            return
        size = sizes["responseHeadersSize"] + sizes["responseBodySize"]
        if size <= 0:  # answered by the HTTP cache: nothing crossed the network
            return
        where = self.worker if request.service_worker else self.page
        where.append((request.url.removeprefix(self.base), size))


def settle(page: Page, seconds: float = 60) -> float:
    """Wait until the worker has kept the newest stories; return how long it took."""
    started = time.monotonic()
    while not page.evaluate(KEPT):
        if time.monotonic() - started > seconds:
            raise SystemExit("the worker did not keep the newest stories in time")
        page.wait_for_timeout(100)
    return time.monotonic() - started


def visit(browser, base: str, path: str, save_data: bool = False) -> dict:
    """Open path in a fresh profile; return the bytes the page and worker fetched."""
    context = browser.new_context(
        viewport={"width": 412, "height": 823}, is_mobile=True, bypass_csp=True
    )
    traffic = Traffic(context, base)
    page = context.new_page()
    if save_data:
        cdp = context.new_cdp_session(page)
        cdp.send("Emulation.setDataSaverOverride", {"dataSaverEnabled": True})
    page.goto(base + path, wait_until="load")
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    if save_data:
        # Nothing more should come: wait as long as a kept download takes here.
        page.wait_for_timeout(5000)
        seconds = None
    else:
        seconds = settle(page)
    first = summary(traffic)
    # The next visit: the worker asks whether the newest stories changed.
    traffic.page.clear()
    traffic.worker.clear()
    page.goto(base + path, wait_until="load")
    page.evaluate("new Promise((done) => requestIdleCallback(done))")
    page.wait_for_timeout(2000)
    again = summary(traffic)
    context.close()
    return {"first": first, "again": again, "seconds": seconds}


def summary(traffic: Traffic) -> dict:
    return {
        "page": sum(size for _, size in traffic.page),
        "page_requests": len(traffic.page),
        "worker": sum(size for _, size in traffic.worker),
        "worker_requests": len(traffic.worker),
        "worker_urls": [url for url, _ in traffic.worker],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="readerapp-first-visit-"))
    work.mkdir(parents=True, exist_ok=True)
    server = start_demo(work)
    try:
        article, _, words = article_near(work / "archive.sqlite3", 1000)
        cases = {
            "home page": ("/", False),
            f"article ({words} words)": (article, False),
            "home page, Save-Data": ("/", True),
        }
        results: dict[str, list[dict]] = {name: [] for name in cases}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS
            )
            for run in range(args.runs):
                for name, (path, save_data) in cases.items():
                    log(f"run {run + 1}: first visit to {path} …")
                    results[name].append(visit(browser, server.base, path, save_data))
            browser.close()
    finally:
        server.stop()
    report(results)


def report(results: dict[str, list[dict]]) -> None:
    def median(name: str, visit: str, key: str) -> int:
        return round(statistics.median(r[visit][key] for r in results[name]))

    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}")
    print(
        "| first visit | page | worker, background | in all | worker requests"
        " | next visit, worker |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in results:
        page = median(name, "first", "page")
        worker = median(name, "first", "worker")
        print(
            f"| {name} | {page:,} B in {median(name, 'first', 'page_requests')}"
            f" | {worker:,} B | {page + worker:,} B"
            f" | {median(name, 'first', 'worker_requests')}"
            f" | {median(name, 'again', 'worker'):,} B in"
            f" {median(name, 'again', 'worker_requests')} |"
        )
    for name, runs in results.items():
        seconds = [r["seconds"] for r in runs if r["seconds"] is not None]
        if seconds:
            print(f"{name}: newest stories kept {statistics.median(seconds):.1f} s"
                  " after load")  # fmt: skip
        print(f"{name}: worker fetched {runs[0]['first']['worker_urls']}")


if __name__ == "__main__":
    main()
