"""readerapp against Ghost 5: uncached pages and a first visit, side by side in one run.

Usage:
    python bench/vs_ghost.py [--corpus DIR] [--work DIR] [--ghost DIR] [--posts N]
                             [--seconds S] [--rounds R] [--visits V]

    --corpus   folder of *.jsonl files (default ../shared/corpus from the repo root)
    --work     folder for readerapp's archive and index (default /tmp/vs-ghost-work);
               reused when it already holds the corpus, so later runs skip the import
    --ghost    folder for Ghost (default /tmp/ghost); `../shared/peers/ghost.sh install`
               puts Ghost 5 there from the npm registry when it is missing (about 8
               minutes), and the posts made once stay in its database for later runs
    --posts    published posts Ghost must hold for its walk (default 4,000); the
               missing ones are made through Ghost's Admin API (about 2 minutes a
               thousand) from the same corpus stories readerapp serves
    --seconds  length of each wrk run (default 20)
    --rounds   rounds of the two walks, server order rotated (default 2)
    --visits   first visits to each server, order alternated (default 3)

Issue #16, target 5: readerapp's uncached article pages at >= 5x Ghost's uncached post
rate with a lower p99, with one client (`wrk -t2 -c8 --latency`, readerapp on the
waitress threads `reader serve` chooses, Ghost as `ghost.sh serve` runs it: production
mode on SQLite), and readerapp's first visit, its service worker's background
downloads included, lighter than Ghost's. Neither walk asks for a page twice in its
server's life: readerapp walks its archive in archive_paths' shuffle, backwards (so
away from bench/cold_pages.py's walk), and Ghost walks its posts in a fixed shuffle,
each wrk thread taking every other path and each run starting where the last stopped.
Ghost's posts are made from the same stories, in the same order, that readerapp walks
(headline, standfirst as the excerpt, body HTML, date, section as the tag), through
the Admin API with a staff session, so they render as any post written in Ghost does.

The first visit opens the same story (the one nearest 1,000 words without pictures)
on each server in a fresh Chromium profile at 360 x 740 and adds up the bytes
transferred (headers and bodies as Chromium reports them). For readerapp that is the
page and then what its service worker fetches until it has kept the newest stories
(bench/first_visit.py's Traffic and settle). Ghost has no service worker; its page
asks for scripts from a CDN this machine cannot reach: those are counted apart, each
sized from the npm package the CDN serves it from (brotli, as the CDN sends it to
Chromium, headers not counted). Nothing of Ghost is kept in this repository. Needs
wrk, npm, node and Chromium.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import brotli
import throughput
from cold_pages import NEVER_REPEAT, load_average
from first_visit import Traffic, settle
from lighthouse import article_near
from playwright.sync_api import Browser, sync_playwright
from throughput import (
    ROOT,
    Run,
    Server,
    archive_paths,
    fetch,
    free_port,
    log,
    paths_file,
    prepare_archive,
    start_reader,
    wait_for,
    wrk,
)

# The browser tests' Chromium and flags: one place says what this machine needs.
sys.path.insert(0, str(ROOT / "tests"))
from conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

GHOST_SH = ROOT.parent / "shared" / "peers" / "ghost.sh"
VIEWPORT = {"width": 360, "height": 740}
# The staff user this script makes on a fresh Ghost; Ghost wants 10+ characters.
OWNER = {
    "name": "Bench Editor",
    "email": "bench@example.com",
    "password": "Side-by-side-bench-2026",
    "blogTitle": "Ghost side by side",
}
# Pages asked for once each before timing (the head of each walk, not asked for
# again): a server's first renders (template compilation, V8's JIT warming up, the
# first reads of the database) are not what a walk measures.
WARM_UP = 200
# jsDelivr serves cdn.jsdelivr.net/ghost/NAME@RANGE/FILE from npm's @tryghost/NAME.
JSDELIVR_GHOST = re.compile(r"https://cdn\.jsdelivr\.net/ghost/([^@/]+)@([^/]+)/(.+)")


@dataclass
class Walk:
    """One server's walk: distinct paths, taken once each, across every round."""

    name: str
    server: Server
    paths: Path
    count: int
    quick_url: str  # answers in well under 50 ms when the server is idle
    done: int = 0
    runs: list[Run] = field(default_factory=list)
    loads: list[str] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in self.runs)


