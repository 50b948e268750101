"""How fast a node's search index follows the store's change log, one run (#17).

Usage:
    python bench/index_catchup.py [--database-url URL] [--corpus DIR] [--base N]
                                  [--stories N] [--rounds R] [--lag-stories N]
                                  [--lag-rounds R]

    --database-url  a PostgreSQL server to make a scratch database on (dropped
                    after), e.g. postgresql://postgres@127.0.0.1:5432/postgres;
                    without it, a SQLite file in a temp folder
    --corpus        folder of *.jsonl files (default ../shared/corpus from the repo
                    root); stories are taken from its files in turn
    --base          stories both nodes hold before anything is timed (default 1000)
    --stories       stories in each catch-up (default 5000)
    --rounds        times each catch-up is repeated from the same starting index
                    (restored from a copy), medians (default 3)
    --lag-stories   stories in each import of the lag measurement (default 1000)
    --lag-rounds    imports of that many new stories, one after the other (default 3)

Node A is a `reader import` subprocess with its own index folder, as an operator
runs it; node B is another index folder on the same store.

(a) Changes a second: node A imports `--stories` new stories, then the same stories
    corrected (every headline changed), then removes them; after each, node B's
    index catches up in this process exactly as a serving node's follower does
    (importer.catch_up with choose=False). Also: a new node C building its index
    from the whole store. Wall and CPU time (this process and the index build's
    worker processes; on PostgreSQL also the database's backends).
(b) Lag: node B serves (`reader serve` with index B: its IndexFollower follows the
    store), and node A imports `--lag-stories` new stories in one file (one
    transaction). A thread sees the commit (the log's newest number moves, asked
    every 5 ms), then reads node B's LAST_CHANGE every 5 ms until its index holds
    that change (lag 0, as B's /healthz then says; asking /healthz that often
    would cost B CPU), and the CPU time B's process used from the commit to then.
    Reported from the commit, and from the moment the import command returned
    (negative: B had caught up before it returned, while it was still indexing
    node A's index and choosing "Also read").
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from cold_pages import cpu_seconds, load_average
from engines_http import backend_cpu_seconds, start_serve
from throughput import Server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from readerapp.importer import catch_up  # noqa: E402
from readerapp.search import ArchiveIndex  # noqa: E402
from readerapp.store import Store, open_store  # noqa: E402

READER = Path(sys.executable).with_name("reader")


@dataclass
class Archive:
    """Where the store is, and the settings every node of it shares."""

    address: str  # a postgresql:// URL or a SQLite file's path
    database: str | None  # the PostgreSQL database's name, for its backends' CPU
    work: Path
    engine: str = "SQLite (a file in a temp folder)"

    def settings(self, index: Path) -> dict[str, str]:
        """A node's READERAPP_ environment: this store, its own index folder."""
        where = "DATABASE_URL" if self.database else "DATABASE"
        return {
            **os.environ,
            f"READERAPP_{where}": self.address,
            "READERAPP_INDEX_DIR": str(index),
            "READERAPP_MEDIA_DIR": str(self.work / "media"),
            "READERAPP_FETCH_PICTURES": "false",
        }

    def store(self) -> Store:
        return open_store(self.address)

    def cpu(self) -> float:
        """CPU seconds of this process and of the children it waited for (an index
        build's workers), and of the database's backends."""
        own = 0.0
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
            usage = resource.getrusage(who)
            own += usage.ru_utime + usage.ru_stime
        return own + (backend_cpu_seconds(self.database) if self.database else 0.0)


@contextmanager
def scratch_archive(server: str | None, work: Path) -> Iterator[Archive]:
    """A new, empty store: a database on the PostgreSQL server, else a SQLite file."""
    if not server:
        yield Archive(str(work / "archive.sqlite3"), None, work)
        return
    import psycopg

    name = f"readerapp_catchup_{os.getpid()}"
    with closing(psycopg.connect(server, autocommit=True)) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    address = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    try:
        engine = f"PostgreSQL {server_version(address)} on loopback (database {name})"
        yield Archive(address, name, work, engine)
    finally:
        with closing(psycopg.connect(server, autocommit=True)) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stories(corpus: Path, count: int) -> list[dict]:
    """The corpus's first `count` stories, one from each file in turn."""
    with ExitStack() as opened:
        files = [
            opened.enter_context(path.open(encoding="utf-8"))
            for path in sorted(corpus.glob("*.jsonl"))
        ]
        lines = itertools.chain.from_iterable(itertools.zip_longest(*files))
        found = (json.loads(line) for line in lines if line and line.strip())
        return list(itertools.islice(found, count))


def write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    return path


def run_import(archive: Archive, index: Path, path: Path) -> tuple[float, str]:
    """`reader import` as node A; return its wall time and its summary."""
    started = time.perf_counter()
    done = subprocess.run(
        [READER, "import", str(path)],
        env=archive.settings(index),
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"reader import {path} failed:\n{done.stderr}{done.stdout}")
    return elapsed, " ".join(done.stdout.split())


