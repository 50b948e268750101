"""Lighthouse 12 scores and the bytes of a first visit, against `reader serve --demo`.

Usage:
    python bench/lighthouse.py [--work DIR] [--runs N] [--dark]

    --work  folder for the demo archive, the index, Lighthouse and its reports
            (default: a temp dir); reused, so later runs skip the install and import
    --runs  Lighthouse runs per page (default 3); the report gives the median score
    --dark  run with the system in dark mode, which the site follows (the report
            checks that Chromium so started does report a dark system)

Serves the bundled demo archive with `reader serve --demo` on loopback, installs
lighthouse@12.2.3 with npm into WORK/lighthouse when it is not there, and runs it
(mobile, default simulated throttling, Debian's Chromium from CHROME_PATH or
/usr/bin/chromium) on the article closest to 1,000 words, the home page, that
article's section page, a search results page, and the saved and offline pages.
From each article report's network-requests audit it adds up the bytes transferred
for what the page itself requested (HTML, CSS, JavaScript, icons) and, separately,
for what the service worker fetched in the background after load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from throughput import Server, fetch, free_port, log, wait_for

LIGHTHOUSE = "lighthouse@12.2.3"
READER = Path(sys.executable).with_name("reader")
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
# Blink's preferredColorScheme 0 is dark: a reader whose phone is in dark mode.
DARK_SYSTEM = "--blink-settings=preferredColorScheme=0"


def install_lighthouse(work: Path) -> Path:
    folder = work / "lighthouse"
    binary = folder / "node_modules" / ".bin" / "lighthouse"
    if not binary.exists():
        folder.mkdir(parents=True, exist_ok=True)
        log(f"installing {LIGHTHOUSE} into {folder} …")
        subprocess.run(["npm", "init", "-y"], cwd=folder, check=True,
                       capture_output=True)  # fmt: skip
        subprocess.run(["npm", "install", "-E", LIGHTHOUSE], cwd=folder, check=True,
                       capture_output=True)  # fmt: skip
    return binary


def start_demo(work: Path) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "READERAPP_DATABASE": str(work / "archive.sqlite3"),
        "READERAPP_INDEX_DIR": str(work / "index"),
    }
    with (work / "serve.log").open("w") as sink:
        process = subprocess.Popen(
            [READER, "serve", "--demo", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server("reader", process, f"http://127.0.0.1:{port}")
    wait_for(server.base + "/about", process, seconds=600)
    return server


def article_near(database: Path, words: int) -> tuple[str, str, int]:
    """Return the path, section path and word count of the article nearest words."""
    with sqlite3.connect(database) as db:
        section, slug, count = db.execute(
            "SELECT s.slug, a.slug, a.word_count FROM article a"
            " JOIN section s ON s.id = a.section_id"
            " WHERE a.body_html NOT LIKE '%<img%'"
            " ORDER BY abs(a.word_count - ?), a.id LIMIT 1",
            (words,),
        ).fetchone()
    return f"/news/{section}/{slug}", f"/news/{section}/", count


def lighthouse(
    binary: Path, url: str, output: Path, dark: bool = False, flags: Sequence[str] = ()
) -> dict:
    """Run Lighthouse once, with one retry: headless Chromium here fails now and then
    to start ("Unable to connect to Chrome"), which says nothing about the page.
    `flags` go to Lighthouse as they are (a screen to emulate, say)."""
    try:
        return lighthouse_once(binary, url, output, dark, flags)
    except subprocess.CalledProcessError:
        log(f"  Lighthouse failed on {url}; retrying once")
        return lighthouse_once(binary, url, output, dark, flags)


def lighthouse_once(
    binary: Path, url: str, output: Path, dark: bool, flags: Sequence[str] = ()
) -> dict:
    chromium = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
    scheme = f" {DARK_SYSTEM}" if dark else ""
    subprocess.run(
        [
            binary, url, "--quiet", "--output=json", f"--output-path={output}", *flags,
            "--chrome-flags=--headless=new --no-sandbox --disable-gpu"
            f" --disable-dev-shm-usage{scheme}",
        ],
        env={**os.environ, "CHROME_PATH": chromium},
        check=True,
    )  # fmt: skip
    return json.loads(output.read_text())


def transferred(
    report: dict, origin: str, requested: set[str]
) -> tuple[int, int, list[str]]:
    """Return bytes the page requested, bytes its service worker fetched, and any
    request to another origin; add every URL requested to requested."""
    page = worker = 0
    foreign = []
    for item in report["audits"]["network-requests"]["details"]["items"]:
        requested.add(item["url"])
        if not item["url"].startswith(origin):
            if not item["url"].startswith("data:"):
                foreign.append(item["url"])
            continue
        if item.get("sessionTargetType") == "worker":
            worker += item.get("transferSize", 0)
        else:
            page += item.get("transferSize", 0)
    return page, worker, foreign


def transfer_size(url: str) -> int:
    """Return the bytes of url's body as a browser accepting brotli receives it."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "br, gzip"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return len(response.read())


