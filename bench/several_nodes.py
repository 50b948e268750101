"""A warm article through nginx in front of two nodes against one node direct, one run.

Usage:
    python bench/several_nodes.py [--work DIR] [--redis URL] [--seconds S]
                                  [--rounds R] [--connections C] [--clients T]

    --work         folder holding archive.sqlite3, index/ and index-b/ (the second
                   node's copy of the index); default /tmp/fig17/sqlite
    --redis        the shared page cache (default redis://127.0.0.1:6379/0); the run
                   uses a key prefix of its own, so it shares nothing with others
    --seconds      length of each wrk run (default 10)
    --rounds       rounds of the scenarios, order rotated (default 3)
    --connections  wrk connections (default 8), --clients wrk threads (default 2)

Scenarios, each on the same warm (page-cached) article:

- one node, in-process cache: `reader serve` with the default SimpleCache;
- one node, Redis: node A of the pair below, asked directly;
- nginx, two nodes, proxy_cache off: docs/nginx/readerapp.conf on loopback ports
  with its `proxy_cache` switched off, so every request reaches a node;
- nginx, two nodes, proxy_cache on: the shipped configuration as it is, where nginx
  answers from its own cache (the nodes see a revalidation a minute).

The two nodes share the SQLite archive and Redis, each with its own index folder, and
SITE_URL is set so every node and nginx's Host give the same page-cache keys. CPU a
request sums the processes that served it: the nodes, nginx's workers and
redis-server (Redis may serve others too, so its share is an upper bound).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cold_pages import load_average
from engines_http import start_serve
from throughput import (
    ROOT,
    Run,
    Server,
    archive_paths,
    fetch,
    free_port,
    log,
    process_cpu_seconds,
    settle,
    wait_for,
    wrk,
)

NGINX_MAIN = """
{user}
worker_processes auto;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 1024; }}
http {{
{http}
}}
"""


def workers(pid: int) -> list[int]:
    """nginx's worker processes (its cache loader exits a minute after the start)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            if b"worker process" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
    return found


def redis_pid() -> int | None:
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "redis-server":
                return int(comm.parent.name)
        except OSError:
            continue
    return None


def start_nginx(prefix: Path, port: int, nodes: list[int], cache: bool) -> Server:
    """nginx with the shipped readerapp.conf, moved to loopback ports and prefix."""
    shipped = (ROOT / "docs" / "nginx" / "readerapp.conf").read_text()
    conf = shipped.replace("127.0.0.1:8001", f"127.0.0.1:{nodes[0]}")
    conf = conf.replace("127.0.0.1:8002", f"127.0.0.1:{nodes[1]}")
    conf = conf.replace("/var/cache/nginx/readerapp", str(prefix / "cache"))
    conf = conf.replace("/var/log/nginx/", f"{prefix}/")
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{port};")
    if not cache:
        conf = conf.replace("proxy_cache readerapp;", "proxy_cache off;")
    prefix.mkdir(parents=True, exist_ok=True)
    user = "user root;" if os.geteuid() == 0 else ""
    (prefix / "readerapp.access.log").unlink(missing_ok=True)  # this run's only
    path = prefix / "nginx.conf"
    path.write_text(NGINX_MAIN.format(user=user, prefix=prefix, http=conf))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    process = subprocess.Popen([nginx, "-c", str(path), "-p", str(prefix)])
    server = Server("nginx", process, f"http://127.0.0.1:{port}")
    wait_for(server.base + "/about", process)
    return server