class GhostAdmin:
    """Ghost's Admin API with a staff session (cookie and Origin, as Ghost Admin)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookie = ""

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            self.base + "/ghost/api/admin/" + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json", "Origin": self.base,
                     "Accept-Version": "v5.0", "Cookie": self.cookie},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                if cookie := response.headers.get("Set-Cookie"):
                    self.cookie = cookie.split(";", 1)[0]
                json_body = "json" in response.headers.get("Content-Type", "")
                text = response.read()
        except urllib.error.HTTPError as error:
            raise SystemExit(
                f"Ghost {method} {path}: {error.code} {error.read()[:500]!r}"
            ) from None
        return json.loads(text) if json_body else {}  # a session answers "Created"

    def sign_in(self) -> None:
        """Make the owner on a fresh Ghost, then open a session as the owner."""
        if not self.call("GET", "authentication/setup/")["setup"][0]["status"]:
            log("Ghost: creating the owner through the setup API …")
            self.call("POST", "authentication/setup/", {"setup": [OWNER]})
        login = {"username": OWNER["email"], "password": OWNER["password"]}
        self.call("POST", "session/", login)

    def published(self) -> list[dict]:
        """Return the title and slug of every published post."""
        return self.call(
            "GET", "posts/?limit=all&fields=title,slug&filter=status:published"
        )["posts"]

    def add_post(self, story: dict) -> None:
        post = {
            "title": story["headline"],
            "html": story["body_html"],
            "status": "published",
            "published_at": story["published"],
            "tags": [{"name": story["section"]}],
        }
        if story["standfirst"]:
            post["custom_excerpt"] = story["standfirst"][:300]
        self.call("POST", "posts/?source=html", {"posts": [post]})


def install_ghost(folder: Path) -> None:
    if (folder / "app" / "node_modules" / "sqlite3" / "build" / "Release").exists():
        return
    log(f"installing Ghost 5 into {folder} with {GHOST_SH} (about 8 minutes) …")
    with (folder.parent / f"{folder.name}-install.log").open("w") as sink:
        subprocess.run(["bash", GHOST_SH, "install", str(folder)], check=True,
                       stdout=sink, stderr=subprocess.STDOUT)  # fmt: skip


def start_ghost(folder: Path) -> Server:
    port = free_port()
    # Sessions from a new device otherwise wait for a code sent by email, and setup
    # would email the owner; this machine sends no mail.
    env = {
        **os.environ,
        "security__staffDeviceVerification": "false",
        "sendWelcomeEmail": "false",
    }
    with (folder / "serve.log").open("a") as sink:
        process = subprocess.Popen(
            ["bash", GHOST_SH, "serve", str(folder), str(port)],
            env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = Server("ghost", process, f"http://127.0.0.1:{port}")
    # The first start creates the database and runs every migration.
    wait_for(server.base + "/ghost/api/admin/site/", process, seconds=600)
    return server


def stories(database: Path, order: list[str]) -> list[dict]:
    """Return the stories at these article paths, in this order, for Ghost's posts."""
    slugs = [path.rsplit("/", 1)[1] for path in order]
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        rows = {
            row["slug"]: dict(row)
            for row in db.execute(
                "SELECT a.slug, a.headline, a.standfirst, a.body_html, a.published,"
                " s.name AS section"
                " FROM article a JOIN section s ON s.id = a.section_id"
            )
        }
    return [rows[slug] for slug in slugs]


def ensure_posts(admin: GhostAdmin, wanted: list[dict], count: int) -> list[dict]:
    """Make posts from the wanted stories, in order, until Ghost holds count posts;
    return the title and slug of every published post."""
    have = admin.published()
    titles = {post["title"] for post in have}
    missing = [s for s in wanted if s["headline"] not in titles]
    missing = missing[: max(0, count - len(have))]
    if missing:
        log(f"Ghost: adding {len(missing):,} posts through the Admin API …")
        started = time.monotonic()
        # Two at a time: Ghost converts one post's HTML while the next is sent.
        with ThreadPoolExecutor(2) as pool:
            for number, _ in enumerate(pool.map(admin.add_post, missing), 1):
                if number % 500 == 0:
                    log(f"  {number:,} posts in {time.monotonic() - started:.0f} s")
        have = admin.published()
    return have


