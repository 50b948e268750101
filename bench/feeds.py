"""Feeds and sitemaps rendered cold, against an article page and Flask's hello world.

Usage: python bench/feeds.py [--work DIR] [--calls N] [--rounds R]

    --work    folder holding archive.sqlite3 and index/ (default: a temp dir with the
              bundled demo archive imported, 15,421 stories)
    --calls   WSGI calls per path per round (default 20)
    --rounds  rounds, alternating the paths (default 5); the report gives medians

Every call renders afresh (the page cache is off), so the figures are the worst a
reader or crawler meets: the first request after an import. Sizes are of the body as
sent plain, with gzip and with brotli.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path

from demo_archive import demo_settings
from flask import Flask
from hello_world import app as hello_app
from werkzeug.test import EnvironBuilder

from readerapp import create_app
from readerapp.extensions import get_store


def per_call_ms(
    app: Flask, path: str, calls: int, encoding: str = ""
) -> tuple[float, int]:
    environ = EnvironBuilder(
        path=path, headers={"Accept-Encoding": encoding}
    ).get_environ()

    def start_response(status: str, headers: list, exc_info=None) -> None:
        assert status.startswith("200"), (path, status)

    size = 0
    start = time.perf_counter()
    for _ in range(calls):
        size = len(b"".join(app(dict(environ), start_response)))
    return (time.perf_counter() - start) / calls * 1e3, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    settings = demo_settings(args.work, "readerapp-feeds-")
    reader = create_app(
        {**settings, "CACHE_TYPE": "NullCache", "CACHE_NO_NULL_WARNING": True}
    )
    with reader.app_context():
        store = get_store()
        article = store.latest(1)[0]
        section = store.sections()[0].slug
        busiest = max(store.months(), key=lambda m: m.article_count)
        total = store.article_count()
    paths = {
        "Flask hello world (reference)": (hello_app, "/"),
        "article page (reference)": (
            reader,
            f"/news/{article.section.slug}/{article.slug}",
        ),
        "RSS, whole site": (reader, "/feeds/rss.xml"),
        "Atom, whole site": (reader, "/feeds/atom.xml"),
        "JSON Feed, whole site": (reader, "/feeds/feed.json"),
        f"RSS, section {section}": (reader, f"/feeds/{section}/rss.xml"),
        "sitemap index": (reader, "/sitemap.xml"),
        f"sitemap of {busiest.month} ({busiest.article_count} stories)": (
            reader,
            f"/sitemaps/{busiest.month}.xml",
        ),
        "robots.txt": (reader, "/robots.txt"),
    }
    times: dict[str, list[float]] = {name: [] for name in paths}
    for app, path in paths.values():
        per_call_ms(app, path, 1)  # warm the imports, templates and SQLite pages
    for _ in range(args.rounds):
        for name, (app, path) in paths.items():
            times[name].append(per_call_ms(app, path, args.calls)[0])
    article_ms = statistics.median(times["article page (reference)"])
    print(
        f"{date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}, {total:,} stories:"
        f" {args.rounds} rounds of {args.calls} cold calls a path, medians.\n"
    )
    print("| what | ms a request | × article page | bytes | gzip | brotli |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, (app, path) in paths.items():
        ms = statistics.median(times[name])
        sizes = [per_call_ms(app, path, 1, e)[1] for e in ("", "gzip", "br")]
        print(
            f"| {name} | {ms:.2f} | {ms / article_ms:.2f} |"
            f" {' | '.join(f'{s:,}' for s in sizes)} |"
        )


if __name__ == "__main__":
    main()
