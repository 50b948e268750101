"""Each node's search index follows the archive's change log (issue #17): two
apps on one archive, each with its own INDEX_DIR, as two nodes are."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from conftest import ARTICLES, archive_address, import_records, query, record
from readerapp.changes import IndexFollower
from readerapp.engines import locate
from readerapp.extensions import get_index
from readerapp.importer import catch_up, index_behind
from readerapp.store import MIGRATIONS, init_schema, open_store

pytestmark = pytest.mark.both_engines


def node(make_app: Callable[..., Flask], folder: Path, index: Path) -> Flask:
    """Return an app on the test's archive (one SQLite file under the test's
    folder, or its PostgreSQL database) with a search index of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    shared = folder.parent / "archive.sqlite3"
    return make_app(folder, DATABASE=shared, INDEX_DIR=index)


@pytest.fixture
def nodes(make_app, tmp_path: Path) -> tuple[Flask, Flask]:
    """Node A, which imports the test data, and node B, whose index has not
    followed it yet."""
    a = node(make_app, tmp_path / "a", tmp_path / "index-a")
    b = node(make_app, tmp_path / "b", tmp_path / "index-b")
    result = a.test_cli_runner().invoke(args=["import", str(ARTICLES)])
    assert result.exit_code == 0, result.output
    return a, b


def follow(app: Flask) -> int:
    """Catch a node's index up with the archive, as its follower does."""
    store = open_store(archive_address(app))
    try:
        with app.app_context():
            return catch_up(store, get_index(), choose=False)
    finally:
        store.close()


def found(app: Flask, words: str) -> list[str]:
    """Return the headlines a node's search finds."""
    answer = app.test_client().get(f"/api/search?q={words}").get_json()
    return [hit["headline"] for hit in answer["hits"]]


def lag(app: Flask) -> int:
    return app.test_client().get("/healthz").get_json()["index"]["lag"]


def test_a_new_node_builds_its_index_from_the_store(nodes):
    a, b = nodes
    assert found(b, "ferry") == []
    assert lag(b) > 0
    assert follow(b) == 11
    assert sorted(found(b, "ferry")) == sorted(found(a, "ferry")) != []
    assert lag(b) == 0
    assert follow(b) == 0  # nothing more to take


def test_an_import_a_correction_and_a_removal_reach_the_other_node(nodes, tmp_path):
    a, b = nodes
    follow(b)
    import_records(a, tmp_path / "new.jsonl", record("z-1", "Zeppelin lands", "Up."))
    assert found(a, "zeppelin") == ["Zeppelin lands"]
    assert found(b, "zeppelin") == []
    health = b.test_client().get("/healthz").get_json()
    assert (health["status"], health["index"]["lag"]) == ("warn", 1)
    assert follow(b) == 1
    assert found(b, "zeppelin") == ["Zeppelin lands"]
    health = b.test_client().get("/healthz").get_json()
    assert (health["status"], health["index"]["lag"]) == ("pass", 0)

    corrected = record("z-1", "Airship lands", "Up again.")
    import_records(a, tmp_path / "fix.jsonl", corrected)
    assert lag(b) == 1
    follow(b)
    assert found(b, "zeppelin") == []
    assert found(b, "airship") == ["Airship lands"]

    import_records(a, tmp_path / "gone.jsonl", {"id": "z-1", "removed": True})
    assert lag(b) == 1
    follow(b)
    assert found(b, "airship") == []
    assert lag(b) == 0


def test_the_log_keeps_each_storys_latest_change_and_a_node_behind_catches_up(
    nodes, tmp_path
):
    """Corrections do not grow the log: a story's earlier changes go when a later
    one is logged. A node behind all of them still ends where the archive is."""
    a, b = nodes
    follow(b)
    for number, (id_, headline) in enumerate(
        [
            ("z-1", "Zeppelin lands"),
            ("z-1", "Airship lands"),
            ("z-1", "Blimp lands"),
            ("z-2", "Kite flies"),
        ]  # fmt: skip
    ):
        import_records(a, tmp_path / f"{number}.jsonl", record(id_, headline, "Up."))
    import_records(a, tmp_path / "gone.jsonl", {"id": "z-2", "removed": True})

    logged = query(a, "SELECT article_id, kind FROM article_change ORDER BY seq")
    assert logged[-2:] == [("z-1", "stored"), ("z-2", "removed")]
    assert len(logged) == len({article_id for article_id, _ in logged})
    assert lag(b) == 5  # numbers still count every change
    follow(b)
    assert found(b, "blimp") == ["Blimp lands"]
    assert found(b, "zeppelin") == found(b, "airship") == found(b, "kite") == []
    assert lag(b) == 0


def test_a_node_started_from_a_copy_of_another_nodes_index_catches_up(
    make_app, nodes, tmp_path
):
    a, _ = nodes
    shutil.copytree(a.config["INDEX_DIR"], tmp_path / "index-c")
    import_records(a, tmp_path / "new.jsonl", record("z-2", "Quokka seen", "Yes."))
    c = node(make_app, tmp_path / "c", tmp_path / "index-c")
    assert found(c, "quokka") == []
    assert lag(c) == 1
    # Only the change after the copy's is applied, not the whole archive.
    assert follow(c) == 1
    assert found(c, "quokka") == ["Quokka seen"]
    assert found(c, "ferry") == found(a, "ferry")
    assert lag(c) == 0


