"""A damaged index never makes a 500, `reader check` says what is wrong, and
`reader check --repair` or `reader reindex` puts it right without losing a story (#13)."""

import os
from pathlib import Path

import pytest
from whoosh import index as whoosh_index

from conftest import ARTICLES, query
from readerapp.search import ArchiveIndex

pytestmark = pytest.mark.both_engines
FISH = "/news/harbour-town/fish-market-moves-to-the-old-customs-house"


def generation(app) -> Path:
    return ArchiveIndex(app.config["INDEX_DIR"]).current()


def one_file(app, pattern: str) -> Path:
    return sorted(generation(app).glob(pattern))[0]


DAMAGE = {
    "terms file removed": lambda app: one_file(app, "*.trm").unlink(),
    "postings truncated": lambda app: os.truncate(one_file(app, "*.pst"), 40),
    "stored fields removed": lambda app: one_file(app, "*._stored.col").unlink(),
    "table of contents truncated": lambda app: os.truncate(one_file(app, "*.toc"), 60),
}


def check(app, *args: str):
    return app.test_cli_runner().invoke(args=["check", *args])


def test_a_whole_archive_and_index_pass_the_check(app):
    result = check(app)
    assert result.exit_code == 0, result.output
    assert "Archive" in result.output and "11 stories" in result.output
    assert "every story indexed once, and nothing else" in result.output
    assert "No problems found" in result.output


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_index_keeps_pages_serving_and_search_says_it_is_rebuilt(app, damage):
    DAMAGE[damage](app)
    client = app.test_client()
    for path in ("/", "/news/", "/news/harbour-town/", FISH, "/feeds/rss.xml"):
        assert client.get(path).status_code == 200, path
    assert "Also read" in client.get(FISH).text

    page = client.get("/search?q=ferry")
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "120"
    assert "Search is being rebuilt" in page.text
    assert "Traceback" not in page.text
    for api in ("/api/search?q=ferry", "/api/suggest?q=fer"):
        answer = client.get(api)
        assert answer.status_code == 503, api
        assert answer.headers["Retry-After"] == "120"
        assert answer.get_json()["retry_after"] == 120

    result = check(app)
    assert result.exit_code == 1
    assert "PROBLEM  cannot be read" in result.output

    rebuilt = app.test_cli_runner().invoke(args=["reindex"])
    assert rebuilt.exit_code == 0, rebuilt.output
    found = client.get("/api/search?q=ferry").get_json()
    assert found["total"] >= 2
    assert client.get("/search?q=ferry").status_code == 200
    assert check(app).exit_code == 0


def test_an_import_into_a_damaged_index_keeps_the_stories_and_says_reindex(
    app, tmp_path
):
    DAMAGE["table of contents truncated"](app)
    batch = tmp_path / "more.jsonl"
    batch.write_text(
        '{"id": "more-1", "section": "Desk", "headline": "Quay lights repaired",'
        ' "body_html": "<p>Lamps glow.</p>", "published": "2025-01-01"}\n'
    )
    result = app.test_cli_runner().invoke(args=["import", str(batch)])
    assert result.exit_code == 1
    assert "cannot be read" in result.output and "reader reindex" in result.output
    assert "Traceback" not in result.output
    assert app.test_client().get("/news/desk/quay-lights-repaired").status_code == 200


def corrupt(app, *statements: str) -> None:
    for statement in statements:
        query(app, statement)


def add_twice(app, article_id: str) -> None:
    """Put a second document for an article into the index, as a bug might."""
    ix = whoosh_index.open_dir(str(generation(app)))
    with ix.searcher() as searcher:
        fields = searcher.document(id=article_id)
    writer = ix.writer()
    writer.add_document(**fields)
    writer.commit()


PROBLEMS = {
    "a stale generation": (
        lambda app: (Path(app.config["INDEX_DIR"]) / "gen-half-built").mkdir(),
        "1 stale generation on disk",
    ),
    "an unfinished file": (
        lambda app: (generation(app) / "MAIN_leftover.pst").write_bytes(b"x" * 99),
        "1 unfinished file",
    ),
    "a story missing from the index": (
        lambda app: ArchiveIndex(app.config["INDEX_DIR"]).delete(["fx-harbour-1"]),
        "1 story missing from it",
    ),
    "a story indexed twice": (
        lambda app: add_twice(app, "fx-harbour-2"),
        "1 story indexed more than once",
    ),
    "a story indexed but gone from the archive": (
        lambda app: corrupt(
            app,
            "DELETE FROM article WHERE id = 'fx-science-2'",
            "UPDATE section SET article_count = article_count - 1"
            " WHERE slug = 'science'",
        ),
        "1 story in it, not in the archive",
    ),
    "stories waiting to be indexed": (
        # Changes logged by another node, which this node's index has not applied.
        lambda app: corrupt(
            app,
            "INSERT INTO article_change (seq, article_id, kind)"
            " SELECT max(seq) + 1, 'fx-harbour-1', 'stored' FROM article_change",
        ),
        "waiting to be indexed",
    ),
    "a wrong section count": (
        lambda app: corrupt(app, "UPDATE section SET article_count = 99"),
        "says 99 articles",
    ),
}


@pytest.mark.parametrize("problem", PROBLEMS)
def test_check_names_each_problem_and_repair_fixes_it(app, problem):
    make, said = PROBLEMS[problem]
    make(app)
    found = check(app, "--quick")
    assert found.exit_code == 1
    assert said in found.output
    assert "reader check --repair" in found.output

    repaired = check(app, "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert "Repaired:" in repaired.output and "No problems found" in repaired.output
    assert len(list(Path(app.config["INDEX_DIR"]).glob("gen-*"))) == 1
    client = app.test_client()
    hits = client.get("/api/search?q=ferry").get_json()["hits"]
    assert len({hit["url"] for hit in hits}) == len(hits) >= 2
    assert client.get("/api/search?q=comet").get_json()["total"] == 1


@pytest.mark.sqlite_only  # a file to damage
def test_an_unreadable_archive_file_is_named_and_no_traceback(make_app, tmp_path):
    app = make_app(tmp_path)
    Path(app.config["DATABASE"]).write_bytes(b"not a database at all" * 100)
    for args in (["check"], ["check", "--repair"], ["import", str(ARTICLES)]):
        result = app.test_cli_runner().invoke(args=args)
        assert result.exit_code == 1, args
        assert "Traceback" not in result.output
        assert "archive.sqlite3" in result.output, result.output
    assert "reader restore" in check(app).output
