"""Kill PostgreSQL, then Redis, then a node, for a few seconds while wrk drives
traffic through nginx to two nodes; count what readers got, second by second (#17).

Usage:
    python bench/outages.py [--work DIR] [--stories N] [--away S] [--seconds S]

    --work     scratch folder (default /tmp/outages); its PostgreSQL server and Redis
               are the run's own, on free loopback ports, so nothing else is stopped
    --stories  stories imported from ../shared/corpus/wikinews-en.jsonl (default 2000)
    --away     seconds each service stays down (default 6)
    --seconds  length of each wrk run (default 24); the kill comes 6 s in

Two `reader serve` nodes share one PostgreSQL database and one Redis, each with its
own index folder, behind docs/nginx/readerapp.conf with nginx's own cache off (so
every request reaches a node). wrk -t2 -c2 alternates, on each connection, one of 20
articles both nodes have cached in Redis and a listing page nobody has asked for
(a new query string each time), and tallies each kind's status codes per second.

PostgreSQL is killed as a crash kills it (`pg_ctl stop -m immediate`) and started
again; Redis by SIGKILL, then started again on its port; node A by SIGKILL, then
`reader serve` started again on its port (it catches its index up as it starts).
A failure is any answer but 200 for a cached article, and any answer but 200 or 503
(with Retry-After) for a page that needs the archive. The nodes' logs are searched
for tracebacks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from cold_pages import load_average
from engines_http import start_serve
from several_nodes import start_nginx
from throughput import READER, ROOT, Server, fetch, free_port, log

CORPUS = ROOT.parent / "shared" / "corpus" / "wikinews-en.jsonl"
KILL_AT = 6  # seconds into the wrk run

# On each connection, a cached article and a never-asked listing page in turn;
# statuses counted per wall-clock second and kind, and printed by done().
TALLY = r"""
-- counts is global: done() reads each thread's with thread:get.
local cached, kind, serial, threads = {}, "cached", 0, {}
counts = {}
function setup(thread)
  thread:set("id", #threads + 1)
  threads[#threads + 1] = thread
end
function init(args)
  for path in io.lines(os.getenv("CACHED")) do cached[#cached + 1] = path end
end
function request()
  serial = serial + 1
  if serial % 2 == 0 then
    kind = "cached"
    return wrk.format("GET", cached[(serial / 2) % #cached + 1])
  end
  kind = "fresh"
  return wrk.format("GET", "/news/?walk=" .. id .. "-" .. serial)
end
function response(status, headers, body)
  local key = os.time() .. " " .. kind .. " " .. status
  if kind == "fresh" and status == 503 and headers["Retry-After"] == nil then
    key = key .. "-without-retry-after"
  end
  counts[key] = (counts[key] or 0) + 1
end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for key, n in pairs(thread:get("counts")) do
      io.write("TALLY ", key, " ", n, "\n")
    end
  end
  io.write("ERRORS ", summary.errors.connect, " ", summary.errors.read, " ",
           summary.errors.write, " ", summary.errors.status, " ",
           summary.errors.timeout, "\n")
end
"""


class OwnPostgreSQL:
    """A PostgreSQL server of this run's own (initdb, pg_ctl), run as Debian's
    postgres user when the run is root's."""

    def __init__(self, folder: Path) -> None:
        found = shutil.which("initdb") or max(
            Path("/usr/lib/postgresql").glob("*/bin/initdb"),
            key=lambda path: int(path.parent.parent.name),
        )
        self.programs = Path(found).parent
        self.folder = folder
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        folder.mkdir(parents=True, exist_ok=True)
        if self.owner:
            shutil.chown(folder, "postgres")
        self.pg("initdb", "-D", f"{folder}/data", "-A", "trust", "-U", "postgres",
                "--no-sync")  # fmt: skip

    def pg(self, program: str, *arguments: str) -> None:
        command = [*self.owner, str(self.programs / program), *arguments]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder}"
        self.pg("pg_ctl", "-D", f"{self.folder}/data", "-o", options, "-w",
                "-l", f"{self.folder}/server.log", "start")  # fmt: skip

    def kill(self) -> None:
        self.pg("pg_ctl", "-D", f"{self.folder}/data", "-m", "immediate", "stop")


class OwnRedis:
    """A Redis of this run's own, keeping nothing on disk."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(100):
            answer = subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"],
                capture_output=True, text=True,
            )  # fmt: skip
            if answer.stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise SystemExit("the run's Redis did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


class NodeRestarts:
    """Kill one of the run's nodes with SIGKILL, and start it again on its port."""

    def __init__(
        self, servers: list[Server], number: int, settings: dict[str, str], work: Path
    ) -> None:
        self.servers, self.number = servers, number
        self.settings, self.work = settings, work

    def kill(self) -> None:
        self.servers[self.number].process.send_signal(signal.SIGKILL)
        self.servers[self.number].process.wait()

    def start(self) -> None:
        port = int(self.servers[self.number].base.rsplit(":", 1)[1])
        output = self.work / f"node-{self.number}-restarted.log"
        self.servers[self.number], _ = start_serve(self.settings, output, port)


def import_stories(settings: dict[str, str], count: int, work: Path) -> None:
    """Import the first `count` stories of the Wikinews corpus through node A."""
    subset = work / "stories.jsonl"
    with CORPUS.open(encoding="utf-8") as corpus, subset.open("w") as out:
        for _, line in zip(range(count), corpus, strict=False):
            out.write(line)
    env = {**os.environ, **settings}
    subprocess.run([READER, "import", str(subset)], env=env, check=True,
                   capture_output=True)  # fmt: skip


def run_with_outage(front: Server, cached: Path, kill, start, seconds: int, away: int):
    """wrk through nginx, the service killed KILL_AT seconds in and started `away`
    seconds later; return wrk's tally, the wall-clock seconds of the kill and of the
    service answering again, and wrk's socket errors."""
    script = cached.with_suffix(".lua")
    script.write_text(TALLY)
    command = ["wrk", "-t2", "-c2", f"-d{seconds}s", "--timeout", "20s", "-s",
               str(script), front.base]  # fmt: skip
    env = {**os.environ, "CACHED": str(cached)}
    with tempfile.TemporaryFile("w+") as output:
        load = subprocess.Popen(command, stdout=output, env=env, text=True)
        time.sleep(KILL_AT)
        killed = time.time()
        kill()
        time.sleep(away)
        start()  # returns once the service accepts connections again
        restarted = time.time()
        load.wait()
        output.seek(0)
        said = output.read()
    tally: dict[int, Counter] = defaultdict(Counter)
    errors = ""
    for line in said.splitlines():
        if line.startswith("TALLY "):
            _, second, kind, status, count = line.split()
            tally[int(second)][f"{kind} {status}"] += int(count)
        elif line.startswith("ERRORS "):
            errors = line.split(" ", 1)[1]
    if not tally:
        raise SystemExit(f"wrk counted nothing: {said}")
    return tally, killed, restarted, errors


def summarise(name: str, tally, killed: float, restarted: float, errors: str) -> str:
    """A table of what readers got before, during and after the outage."""
    phases = {"before": Counter(), "during": Counter(), "after": Counter()}
    first_fresh_after: float | None = None
    for second in sorted(tally):
        if second < int(killed):
            phase = "before"
        elif second <= int(restarted):
            phase = "during"
        else:
            phase = "after"
        phases[phase].update(tally[second])
        if (
            second >= int(restarted)
            and tally[second]["fresh 200"]
            and (first_fresh_after is None)
        ):
            first_fresh_after = second - restarted
    lines = [
        f"#### {name}",
        "",
        "| phase | cached article: 200 / other | page needing the archive:"
        " 200 / 503 / other |",
        "| --- | ---: | ---: |",
    ]
    failures = 0
    for phase, counts in phases.items():
        cached_ok = counts["cached 200"]
        cached_other = sum(n for k, n in counts.items() if k.startswith("cached "))
        cached_other -= cached_ok
        fresh_ok, fresh_503 = counts["fresh 200"], counts["fresh 503"]
        fresh_other = sum(n for k, n in counts.items() if k.startswith("fresh "))
        fresh_other -= fresh_ok + fresh_503
        failures += cached_other + fresh_other
        lines.append(
            f"| {phase} | {cached_ok} / {cached_other} |"
            f" {fresh_ok} / {fresh_503} / {fresh_other} |"
        )
    other = sorted(
        {k for counts in phases.values() for k in counts}
        - {"cached 200", "fresh 200", "fresh 503"}
    )
    lines += [
        "",
        f"Failures (any other answer): {failures}"
        + (f" ({', '.join(other)})" if other else "")
        + f"; wrk socket errors (connect read write status timeout): {errors}.",
        "First page needing the archive served after the restart: "
        + (
            f"{max(first_fresh_after, 0):.0f}-{first_fresh_after + 1:.0f} s after it."
            if first_fresh_after is not None
            else "none within the run."
        ),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/outages"))
    parser.add_argument("--stories", type=int, default=2000)
    parser.add_argument("--away", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=24)
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    started = datetime.now(UTC)
    load_before = load_average()

    postgresql = OwnPostgreSQL(args.work / "postgresql")
    postgresql.start()
    redis = OwnRedis(args.work)
    redis.start()
    servers: list[Server] = []
    try:
        common = {
            "READERAPP_DATABASE_URL": postgresql.url,
            "READERAPP_CACHE_TYPE": "RedisCache",
            "READERAPP_CACHE_REDIS_URL": redis.url,
            "READERAPP_FETCH_PICTURES": "false",
            "READERAPP_SITE_URL": "http://news.example.org",
        }
        log(f"importing {args.stories} stories into the run's PostgreSQL …")
        node_settings = [
            {**common, "READERAPP_INDEX_DIR": str(args.work / name)}
            for name in ("index-a", "index-b")
        ]
        import_stories(node_settings[0], args.stories, args.work)
        ports = []
        for number, settings in enumerate(node_settings):
            node, _ = start_serve(settings, args.work / f"node-{number}.log")
            servers.append(node)
            ports.append(int(node.base.rsplit(":", 1)[1]))
        front = start_nginx(args.work / "nginx", free_port(), ports, cache=False)
        servers.append(front)

        latest = json.loads(fetch(front.base + "/api/latest"))["urls"]
        paths = [urlsplit(url).path for url in latest][:20]
        for path in paths * 2:  # into Redis, for both nodes
            fetch(front.base + path)
        cached = args.work / "cached.txt"
        cached.write_text("\n".join(paths) + "\n")

        node_a = NodeRestarts(servers, 0, node_settings[0], args.work)
        results = []
        for name, kill, start in (
            ("PostgreSQL killed", postgresql.kill, postgresql.start),
            ("Redis killed", redis.kill, redis.start),
            ("node A killed (SIGKILL)", node_a.kill, node_a.start),
        ):
            log(f"{name} …")
            outcome = run_with_outage(
                front, cached, kill, start, args.seconds, args.away
            )
            results.append(summarise(f"{name} for {args.away} s", *outcome))
    finally:
        for server in servers:
            server.stop()
        try:
            postgresql.kill()
        except subprocess.CalledProcessError:
            pass
        if redis.process and redis.process.poll() is None:
            redis.kill()
    tracebacks = sum(
        log.read_text().count("Traceback") for log in args.work.glob("node-*.log")
    )
    print(
        f"{started:%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} cores,"
        f" load {load_before} → {load_average()}; {args.stories} stories; wrk -t2 -c2"
        f" -d{args.seconds}s through nginx (proxy_cache off) to two nodes;"
        f" each service killed {KILL_AT} s in, for {args.away} s.\n"
    )
    print("\n".join(results))
    print(f"Tracebacks in the two nodes' logs: {tracebacks}.")


if __name__ == "__main__":
    main()