def background_bytes(base: str, page_requested: set[str]) -> tuple[int, int]:
    """Return the bytes and requests the service worker fetches after the first visit.

    Lighthouse does not see the worker's own fetches, so they are replayed here from
    what /sw.js says it fetches: its precache list (less what the page already
    loaded, which the worker gets from the HTTP cache), the latest-stories list
    and each of those stories.
    """
    script = fetch(base + "/sw.js").decode()
    precache = json.loads(re.search(r"const PRECACHE = (\[.*?\]);", script)[1])
    latest_url = json.loads(re.search(r"const LATEST_URL = (\".*?\");", script)[1])
    latest = json.loads(fetch(base + latest_url))["urls"]
    wanted = ["/sw.js", *precache, latest_url, *latest]
    fetched = [path for path in wanted if base + path not in page_requested]
    return sum(transfer_size(base + path) for path in fetched), len(fetched)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dark", action="store_true")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="readerapp-lighthouse-"))
    work.mkdir(parents=True, exist_ok=True)
    binary = install_lighthouse(work)
    server = start_demo(work)
    try:
        article, section, words = article_near(work / "archive.sqlite3", 1000)
        pages = {
            f"article ({words} words)": article,
            "home": "/",
            "section": section,
            "search": "/search?q=election",
            "saved": "/saved",
            "offline": "/offline",
        }
        scores: dict[str, dict[str, list[float]]] = {}
        budgets = []
        requested: set[str] = set()
        for run in range(args.runs):
            for name, path in pages.items():
                log(f"run {run + 1}: Lighthouse on {path} …")
                report = lighthouse(
                    binary,
                    server.base + path,
                    work / f"lh-{run}-{len(scores)}.json",
                    args.dark,
                )
                if report.get("runtimeError"):
                    raise SystemExit(f"{path}: {report['runtimeError']}")

                for category in CATEGORIES:
                    score = report["categories"][category]["score"]
                    scores.setdefault(name, {}).setdefault(category, []).append(score)
                if path == article:
                    budgets.append(transferred(report, server.base, requested))
                    (work / "article-report.json").write_text(json.dumps(report))
        background = background_bytes(server.base, requested)
    finally:
        server.stop()
    print(
        summary(args, pages, scores, budgets, background, report["lighthouseVersion"])
    )
    if args.dark:
        dark = prefers_dark(DARK_SYSTEM)
        print(f"\nChromium with {DARK_SYSTEM} reports a dark system: {dark}.")


def prefers_dark(flags: str) -> bool:
    """Return whether Chromium started with these flags reports a dark system."""
    probe = (
        "data:text/html,<script>document.write("
        "matchMedia('(prefers-color-scheme: dark)').matches)</script>"
    )
    chromium = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
    dom = subprocess.run(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", *flags.split(),
         "--dump-dom", probe],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    return "<body>true</body>" in dom


def summary(args, pages, scores, budgets, background, version: str) -> str:
    lines = [
        f"Lighthouse {version}, mobile, default simulated throttling, Chromium from"
        f" Debian, {'dark' if args.dark else 'light'} system theme;"
        f" {args.runs} runs a page, median scores (x100). Machine:"
        f" {platform.machine()}, {os.cpu_count()} cores, {date.today().isoformat()}.",
        "",
        "| page | performance | accessibility | best practices | SEO |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in pages:
        cells = [f"{statistics.median(scores[name][c]) * 100:.0f}" for c in CATEGORIES]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    page_bytes = [b[0] for b in budgets]
    worker_bytes = [b[1] for b in budgets]
    foreign = sorted({url for b in budgets for url in b[2]})
    lines += [
        "",
        f"First visit of the article, transferred (network-requests audit): what the"
        f" page requested {max(page_bytes):,} bytes (largest of {len(budgets)} runs);"
        f" the service worker's fetches seen by Lighthouse {max(worker_bytes):,} bytes;"
        f" requests to other origins: {', '.join(foreign) or 'none'}.",
        f"The service worker's background work after that visit, replayed from what"
        f" /sw.js fetches (brotli): {background[0]:,} bytes in {background[1]}"
        f" requests.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