@dataclass
class Scenario:
    name: str
    url: str
    pids: dict[str, list[int]]  # processes whose CPU counts, by what they are
    runs: list[Run] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    parts_ms: dict[str, list[float]] = field(default_factory=dict)
    loads: list[str] = field(default_factory=list)

    def cpu(self) -> dict[str, float]:
        return {
            part: sum(process_cpu_seconds(pid) for pid in pids)
            for part, pids in self.pids.items()
        }

    def part_medians(self) -> str:
        return ", ".join(
            f"{part} {statistics.median(ms):.3f}" for part, ms in self.parts_ms.items()
        )

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in self.runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/fig17/sqlite"))
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    warm = archive_paths(args.work / "archive.sqlite3")["articles"][0]
    shared = {
        "READERAPP_DATABASE": str(args.work / "archive.sqlite3"),
        "READERAPP_SITE_URL": "http://news.example.org",
    }
    redis = {
        **shared,
        "READERAPP_CACHE_TYPE": "RedisCache",
        "READERAPP_CACHE_REDIS_URL": args.redis,
        "READERAPP_CACHE_KEY_PREFIX": f"bench_nodes_{os.getpid()}_{int(time.time())}_",
    }
    servers: list[Server] = []
    try:
        local, chose = start_serve(
            {**shared, "READERAPP_INDEX_DIR": str(args.work / "index")},
            args.work / "serve-local.log",
        )
        servers.append(local)
        nodes = []
        for name, index in (("a", "index"), ("b", "index-b")):
            node, _ = start_serve(
                {**redis, "READERAPP_INDEX_DIR": str(args.work / index)},
                args.work / f"serve-node-{name}.log",
            )
            servers.append(node)
            nodes.append(node)
        ports = [int(node.base.rsplit(":", 1)[1]) for node in nodes]
        proxies = [
            start_nginx(args.work / f"nginx-{kind}", free_port(), ports, cache)
            for kind, cache in (("nocache", False), ("cache", True))
        ]
        servers += proxies
        for server in servers:
            fetch(server.base + warm)  # rendered (or cached) once before timing
        time.sleep(0.5)  # nginx's workers are forked by now
        redis_cpu = [pid] if (pid := redis_pid()) else []
        node_pids = [node.process.pid for node in nodes]
        scenarios = [
            Scenario(
                "one node, in-process cache", local.base + warm,
                {"node": [local.process.pid]},
            ),
            Scenario(
                "one node, Redis", nodes[0].base + warm,
                {"node": node_pids[:1], "Redis": redis_cpu},
            ),
            Scenario(
                "nginx + two nodes (Redis), proxy_cache off", proxies[0].base + warm,
                {"nodes": node_pids, "nginx": workers(proxies[0].process.pid),
                 "Redis": redis_cpu},
            ),
            Scenario(
                "nginx + two nodes (Redis), proxy_cache on", proxies[1].base + warm,
                {"nodes": node_pids, "nginx": workers(proxies[1].process.pid),
                 "Redis": redis_cpu},
            ),
        ]  # fmt: skip
        for number in range(args.rounds):
            turn = number % len(scenarios)
            for scenario in scenarios[turn:] + scenarios[:turn]:
                log(f"round {number + 1}: {scenario.name} …")
                before, cpu = load_average(), scenario.cpu()
                run = wrk(
                    scenario.url, args.seconds, args.connections, threads=args.clients
                )
                after = scenario.cpu()
                parts = {p: 1000 * (after[p] - cpu[p]) / run.requests for p in cpu}
                scenario.cpu_ms.append(sum(parts.values()))
                for part, ms in parts.items():
                    scenario.parts_ms.setdefault(part, []).append(ms)
                scenario.loads.append(f"{before} → {load_average()}")
                scenario.runs.append(run)
                settle(scenario.url)
        spread = node_spread(args.work / "nginx-nocache" / "readerapp.access.log")
    finally:
        for server in reversed(servers):
            server.stop()
    print(report(args, chose, scenarios, spread))


def node_spread(access_log: Path) -> str:
    """How nginx shared the requests out, from its log's upstream= fields."""
    counts: dict[str, int] = {}
    for line in access_log.read_text().splitlines():
        found = re.search(r"upstream=(\S+)", line)
        if found:
            counts[found[1]] = counts.get(found[1], 0) + 1
    return ", ".join(f"{node} {count:,}" for node, count in sorted(counts.items()))


def report(args, chose: str, scenarios: list[Scenario], spread: str) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    reference = scenarios[0]
    lines = [
        f"{platform.machine()}, {os.cpu_count()} cores, Python"
        f" {platform.python_version()}, {now}. Each node `reader serve` {chose}."
        f" wrk -t{args.clients} -c{args.connections} -d{args.seconds}s,"
        f" {args.rounds} rounds, order rotated, medians.",
        "",
        "| scenario | requests/s | vs one node, in-process | p50 ms | p99 ms |"
        " non-2xx | CPU ms a request (all its processes) | of which |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in scenarios:
        lines.append(
            f"| {s.name} | {s.median('requests_per_s'):,.0f} |"
            f" {s.median('requests_per_s') / reference.median('requests_per_s'):.2f}x |"
            f" {s.median('p50_ms'):.2f} | {s.median('p99_ms'):.2f} |"
            f" {sum(run.non_2xx for run in s.runs)} |"
            f" {statistics.median(s.cpu_ms):.3f} | {s.part_medians()} |"
        )
    lines.append("\nRequests/s per round:")
    lines += [
        f"  {s.name}: {', '.join(f'{r.requests_per_s:,.0f}' for r in s.runs)}"
        for s in scenarios
    ]
    lines.append(f"nginx (proxy_cache off) sent requests to: {spread}.")
    lines.append("Load average (1, 5, 15 min) before → after each run:")
    lines += [f"  {s.name}: {'; '.join(s.loads)}" for s in scenarios]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
