"""One request in process, no server: a page-cache hit against Flask's hello world.

Usage: python bench/cache_hit.py [--work DIR] [--calls N] [--rounds R]

    --work    folder holding archive.sqlite3 and index/ (as bench/throughput.py leaves
              it; default: a temp dir with the bundled demo archive imported)
    --calls   WSGI calls per round (default 3000)
    --rounds  rounds, alternating the two apps (default 5); the report gives medians

Calls each WSGI app directly, the way waitress would, so the figure is the app's own
work per request, without the HTTP server both share.
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
from flask import Flask, template_rendered
from hello_world import app as hello_app
from werkzeug.test import EnvironBuilder

from readerapp import create_app
from readerapp.extensions import get_store


def per_call_us(app: Flask, path: str, calls: int) -> float:
    environ = EnvironBuilder(path=path).get_environ()

    def start_response(status: str, headers: list, exc_info=None) -> None:
        assert status.startswith("200"), status

    start = time.perf_counter()
    for _ in range(calls):
        b"".join(app(dict(environ), start_response))
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    settings = demo_settings(args.work, "readerapp-cache-hit-")
    reader = create_app(settings)
    with reader.app_context():
        article = get_store().latest(1)[0]
    path = f"/news/{article.section.slug}/{article.slug}"
    reader.test_client().get(path)  # render once: every timed call is a hit
    rendered: list[str] = []
    template_rendered.connect(lambda *_, template, **__: rendered.append(template))
    per_call_us(reader, path, 1)
    if rendered:
        raise SystemExit(
            "the article was rendered again: the page cache is not in play"
        )
    hits, hellos = [], []
    for _ in range(args.rounds):
        hits.append(per_call_us(reader, path, args.calls))
        hellos.append(per_call_us(hello_app, "/", args.calls))
    hit, hello = statistics.median(hits), statistics.median(hellos)
    print(
        f"{date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}: {args.rounds} rounds of {args.calls}"
        f" calls, medians. Cached article page {hit:.0f} µs a request; Flask hello"
        f" world {hello:.0f} µs ({hit / hello:.0%} of it). Rounds: hit"
        f" {', '.join(f'{v:.0f}' for v in hits)}; hello"
        f" {', '.join(f'{v:.0f}' for v in hellos)} µs."
    )


if __name__ == "__main__":
    main()
