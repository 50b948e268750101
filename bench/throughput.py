"""Requests/s and tail latency of `reader serve` against two references, in one run.

Usage:
    python bench/throughput.py [--corpus DIR] [--work DIR] [--seconds S] [--rounds R]
                               [--connections C]

    --corpus       folder of *.jsonl files (default ../shared/corpus from the repo root)
    --work         folder for the archive and index (default: a temp dir); reused
                   when it already holds the corpus, so later runs skip the import
    --seconds      length of each wrk run (default 10)
    --rounds       rounds of every scenario, interleaved (default 5)
    --connections  wrk connections (default 32)

Servers, all on loopback with the same waitress settings (those `reader serve` chooses
and prints): `reader serve` on the imported corpus, a Flask "hello world"
(bench/hello_world.py: the framework's ceiling) and nginx serving the article's HTML
as a static file (the machine's ceiling). wrk runs one thread (the machine has two
cores; the servers need the other). Each round runs every scenario once, starting one
scenario later than the round before:

    hello world, nginx, article warm (one article, from the page cache),
    article cold (each request a different article of the archive, never cached),
    section page 50 warm, section pages cold (each request a different listing page),
    search warm (one query), search cold (each request a different one-word query)

and the report gives each scenario's median over the rounds, with each round's
article / hello-world ratio. After each run the script waits until `reader serve` has
worked off what is still queued (cold pages take long), so no run pays for the last.
Then memory: a fresh `reader serve` is driven through a
cycle of 1,700 pages (articles, listings, searches) and its resident size is read from
/proc after 10,000 and after 100,000 requests. Needs wrk and nginx on PATH.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READER = Path(sys.executable).with_name("reader")
ROTATE = """
local paths = {}
for line in io.lines(os.getenv("URLS")) do paths[#paths + 1] = line end
local i = tonumber(os.getenv("START") or "0")
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i - 1) % #paths + 1])
end
"""
NGINX_CONF = """
{user}
worker_processes auto;
daemon off;
pid {work}/nginx/nginx.pid;
error_log {work}/nginx/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    server {{
        listen 127.0.0.1:{port};
        root {work}/nginx/www;
        location / {{ default_type text/html; }}
    }}
}}
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server for {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer in {seconds} s")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:
        return response.read()


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    base: str

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status)[1]) / 1024


def reader_env(work: Path) -> dict[str, str]:
    return {
        **os.environ,
        "READERAPP_DATABASE": str(work / "archive.sqlite3"),
        "READERAPP_INDEX_DIR": str(work / "index"),
    }


def prepare_archive(corpus: Path, work: Path) -> int:
    """Import the corpus with `reader import` unless work already holds it."""
    files = sorted(corpus.glob("*.jsonl"))
    if not files:
        raise SystemExit(f"no *.jsonl files in {corpus}")
    expected = sum(1 for path in files for line in path.open("rb") if line.strip())
    database = work / "archive.sqlite3"
    if database.exists() and article_count(database) == expected:
        return expected
    log(f"importing {expected} articles into {work} …")
    subprocess.run(
        [READER, "import", *map(str, files)], env=reader_env(work), check=True
    )
    return article_count(database)


