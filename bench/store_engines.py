"""What a request costs on each store engine: SQLite against PostgreSQL, one run.

Usage:
    python bench/store_engines.py [--url URL] [--requests N] [--rounds R]

    --url       a PostgreSQL server to make a scratch database on (default
                postgresql://postgres@127.0.0.1:5432/postgres); dropped after
    --requests  requests of each kind per round (default 400)
    --rounds    rounds, engines alternating, the best round kept (default 3)

Both apps import tests/data/articles.jsonl and answer through Flask's test client
in this process, so the figures are readerapp's own work plus the engine's, with
no HTTP in between:

- watch: catching up with the archive's changes, which every request does first
  (`PRAGMA data_version` on SQLite; the newest change number on PostgreSQL);
- warm: an article page from the page cache (the watch, then a replay);
- cold: an article page rendered (a new query string each time, so never cached).

Wall time per request, and this process's CPU time (on PostgreSQL the server's own
work runs in its processes: the difference between the two is mostly waiting for
it). Ratios are PostgreSQL over SQLite.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from readerapp import create_app  # noqa: E402

ARTICLES = ROOT / "tests" / "data" / "articles.jsonl"
ARTICLE = "/news/harbour-town/fish-market-moves-to-the-old-customs-house"
# Query strings never asked for before, across rounds: each cold request a miss.
FRESH = itertools.count()


def timed(call: Callable[[], object], count: int) -> tuple[float, float]:
    """Return (wall, CPU) microseconds per call."""
    call()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        call()
    return (
        (time.perf_counter() - wall) / count * 1e6,
        (time.process_time() - cpu) / count * 1e6,
    )


def make(folder: Path, **settings):
    app = create_app(
        {
            "DATABASE": folder / "archive.sqlite3",
            "INDEX_DIR": folder / "index",
            "IMPORT_WORKERS": 1,
            "FETCH_PICTURES": False,
            **settings,
        },
        instance_path=folder / "instance",
    )
    result = app.test_cli_runner().invoke(args=["import", str(ARTICLES)])
    assert result.exit_code == 0, result.output
    return app


def measure(app, count: int) -> dict[str, tuple[float, float]]:
    client = app.test_client()
    watch = app.extensions["readerapp.shared_reads"].watch
    return {
        "watch": timed(watch.current, count * 4),
        "warm": timed(lambda: client.get(ARTICLE), count * 2),
        "cold": timed(lambda: client.get(f"{ARTICLE}?n={next(FRESH)}"), count),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--url", default="postgresql://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import psycopg

    name = f"readerapp_bench_{os.getpid()}"
    database = urlunsplit(urlsplit(args.url)._replace(path=f"/{name}"))
    print(f"load before: {Path('/proc/loadavg').read_text().strip()}")
    with closing(psycopg.connect(args.url, autocommit=True)) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    best: dict[tuple[str, str], tuple[float, float]] = {}
    try:
        with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
            apps = {
                "sqlite": make(Path(one)),
                "postgresql": make(Path(two), DATABASE_URL=database),
            }
            try:
                for _ in range(args.rounds):
                    for engine, app in apps.items():
                        for kind, figures in measure(app, args.requests).items():
                            kept = best.get((engine, kind))
                            if kept is None or figures[0] < kept[0]:
                                best[engine, kind] = figures
            finally:
                for app in apps.values():
                    app.extensions["readerapp.index"].close()
                    app.extensions["readerapp.archive"].close()
    finally:
        with closing(psycopg.connect(args.url, autocommit=True)) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"load after:  {Path('/proc/loadavg').read_text().strip()}")
    print("| per request | SQLite wall (CPU) | PostgreSQL wall (CPU) | ratio (wall) |")
    print("| --- | --- | --- | --- |")
    for kind in ("watch", "warm", "cold"):
        lite, pg = best["sqlite", kind], best["postgresql", kind]
        print(
            f"| {kind} | {lite[0]:,.0f} µs ({lite[1]:,.0f}) |"
            f" {pg[0]:,.0f} µs ({pg[1]:,.0f}) | {pg[0] / lite[0]:.2f}x |"
        )


if __name__ == "__main__":
    main()
