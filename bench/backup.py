"""Time `reader backup` against copying the archive file, and the site's throughput
while backups run against without, in one run (issue #13).

Usage:
    python bench/backup.py [--corpus DIR] [--work DIR] [--repeats N] [--seconds S]
                           [--rounds R] [--connections C]

    --corpus       folder of *.jsonl files (default ../shared/corpus from the repo root)
    --work         folder for the archive, index and backups (default: a temp dir);
                   reused when it holds the corpus, so later runs skip the import
    --repeats      runs of each idle copy (default 5), interleaved; medians
    --seconds      length of each wrk run (default 10)
    --rounds       rounds of the serving scenarios (default 5), order rotated
    --connections  wrk connections (default 32)

Idle, with nothing else running: `reader backup` of the archive (a real subprocess:
the copy through SQLite's online backup API, the integrity check, the checksum, the
manifest and settings, every file synced), against `cp` of the archive file, with and
without `sync`; and the bare copy step two ways, the online backup API in one step
(what `reader backup` does) and VACUUM INTO, in this process, wall and CPU time.

Serving: `reader serve` on the archive, wrk cycling over the warm pages of
bench/throughput.py (one article, section page 50, one search, each already in the
page cache), with no backup running; with `reader backup` run over and over for the
whole wrk run (each backup into a new folder, deleted once written), as it is and
under `nice -n 19`; with bare VACUUM INTO copies and bare online-backup copies in a
loop; and, as a control, with a process spinning on the CPU at nice 19 and doing
nothing else (on this 2-vCPU guest, keeping a core busy alone changes throughput).
Each round gives the ratio of requests/s to no backup in the same round; the report
gives medians.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from throughput import (
    READER,
    Run,
    archive_paths,
    fetch,
    log,
    paths_file,
    prepare_archive,
    reader_env,
    settle,
    start_reader,
    wrk,
)

from readerapp.store import Store, connect

ROOT = Path(__file__).resolve().parent.parent


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Run a command; return its wall time and what it printed."""
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode:
        raise SystemExit(f"{command}: {result.stderr}{result.stdout}")
    return elapsed, result.stdout


def backup_api(database: Path, target: Path) -> None:
    store = Store(connect(database))
    try:
        store.backup(target)
    finally:
        store.close()


def vacuum_into(database: Path, target: Path) -> None:
    db = sqlite3.connect(database)
    try:
        db.execute("VACUUM INTO ?", (str(target),))
    finally:
        db.close()


@dataclass
class Idle:
    reader: list[float] = field(default_factory=list)
    reader_copy: list[float] = field(default_factory=list)
    reader_check: list[float] = field(default_factory=list)
    cp: list[float] = field(default_factory=list)
    cp_sync: list[float] = field(default_factory=list)
    api: list[tuple[float, float]] = field(default_factory=list)
    vacuum: list[tuple[float, float]] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)


def measure_idle(work: Path, repeats: int) -> Idle:
    """Time each way of copying the archive, interleaved, with nothing else running."""
    database = work / "archive.sqlite3"
    scratch = work / "idle"
    idle = Idle()
    env = reader_env(work)
    for n in range(repeats):
        log(f"idle copies, run {n + 1} of {repeats} …")
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        seconds, said = timed([str(READER), "backup", str(scratch / "backup")], env)
        idle.reader.append(seconds)
        found = re.search(
            r"copy ([\d.]+) s, integrity check and checksum ([\d.]+)", said
        )
        idle.reader_copy.append(float(found[1]))
        idle.reader_check.append(float(found[2]))
        seconds, _ = timed(["cp", str(database), str(scratch / "cp.sqlite3")])
        idle.cp.append(seconds)
        target = scratch / "cp-sync.sqlite3"
        start = time.perf_counter()
        subprocess.run(["cp", str(database), str(target)], check=True)
        subprocess.run(["sync", str(target)], check=True)
        idle.cp_sync.append(time.perf_counter() - start)
        for name, copy, runs in (
            ("api", backup_api, idle.api),
            ("vacuum", vacuum_into, idle.vacuum),
        ):
            target = scratch / f"{name}.sqlite3"
            wall, cpu = time.perf_counter(), time.process_time()
            copy(database, target)
            runs.append((time.perf_counter() - wall, time.process_time() - cpu))
            idle.sizes[name] = target.stat().st_size
    shutil.rmtree(scratch, ignore_errors=True)
    idle.sizes["archive"] = database.stat().st_size
    return idle


