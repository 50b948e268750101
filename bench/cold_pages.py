"""Cold and warm article pages against Flask's hello world, one client, one run.

Usage:
    python bench/cold_pages.py [--corpus DIR] [--work DIR] [--seconds S] [--rounds R]
                               [--connections C] [--clients T] [--threads N]

    --corpus       folder of *.jsonl files (default ../shared/corpus from the repo root)
    --work         folder for the archive and index (default /tmp/cold-work); reused
                   when it already holds the corpus, so later runs skip the import
    --seconds      length of each wrk run (default 10)
    --rounds       rounds of the three scenarios, order rotated (default 3)
    --connections  wrk connections (default 2: two clients, each waiting for its
                   answer before asking again)
    --clients      wrk threads (default 2), each with its share of the connections
    --threads      waitress threads for both servers (default: what `reader serve`
                   chooses for the machine)

Issue #16's targets: distinct never-requested articles at >= 20% of hello world's
requests/s, and a warm (page-cached) article at >= 90% of hello world with a p99
within 1.1x of hello world's, all with the same client. The cold walk goes through
every article of the archive in a fixed shuffle; each wrk thread takes every other
path, and each run starts where the last one stopped, so no article is asked for
twice in a server's life. Needs wrk on PATH.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import quote

from throughput import (
    ROOT,
    Run,
    Server,
    archive_paths,
    fetch,
    log,
    paths_file,
    prepare_archive,
    process_cpu_seconds,
    settle,
    start_hello,
    start_reader,
    wrk,
)

from readerapp.cli import SEND_BYTES

# Each wrk thread asks for its own share of the paths, so two never ask for one.
NEVER_REPEAT = """
local count = 0
function setup(thread)
  thread:set("id", count)
  count = count + 1
end
function init(args)
  paths = {}
  for line in io.lines(os.getenv("URLS")) do paths[#paths + 1] = line end
  step = tonumber(os.getenv("THREADS"))
  i = tonumber(os.getenv("START")) + id
end
function request()
  local path = paths[i % #paths + 1]
  i = i + step
  return wrk.format("GET", path)
end
"""


@dataclass
class Scenario:
    name: str
    url: str
    server: Server
    urls: Path | None = None
    runs: list[Run] = field(default_factory=list)
    loads: list[str] = field(default_factory=list)
    # The server's CPU time per request answered: what other load on the machine
    # disturbs least.
    cpu_ms: list[float] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in self.runs)


def cpu_seconds(server: Server) -> float:
    """Return the CPU time (user and system) the server process has used so far."""
    return process_cpu_seconds(server.process.pid)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--corpus", type=Path, default=ROOT.parent / "shared" / "corpus"
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/cold-work"))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    count = prepare_archive(args.corpus, args.work)
    articles = archive_paths(args.work / "archive.sqlite3")["articles"]
    warm, cold = articles[0], articles[1:]

    extra = ["--threads", str(args.threads)] if args.threads else []
    reader, threads, connections = start_reader(args.work, extra)
    servers = [reader]
    try:
        servers.append(start_hello(threads, connections))
        fetch(reader.base + warm)  # rendered once: every timed request is a hit
        scenarios = [
            Scenario("Flask hello world", servers[1].base + "/", servers[1]),
            Scenario("article, cache warm", reader.base + warm, reader),
            Scenario(
                "article, never asked for before",
                reader.base,
                reader,
                # Percent-encoded, as a browser sends them (wrk sends what it is given).
                paths_file(args.work, "cold-articles", [quote(p) for p in cold]),
            ),
        ]
        done = 0
        for number in range(args.rounds):
            turn = number % len(scenarios)
            for scenario in scenarios[turn:] + scenarios[:turn]:
                log(f"round {number + 1}: {scenario.name} …")
                before = load_average()
                cpu = cpu_seconds(scenario.server)
                run = wrk(
                    scenario.url, args.seconds, args.connections, scenario.urls,
                    start=done, threads=args.clients, rotate=NEVER_REPEAT,
                )  # fmt: skip
                scenario.loads.append(f"{before} → {load_average()}")
                used = cpu_seconds(scenario.server) - cpu
                scenario.cpu_ms.append(1000 * used / max(1, run.requests))
                if scenario.urls:
                    done += run.requests + args.connections
                    if done > len(cold):
                        raise SystemExit("the cold walk ran out of articles")
                scenario.runs.append(run)
                settle(reader.base + warm)
    finally:
        for server in servers:
            server.stop()
    print(report(args, count, threads, connections, scenarios))


def report(args, count, threads, connections, scenarios) -> str:
    hello, warm, cold = scenarios
    rate = hello.median("requests_per_s")
    hello_cpu = statistics.median(hello.cpu_ms)
    lines = [
        f"{platform.machine()}, {os.cpu_count()} cores, Python"
        f" {platform.python_version()}, {date.today().isoformat()}. {count:,} articles."
        f" waitress {threads} threads, {connections} connections, send_bytes"
        f" {SEND_BYTES:,}, for both servers."
        f" wrk -t{args.clients} -c{args.connections} -d{args.seconds}s,"
        f" {args.rounds} rounds, scenario order rotated, medians.",
        "",
        "| scenario | requests/s | vs hello world | p50 ms | p99 ms | p99 vs hello"
        " world | non-2xx | server CPU ms a request (vs hello world) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scenario in scenarios:
        lines.append(
            f"| {scenario.name} | {scenario.median('requests_per_s'):,.0f} |"
            f" {scenario.median('requests_per_s') / rate:.1%} |"
            f" {scenario.median('p50_ms'):.2f} | {scenario.median('p99_ms'):.2f} |"
            f" {scenario.median('p99_ms') / hello.median('p99_ms'):.2f}x |"
            f" {sum(run.non_2xx for run in scenario.runs)} |"
            f" {statistics.median(scenario.cpu_ms):.3f}"
            f" ({statistics.median(scenario.cpu_ms) / hello_cpu:.1f}x) |"
        )

    def rounds(scenario: Scenario) -> str:
        return ", ".join(
            f"{s.requests_per_s / h.requests_per_s:.1%}"
            for s, h in zip(scenario.runs, hello.runs, strict=True)
        )

    lines += [
        "",
        f"Cold / hello world per round: {rounds(cold)}.",
        f"Warm / hello world per round: {rounds(warm)}; p99 per round"
        f" {', '.join(f'{r.p99_ms:.2f}' for r in warm.runs)} ms against hello"
        f" world's {', '.join(f'{r.p99_ms:.2f}' for r in hello.runs)} ms.",
        f"Cold articles asked for: {sum(r.requests for r in cold.runs):,}, each once.",
        "Load average (1, 5, 15 min) before → after each run:",
    ]
    lines += [f"  {s.name}: {'; '.join(s.loads)}" for s in scenarios]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
