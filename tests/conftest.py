from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from readerapp import create_app

DATA = Path(__file__).parent / "data"
ARTICLES = DATA / "articles.jsonl"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# The PostgreSQL server the tests of both store engines use: each test module gets
# a database of its own on it, created from template0 and dropped after.
POSTGRESQL_SERVER = os.environ.get(
    "TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
ENGINES = ("sqlite", "postgresql")


def record(id_: str, headline: str, body: str, **fields) -> dict:
    """Return one import line's object, with defaults for what a test leaves out."""
    return {
        "id": id_,
        "section": "Desk",
        "headline": headline,
        "body_html": f"<p>{body}</p>",
        "published": "2024-01-01",
        **fields,
    }


def import_records(app: Flask, path: Path, *records: dict) -> str:
    """Write records as a JSON Lines file, import it with `reader import`, return output."""
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["import", str(path)])
    return result.output


def described_picture(app: Flask, slug: str):
    """Return the lead picture a stored story names, as its source described it."""
    from readerapp.store import open_store

    store = open_store(archive_address(app))
    try:
        return store.article(slug).picture_source
    finally:
        store.close()


def archive_address(app: Flask) -> str | Path:
    """Return where an app's archive is: its PostgreSQL URL, or its SQLite file."""
    from readerapp.engines import address

    return address(app.config)


def query(app: Flask, sql: str, parameters: Sequence = ()) -> list[tuple]:
    """Run one statement on an app's archive, in the SQL both engines take (`?`
    placeholders), committed; return its rows (none for a write)."""
    from readerapp.engines import locate

    with closing(locate(archive_address(app)).connect()) as db:
        with db:
            cursor = db.execute(sql, parameters)
            return cursor.fetchall() if cursor.description else []


