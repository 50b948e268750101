"""Several nodes on one archive share one Redis page cache, and nginx in front of
two `reader serve` nodes fails over when one dies (issue #17).

Redis is the one on 127.0.0.1:6379 (each test keeps its keys under a prefix of its
own and removes them); the outage tests start a Redis of their own, which they can
stop. Without Redis or nginx these tests are skipped, except under CI=true, where
that fails them. The nodes share one search index folder in the tests in one
process (test_index_following.py has nodes with an index each, following the
store's change log); the nginx test gives each node its own.
"""

from __future__ import annotations

import gzip
import http.client
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

import brotli
import pytest
import redis
from flask import Flask
from test_page_cache import (
    CACHED,
    HARBOUR_CORRECTION,
    HARBOUR_STORY,
    RERENDERED_BY_A_HARBOUR_CORRECTION,
    rendered,
    renders,
)

from conftest import ARTICLES, import_records, record
from readerapp.pagecache import Unfailing

REDIS = "redis://127.0.0.1:6379/0"
NGINX_CONF = Path(__file__).parent.parent / "docs" / "nginx" / "readerapp.conf"
HARBOUR = "/news/harbour-town/"


def missing(reason: str) -> None:
    """Skip the test for want of a service or tool; in CI, fail it."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def free_port() -> int:
    """Return a loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Started:
    """A process started by a test, its output in a file (a pipe nobody reads
    would fill up and stop it)."""

    process: subprocess.Popen
    log: Path

    @classmethod
    def run(cls, command: list[str], log: Path, **options) -> Started:
        with log.open("ab") as output:
            process = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT, **options
            )
        return cls(process, log)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)


def wait_until(ready, what: str, started: Started | None = None) -> None:
    """Poll ready() until it is true; fail with the process's output if it died."""
    deadline = time.monotonic() + 30
    while not ready():
        if started is not None and started.process.poll() is not None:
            output = started.log.read_text("utf-8", "replace")
            code = started.process.returncode
            pytest.fail(f"{what} exited with {code}:\n{output}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not start within 30 s")
        time.sleep(0.05)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own in the shared Redis, emptied afterwards."""
    client = redis.Redis.from_url(REDIS, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        missing(f"no Redis answers at {REDIS} ({error})")
    prefix = f"readerapp-test-{uuid.uuid4().hex}:"
    yield prefix
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def nodes(make_app, tmp_path, redis_prefix) -> tuple[Flask, Flask]:
    """Two nodes on one archive (tests/data/articles.jsonl) and one Redis."""
    shared = {
        "CACHE_TYPE": "RedisCache",
        "CACHE_REDIS_URL": REDIS,
        "CACHE_KEY_PREFIX": redis_prefix,
    }
    a = make_app(tmp_path, **shared)
    result = a.test_cli_runner().invoke(args=["import", str(ARTICLES)])
    assert result.exit_code == 0, result.output
    return a, make_app(tmp_path, **shared)


def test_a_page_rendered_by_one_node_is_served_by_the_other(nodes):
    a, b = nodes
    for url in [*CACHED, "/api/latest", "/feeds/rss.xml"]:
        first = a.test_client().get(url)
        with renders(b) as names:
            again = b.test_client().get(url)
        assert names == [], url
        assert again.data == first.data, url
        assert again.headers["ETag"] == first.headers["ETag"], url


def test_each_encoding_is_made_once_for_every_node(nodes):
    a, b = nodes
    plain = a.test_client().get(HARBOUR_STORY)
    packed = b.test_client().get(HARBOUR_STORY, headers={"Accept-Encoding": "br"})
    assert brotli.decompress(packed.data) == plain.data
    # Node B compressed it once and kept it: node A replays B's bytes.
    again = a.test_client().get(HARBOUR_STORY, headers={"Accept-Encoding": "br"})
    assert again.data == packed.data
    assert (
        again.headers["ETag"]
        == packed.headers["ETag"]
        == plain.headers["ETag"][:-1] + '-br"'
    )


def test_an_import_through_one_node_rerenders_exactly_what_changed_on_the_other(
    nodes, tmp_path
):
    a, b = nodes
    urls = [*CACHED, "/news/economie-markets/"]
    for url in urls:
        a.test_client().get(url)
    assert not any(rendered(b, b.test_client(), url) for url in urls)
    import_records(
        a,
        tmp_path / "update.jsonl",
        HARBOUR_CORRECTION,
    )
    again = {url: rendered(b, b.test_client(), url) for url in urls}
    assert again == RERENDERED_BY_A_HARBOUR_CORRECTION
    # What node B rendered again, node A now serves from the cache.
    assert not any(rendered(a, a.test_client(), url) for url in urls)
    assert "stays in the old customs house" in a.test_client().get(HARBOUR_STORY).text


def test_a_correction_shows_on_every_node(nodes, tmp_path):
    a, b = nodes
    for node in (a, b):
        for url in (HARBOUR_STORY, HARBOUR):
            assert "a roof over their stalls." in node.test_client().get(url).text
    import_records(
        b,
        tmp_path / "correction.jsonl",
        record(
            "fx-harbour-3",
            "Fish market moves to the old customs house",
            "Corrected: the market moves indoors in April, not March.",
            section="Harbour Town",
            published="2024-02-03",
            dek="Traders welcome a roof over their stalls from April.",
        ),
    )
    for node in (a, b):
        page = node.test_client().get(HARBOUR_STORY).text
        assert "moves indoors in April, not March" in page
        listing = node.test_client().get(HARBOUR).text
        assert "a roof over their stalls from April." in listing


def test_a_removed_story_is_gone_from_every_node(nodes, tmp_path):
    a, b = nodes
    for node in (a, b):
        assert node.test_client().get(HARBOUR_STORY).status_code == 200
        assert HARBOUR_STORY in node.test_client().get(HARBOUR).text
    removal = tmp_path / "removal.jsonl"
    removal.write_text('{"id": "fx-harbour-3", "removed": true}\n', "utf-8")
    result = a.test_cli_runner().invoke(args=["import", str(removal)])
    assert result.exit_code == 0, result.output
    for node in (b, a):
        assert node.test_client().get(HARBOUR_STORY).status_code == 410
        for url in (HARBOUR, "/", "/news/"):
            assert HARBOUR_STORY not in node.test_client().get(url).text, url


@dataclass
class RedisServer:
    """A Redis of this test's own, which it can stop, freeze and start again."""

    folder: Path
    port: int = field(default_factory=free_port)
    server: Started | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        return self.server.process.pid

    def start(self) -> None:
        self.server = Started.run(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--dir", str(self.folder)],
            self.folder / "redis.log",
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)

        def answers() -> bool:
            try:
                return client.ping()
            except redis.ConnectionError:
                return False

        wait_until(answers, "redis-server", self.server)
        client.close()

    def kill(self) -> None:
        self.server.stop(signal.SIGKILL)


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RedisServer]:
    if not shutil.which("redis-server"):
        missing("redis-server not found (Debian's redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    os.kill(server.pid, signal.SIGCONT)  # in case a test left it frozen
    server.kill()


def outage_log(caplog) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "readerapp" and "page cache" in record.getMessage()
    ]