def log_entries_after(store: Store, seq: int) -> int:
    """How many entries of the change log come after change `seq`."""
    return store.db.execute(
        "SELECT count(*) FROM article_change WHERE seq > ?", (seq,)
    ).fetchone()[0]


@dataclass
class CatchUp:
    """One kind of catch-up, timed over rounds from the same starting index."""

    name: str
    changes: int  # log entries applied
    stories: int  # stories they touched
    walls: list[float]
    cpus: list[float]

    def row(self) -> str:
        wall, cpu = statistics.median(self.walls), statistics.median(self.cpus)
        rounds = ", ".join(f"{w:.2f}" for w in self.walls)
        return (
            f"| {self.name} | {self.changes:,} ({self.stories:,} stories) |"
            f" {wall:.2f} ({rounds}) | {self.changes / wall:,.0f} | {cpu:.2f} |"
            f" {1000 * cpu / self.changes:.2f} |"
        )


def time_catch_up(
    archive: Archive, index: Path, name: str, rounds: int, build: bool = False
) -> CatchUp:
    """Catch index up with the store `rounds` times, each from the same start."""
    start = index.with_name(index.name + ".start")
    shutil.rmtree(start, ignore_errors=True)
    if index.exists():
        shutil.copytree(index, start)
    walls, cpus = [], []
    with closing(archive.store()) as store:
        held = ArchiveIndex(index).last_change()
        changes = log_entries_after(store, held or 0)
        touched = 0
        for number in range(rounds):
            if number:
                shutil.rmtree(index)
                if start.exists():
                    shutil.copytree(start, index)
            following = ArchiveIndex(index)
            log(f"{name}: round {number + 1} …")
            wall, cpu = time.perf_counter(), archive.cpu()
            touched = catch_up(store, following, choose=False)
            walls.append(time.perf_counter() - wall)
            cpus.append(archive.cpu() - cpu)
            assert following.last_change() == store.latest_article_change()
            following.close()
    shutil.rmtree(start, ignore_errors=True)
    if build:
        changes = touched  # a build reads the stories, not the log
    return CatchUp(name, changes, touched or changes, walls, cpus)


@dataclass
class Lag:
    import_s: float  # the import command, start to return
    commit_to_return: float
    from_commit: float  # the commit seen, to node B's index holding it
    from_return: float
    changes: int
    follower_cpu: float  # node B's process, from the commit to its lag 0


def health(base: str) -> dict:
    with urllib.request.urlopen(base + "/healthz", timeout=10) as answer:
        return json.load(answer)