def article_count(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return db.execute("SELECT count(*) FROM article").fetchone()[0]


def start_reader(
    work: Path,
    options: Sequence[str] = (),
    settings: dict[str, str] | None = None,
    output: Path | None = None,
    port: int | None = None,
) -> tuple[Server, int, int]:
    """Start `reader serve` on work's archive and index, or with these READERAPP_
    settings instead, on port (a free one by default), its output in output
    (work/serve.log); return it with the threads and connections it chose."""
    port = port or free_port()
    output = output or work / "serve.log"
    env = {**os.environ, **settings} if settings is not None else reader_env(work)
    with output.open("w") as sink:
        process = subprocess.Popen(
            [READER, "serve", "--port", str(port), *options],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server("reader", process, f"http://127.0.0.1:{port}")
    wait_for(server.base + "/about", process)
    said = output.read_text()
    found = re.search(r"with (\d+) threads and up to (\d+) connections", said)
    if not found:
        raise SystemExit(f"unexpected `reader serve` output: {said!r}")
    return server, int(found[1]), int(found[2])


def process_cpu_seconds(pid: int) -> float:
    """Return the CPU time (user and system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_hello(threads: int, connections: int) -> Server:
    """Start the Flask hello world with the waitress settings `reader serve` uses."""
    from readerapp.cli import SEND_BYTES

    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            ROOT / "bench" / "hello_world.py",
            str(port),
            str(threads),
            str(connections),
            str(SEND_BYTES),
        ]  # fmt: skip
    )
    server = Server("hello", process, f"http://127.0.0.1:{port}")
    wait_for(server.base + "/", process)
    return server


def start_nginx(work: Path, article_html: bytes) -> Server:
    nginx = shutil.which("nginx")
    if not nginx:
        raise SystemExit("nginx not found (Debian: apt-get install nginx-light)")
    (work / "nginx" / "www").mkdir(parents=True, exist_ok=True)
    (work / "nginx" / "www" / "article.html").write_bytes(article_html)
    port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""
    conf = work / "nginx" / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=user, work=work, port=port))
    process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(work / "nginx")])
    server = Server("nginx", process, f"http://127.0.0.1:{port}")
    wait_for(server.base + "/article.html", process)
    return server


@dataclass
class Run:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int


def wrk(url: str, seconds: int, connections: int, urls: Path | None = None,
        start: int = 0, threads: int = 1, rotate: str = ROTATE) -> Run:  # fmt: skip
    """Run wrk against url (or, with urls, against each of those paths in turn)."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s"]
    command += ["--latency", "--timeout", "30s"]  # cold pages queue: count them all
    env = dict(os.environ)
    if urls:
        script = urls.with_suffix(".lua")
        script.write_text(rotate)
        command += ["-s", str(script)]
        env.update(URLS=str(urls), START=str(start), THREADS=str(threads))
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, env=env, check=True
    ).stdout

    def latency(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", output).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    if socket_errors:
        log(f"  wrk socket errors: {socket_errors[1]}")
    return Run(
        requests_per_s=float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),
        p50_ms=latency("50%"),
        p99_ms=latency("99%"),
        requests=int(re.search(r"(\d+) requests in", output)[1]),
        non_2xx=int(errors[1]) if errors else 0,
    )


def settle(url: str, seconds: float = 120) -> None:
    """Wait until the server has worked off requests queued by the last run."""
    deadline = time.monotonic() + seconds
    quick = 0
    while quick < 3 and time.monotonic() < deadline:
        start = time.perf_counter()
        fetch(url)
        quick = quick + 1 if time.perf_counter() - start < 0.05 else 0
        time.sleep(0.1)


@dataclass
class Scenario:
    name: str
    url: str
    urls: Path | None = None  # paths taken in turn; each round continues the list
    runs: list[Run] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in self.runs)


def paths_file(work: Path, name: str, paths: list[str]) -> Path:
    path = work / f"{name}.txt"
    path.write_text("".join(p + "\n" for p in paths))
    return path


