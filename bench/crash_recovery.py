"""Kill `reader import` and `reader reindex` at each point, and time the recovery.

Usage:
    python bench/crash_recovery.py [--work DIR] [--corpus DIR]

    --work    folder for the archives (default: a temp dir; the demo archive it
              imports first is reused by later runs)
    --corpus  the shared corpora (default ../shared/corpus): Reuters-21578 is the
              import that gets killed; it is read from there, never copied

For each kill point it copies the starting archive and index, runs `reader` under
tests/stop_at.py until it stops itself at the point (the crash tests' driver), and
while it is stopped times a page and a search from a `reader serve` of the same
archive. Then it sends SIGKILL and times: until the killed process's workers are
gone and the write lock is free, and the next `reader import` (or `reader reindex`)
from start to finish. Last it checks that every story is stored and indexed once
(`reader check`) and that one index generation is on disk.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from demo_archive import demo_settings
from throughput import READER, free_port, log, wait_for

ROOT = Path(__file__).resolve().parent.parent
STOP_AT = ROOT / "tests" / "stop_at.py"

# (command, point, Nth time the point is reached): see tests/stop_at.py.
KILLS = [
    ("import", "storing", 5000),
    ("import", "indexing", 5000),
    ("import", "marking", 1),
    ("reindex", "indexing", 15000),
    ("reindex", "swapping", 1),
    ("reindex", "cleaning", 2),
]


def environment(work: Path) -> dict[str, str]:
    return {
        **os.environ,
        "READERAPP_DATABASE": str(work / "archive.sqlite3"),
        "READERAPP_INDEX_DIR": str(work / "index"),
    }


def state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def children(pid: int) -> set[int]:
    return {
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    }


def timed_get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
        assert response.status == 200, url
    return time.perf_counter() - started


def run(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{command} failed:\n{result.stdout}{result.stderr}")
    return time.perf_counter() - started


def one_kill(
    start: Path, work: Path, reuters: Path, command: str, point: str, nth: int
) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(start, work)
    env = environment(work)
    port = free_port()
    server = subprocess.Popen(
        [READER, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/about", server)
        args = ["import", str(reuters)] if command == "import" else ["reindex"]
        writer = subprocess.Popen(
            [sys.executable, STOP_AT, point, str(nth), *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while state(writer.pid) != "T":
            if writer.poll() is not None:
                raise SystemExit(f"{command} ended before {point}")
            time.sleep(0.05)
        page = timed_get(base + "/news/")
        search = timed_get(base + "/api/search?q=election")
        workers = children(writer.pid)
        killed = time.perf_counter()
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        while any(state(pid) not in (None, "Z") for pid in workers):
            time.sleep(0.01)
        freed = time.perf_counter() - killed
        after = timed_get(base + "/api/search?q=election")
        again = run([READER, *args], env)
        run([READER, "check", "--quick"], env)
        generations = len(list((work / "index").glob("gen-*")))
    finally:
        server.terminate()
        server.wait()
    return {
        "kill": f"`reader {command}` at {point} (#{nth})",
        "workers": len(workers),
        "page": page,
        "search": search,
        "freed": freed,
        "after": after,
        "again": again,
        "generations": generations,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/corpus")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="readerapp-crash-"))
    reuters = args.corpus / "reuters-21578.jsonl"
    demo = demo_settings(work / "demo", "readerapp-crash-")
    starts = {"import": work / "demo"}
    everything = work / "everything"
    if not everything.exists():
        log("importing Reuters into a copy of the demo archive …")
        shutil.copytree(work / "demo", everything)
        run([READER, "import", str(reuters)], environment(everything))
    starts["reindex"] = everything
    assert demo["DATABASE"].exists()
    rows = []
    for command, point, nth in KILLS:
        log(f"killing `reader {command}` at {point} …")
        start = starts[command]
        rows.append(one_kill(start, work / "run", reuters, command, point, nth))
    shutil.rmtree(work / "run", ignore_errors=True)
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()},"
          f" load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(
        "| killed | its workers | while stopped: a page, a search | workers gone,"
        " lock free | a search after | the next run, start to end | generations |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row['kill']} | {row['workers']} | {row['page'] * 1000:.0f} ms,"
            f" {row['search'] * 1000:.0f} ms | {row['freed'] * 1000:.0f} ms"
            f" | {row['after'] * 1000:.0f} ms | {row['again']:.1f} s"
            f" | {row['generations']} |"
        )


if __name__ == "__main__":
    main()