def measure_lag(
    archive: Archive, index_a: Path, serving: Server, index_b: Path, path: Path
) -> Lag:
    """Import a file as node A while node B (serving, on index_b) follows; time
    B's lag, and the CPU B's process used meanwhile."""
    with closing(archive.store()) as store:
        before = store.latest_article_change()
    following = ArchiveIndex(index_b)
    seen: dict[str, float] = {}
    newest: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        # The file is one transaction: its changes all appear at its commit.
        with closing(archive.store()) as watching:
            while not stop.is_set() and not newest:
                latest = watching.latest_article_change()
                if latest > before:
                    seen["commit"] = time.perf_counter()
                    seen["B's CPU at the commit"] = cpu_seconds(serving)
                    newest.append(latest)
                else:
                    time.sleep(0.005)
        # Node B's LAST_CHANGE, read here: asking its /healthz would cost it CPU.
        while not stop.is_set():
            if (following.last_change() or 0) >= newest[0]:
                seen["caught up"] = time.perf_counter()
                seen["B's CPU caught up"] = cpu_seconds(serving)
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.perf_counter()
    try:
        run_import(archive, index_a, path)
        returned = time.perf_counter()
        watcher.join(timeout=300)
    finally:
        stop.set()
        watcher.join()
    if "caught up" not in seen:
        raise SystemExit("node B did not catch up within 300 s of the import")
    with closing(archive.store()) as store:
        assert store.latest_article_change() == newest[0], "a second commit?"
    assert health(serving.base)["index"]["lag"] == 0
    return Lag(
        import_s=returned - started,
        commit_to_return=returned - seen["commit"],
        from_commit=seen["caught up"] - seen["commit"],
        from_return=seen["caught up"] - returned,
        changes=newest[0] - before,
        follower_cpu=seen["B's CPU caught up"] - seen["B's CPU at the commit"],
    )


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument(
        "--corpus", type=Path, default=ROOT.parent / "shared" / "corpus"
    )
    parser.add_argument("--base", type=int, default=1000)
    parser.add_argument("--stories", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lag-stories", type=int, default=1000)
    parser.add_argument("--lag-rounds", type=int, default=3)
    args = parser.parse_args()
    command = " ".join(["python bench/index_catchup.py", *sys.argv[1:]])
    loads = [load_average()]
    began = datetime.now(UTC)
    wanted = args.base + args.stories + args.lag_stories * args.lag_rounds
    corpus = stories(args.corpus, wanted)
    if len(corpus) < wanted:
        raise SystemExit(f"{args.corpus} holds {len(corpus)} stories, not {wanted}")
    base = corpus[: args.base]
    new = corpus[args.base : args.base + args.stories]
    later = corpus[args.base + args.stories :]
    body = sum(len(story["body_html"]) for story in new) / len(new)
    with (
        tempfile.TemporaryDirectory() as scratch,
        scratch_archive(args.database_url, Path(scratch)) as archive,
    ):
        work = Path(scratch)
        index_a, index_b, index_c = (work / f"index-{n}" for n in "abc")
        log(f"node A imports {len(base):,} stories; node B builds its index …")
        run_import(archive, index_a, write(work / "base.jsonl", base))
        with closing(archive.store()) as store:
            catch_up(store, ArchiveIndex(index_b), choose=False)

        catchups = []
        imports = []
        corrected = [{**s, "headline": s["headline"] + " (corrected)"} for s in new]
        removed = [{"id": s["id"], "removed": True} for s in new]
        for name, records in (
            ("new stories", new),
            ("corrections (every headline changed)", corrected),
            ("removals", removed),
        ):
            log(f"node A imports {len(records):,} {name} …")
            seconds, summary = run_import(
                archive, index_a, write(work / "batch.jsonl", records)
            )
            imports.append(f"{name}: {seconds:.1f} s ({summary})")
            loads.append(load_average())
            catchups.append(time_catch_up(archive, index_b, name, args.rounds))
            loads.append(load_average())
            if name.startswith("corrections"):
                # A new node builds from the whole store, before the removals.
                catchups.append(
                    time_catch_up(
                        archive, index_c, "a new node's build", args.rounds, True
                    )
                )
                loads.append(load_average())

        log("node B serves and follows; node A imports, timed to B's lag 0 …")
        serving, chose = start_serve(archive.settings(index_b), work / "serve-b.log")
        lags = []
        try:
            wait_until(lambda: health(serving.base)["index"]["lag"] == 0)
            for number in range(args.lag_rounds):
                batch = later[
                    number * args.lag_stories : (number + 1) * args.lag_stories
                ]
                path = write(work / f"lag-{number}.jsonl", batch)
                lags.append(measure_lag(archive, index_a, serving, index_b, path))
                loads.append(load_average())
                time.sleep(1)  # the follower's own output settles
        finally:
            serving.stop()
        follower_said = (work / "serve-b.log").read_text()
    loads.append(load_average())
    print(
        report(
            args, command, began, archive, body, imports, catchups, lags, chose, loads
        )
    )
    print("\nnode B's follower said:\n" + indented(follower_said))


def wait_until(ready: Callable[[], bool], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"not ready within {seconds} s")
        time.sleep(0.05)


def indented(text: str) -> str:
    lines = [line for line in text.splitlines() if re.search(r"index:|Serving", line)]
    return "\n".join(f"    {line}" for line in lines)


def report(
    args,
    command: str,
    began: datetime,
    archive: Archive,
    body: float,
    imports: list[str],
    catchups: list[CatchUp],
    lags: list[Lag],
    chose: str,
    loads: list[str],
) -> str:
    lines = [
        f"`{command}`",
        f"{began:%Y-%m-%d %H:%M} UTC to {datetime.now(UTC):%H:%M} UTC,"
        f" {platform.machine()}, {os.cpu_count()} cores, Python"
        f" {platform.python_version()}; store: {archive.engine}.",
        f"Stories from {args.corpus}/*.jsonl, one from each file in turn;"
        f" mean body {body:,.0f} characters of HTML. Load average (1, 5, 15 min)"
        f" along the run: {' → '.join(loads)}.",
        "",
        "Node A's imports (a `reader import` subprocess, indexing its own index):",
        *(f"- {line}" for line in imports),
        "",
        f"(a) Node B's index catching up (importer.catch_up, choose=False), median"
        f" of {args.rounds} rounds from the same starting index:",
        "",
        "| catch-up | log entries applied | wall s (rounds) | changes/s (wall) |"
        " CPU s | CPU ms a change |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *(catch.row() for catch in catchups),
        "",
        f"(b) Lag after an import of {args.lag_stories:,} stories through node A,"
        f" node B serving (`reader serve` {chose}) and following:",
        "",
        "| import | changes | import wall s | commit → import returned s |"
        " B's lag 0: s after the commit | s after the import returned |"
        " B's CPU s meanwhile |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for number, lag in enumerate(lags, 1):
        lines.append(
            f"| {number} | {lag.changes:,} | {lag.import_s:.2f} |"
            f" {lag.commit_to_return:.2f} | {lag.from_commit:.2f} |"
            f" {lag.from_return:.2f} | {lag.follower_cpu:.2f} |"
        )
    return "\n".join(lines)


def server_version(address: str) -> str:
    import psycopg

    with closing(psycopg.connect(address)) as db:
        return db.execute("SHOW server_version").fetchone()[0].split()[0]


if __name__ == "__main__":
    sys.exit(main())
