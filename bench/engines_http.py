"""Cold and warm article pages over HTTP on PostgreSQL against SQLite, one run.

Usage:
    python bench/engines_http.py --database-url URL [--work DIR] [--pg-index DIR]
                                 [--seconds S] [--rounds R] [--connections C]
                                 [--clients T]

    --database-url  a PostgreSQL archive already holding the same corpus as the
                    SQLite one (`createdb`, then `READERAPP_DATABASE_URL=URL
                    READERAPP_INDEX_DIR=DIR reader import FILES...`)
    --work          folder of the SQLite archive and index (default /tmp/cold-work,
                    as bench/cold_pages.py leaves it)
    --pg-index      the PostgreSQL archive's index folder (default WORK/pg-index)
    --seconds       length of each wrk run (default 10)
    --rounds        rounds of the four scenarios, order rotated (default 3)
    --connections   wrk connections (default 2), --clients wrk threads (default 2)

Issue #17's target: a cold (never-requested) article page on PostgreSQL within 1.5x
of SQLite's time. Two `reader serve` processes, one per engine, run side by side with
the same waitress settings; each walks the same articles in the same fixed shuffle
(bench/cold_pages.py's NEVER_REPEAT: no article asked for twice in a server's life),
and each also serves one warm (page-cached) article. CPU a request counts the
server process and, on PostgreSQL, the database's backends serving its connections
(found by the database name in their process titles).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

from cold_pages import NEVER_REPEAT, cpu_seconds, load_average
from throughput import (
    Run,
    Server,
    archive_paths,
    fetch,
    log,
    paths_file,
    process_cpu_seconds,
    settle,
    start_reader,
    wrk,
)


def start_serve(
    settings: dict[str, str], output: Path, port: int | None = None
) -> tuple[Server, str]:
    """Start `reader serve` with these settings (on port, or a free one); return it
    and what it chose."""
    server, threads, connections = start_reader(
        output.parent, (), settings, output, port
    )
    return server, f"with {threads} threads and up to {connections} connections"


def backend_cpu_seconds(database: str) -> float:
    """CPU used so far by the PostgreSQL backends connected to database."""
    total = 0.0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            title = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not title.startswith("postgres: ") or f" {database} " not in title:
                continue
            total += process_cpu_seconds(int(cmdline.parent.name))
        except OSError:
            continue
    return total


@dataclass
class Scenario:
    name: str
    server: Server
    database: str | None  # PostgreSQL database whose backends also count
    url: str
    urls: Path | None = None
    done: int = 0  # articles of the walk this server has been asked for
    runs: list[Run] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    database_ms: list[float] = field(default_factory=list)  # its share of cpu_ms
    loads: list[str] = field(default_factory=list)

    def cpu(self) -> tuple[float, float]:
        """CPU seconds so far: the server's and the database backends'."""
        backends = backend_cpu_seconds(self.database) if self.database else 0.0
        return cpu_seconds(self.server), backends

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in self.runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/cold-work"))
    parser.add_argument("--pg-index", type=Path)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    database = urlsplit(args.database_url).path.lstrip("/")
    articles = archive_paths(args.work / "archive.sqlite3")["articles"]
    warm, cold = articles[0], articles[1:]
    walk = paths_file(args.work, "engines-cold", [quote(p) for p in cold])

    sqlite, chose = start_serve(
        {
            "READERAPP_DATABASE": str(args.work / "archive.sqlite3"),
            "READERAPP_INDEX_DIR": str(args.work / "index"),
        },
        args.work / "serve-sqlite.log",
    )
    servers = [sqlite]
    try:
        postgres, _ = start_serve(
            {
                "READERAPP_DATABASE_URL": args.database_url,
                "READERAPP_INDEX_DIR": str(args.pg_index or args.work / "pg-index"),
            },
            args.work / "serve-postgres.log",
        )
        servers.append(postgres)
        for server in servers:
            fetch(server.base + warm)  # rendered once: every timed request is a hit
        pg = postgres.base
        scenarios = [
            Scenario("SQLite, cold article", sqlite, None, sqlite.base, walk),
            Scenario("PostgreSQL, cold article", postgres, database, pg, walk),
            Scenario("SQLite, warm article", sqlite, None, sqlite.base + warm),
            Scenario("PostgreSQL, warm article", postgres, database, pg + warm),
        ]
        for number in range(args.rounds):
            turn = number % len(scenarios)
            for scenario in scenarios[turn:] + scenarios[:turn]:
                log(f"round {number + 1}: {scenario.name} …")
                before, cpu = load_average(), scenario.cpu()
                run = wrk(
                    scenario.url, args.seconds, args.connections, scenario.urls,
                    start=scenario.done, threads=args.clients, rotate=NEVER_REPEAT,
                )  # fmt: skip
                own, backends = (
                    1000 * (after - start) / run.requests
                    for after, start in zip(scenario.cpu(), cpu, strict=True)
                )
                scenario.cpu_ms.append(own + backends)
                scenario.database_ms.append(backends)
                scenario.loads.append(f"{before} → {load_average()}")
                if scenario.urls:
                    scenario.done += run.requests + args.connections
                    if scenario.done > len(cold):
                        raise SystemExit("the cold walk ran out of articles")
                scenario.runs.append(run)
                settle(scenario.server.base + warm)
    finally:
        for server in servers:
            server.stop()
    print(report(args, len(articles), chose, scenarios))


def report(args, count: int, chose: str, scenarios: list[Scenario]) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"{platform.machine()}, {os.cpu_count()} cores, Python"
        f" {platform.python_version()}, {now}. {count:,} articles. `reader serve`"
        f" {chose} on each engine. wrk -t{args.clients} -c{args.connections}"
        f" -d{args.seconds}s, {args.rounds} rounds, order rotated, medians.",
        "",
        "| scenario | requests/s | p50 ms | p99 ms | non-2xx | CPU ms a request"
        " (of which the database's backends) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in scenarios:
        lines.append(
            f"| {s.name} | {s.median('requests_per_s'):,.0f} |"
            f" {s.median('p50_ms'):.2f} | {s.median('p99_ms'):.2f} |"
            f" {sum(run.non_2xx for run in s.runs)} |"
            f" {statistics.median(s.cpu_ms):.3f}"
            f" ({statistics.median(s.database_ms):.3f}) |"
        )
    for kind, (lite, pg) in (("cold", scenarios[:2]), ("warm", scenarios[2:])):
        p50 = pg.median("p50_ms") / lite.median("p50_ms")
        p99 = pg.median("p99_ms") / lite.median("p99_ms")
        time = lite.median("requests_per_s") / pg.median("requests_per_s")
        cpu = statistics.median(pg.cpu_ms) / statistics.median(lite.cpu_ms)
        rounds = ", ".join(
            f"{a.requests_per_s / b.requests_per_s:.2f}x"
            for a, b in zip(lite.runs, pg.runs, strict=True)
        )
        lines.append(
            f"\nPostgreSQL / SQLite, {kind}: p50 {p50:.2f}x, p99 {p99:.2f}x, time a"
            f" request (1 / requests/s) {time:.2f}x, CPU {cpu:.2f}x; time per round:"
            f" {rounds}"
        )
    lines.append("Load average (1, 5, 15 min) before → after each run:")
    lines += [f"  {s.name}: {'; '.join(s.loads)}" for s in scenarios]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