def measure_walks(walks: list[Walk], args) -> None:
    for number in range(args.rounds):
        turn = number % len(walks)
        for walk in walks[turn:] + walks[:turn]:
            log(f"round {number + 1}: {walk.name} …")
            before = load_average()
            run = wrk(
                walk.server.base, args.seconds, args.connections, walk.paths,
                start=walk.done, threads=args.clients, rotate=NEVER_REPEAT,
            )  # fmt: skip
            walk.loads.append(f"{before} → {load_average()}")
            walk.done += run.requests + args.connections
            if walk.done > walk.count:
                raise SystemExit(f"{walk.name}: the walk ran out of pages (--posts)")
            walk.runs.append(run)
            # Let the server finish what wrk left queued before the next run starts.
            throughput.settle(walk.server.base + walk.quick_url)


def warm_up(walk: Walk) -> None:
    paths = walk.paths.read_text().split()
    for path in paths[:WARM_UP]:
        fetch(walk.server.base + path)
    walk.done = WARM_UP


@dataclass
class Visit:
    own: list[tuple[str, int]]  # (path, bytes) from the server's own origin
    worker: list[tuple[str, int]]  # (path, bytes) its service worker fetched
    foreign: list[tuple[str, str]]  # (url, error) requests to other origins

    @property
    def total(self) -> int:
        return sum(size for _, size in self.own + self.worker)


def first_visit(browser: Browser, base: str, path: str, worker: bool) -> Visit:
    context = browser.new_context(viewport=VIEWPORT, is_mobile=True, bypass_csp=True)
    traffic = Traffic(context, base)
    foreign: list[tuple[str, str]] = []
    context.on(
        "requestfailed",
        lambda request: foreign.append((request.url, request.failure or "")),
    )
    page = context.new_page()
    page.goto(base + path, wait_until="load")
    if worker:
        page.wait_for_function("navigator.serviceWorker.controller !== null")
        settle(page)
    # Whatever the page or the worker still asks for after that.
    page.wait_for_timeout(3000)
    context.close()
    own = [(url, size) for url, size in traffic.page if url.startswith("/")]
    foreign += [(url, f"{size} B") for url, size in traffic.page if url[0] != "/"]
    return Visit(own, list(traffic.worker), foreign)


def measure_visits(servers: dict[str, tuple[str, str, bool]], visits: int):
    results: dict[str, list[Visit]] = {name: [] for name in servers}
    names = list(servers)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        for number in range(visits):
            for name in names[number % 2 :] + names[: number % 2]:
                base, path, worker = servers[name]
                log(f"first visit {number + 1}: {name} {path} …")
                results[name].append(first_visit(browser, base, path, worker))
        browser.close()
    return results


