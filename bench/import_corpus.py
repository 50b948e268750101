"""Time `reader import` of the shared corpora against bleach alone, in one run.

Usage: python bench/import_corpus.py [CORPUS_DIR]   (default ../shared/corpus)

Prints the wall time of a full import into an empty archive (a real `reader import`
subprocess), split into storing and indexing for search (with choosing "Also read"),
of re-importing the same files, and, as the reference, of sanitising every body with
one bleach Cleaner in one process; then issue #16's ratios (target 3: the import at
most 3x bleach alone, a re-import at most 0.1x) and the load averages before and after.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READER = Path(sys.executable).with_name("reader")


def timed_import(files: list[Path], env: dict[str, str]) -> tuple[float, float, str]:
    """Run `reader import`; return its wall time, its indexing time, its summary."""
    start = time.perf_counter()
    result = subprocess.run(
        [READER, "import", *map(str, files)], env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if result.returncode:
        raise SystemExit(result.stderr + result.stdout)
    indexed = re.search(r"for search in ([\d.]+) s", result.stderr)
    return elapsed, float(indexed[1]) if indexed else 0.0, result.stdout.strip()


def bleach_alone(files: list[Path]) -> tuple[float, int, int]:
    from bleach.sanitizer import Cleaner

    from readerapp.sanitize import ALLOWED_ATTRIBUTES, ALLOWED_TAGS

    bodies = [
        json.loads(line)["body_html"]
        for path in files
        for line in path.open(encoding="utf-8")
        if line.strip()
    ]
    cleaner = Cleaner(tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, strip=True)
    start = time.perf_counter()
    for body in bodies:
        cleaner.clean(body)
    return time.perf_counter() - start, len(bodies), sum(map(len, bodies))


def main() -> None:
    corpus = Path(
        sys.argv[1] if len(sys.argv) > 1 else ROOT.parent / "shared" / "corpus"
    )
    load_before = os.getloadavg()
    files = sorted(corpus.glob("*.jsonl"))
    with tempfile.TemporaryDirectory() as scratch:
        env = {
            **os.environ,
            "READERAPP_DATABASE": f"{scratch}/archive.sqlite3",
            "READERAPP_INDEX_DIR": f"{scratch}/index",
        }
        first, indexing, summary = timed_import(files, env)
        again, _, resummary = timed_import(files, env)
    reference, count, size = bleach_alone(files)
    machine = platform.processor() or platform.machine()
    python = platform.python_version()
    print(f"machine: {machine}, {os.cpu_count()} cores, Python {python}")
    print(f"corpus: {count} articles, {size / 1e6:.1f} MB of body HTML")
    print(f"reader import, empty archive: {first:.1f} s  ({summary})")
    print(f"  of which storing (validate, sanitise, SQLite): {first - indexing:.1f} s")
    print(f"  of which indexing for search: {indexing:.1f} s")
    print(f"reader import, same files again: {again:.1f} s  ({resummary})")
    print(f"reference, bleach alone in one process: {reference:.1f} s")
    print(f"ratio storing / bleach alone: {(first - indexing) / reference:.2f}")
    print(f"ratio import / bleach alone (target <= 3): {first / reference:.2f}")
    print(f"ratio re-import / bleach alone (target <= 0.1): {again / reference:.3f}")
    before, after = (
        " ".join(f"{n:.2f}" for n in load) for load in (load_before, os.getloadavg())
    )
    print(f"load average before: {before}; after: {after}")


if __name__ == "__main__":
    main()