def archive_paths(database: Path) -> dict[str, list[str]]:
    """Return article paths, listing pages and one-word queries, in a fixed shuffle."""
    shuffle = random.Random(20261128).shuffle
    with sqlite3.connect(database) as db:
        articles = [
            f"/news/{section}/{slug}"
            for section, slug in db.execute(
                "SELECT s.slug, a.slug FROM article a"
                " JOIN section s ON s.id = a.section_id ORDER BY a.id"
            )
        ]
        sections = db.execute(
            "SELECT slug, article_count FROM section ORDER BY article_count DESC"
        ).fetchall()
        words = sorted(
            {
                word.lower()
                for (headline,) in db.execute("SELECT headline FROM article")
                for word in re.findall(r"[A-Za-z]{5,}", headline)
            }
        )
    listings = [
        f"/news/{slug}/?page={n}"
        for slug, count in sections
        for n in range(2, count // 20)
    ]
    for group in (articles, listings, words):
        shuffle(group)
    return {
        "articles": articles,
        "listings": listings,
        "searches": [f"/search?q={word}" for word in words],
        "largest": [f"/news/{sections[0][0]}/?page=50"],
    }


def measure_memory(work: Path, paths: dict[str, list[str]], connections: int) -> dict:
    """Drive a fresh server through a cycle of pages; RSS after 10k and 100k."""
    server, _, _ = start_reader(work)
    try:
        cycle = paths["articles"][:1500] + paths["listings"][:100]
        cycle += paths["searches"][:100]
        random.Random(7).shuffle(cycle)
        urls = paths_file(work, "memory", cycle)
        done, samples, checkpoints = 0, {}, [10_000, 100_000]
        while checkpoints:
            run = wrk(server.base, 5, connections, urls, start=done)
            done += run.requests
            if run.non_2xx:
                raise SystemExit(f"memory run: {run.non_2xx} non-2xx responses")
            while checkpoints and done >= checkpoints[0]:
                samples[checkpoints.pop(0)] = (done, server.rss_mb())
                log(f"  after {done} requests: {server.rss_mb():.1f} MB resident")
        return samples
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--corpus", type=Path, default=ROOT.parent / "shared" / "corpus"
    )
    parser.add_argument("--work", type=Path)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found on PATH (Debian: wrk, nginx-light)")
    work = args.work or Path(tempfile.mkdtemp(prefix="readerapp-throughput-"))
    work.mkdir(parents=True, exist_ok=True)
    count = prepare_archive(args.corpus, work)
    paths = archive_paths(work / "archive.sqlite3")

    reader, threads, connections = start_reader(work)
    servers = [reader]
    try:
        hello = start_hello(threads, connections)
        servers.append(hello)
        article = paths["articles"][0]
        html = fetch(reader.base + article)
        nginx = start_nginx(work, html)
        servers.append(nginx)
        scenarios = [
            Scenario("Flask hello world", hello.base + "/"),
            Scenario("nginx, the article as a file", f"{nginx.base}/article.html"),
            Scenario("article, cache warm", reader.base + article),
            Scenario(
                "article, cache cold", reader.base,
                paths_file(work, "articles", paths["articles"][1:]),
            ),
            Scenario("section page 50, cache warm", reader.base + paths["largest"][0]),
            Scenario(
                "section listing pages, cache cold", reader.base,
                paths_file(work, "listings", paths["listings"]),
            ),
            Scenario("search results, cache warm", reader.base + "/search?q=election"),
            Scenario(
                "search results, cache cold", reader.base,
                paths_file(work, "searches", paths["searches"]),
            ),
        ]  # fmt: skip
        for scenario in scenarios:
            if not scenario.urls:
                fetch(scenario.url)  # warm: the page is rendered and cached
        offsets = {scenario.name: 0 for scenario in scenarios}
        for round_number in range(1, args.rounds + 1):
            # Each round starts one scenario later, so none always follows another.
            turn = (round_number - 1) % len(scenarios)
            for scenario in scenarios[turn:] + scenarios[:turn]:
                log(f"round {round_number}: {scenario.name} …")
                run = wrk(
                    scenario.url, args.seconds, args.connections, scenario.urls,
                    start=offsets[scenario.name],
                )  # fmt: skip
                offsets[scenario.name] += run.requests + args.connections
                scenario.runs.append(run)
                settle(reader.base + article)
    finally:
        for server in servers:
            server.stop()
    memory = measure_memory(work, paths, args.connections)
    print(report(args, count, threads, connections, scenarios, memory))


def report(args, count, threads, connections, scenarios, memory) -> str:
    hello, nginx, warm, cold = scenarios[:4]
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {date.today().isoformat()}. Archive: {count:,}"
        f" articles. waitress: {threads} threads, {connections} connections (as"
        f" `reader serve` chose). wrk -t1 -c{args.connections} -d{args.seconds}s,"
        f" {args.rounds} rounds, medians.",
        "",
        "| scenario | requests/s | vs hello world | p50 ms | p99 ms | non-2xx |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scenario in scenarios:
        ratio = scenario.median("requests_per_s") / hello.median("requests_per_s")
        lines.append(
            f"| {scenario.name} | {scenario.median('requests_per_s'):,.0f} |"
            f" {ratio:.0%} | {scenario.median('p50_ms'):.1f} |"
            f" {scenario.median('p99_ms'):.1f} |"
            f" {sum(run.non_2xx for run in scenario.runs)} |"
        )
    per_round = ", ".join(
        f"{w.requests_per_s / h.requests_per_s:.0%}"
        for w, h in zip(warm.runs, hello.runs, strict=True)
    )
    cold_rounds = ", ".join(
        f"{c.requests_per_s / h.requests_per_s:.1%}"
        for c, h in zip(cold.runs, hello.runs, strict=True)
    )
    (n10, rss10), (n100, rss100) = memory[10_000], memory[100_000]
    ceiling = nginx.median("requests_per_s") / hello.median("requests_per_s")
    lines += [
        "",
        f"Article warm / hello world per round: {per_round}; p99 per round:"
        f" {', '.join(f'{r.p99_ms:.1f}' for r in warm.runs)} ms (hello world:"
        f" {', '.join(f'{r.p99_ms:.1f}' for r in hello.runs)} ms).",
        f"Article cold / hello world per round: {cold_rounds}.",
        f"nginx / hello world: {ceiling:.1f}x.",
        f"Memory: {rss10:.1f} MB resident after {n10:,} requests, {rss100:.1f} MB after"
        f" {n100:,} ({(rss100 - rss10) / rss10:+.1%}).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