def npm_version(package: str, wanted: str) -> tuple[str, bool]:
    """Return the newest version of package in the range ~wanted, as the CDN serves,
    and True; or, when the registry here has none in it, the oldest later one of the
    same major version and False."""
    listed = subprocess.run(
        ["npm", "view", package, "versions", "--json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    releases = sorted(
        (tuple(map(int, version.split("."))), version)
        for version in json.loads(listed)
        if re.fullmatch(r"\d+\.\d+\.\d+", version)
    )
    major, minor = map(int, wanted.lstrip("~").split(".")[:2])
    within = [v for number, v in releases if number[:2] == (major, minor)]
    if within:
        return within[-1], True
    later = [v for number, v in releases if number[0] == major and number[1] > minor]
    if not later:
        raise SystemExit(f"no {package} near {wanted} on the npm registry")
    return later[0], False


@dataclass
class CdnFile:
    raw: int
    brotli: int  # what the CDN would send a browser, headers aside
    version: str
    in_range: bool  # the version the CDN would serve, or only the nearest one here


def third_party_sizes(urls: set[str], folder: Path) -> dict[str, CdnFile]:
    """Return each CDN file's size, from the npm package it is published in; files
    from elsewhere are left out."""
    sizes = {}
    folder.mkdir(parents=True, exist_ok=True)
    for url in sorted(urls):
        found = JSDELIVR_GHOST.fullmatch(url.split("?")[0])
        if not found:
            continue
        name, wanted, inside = found.groups()
        version, in_range = npm_version(f"@tryghost/{name}", wanted)
        packed = folder / f"tryghost-{name}-{version}.tgz"
        if not packed.exists():
            subprocess.run(
                ["npm", "pack", f"@tryghost/{name}@{version}", "--silent"],
                cwd=folder, check=True, capture_output=True,
            )  # fmt: skip
        with tarfile.open(packed) as archive:
            body = archive.extractfile(f"package/{inside}").read()
        compressed = len(brotli.compress(body, quality=11))
        sizes[url] = CdnFile(len(body), compressed, version, in_range)
    return sizes


def main() -> None:
    started = time.monotonic()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--corpus", type=Path, default=ROOT.parent / "shared" / "corpus"
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/vs-ghost-work"))
    parser.add_argument("--ghost", type=Path, default=Path("/tmp/ghost"))
    parser.add_argument("--posts", type=int, default=4000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--visits", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    args.ghost.mkdir(parents=True, exist_ok=True)
    database = args.work / "archive.sqlite3"
    count = prepare_archive(args.corpus, args.work)
    install_ghost(args.ghost)

    visited, _, words = article_near(database, 1000)
    walk_order = list(reversed(archive_paths(database)["articles"]))
    walk_order.remove(visited)
    loads = {"start": load_average()}
    servers: list[Server] = []
    try:
        ghost = start_ghost(args.ghost)
        servers.append(ghost)
        admin = GhostAdmin(ghost.base)
        admin.sign_in()
        # More stories than posts wanted: a story whose headline Ghost already has
        # (the corpus repeats a few) is passed over.
        posts = ensure_posts(
            admin,
            stories(database, [visited, *walk_order[: args.posts + 1000]]),
            args.posts + 2,  # with the visited story and Ghost's sample post
        )
        headline = stories(database, [visited])[0]["headline"]
        ghost_visited = next(f"/{p['slug']}/" for p in posts if p["title"] == headline)
        ghost_order = sorted({f"/{post['slug']}/" for post in posts})
        ghost_order.remove(ghost_visited)
        ghost_order.remove("/coming-soon/")  # Ghost's own sample post
        random.Random(20261204).shuffle(ghost_order)

        reader, threads, _ = start_reader(args.work)
        servers.append(reader)
        # Percent-encoded, as a browser sends them (wrk sends what it is given).
        articles = [quote(path) for path in walk_order]
        walks = [
            Walk("readerapp", reader,
                 paths_file(args.work, "vs-ghost-articles", articles),
                 len(walk_order), "/about"),
            Walk("Ghost 5", ghost,
                 paths_file(args.work, "vs-ghost-posts", ghost_order),
                 len(ghost_order), "/robots.txt"),
        ]  # fmt: skip
        fetch(reader.base + "/about")  # cached from here on: settling asks for it
        for walk in walks:
            warm_up(walk)
        loads["walks"] = load_average()
        measure_walks(walks, args)
        loads["visits"] = load_average()
        visits = measure_visits(
            {
                "readerapp": (reader.base, visited, True),
                "Ghost 5": (ghost.base, ghost_visited, False),
            },
            args.visits,
        )
        loads["end"] = load_average()
    finally:
        for server in servers:
            server.stop()
    # Every request of every visit, for a closer look than the report gives.
    (args.work / "vs-ghost-visits.json").write_text(
        json.dumps({name: [asdict(v) for v in runs] for name, runs in visits.items()})
    )
    foreign = {url for v in visits["Ghost 5"] for url, _ in v.foreign}
    cdn = third_party_sizes(foreign, args.ghost / "cdn-files")
    print(report(args, count, threads, len(ghost_order), words, walks, visits, cdn,
                 loads, time.monotonic() - started))  # fmt: skip


def report(args, count, threads, posts, words, walks, visits, cdn, loads, seconds):
    reader, ghost = walks
    lines = [
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()},"
        f" {os.cpu_count()} cores, Python {platform.python_version()}. readerapp:"
        f" {count:,} articles, waitress {threads} threads (its default). Ghost 5:"
        f" {posts:,} posts, production mode on SQLite. wrk -t{args.clients}"
        f" -c{args.connections} -d{args.seconds}s --latency, {args.rounds} rounds,"
        " server order rotated, medians; no page asked for twice.",
        "",
        "| uncached page | requests/s | p50 ms | p99 ms | non-2xx | pages walked |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for walk in walks:
        lines.append(
            f"| {walk.name} | {walk.median('requests_per_s'):,.1f} |"
            f" {walk.median('p50_ms'):.1f} | {walk.median('p99_ms'):.1f} |"
            f" {sum(r.non_2xx for r in walk.runs)} |"
            f" {sum(r.requests for r in walk.runs):,} |"
        )
    ratio = reader.median("requests_per_s") / ghost.median("requests_per_s")
    p99 = reader.median("p99_ms") / ghost.median("p99_ms")
    per_round = ", ".join(
        f"{r.requests_per_s / g.requests_per_s:.2f}x (p99 {r.p99_ms:.0f} vs"
        f" {g.p99_ms:.0f} ms)"
        for r, g in zip(reader.runs, ghost.runs, strict=True)
    )
    lines += [
        "",
        f"readerapp / Ghost: **{ratio:.2f}x** the requests/s (target >= 5x), p99"
        f" {p99:.2f}x Ghost's (target < 1). Per round: {per_round}.",
        "Load average (1, 5, 15 min) before → after each run:",
        *[f"  {walk.name}: {'; '.join(walk.loads)}" for walk in walks],
        "",
        f"First visit to the same story ({words} words, no pictures),"
        f" {VIEWPORT['width']} x {VIEWPORT['height']}, a fresh Chromium profile each,"
        f" {args.visits} visits each, order alternated, medians of bytes transferred"
        " (headers + bodies):",
        "",
        "| first visit | the page, from its server | background (service worker)"
        " | in all | third-party, not loaded here |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    # Only files measured in the version the CDN would serve count.
    cdn_bytes = sum(file.brotli for file in cdn.values() if file.in_range)
    for name, runs in visits.items():
        own = statistics.median(sum(s for _, s in v.own) for v in runs)
        worker = statistics.median(sum(s for _, s in v.worker) for v in runs)
        requests = statistics.median(len(v.own) for v in runs)
        background = (
            f"{worker:,.0f} B in {statistics.median(len(v.worker) for v in runs):.0f}"
            if any(v.worker for v in runs)
            else "none"
        )
        foreign = max(len(v.foreign) for v in runs)
        third = f"{foreign} requests, >= {cdn_bytes:,} B" if foreign else "none"
        lines.append(
            f"| {name} | {own:,.0f} B in {requests:.0f} | {background} |"
            f" **{statistics.median(v.total for v in runs):,.0f} B** | {third} |"
        )
    ours = statistics.median(v.total for v in visits["readerapp"])
    theirs = statistics.median(v.total for v in visits["Ghost 5"])
    lines += [
        "",
        "readerapp's first visit in all / Ghost's own server's bytes:"
        f" {ours / theirs:.2f}x (target < 1); / Ghost's own plus its third-party"
        f" scripts as far as established ({cdn_bytes:,} B):"
        f" {ours / (theirs + cdn_bytes):.2f}x.",
        "",
        "What each visit fetched (first visit of each; bytes):",
    ]  # fmt: skip
    for name, runs in visits.items():
        first = runs[0]
        lines.append(
            f"  {name}, the page: " + ", ".join(f"{u} {s:,}" for u, s in first.own)
        )
        if first.worker:
            fetched = ", ".join(f"{u} {s:,}" for u, s in first.worker)
            lines.append(f"  {name}, the service worker: {fetched}")
    for url in sorted({url for v in visits["Ghost 5"] for url, _ in v.foreign}):
        file = cdn.get(url)
        if file and file.in_range:
            size = (
                f"{file.raw:,} B raw, {file.brotli:,} B in brotli (npm {file.version};"
                " counted)"
            )
        elif file:
            size = (
                "not counted: no version in that range on the registry here; the"
                f" nearest later one, {file.version}, is {file.raw:,} B raw,"
                f" {file.brotli:,} B in brotli"
            )
        else:
            size = "size not established, not counted"
        lines.append(f"  Ghost 5, attempted, not loaded: {url}: {size}")
    lines += [
        "",
        "Load averages: " + "; ".join(f"{k} {v}" for k, v in loads.items()) + ".",
        f"This run took {seconds / 60:.1f} minutes.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