def test_an_index_made_before_the_change_log_takes_what_it_lacked(nodes, tmp_path):
    a, b = nodes
    follow(b)
    index = b.extensions["readerapp.index"]
    (index.current() / "LAST_CHANGE").unlink()
    with b.app_context():
        store = open_store(archive_address(b))
        try:
            assert index_behind(store, get_index())
        finally:
            store.close()
    follow(b)
    assert index.last_change() is not None
    assert sorted(found(b, "ferry")) == sorted(found(a, "ferry"))


def test_the_follower_of_a_serving_node_takes_another_nodes_import(nodes, tmp_path):
    a, b = nodes
    index = b.extensions["readerapp.index"]
    said: list[str] = []
    follower = IndexFollower(
        b.extensions["readerapp.archive"],
        catch_up=lambda store: catch_up(store, index, choose=False),
        behind=lambda store: index_behind(store, index),
        say=said.append,
    )
    follower.start()
    try:
        import_records(a, tmp_path / "new.jsonl", record("z-3", "Narwhal song", "Hm."))
        deadline = time.monotonic() + 20  # a bound, not a measure: usually < 1 s
        while found(b, "narwhal") == [] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert found(b, "narwhal") == ["Narwhal song"]
    finally:
        follower.stop()
    assert not any("not caught up" in line for line in said), said


def test_a_commit_wakes_the_follower_at_once(nodes, tmp_path, monkeypatch):
    """The follower waits on the archive's own signal of a commit (LISTEN/NOTIFY
    on PostgreSQL, PRAGMA data_version on SQLite), not on its clock: with a minute
    between its own looks, another node's import still reaches this node's search
    in moments."""
    a, b = nodes
    monkeypatch.setattr(IndexFollower, "WAIT", 60.0)
    index = b.extensions["readerapp.index"]
    follower = IndexFollower(
        b.extensions["readerapp.archive"],
        catch_up=lambda store: catch_up(store, index, choose=False),
        behind=lambda store: index_behind(store, index),
        say=lambda line: None,
    )
    follower.start()
    try:
        deadline = time.monotonic() + 30
        while lag(b) and time.monotonic() < deadline:
            time.sleep(0.05)  # the first round: the import of the fixture
        assert lag(b) == 0
        import_records(a, tmp_path / "new.jsonl", record("z-4", "Walrus hum", "Hm."))
        deadline = time.monotonic() + 15  # a bound well under WAIT, not a measure
        while found(b, "walrus") == [] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert found(b, "walrus") == ["Walrus hum"]
    finally:
        follower.stop()


def test_migrating_logs_what_the_pending_flags_said_the_index_lacked(
    make_app, tmp_path
):
    """An archive from before the change log (version 3) logs, as its first
    changes, the stories its index had not taken yet, so that index catches up."""
    a = node(make_app, tmp_path / "a", tmp_path / "index-a")
    archive = locate(archive_address(a))
    db = archive.connect()
    try:
        init_schema(db)
        with db:  # back to version 3
            db.execute("DROP TABLE article_change")
            if archive.dialect.name == "sqlite":
                db.execute("PRAGMA user_version = 3")
            else:
                db.execute("DELETE FROM schema_version WHERE version > 3")
        with db:
            db.execute("INSERT INTO section (slug, name) VALUES ('desk', 'Desk')")
            db.execute(
                "INSERT INTO article (id, slug, section_id, headline, body_html,"
                " body_text, excerpt, published, word_count, checksum, index_pending)"
                " VALUES (?, ?, (SELECT id FROM section), 'Old', '<p>Text</p>',"
                " 'Text', 'Text', '2024-01-01T00:00:00+00:00', 1, 'x', ?)",
                ("old-1", "old-1", True),
            )
            db.execute(
                "INSERT INTO article (id, slug, section_id, headline, body_html,"
                " body_text, excerpt, published, word_count, checksum, index_pending)"
                " VALUES (?, ?, (SELECT id FROM section), 'Held', '<p>Text</p>',"
                " 'Text', 'Text', '2024-01-01T00:00:00+00:00', 1, 'y', ?)",
                ("held-1", "held-1", False),
            )
            db.execute(
                "INSERT INTO removed_article (id, slug, section_slug, removed)"
                " VALUES ('gone-1', 'gone', 'desk', '2024-01-02T00:00:00+00:00')"
            )
        assert init_schema(db) == (3, len(MIGRATIONS))
        rows = db.execute(
            "SELECT seq, article_id, kind FROM article_change ORDER BY seq"
        ).fetchall()
    finally:
        db.close()
    assert [tuple(row) for row in rows] == [
        (1, "old-1", "stored"),
        (2, "gone-1", "removed"),
    ]