def build_app(tmp_path: Path, **settings) -> Flask:
    return create_app(
        {
            "DATABASE": tmp_path / "archive.sqlite3",
            "INDEX_DIR": tmp_path / "index",
            "DEMO_DIR": tmp_path / "demo",
            "IMPORT_WORKERS": 1,
            # No test fetches from beyond loopback; the picture tests turn it on.
            "FETCH_PICTURES": False,
            **settings,
        },
        instance_path=tmp_path / "instance",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run a module's tests on both store engines when it says so
    (`pytestmark = pytest.mark.both_engines`), but those marked sqlite_only, and
    those marked postgresql on PostgreSQL only."""
    if "engine" not in metafunc.fixturenames:
        return
    marked = metafunc.definition.get_closest_marker
    if not marked("both_engines") or marked("sqlite_only"):
        return
    on_postgresql = pytest.param("postgresql", marks=pytest.mark.postgresql)
    engines = [on_postgresql] if marked("postgresql") else ["sqlite", on_postgresql]
    metafunc.parametrize("engine", engines, indirect=True)


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    """The store engine a test's apps use: SQLite unless parametrised."""
    return getattr(request, "param", "sqlite")


_databases = itertools.count()


def postgresql_url(database: str) -> str:
    """Return the test server's URL for one database on it."""
    return urlunsplit(urlsplit(POSTGRESQL_SERVER)._replace(path=f"/{database}"))


def admin_connection():
    """Connect to the test server's maintenance database, in autocommit."""
    import psycopg

    return psycopg.connect(POSTGRESQL_SERVER, autocommit=True, connect_timeout=3)


@pytest.fixture(scope="module")
def postgresql_database() -> Iterator[str]:
    """A database of this module's own on the test server, dropped after it.

    Made once a module (creating one costs about 0.2 s) and emptied before each
    test (`fresh_postgresql`); its schema is the current one from the first app.
    """
    name = f"readerapp_test_{os.getpid()}_{next(_databases)}"
    with closing(admin_connection()) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        yield postgresql_url(name)
    finally:
        with closing(admin_connection()) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def empty_postgresql(url: str) -> None:
    """Empty every table of a test database but its schema's version."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        tables = [
            row[0]
            for row in db.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                " AND tablename != 'schema_version'"
            )
        ]
        if tables:
            db.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


@pytest.fixture
def engine_settings(engine: str, request: pytest.FixtureRequest) -> dict:
    """The settings that put a test's archive on its engine."""
    if engine == "sqlite":
        return {}
    url = request.getfixturevalue("postgresql_database")
    empty_postgresql(url)
    return {"DATABASE_URL": url}


@pytest.fixture
def make_app(engine_settings: dict) -> Iterator[Callable[..., Flask]]:
    """Build apps with test settings on the test's store engine; close their
    searchers and connections when the test ends."""
    apps: list[Flask] = []

    def make(tmp_path: Path, **settings) -> Flask:
        apps.append(build_app(tmp_path, **{**engine_settings, **settings}))
        return apps[-1]

    yield make
    for app in apps:
        app.extensions["readerapp.index"].close()
        app.extensions["readerapp.archive"].close()


@pytest.fixture
def empty_app(make_app: Callable[..., Flask], tmp_path: Path) -> Flask:
    return make_app(tmp_path)


@pytest.fixture
def app(empty_app: Flask) -> Flask:
    """An app whose archive holds tests/data/articles.jsonl, imported for real."""
    result = empty_app.test_cli_runner().invoke(args=["import", str(ARTICLES)])
    assert result.exit_code == 0, result.output
    return empty_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(empty_app: Flask) -> FlaskCliRunner:
    return empty_app.test_cli_runner()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture
def slow_paths() -> dict[str, float]:
    """Paths the live server answers only after a delay (seconds): a slow network."""
    return {}


@pytest.fixture
def served() -> list[tuple[float, str]]:
    """What the live server was asked for, in order: (time.time(), path?query)."""
    return []


@pytest.fixture
def live_server(
    app: Flask, slow_paths: dict[str, float], served: list[tuple[float, str]]
) -> Iterator[str]:
    from waitress.server import create_server

    def slowed(environ, start_response):
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        served.append((time.time(), f"{path}?{query}" if query else path))
        time.sleep(slow_paths.get(path, 0))
        return app(environ, start_response)

    server = create_server(slowed, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"

    def close_everything() -> None:
        # handle_close, not close: a channel still sending a static file closes it
        # then, where close() would leave it to the garbage collector (and a
        # ResourceWarning) when the browser left in mid-download.
        for dispatcher in list(server._map.values()):
            dispatcher.handle_close()

    # Closing from the server's own thread, between polls, stops its loop cleanly.
    server.trigger.pull_trigger(close_everything)
    thread.join(timeout=10)
    server.task_dispatcher.shutdown()


@pytest.fixture
def open_page(browser, live_server):
    """Open a path of the live server in a fresh context (a phone unless told)."""
    contexts = []

    def make(path: str, viewport: dict | None = None, **options):
        viewport = viewport or {"width": 360, "height": 740}
        context = browser.new_context(viewport=viewport, **options)
        contexts.append(context)
        page = context.new_page()
        page.goto(live_server + path)
        return page

    yield make
    for context in contexts:
        context.close()


def _missing_tools(items: Sequence[pytest.Item] = ()) -> dict[str, str]:
    """Return, by test marker, the reason its tool is missing (none when present)."""
    missing = {}
    if any("postgresql" in item.keywords for item in items):
        problem = _postgresql_problem()
        if problem:
            missing["postgresql"] = problem
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
        missing["browser"] = f"Chromium not found at {CHROMIUM}"
    if not shutil.which("java"):
        missing["nu"] = "Java not found: the Nu HTML checker needs it"
    if not shutil.which("node"):
        missing["node"] = "Node.js not found: it checks the served JavaScript"
    if not _can_mount_small_disks():
        missing["smalldisk"] = "cannot mount a tmpfs in a user namespace (unshare)"
    return missing


def _postgresql_problem() -> str | None:
    """Return why the test PostgreSQL server cannot be used, or None."""
    try:
        with closing(admin_connection()) as admin:
            admin.execute("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any failure means no server
        where = urlsplit(POSTGRESQL_SERVER)
        return (
            f"PostgreSQL not answering at {where.hostname}:{where.port} as"
            f" {where.username} (TEST_POSTGRESQL_URL): {str(error).strip()}"
        )
    return None


def _can_mount_small_disks() -> bool:
    """Tell whether `unshare` can give a test a mount namespace with a tmpfs."""
    if not shutil.which("unshare"):
        return False
    probe = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
             "mount -t tmpfs -o size=1m tmpfs /mnt"]  # fmt: skip
    return subprocess.run(probe, capture_output=True).returncode == 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]):
    """Skip tests whose tool is missing, except in CI, where that is a failure."""
    missing = _missing_tools(items)
    if not missing:
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError(f"CI=true but {'; '.join(missing.values())}")
    for item in items:
        for marker, reason in missing.items():
            if marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))
