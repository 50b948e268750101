"""The archive on either store engine: one schema history, `reader migrate`, one
import or reindex at a time across nodes, and what tells the engines apart (#17)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from conftest import (
    ARTICLES,
    admin_connection,
    archive_address,
    import_records,
    postgresql_url,
    query,
    record,
)
from readerapp import create_app
from readerapp.engines import (
    POSTGRESQL,
    WRITER_LOCK,
    PostgresArchive,
    SQLiteArchive,
    locate,
    postgres_sql,
    without_password,
)
from readerapp.store import MIGRATIONS, init_schema, schema_history

pytestmark = pytest.mark.both_engines
BUSY = "another import or reindex is running"


@pytest.fixture
def fresh(engine: str, tmp_path: Path) -> Iterator[dict]:
    """Settings naming an archive that does not exist yet: a new SQLite file, or
    a new, empty PostgreSQL database (dropped after the test)."""
    if engine == "sqlite":
        yield {"DATABASE": tmp_path / "new" / "archive.sqlite3"}
        return
    name = f"readerapp_test_fresh_{tmp_path.name}".lower()[:63]
    with closing(admin_connection()) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        yield {"DATABASE_URL": postgresql_url(name)}
    finally:
        with closing(admin_connection()) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def schema_version(app) -> int:
    if app.config["DATABASE_URL"]:
        return query(app, "SELECT max(version) FROM schema_version")[0][0]
    return query(app, "PRAGMA user_version")[0][0]


def test_migrate_brings_a_new_archive_to_the_current_version_once(
    make_app, tmp_path, fresh
):
    app = make_app(tmp_path, **fresh)
    first = app.test_cli_runner().invoke(args=["migrate"])
    assert first.exit_code == 0, first.output
    assert f"migrated to schema version {len(MIGRATIONS)}" in first.output
    assert schema_version(app) == len(MIGRATIONS)

    again = make_app(tmp_path, **fresh).test_cli_runner().invoke(args=["migrate"])
    assert again.exit_code == 0, again.output
    assert f"schema version {len(MIGRATIONS)}, up to date" in again.output
    assert schema_version(app) == len(MIGRATIONS)
    # The migrated archive takes an import and serves it.
    import_records(app, tmp_path / "one.jsonl", record("m-1", "Migrated", "Text."))
    assert app.test_client().get("/news/desk/migrated").status_code == 200


def test_migrate_from_an_older_version_moves_its_data(make_app, tmp_path, fresh):
    """An archive made before pictures were kept (version 1) lists the pictures
    its stories show when migrated, on either engine."""
    address = fresh.get("DATABASE_URL") or fresh["DATABASE"]
    archive = locate(address)
    db = archive.connect()
    try:
        history = schema_history(archive.dialect)
        archive.dialect.migrate(db, history[:2], lambda *_: None)
        with db:
            db.execute("INSERT INTO section (slug, name) VALUES ('desk', 'Desk')")
            db.execute(
                "INSERT INTO article (id, slug, section_id, headline, body_html,"
                " body_text, excerpt, published, word_count, checksum, picture)"
                " VALUES ('old-1', 'old', 1, 'Old', ?, 'Text', 'Text',"
                " '2024-01-01T00:00:00+00:00', 1, 'x', ?)",
                (
                    '<p>Text</p><img src="https://pictures.example/body.jpg">',
                    '{"url": "https://pictures.example/lead.jpg"}',
                ),
            )
        assert init_schema(db) == (1, len(MIGRATIONS))
    finally:
        db.close()
    app = make_app(tmp_path, **fresh)
    assert sorted(query(app, "SELECT url, lead FROM article_picture")) == [
        ("https://pictures.example/body.jpg", False),
        ("https://pictures.example/lead.jpg", True),
    ]


def sqlite_schema_columns(path: Path) -> set[tuple[str, str]]:
    """Return (table, column) of every table a new SQLite archive at path has."""
    db = sqlite3.connect(path)
    try:
        init_schema(db)
        return {
            (table, column)
            for (table,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            ).fetchall()
            for (_, column, *_) in db.execute(f"PRAGMA table_info({table})")
        }
    finally:
        db.close()


@pytest.mark.sqlite_only  # the other engine's schema is read from here
def test_both_engines_have_the_same_tables_and_columns(tmp_path):
    sqlite_columns = sqlite_schema_columns(tmp_path / "archive.sqlite3")
    assert len(schema_history(POSTGRESQL)) == len(MIGRATIONS) + 1
    # The DDL names the same columns (read from its CREATE and ADD COLUMN lines).
    postgresql_columns = set()
    table = None
    for line in "".join(schema_history(POSTGRESQL)).splitlines():
        words = line.split()
        if line.startswith("CREATE TABLE"):
            table = words[2]
        elif line.startswith("ALTER TABLE"):
            postgresql_columns.add((words[2], words[5]))
        elif line.startswith("    ") and table and words[0] != "PRIMARY":
            postgresql_columns.add((table, words[0]))
        elif line and not line.startswith(" "):
            table = None  # any other statement ends the table's column lines
    assert postgresql_columns == sqlite_columns


@pytest.mark.postgresql
def test_the_postgresql_schema_matches_its_ddl(make_app, tmp_path):
    app = make_app(tmp_path)
    columns = query(
        app,
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name != 'schema_version'",
    )
    expected = sqlite_schema_columns(tmp_path / "compare.sqlite3")
    assert set(columns) == expected
    assert query(app, "SELECT version FROM schema_version ORDER BY version") == [
        (n,) for n in range(len(MIGRATIONS) + 1)
    ]


def test_a_second_import_while_one_holds_the_lock_stops_with_the_message(
    make_app, tmp_path
):
    app = make_app(tmp_path)
    archive = locate(archive_address(app))
    with archive.writer_lock():
        for args in (["import", str(ARTICLES)], ["reindex"]):
            result = app.test_cli_runner().invoke(args=args)
            assert result.exit_code == 1, result.output
            assert BUSY in result.output
            assert "Traceback" not in result.output
    assert query(app, "SELECT count(*) FROM article") == [(0,)]
    # Released with the block: the next import runs.
    result = app.test_cli_runner().invoke(args=["import", str(ARTICLES)])
    assert result.exit_code == 0, result.output


@pytest.mark.postgresql
def test_the_lock_is_one_for_every_node_and_goes_with_its_session(make_app, tmp_path):
    """Another node's import holds a PostgreSQL advisory lock on the shared
    database; when that node dies its session ends, and the lock with it."""
    import psycopg

    app = make_app(tmp_path)
    other_node = psycopg.connect(app.config["DATABASE_URL"], autocommit=True)
    try:
        other_node.execute("SELECT pg_advisory_lock(%s)", (WRITER_LOCK,))
        result = app.test_cli_runner().invoke(args=["import", str(ARTICLES)])
        assert result.exit_code == 1 and BUSY in result.output
    finally:
        other_node.close()  # as when its process is killed
    result = app.test_cli_runner().invoke(args=["import", str(ARTICLES)])
    assert result.exit_code == 0, result.output


def test_the_engine_is_chosen_by_one_setting(make_app, tmp_path, engine):
    app = make_app(tmp_path)
    archive = app.extensions["readerapp.archive"]
    if engine == "sqlite":
        assert isinstance(archive, SQLiteArchive)
        assert app.config["DATABASE_URL"] == ""
        assert Path(app.config["DATABASE"]).exists()
    else:
        assert isinstance(archive, PostgresArchive)
        assert not Path(app.config["DATABASE"]).exists()


@pytest.mark.sqlite_only  # settings only
def test_a_path_in_database_url_is_the_sqlite_file(tmp_path):
    app = create_app(
        {
            "DATABASE_URL": str(tmp_path / "here.sqlite3"),
            "INDEX_DIR": tmp_path / "index",
        },
        instance_path=tmp_path / "instance",
    )
    try:
        assert app.config["DATABASE"] == tmp_path / "here.sqlite3"
        assert app.config["DATABASE_URL"] == ""
        assert (tmp_path / "here.sqlite3").exists()
    finally:
        app.extensions["readerapp.index"].close()
        app.extensions["readerapp.archive"].close()


def test_backups_are_of_sqlite_files_and_say_so_on_postgresql(
    make_app, tmp_path, engine
):
    app = make_app(tmp_path)
    result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "copy")])
    if engine == "sqlite":
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 1
        assert "pg_dump" in result.output and "Traceback" not in result.output


@pytest.mark.sqlite_only  # no archive needed
def test_statements_are_written_once_and_spelled_for_psycopg():
    assert postgres_sql("SELECT a FROM t WHERE b = ? AND c LIKE 'x%?'") == (
        "SELECT a FROM t WHERE b = %s AND c LIKE 'x%%?'"
    )
    assert postgres_sql("UPDATE t SET a = :a WHERE id = :id") == (
        "UPDATE t SET a = %(a)s WHERE id = %(id)s"
    )
    assert postgres_sql("SELECT 'it''s 10:30', ?") == "SELECT 'it''s 10:30', %s"
    assert (
        without_password("postgresql://reader:secret@db.example:5432/news")
        == "postgresql://reader:***@db.example:5432/news"
    )


@pytest.mark.postgresql
def test_a_node_follows_changes_again_after_its_connection_is_dropped(
    make_app, tmp_path
):
    """A PostgreSQL restart drops every session; the change watch opens a new one
    and the cached page is served (and stays exact) without an error."""
    app = make_app(tmp_path)
    import_records(app, tmp_path / "one.jsonl", record("w-1", "First", "Text."))
    client = app.test_client()
    assert client.get("/news/").status_code == 200
    with closing(admin_connection()) as admin:
        dropped = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND pid != pg_backend_pid()",
            (app.config["DATABASE_URL"].rsplit("/", 1)[1],),
        ).fetchone()[0]
    assert dropped >= 1
    assert "First" in client.get("/news/").text
    import_records(
        app,
        tmp_path / "two.jsonl",
        record("w-2", "Second", "Text.", published="2024-02-01"),
    )
    assert "Second" in client.get("/news/").text


@pytest.mark.postgresql
def test_another_nodes_import_shows_on_this_nodes_cached_pages(make_app, tmp_path):
    """Node B serves a cached listing; node A (another process) imports a story;
    B hears of the commit (LISTEN/NOTIFY) and renders the listing anew."""
    app = make_app(tmp_path)
    import_records(app, tmp_path / "one.jsonl", record("n-1", "Older", "Text."))
    client = app.test_client()
    assert "Older" in client.get("/news/").text
    story = record("n-2", "From the other node", "Text.", published="2024-03-01")
    (tmp_path / "two.jsonl").write_text(json.dumps(story) + "\n")
    node_a = subprocess.run(
        [
            str(Path(sys.executable).parent / "reader"),
            "import",
            str(tmp_path / "two.jsonl"),
        ],
        env={
            **os.environ,
            "READERAPP_DATABASE_URL": app.config["DATABASE_URL"],
            "READERAPP_INDEX_DIR": str(tmp_path / "node-a-index"),
            "READERAPP_DATABASE": str(tmp_path / "node-a" / "archive.sqlite3"),
            "READERAPP_FETCH_PICTURES": "false",
            "READERAPP_IMPORT_WORKERS": "1",
        },
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert node_a.returncode == 0, node_a.stderr
    # The notification comes a moment after the commit; give it up to 10 s.
    deadline = time.monotonic() + 10
    while "From the other node" not in client.get("/news/").text:
        assert time.monotonic() < deadline, "node B never heard of node A's import"
        time.sleep(0.05)