class Loop:
    """Run one copy after another in a thread until stopped; time each."""

    def __init__(self, copy: Callable[[Path], None], scratch: Path) -> None:
        self.copy = copy
        self.scratch = scratch
        self.seconds: list[float] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            n += 1
            target = self.scratch / f"copy-{n}"
            start = time.perf_counter()
            self.copy(target)
            self.seconds.append(time.perf_counter() - start)
            shutil.rmtree(target, ignore_errors=True)
            target.with_suffix(".sqlite3").unlink(missing_ok=True)

    def __enter__(self) -> Loop:
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir(parents=True)
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join()
        shutil.rmtree(self.scratch, ignore_errors=True)


@contextmanager
def spinning() -> Iterator[None]:
    """Keep one process busy on the CPU, at the lowest priority, doing no I/O."""
    spinner = ["nice", "-n", "19", sys.executable, "-c", "while True: pass"]
    process = subprocess.Popen(spinner)
    try:
        yield
    finally:
        process.kill()
        process.wait()


@dataclass
class Scenario:
    name: str
    copy: Callable[[Path], None] | None
    spin: bool = False
    runs: list[Run] = field(default_factory=list)
    copies: list[int] = field(default_factory=list)
    copy_seconds: list[float] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in self.runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--corpus", type=Path, default=ROOT.parent / "shared" / "corpus"
    )
    parser.add_argument("--work", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found on PATH (Debian: apt-get install wrk)")
    work = args.work or Path(tempfile.mkdtemp(prefix="readerapp-backup-"))
    work.mkdir(parents=True, exist_ok=True)
    count = prepare_archive(args.corpus, work)
    database = work / "archive.sqlite3"
    started = datetime.now(UTC)
    load_start = os.getloadavg()[0]
    idle = measure_idle(work, args.repeats)

    env = reader_env(work)

    def reader_backup(*niced: str) -> Callable[[Path], None]:
        def run(target: Path) -> None:
            command = [*niced, str(READER), "backup", str(target)]
            subprocess.run(command, env=env, check=True, capture_output=True)

        return run

    scenarios = [
        Scenario("no backup running", None),
        Scenario("control: a CPU spinner at nice 19, no backup", None, spin=True),
        Scenario("`reader backup` over and over", reader_backup()),
        Scenario(
            "`nice -n 19 reader backup` over and over",
            reader_backup("nice", "-n", "19"),
        ),
        Scenario(
            "bare VACUUM INTO over and over",
            lambda target: vacuum_into(database, target.with_suffix(".sqlite3")),
        ),
        Scenario(
            "bare online backup API over and over",
            lambda target: backup_api(database, target.with_suffix(".sqlite3")),
        ),
    ]
    paths = archive_paths(database)
    reader, threads, connections = start_reader(work)
    try:
        warm = [paths["articles"][0], paths["largest"][0], "/search?q=election"]
        for path in warm:
            fetch(reader.base + path)  # rendered once, then served from the cache
        urls = paths_file(work, "warm", warm)
        load_serving = os.getloadavg()[0]
        for round_number in range(1, args.rounds + 1):
            turn = (round_number - 1) % len(scenarios)
            for scenario in scenarios[turn:] + scenarios[:turn]:
                log(f"round {round_number}: {scenario.name} …")
                if scenario.spin:
                    with spinning():
                        run = wrk(reader.base, args.seconds, args.connections, urls)
                    scenario.copies.append(0)
                elif scenario.copy is None:
                    run = wrk(reader.base, args.seconds, args.connections, urls)
                    scenario.copies.append(0)
                else:
                    with Loop(scenario.copy, work / "loop") as loop:
                        run = wrk(reader.base, args.seconds, args.connections, urls)
                    scenario.copies.append(len(loop.seconds))
                    scenario.copy_seconds += loop.seconds
                scenario.runs.append(run)
                settle(reader.base + warm[0])
    finally:
        reader.stop()
    load_end = os.getloadavg()[0]
    print(
        report(
            args, count, threads, connections, idle, scenarios, started,
            (load_start, load_serving, load_end),
        )
    )  # fmt: skip


def report(args, count, threads, connections, idle, scenarios, started, loads) -> str:
    med = statistics.median
    api_wall, api_cpu = med(w for w, _ in idle.api), med(c for _, c in idle.api)
    vac_wall, vac_cpu = med(w for w, _ in idle.vacuum), med(c for _, c in idle.vacuum)

    def runs(values: list[float]) -> str:
        return ", ".join(f"{v:.2f}" for v in values)

    lines = [
        f"{started:%Y-%m-%d %H:%M} UTC; {platform.machine()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}."
        f" Archive: {count:,} articles, {idle.sizes['archive']:,} bytes. Load average"
        f" {loads[0]:.2f} at start, {loads[1]:.2f} before serving, {loads[2]:.2f} at"
        " the end.",
        "",
        f"Idle, {args.repeats} runs each, interleaved; medians (each run's seconds):",
        "",
        "| what | seconds | runs |",
        "| --- | ---: | --- |",
        f"| `reader backup` (whole command, synced) | {med(idle.reader):.2f} |"
        f" {runs(idle.reader)} |",
        f"| of which the copy | {med(idle.reader_copy):.2f} |"
        f" {runs(idle.reader_copy)} |",
        f"| of which integrity check and checksum | {med(idle.reader_check):.2f} |"
        f" {runs(idle.reader_check)} |",
        f"| `cp` of the archive file | {med(idle.cp):.2f} | {runs(idle.cp)} |",
        f"| `cp` then `sync` of the copy | {med(idle.cp_sync):.2f} |"
        f" {runs(idle.cp_sync)} |",
        "",
        "The copy step alone, in one process:",
        "",
        "| copy step | wall s | CPU s | bytes |",
        "| --- | ---: | ---: | ---: |",
        f"| online backup API, one step | {api_wall:.2f} | {api_cpu:.2f} |"
        f" {idle.sizes['api']:,} |",
        f"| VACUUM INTO | {vac_wall:.2f} | {vac_cpu:.2f} | {idle.sizes['vacuum']:,} |",
        "",
        f"Serving: `reader serve` ({threads} threads, {connections} connections),"
        f" wrk -t1 -c{args.connections} -d{args.seconds}s over 3 warm pages,"
        f" {args.rounds} rounds, order rotated, medians:",
        "",
        "| scenario | requests/s | vs no backup | p50 ms | p99 ms | non-2xx"
        " | copies per run | seconds a copy |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    base = scenarios[0]
    for scenario in scenarios:
        ratio = scenario.median("requests_per_s") / base.median("requests_per_s")
        per_copy = f"{med(scenario.copy_seconds):.2f}" if scenario.copy_seconds else "–"
        lines.append(
            f"| {scenario.name} | {scenario.median('requests_per_s'):,.0f} |"
            f" {ratio:.0%} | {scenario.median('p50_ms'):.1f} |"
            f" {scenario.median('p99_ms'):.1f} |"
            f" {sum(run.non_2xx for run in scenario.runs)} |"
            f" {med(scenario.copies):.0f} | {per_copy} |"
        )
    lines.append("")
    for scenario in scenarios[1:]:
        ratios = ", ".join(
            f"{run.requests_per_s / alone.requests_per_s:.0%}"
            for run, alone in zip(scenario.runs, base.runs, strict=True)
        )
        lines.append(f"{scenario.name} / no backup, per round: {ratios}.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