def test_pages_serve_while_redis_is_down_and_the_cache_returns_by_itself(
    make_app, tmp_path, own_redis, caplog
):
    caplog.set_level(logging.WARNING, logger="readerapp")
    shared = {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": own_redis.url}
    a = make_app(tmp_path, **shared)
    assert a.test_cli_runner().invoke(args=["import", str(ARTICLES)]).exit_code == 0
    b = make_app(tmp_path, **shared)
    assert rendered(a, a.test_client(), HARBOUR_STORY)
    assert not rendered(b, b.test_client(), HARBOUR_STORY)

    own_redis.kill()
    for node in (a, b):
        for url in (HARBOUR_STORY, HARBOUR, "/", "/api/latest") * 3:
            assert node.test_client().get(url).status_code == 200, url
        # Every page is rendered: the cache cannot be asked.
        assert rendered(node, node.test_client(), HARBOUR_STORY)
        health = node.test_client().get("/healthz")
        assert health.status_code == 200 and health.get_json()["status"] == "warn"
    said = outage_log(caplog)
    assert len(said) == 2, said  # once per node, however many pages
    assert all("unreachable" in line and "Connection refused" in line for line in said)
    assert not any(record.exc_info for record in caplog.records)

    own_redis.start()  # empty, as after a crash without persistence
    time.sleep(Unfailing.RETRY_AFTER)  # the nodes ask again after this long
    assert rendered(a, a.test_client(), HARBOUR_STORY)
    assert not rendered(b, b.test_client(), HARBOUR_STORY)  # shared again
    assert b.test_client().get("/healthz").status_code == 200
    said = outage_log(caplog)
    assert len(said) == 4 and all("answering again" in line for line in said[2:])


def test_a_redis_that_stops_answering_is_a_miss_after_its_timeout_not_a_hang(
    make_app, tmp_path, own_redis, caplog
):
    caplog.set_level(logging.WARNING, logger="readerapp")
    app = make_app(tmp_path, CACHE_TYPE="RedisCache", CACHE_REDIS_URL=own_redis.url)
    assert app.test_cli_runner().invoke(args=["import", str(ARTICLES)]).exit_code == 0
    client = app.test_client()
    client.get(HARBOUR_STORY)
    os.kill(own_redis.pid, signal.SIGSTOP)  # frozen: no answer, no refusal
    try:
        pages = [client.get(url) for url in (HARBOUR_STORY, HARBOUR, "/") * 3]
    finally:
        os.kill(own_redis.pid, signal.SIGCONT)
    assert all(page.status_code == 200 for page in pages)
    said = outage_log(caplog)
    assert len(said) == 1 and "Timeout" in said[0], said
    time.sleep(Unfailing.RETRY_AFTER)
    client.get(HARBOUR)
    assert not rendered(app, client, HARBOUR)
    assert "answering again" in outage_log(caplog)[-1]


# nginx in front of two `reader serve` processes.


@dataclass
class Node:
    """One `reader serve` process on a loopback port."""

    port: int
    env: dict[str, str]
    log: Path
    serving: Started | None = None

    def start(self) -> None:
        self.serving = Started.run(
            [sys.executable, "-c", "from readerapp.cli import main; main()"]
            + ["serve", "--port", str(self.port), "--threads", "2"],
            self.log,
            env=self.env,
        )

    def wait(self) -> None:
        wait_until(
            lambda: get(self.port, "/healthz")[0] == 200,
            f"reader serve on port {self.port}",
            self.serving,
        )

    def kill(self) -> None:
        self.serving.stop(signal.SIGKILL)


def get(
    port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[int, Message, bytes]:
    """GET path on a loopback port: status, headers (any case), body; status 0 when
    the connection fails."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    except OSError:
        return 0, Message(), b""
    finally:
        connection.close()


def nginx_config(folder: Path, port: int, ports: tuple[int, int]) -> Path:
    """Write the shipped configuration, on loopback ports and in folder, under a
    main configuration that runs nginx in the foreground; return its path."""
    shipped = NGINX_CONF.read_text("utf-8")
    for before, after in {
        "127.0.0.1:8001": f"127.0.0.1:{ports[0]}",
        "127.0.0.1:8002": f"127.0.0.1:{ports[1]}",
        "listen 80;": f"listen 127.0.0.1:{port};",
        "/var/cache/nginx/readerapp": str(folder / "cache"),
        "/var/log/nginx/readerapp.access.log": str(folder / "access.log"),
    }.items():
        assert shipped.count(before) == 1, before  # the shipped file still says so
        shipped = shipped.replace(before, after)
    (folder / "readerapp.conf").write_text(shipped, "utf-8")
    temp = {
        name: folder / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")
    }
    for path in temp.values():
        path.mkdir()
    main = f"""
        daemon off;
        worker_processes 1;
        pid {folder / "nginx.pid"};
        error_log {folder / "error.log"} warn;
        {"user root;" if os.geteuid() == 0 else ""}
        events {{ worker_connections 256; }}
        http {{
            client_body_temp_path {temp["body"]};
            proxy_temp_path {temp["proxy"]};
            fastcgi_temp_path {temp["fastcgi"]};
            uwsgi_temp_path {temp["uwsgi"]};
            scgi_temp_path {temp["scgi"]};
            include {folder / "readerapp.conf"};
        }}
    """
    path = folder / "nginx.conf"
    path.write_text(main, "utf-8")
    return path


def upstreams(access_log: Path) -> list[str]:
    """Return, per request nginx logged, the nodes it asked, in order."""
    found = (
        re.search(r" upstream=(.*?) upstream_status=", line)
        for line in access_log.read_text("utf-8").splitlines()
    )
    return [match[1] for match in found if match]


@pytest.fixture
def nginx() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if not found:
        missing("nginx not found (Debian's nginx-light)")
    return found


def test_nginx_in_front_of_two_nodes_fails_over_when_one_is_killed(
    nginx, make_app, tmp_path, redis_prefix
):
    archive, index = tmp_path / "archive.sqlite3", tmp_path / "index"
    app = make_app(tmp_path, DATABASE=archive, INDEX_DIR=index)
    assert app.test_cli_runner().invoke(args=["import", str(ARTICLES)]).exit_code == 0
    # Each node its own index folder: node B starts from a copy of A's.
    shutil.copytree(index, tmp_path / "index-b")
    settings = {
        "DATABASE": str(archive),
        "CACHE_TYPE": "RedisCache",
        "CACHE_REDIS_URL": REDIS,
        "CACHE_KEY_PREFIX": redis_prefix,
        "FETCH_PICTURES": "false",
    }
    nodes = []
    for index_dir in (index, tmp_path / "index-b"):
        env = {
            **os.environ,
            **{f"READERAPP_{k}": v for k, v in settings.items()},
            "READERAPP_INDEX_DIR": str(index_dir),
        }
        nodes.append(Node(free_port(), env, tmp_path / f"{index_dir.name}.log"))
    a, b = nodes
    front = free_port()
    folder = tmp_path / "nginx"
    folder.mkdir()
    config = nginx_config(folder, front, (a.port, b.port))
    proxy = Started.run(
        [nginx, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(config)],
        folder / "nginx.log",
    )
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            node.wait()
        wait_until(lambda: get(front, "/healthz")[0] == 200, "nginx", proxy)
        check_pages_through_nginx(front)
        check_failover(front, a, b, folder / "access.log")
    finally:
        for node in nodes:
            if node.serving:
                node.kill()
        proxy.stop()


def check_pages_through_nginx(front: int) -> None:
    """A page through nginx: cached as its Cache-Control says, revalidated with its
    ETag, compressed by the node, with links to the address the reader asked."""
    host = {"Host": "news.example.org"}
    status, headers, body = get(front, HARBOUR_STORY, host)
    assert status == 200
    assert headers["X-Cache-Status"] == "MISS"
    assert b'href="http://news.example.org/news/harbour-town/' in body
    status, again, same = get(front, HARBOUR_STORY, host)
    assert again["X-Cache-Status"] == "HIT" and same == body
    status, _, _ = get(front, HARBOUR_STORY, {**host, "If-None-Match": again["ETag"]})
    assert status == 304
    for encoding, decompress in (("br", brotli.decompress), ("gzip", gzip.decompress)):
        for cache in ("MISS", "HIT"):
            status, packed, data = get(
                front, HARBOUR_STORY, {**host, "Accept-Encoding": f"{encoding}, x"}
            )
            assert packed["Content-Encoding"] == encoding
            assert packed["X-Cache-Status"] == cache
            assert decompress(data) == body
    # Each encoding its own cached copy, side by side.
    _, plain, same = get(front, HARBOUR_STORY, host)
    assert plain["X-Cache-Status"] == "HIT" and "Content-Encoding" not in plain
    for _ in range(2):
        status, health, _ = get(front, "/healthz")
        assert status == 200 and health["Cache-Control"] == "no-store"
        assert health["X-Cache-Status"] == "MISS"


def check_failover(front: int, a: Node, b: Node, access_log: Path) -> None:
    """Kill node A while two clients keep asking for pages nobody cached: only
    requests in flight may fail; node B serves the rest; A, restarted, serves."""
    outcomes: list[int] = []
    killed_at: list[int] = []
    stop = threading.Event()
    numbers = iter(range(10**6))

    def client() -> None:
        while not stop.is_set():
            # A new query each time: neither nginx nor Redis has it, so a node
            # renders every one.
            status = get(front, f"/news/?n={next(numbers)}")[0]
            outcomes.append(status)

    clients = [threading.Thread(target=client) for _ in range(2)]
    for thread in clients:
        thread.start()
    try:
        wait_until(lambda: len(outcomes) >= 20, "traffic through nginx")
        a.kill()
        killed_at.append(len(outcomes))
        wait_until(lambda: len(outcomes) >= killed_at[0] + 60, "traffic after the kill")
    finally:
        stop.set()
        for thread in clients:
            thread.join()
    before, after = outcomes[: killed_at[0]], outcomes[killed_at[0] :]
    failed = [status for status in after if status != 200]
    print(f"failover: {len(failed)} of {len(after)} requests failed after the kill")
    assert set(before) == {200}
    assert len(failed) <= len(clients)  # at most the requests in flight
    assert set(after[-40:]) == {200}
    asked = upstreams(access_log)
    assert f"127.0.0.1:{b.port}" in asked[-1]

    a.start()
    a.wait()
    # nginx tries node A again once its fail_timeout has passed.
    wait_until(
        lambda: (
            get(front, f"/news/?again={time.monotonic_ns()}")[0] == 200
            and upstreams(access_log)[-1] == f"127.0.0.1:{a.port}"
        ),
        "node A serving through nginx again",
    )
