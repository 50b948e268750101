"""Render never-requested articles in process, through Flask's test client.

Usage:
    python bench/cold_render.py [--work DIR] [--articles N] [--seed S] [--profile]

    --work      folder holding archive.sqlite3 and index/ (default /tmp/cold-work, as
                bench/cold_pages.py leaves it)
    --articles  distinct articles to render after 50 untimed ones (default 500)
    --seed      the shuffle of the archive's articles (default 41)
    --profile   print cProfile's 45 costliest functions, by cumulative time

Prints the CPU and wall time per article. With no server, client or network in the
way, this is what the code costs; `valgrind --tool=callgrind` around two runs (say
--articles 100 and 300, same seed) gives instructions per article as the difference
of their totals over 200, a figure other load on the machine does not disturb
(docs/benchmarks.md, "Cold article pages, second round").
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sqlite3
import time
from pathlib import Path

from readerapp import create_app

WARM_UP = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/cold-work"))
    parser.add_argument("--articles", type=int, default=500)
    parser.add_argument("--seed", type=int, default=41)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    app = create_app(
        {
            "DATABASE": args.work / "archive.sqlite3",
            "INDEX_DIR": args.work / "index",
            "MEDIA_DIR": args.work / "media",
        }
    )
    with sqlite3.connect(args.work / "archive.sqlite3") as db:
        rows = db.execute(
            "SELECT s.slug, a.slug FROM article a JOIN section s ON s.id = a.section_id"
        ).fetchall()
    random.Random(args.seed).shuffle(rows)
    paths = [f"/news/{section}/{slug}" for section, slug in rows]
    client = app.test_client()
    for path in paths[:WARM_UP]:
        assert client.get(path).status_code == 200, path
    timed = paths[WARM_UP : WARM_UP + args.articles]
    profile = cProfile.Profile() if args.profile else None
    if profile:
        profile.enable()
    cpu, wall = time.process_time(), time.perf_counter()
    for path in timed:
        assert client.get(path).status_code == 200, path
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if profile:
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
    print(
        f"{len(timed)} cold articles: {cpu / len(timed) * 1000:.2f} ms CPU,"
        f" {wall / len(timed) * 1000:.2f} ms wall each"
    )


if __name__ == "__main__":
    main()
