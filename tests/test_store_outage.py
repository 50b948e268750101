"""The archive's PostgreSQL server goes away for a few seconds (issue #17): pages the
page cache holds keep serving, every other page answers 503 with Retry-After at
once, never a traceback, and everything comes back by itself with the server.

The server here is one of the test's own (initdb into a temporary folder, on a free
port), killed the way a crash or `kill -9` of the postmaster kills it
(`pg_ctl stop -m immediate`) and started again on the same port. Without
PostgreSQL's server programs these tests are skipped, except under CI=true.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_page_cache import HARBOUR_STORY
from test_several_nodes import free_port, missing

from conftest import ARTICLES, build_app

OTHER_STORY = "/news/harbour-town/lighthouse-keeper-retires-after-forty-years"
AWAY_FOR_AT_MOST = 1.0  # seconds a request may take while the archive is away


def server_programs() -> Path:
    """Return the folder of PostgreSQL's initdb and pg_ctl (Debian keeps them off
    the PATH, under /usr/lib/postgresql/<version>/bin)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parent.parent.name),
    )
    if not versions:
        missing("PostgreSQL's server programs (initdb, pg_ctl) not found")
    return Path(versions[-1]).parent


class PostgreSQLServer:
    """A PostgreSQL server of the test's own, which it may kill and start again."""

    def __init__(self, programs: Path, folder: Path) -> None:
        self.programs = programs
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        # PostgreSQL will not run as root: as root, run it as Debian's postgres.
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []

    def run(self, program: str, *arguments: str) -> None:
        command = [*self.as_owner, str(self.programs / program), *arguments]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def create(self) -> None:
        if self.as_owner:
            shutil.chown(self.folder, "postgres")
        self.run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                 "-E", "UTF8", "--no-sync")  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder}"
            " -c fsync=off -c full_page_writes=off"
        )
        self.run("pg_ctl", "-D", str(self.data), "-o", options, "-w",
                 "-l", str(self.folder / "server.log"), "start")  # fmt: skip

    def kill(self) -> None:
        """Stop at once, as a crash would: connections drop, nothing is flushed."""
        self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")


@pytest.fixture(scope="module")
def own_postgresql() -> Iterator[PostgreSQLServer]:
    programs = server_programs()
    if os.getuid() == 0 and not shutil.which("runuser"):
        missing("runuser, to run PostgreSQL as its own user")
    folder = Path(tempfile.mkdtemp(prefix="readerapp-pg-"))
    server = PostgreSQLServer(programs, folder)
    try:
        server.create()
        server.start()
        yield server
    finally:
        try:
            server.kill()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def app_on_own_server(own_postgresql, tmp_path):
    app = build_app(tmp_path, DATABASE_URL=own_postgresql.url)
    result = app.test_cli_runner().invoke(args=["import", str(ARTICLES)])
    assert result.exit_code == 0, result.output
    yield app
    app.extensions["readerapp.index"].close()
    app.extensions["readerapp.archive"].close()


def timed_get(client, path: str):
    started = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - started


def wait_until(ready, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.2)


def test_a_store_away_serves_kept_pages_answers_503_and_comes_back(
    own_postgresql, app_on_own_server, caplog
):
    caplog.set_level(logging.INFO)
    client = app_on_own_server.test_client()
    kept = client.get(HARBOUR_STORY)
    assert kept.status_code == 200

    own_postgresql.kill()
    try:
        # A page the cache holds: as it was, without a wait.
        again, took = timed_get(client, HARBOUR_STORY)
        assert again.status_code == 200 and again.data == kept.data
        assert took < AWAY_FOR_AT_MOST
        # Any other page: the site's own error page, 503 with Retry-After, at once,
        # for the request that finds the server away and for those after it.
        for _ in range(3):
            away, took = timed_get(client, OTHER_STORY)
            assert away.status_code == 503
            assert away.headers["Retry-After"] == "10"
            assert away.headers["Cache-Control"] == "no-store"
            assert "cannot be reached just now" in away.text
            assert '<nav class="section-nav"' not in away.text
            assert took < AWAY_FOR_AT_MOST
        # What needs no archive still serves: the worker and the offline page.
        for path in ("/sw.js", "/offline", "/static/site.css"):
            with client.get(path) as served:
                assert served.status_code == 200, path
        # The load balancer hears it from /healthz, also at once.
        health, took = timed_get(client, "/healthz")
        assert health.status_code == 503 and health.headers["Retry-After"] == "10"
        assert health.json["store"]["reachable"] is False
        assert took < AWAY_FOR_AT_MOST
    finally:
        own_postgresql.start()

    # Back by itself: no restart, no operator.
    wait_until(lambda: client.get(OTHER_STORY).status_code == 200, "the story served")
    assert client.get("/healthz").status_code == 200
    assert client.get("/news/?after=outage").status_code == 200

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == [], [r.getMessage() for r in errors]
    said = [r.getMessage() for r in caplog.records if "archive (" in r.getMessage()]
    assert len(said) == 2, said  # once when it went, once when it came back
    assert "unreachable" in said[0] and "answering again" in said[1]


def test_a_statement_that_fails_is_still_a_fault_not_an_outage(
    app_on_own_server, caplog
):
    """Only a store that cannot be reached answers 503: a broken statement is a
    bug, a 500 with its traceback in the log."""
    app = app_on_own_server
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/broken-statement")
    def broken_statement() -> str:
        from readerapp.extensions import get_store

        get_store().db.execute("SELECT no_such_column FROM article")
        return "unreachable"

    response = app.test_client().get("/broken-statement")
    assert response.status_code == 500
    assert any(record.exc_info for record in caplog.records)
    assert not app.extensions["readerapp.store_outage"].down
