"""/healthz tells a load balancer whether this node can serve (issue #17)."""

from __future__ import annotations

import shutil
import socket
import threading

from flask import Flask
from werkzeug.test import TestResponse

from conftest import ARTICLES, import_records, record
from readerapp.extensions import get_store
from readerapp.search import ArchiveIndex

HARBOUR_STORY = "/news/harbour-town/fish-market-moves-to-the-old-customs-house"


def health(app: Flask) -> TestResponse:
    return app.test_client().get("/healthz")


def health_from_a_new_thread(app: Flask) -> TestResponse:
    """Ask from a thread of its own: it opens its own connection to the archive,
    as a serving thread that starts after the archive went away does."""
    answers: list[TestResponse] = []
    thread = threading.Thread(target=lambda: answers.append(health(app)))
    thread.start()
    thread.join()
    return answers[0]


def closed_port() -> int:
    """Return a loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_node_that_can_serve_answers_200_with_what_it_checked(app):
    response = health(app)
    assert response.status_code == 200
    assert response.mimetype == "application/health+json"
    assert response.headers["Cache-Control"] == "no-store"
    assert "ETag" not in response.headers and "Retry-After" not in response.headers
    current = ArchiveIndex(app.config["INDEX_DIR"]).current()
    with app.test_request_context():
        change = get_store().change_seq()
        article_change = get_store().latest_article_change()
    assert article_change > 0
    assert response.get_json() == {
        "status": "pass",
        "store": {
            "reachable": True,
            "change": change,
            "article_change": article_change,
        },
        "index": {
            "readable": True,
            "generation": current.name,
            "documents": 11,
            "change": article_change,
            "lag": 0,
        },
        "cache": {"reachable": True, "type": "SimpleCache"},
    }


def test_it_is_never_served_from_the_page_cache(app, tmp_path):
    before = health(app).get_json()["store"]["change"]
    import_records(app, tmp_path / "one.jsonl", record("h-1", "Quay reopens", "Yes."))
    assert health(app).get_json()["store"]["change"] > before


def test_an_index_behind_the_store_is_reported_and_the_node_stays_in(app):
    with app.test_request_context():
        get_store().mark_pending(["fx-harbour-1", "fx-harbour-2"])
    response = health(app)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "warn"
    assert body["index"]["lag"] == 2 and body["index"]["readable"]


def test_a_new_node_without_stories_or_index_can_serve(empty_app):
    body = health(empty_app).get_json()
    assert body["status"] == "pass"
    assert body["index"] == {
        "readable": True,
        "generation": None,
        "documents": 0,
        "change": None,
        "lag": 0,
    }


def test_an_index_that_cannot_be_read_takes_the_node_out(app):
    generation = ArchiveIndex(app.config["INDEX_DIR"]).current()
    toc = sorted(generation.glob("*.toc"))[0]
    toc.write_bytes(toc.read_bytes()[:60])
    response = health(app)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "10"
    body = response.get_json()
    assert body["status"] == "fail"
    assert body["index"]["readable"] is False and body["store"]["reachable"]
    assert app.test_client().get(HARBOUR_STORY).status_code == 200


def test_a_store_that_cannot_be_reached_takes_the_node_out_until_it_is_back(
    make_app, tmp_path
):
    archive = tmp_path / "store" / "archive.sqlite3"
    app = make_app(tmp_path, DATABASE=archive)
    result = app.test_cli_runner().invoke(args=["import", str(ARTICLES)])
    assert result.exit_code == 0, result.output
    assert health(app).status_code == 200
    # The archive's folder goes away (an unmounted disk): a connection opened now
    # finds no archive there.
    archive.parent.rename(tmp_path / "elsewhere")
    response = health_from_a_new_thread(app)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "10"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["status"] == "fail"
    assert body["store"] == {"reachable": False, "error": "OperationalError"}
    assert "Traceback" not in response.text
    shutil.rmtree(archive.parent)
    (tmp_path / "elsewhere").rename(archive.parent)
    assert health_from_a_new_thread(app).status_code == 200


def test_a_page_cache_that_cannot_be_reached_is_a_warning_not_a_failure(
    make_app, tmp_path
):
    redis_url = f"redis://127.0.0.1:{closed_port()}/0"
    app = make_app(tmp_path, CACHE_TYPE="RedisCache", CACHE_REDIS_URL=redis_url)
    import_records(app, tmp_path / "one.jsonl", record("h-1", "Quay reopens", "Yes."))
    response = health(app)
    # Every node shares the cache: failing them all for it would take the site out.
    assert response.status_code == 200 and "Retry-After" not in response.headers
    body = response.get_json()
    assert body["status"] == "warn"
    assert body["cache"] == {"reachable": False, "type": "RedisCache"}
    assert body["store"]["reachable"] and body["index"]["readable"]
    # Pages themselves are rendered without the cache meanwhile.
    assert app.test_client().get("/news/desk/quay-reopens").status_code == 200


def test_only_get_and_head_are_answered(app):
    client = app.test_client()
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


def test_it_reads_no_whole_listing_of_the_archive_or_the_index(app, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a health check read every story")

    monkeypatch.setattr(type(app.extensions["readerapp.index"]), "inspect", refuse)
    with app.test_request_context():
        store_type = type(get_store())
    for name in ("articles", "ids", "pending_ids", "texts", "article_changes_since"):
        monkeypatch.setattr(store_type, name, refuse)
    assert health(app).status_code == 200
