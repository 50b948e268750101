""" "Also read" is chosen when stories are indexed, and stays right as they change (#16)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from flask import Flask

from conftest import archive_address, import_records, query, record

pytestmark = pytest.mark.both_engines
VOLCANO = "/news/desk/volcano-erupts-near-the-coast"


def also_read(app: Flask, path: str) -> str:
    html = app.test_client().get(path).text
    found = re.search(r'<aside class="also-read".*?</aside>', html, re.S)
    return found[0] if found else ""


def stories(*leave_out: str) -> list[dict]:
    made = [
        record(
            "k-1",
            "Volcano erupts near the coast",
            "Lava and ash from the volcano closed the airport.",
            published="2024-01-01",
        ),
        record(
            "k-2",
            "School term starts",
            "Pupils returned to class.",
            published="2024-01-02",
        ),  # fmt: skip
        record(
            "k-3",
            "Ash cloud grounds flights",
            "Volcano ash over the airport halts flights; lava flows continue.",
            section="Travel",
            published="2024-01-03",
        ),
        record(
            "k-4",
            "Council approves budget",
            "The budget passed.",
            published="2024-01-04",
        ),  # fmt: skip
        record("k-5", "Bakery wins prize", "Bread and cakes.", published="2024-01-05"),
        record(
            "k-6",
            "Airport reopens after the eruption",
            "Flights resume as the volcano's ash clears from the airport.",
            section="Travel",
            published="2024-01-06",
        ),
    ]
    return [r for r in made if r["id"] not in leave_out]


@pytest.fixture
def volcano(make_app, tmp_path: Path) -> Flask:
    app = make_app(tmp_path)
    import_records(app, tmp_path / "first.jsonl", *stories())
    assert "Ash cloud grounds flights" in also_read(app, VOLCANO)
    return app


def test_also_read_needs_no_search_index_to_show(volcano):
    shutil.rmtree(volcano.config["INDEX_DIR"])
    assert "Ash cloud grounds flights" in also_read(volcano, VOLCANO)


def test_also_read_offers_a_story_on_the_same_subject(volcano):
    offered = also_read(volcano, VOLCANO)
    assert "Ash cloud grounds flights" in offered
    assert "Volcano erupts near the coast" not in offered


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"id": "k-3", "removed": True}, id="taken off the site"),
        pytest.param(
            stories()[2] | {"headline": "Volcano erupts near the coast"},
            id="renamed to the headline being read",
        ),
    ],
)
def test_a_changed_story_that_may_not_be_offered_is_not(volcano, tmp_path, change):
    import_records(volcano, tmp_path / "change.jsonl", change)
    offered = also_read(volcano, VOLCANO)
    assert "Ash cloud grounds flights" not in offered
    assert "Volcano erupts near the coast" not in offered
    assert "Airport reopens after the eruption" in offered


def test_a_changed_story_offers_what_it_is_now_like(volcano, tmp_path):
    rewritten = stories()[0] | {"body_html": "<p>Bread and cakes win a prize.</p>"}
    import_records(volcano, tmp_path / "rewritten.jsonl", rewritten)
    assert "Bakery wins prize" in also_read(volcano, VOLCANO)


def test_an_older_story_offers_a_newer_one_like_it(make_app, tmp_path):
    app = make_app(tmp_path)
    import_records(app, tmp_path / "first.jsonl", *stories("k-3", "k-6"))
    assert "Ash cloud" not in also_read(app, VOLCANO)
    import_records(app, tmp_path / "later.jsonl", *stories()[2:3])
    assert "Ash cloud grounds flights" in also_read(app, VOLCANO)


def test_stories_stored_before_the_choice_are_chosen_for_by_reindex(volcano):
    query(volcano, "DELETE FROM also_read")
    # Asked of the search index until then.
    assert "Ash cloud grounds flights" in also_read(volcano, VOLCANO)
    result = volcano.test_cli_runner().invoke(args=["reindex"])
    assert result.exit_code == 0, result.output
    shutil.rmtree(volcano.config["INDEX_DIR"])
    assert "Ash cloud grounds flights" in also_read(volcano, VOLCANO)


def test_also_read_never_offers_the_story_itself(volcano):
    client = volcano.test_client()
    for story in stories():
        slug = re.sub(r"[^a-z0-9]+", "-", story["headline"].lower()).strip("-")
        section = story.get("section", "Desk").lower()
        offered = also_read(volcano, f"/news/{section}/{slug}")
        assert client.get(f"/news/{section}/{slug}").status_code == 200
        assert story["headline"] not in offered


def test_choosing_in_shares_on_several_processes_chooses_as_one_does(
    volcano, monkeypatch
):
    from readerapp import curation
    from readerapp.search import ArchiveIndex
    from readerapp.store import open_store

    def choices() -> dict[str, str]:
        kept = dict(query(volcano, "SELECT article_id, candidates FROM also_read"))
        query(volcano, "DELETE FROM also_read")
        return kept

    store = open_store(archive_address(volcano))
    archive_index = ArchiveIndex(volcano.config["INDEX_DIR"])
    try:
        one = choices()
        assert len(one) == len(stories())
        monkeypatch.setattr(curation, "PARALLEL_CHOICE", 2)
        monkeypatch.setattr(curation, "CHOICE_SHARE", 2)
        assert curation.choose_also_read(store, archive_index, workers=2) == 6
        assert choices() == one
    finally:
        store.close()


def test_likeness_ranks_as_whoosh_scores_over_segments_and_deletions(
    volcano, monkeypatch
):
    """Likeness reads postings its own way (from the term information it keeps,
    without reading the postings of a term in one or two documents): it must
    find what Whoosh's own key terms and BM25F scores make of the same index,
    in an index of two segments, one with a deleted document."""
    from whoosh import index
    from whoosh.query import Term

    from readerapp import search
    from readerapp.store import open_store

    archive_index = search.ArchiveIndex(volcano.config["INDEX_DIR"])
    ix = index.open_dir(str(archive_index.current()))
    writer = ix.writer()
    writer.delete_by_term("id", "k-6")
    writer.add_document(
        id="k-9",
        headline="Ash and lava again",
        body="Lava, lava and ash: the volcano closed the airport again.",
    )
    writer.commit(merge=False)
    # Few enough of each term's best postings put forward that common terms'
    # other postings must be read too (scored exactly afterwards).
    monkeypatch.setattr(search, "LIKE_DEPTH", 2)
    monkeypatch.setattr(search, "LIKE_RESCORED", 100)
    store = open_store(archive_address(volcano))
    try:
        texts = {i: search.likeness_text(*rest) for i, *rest in store.texts()}
    finally:
        store.close()
    texts["k-9"] = "Ash and lava again\n\nLava, lava and ash: the volcano closed..."
    del texts["k-6"]

    with ix.searcher() as searcher, archive_index.likeness() as likeness:
        assert len(searcher.reader().leaf_readers()) == 2
        assert searcher.reader().has_deletions()
        ids = {n: fields["id"] for n, fields in searcher.reader().iter_docs()}
        docnums = {i: n for n, i in ids.items()}

        def scores(term: str) -> dict[int, float]:
            hits = searcher.search(Term("body", term), limit=None)
            return {hit.docnum: hit.score for hit in hits}

        for article_id, text in texts.items():
            found = searcher.key_terms_from_text("body", text, numterms=5)
            terms = likeness._key_terms(text)
            # The same terms, weighed alike (Likeness weighs the best as 1).
            assert [term for term, _ in terms] == [term for term, _ in found]
            best = found[0][1]
            assert [w for _, w in terms] == pytest.approx([w / best for _, w in found])
            scored = [(weight, scores(term)) for term, weight in terms]
            drawn = {
                n
                for _, by_doc in scored
                for n in sorted(by_doc, key=lambda n: (-by_doc[n], n))[:2]
            } - {docnums[article_id]}
            totals = {}
            for n in drawn:
                totals[n] = 0.0
                for weight, by_doc in scored:
                    totals[n] += weight * by_doc.get(n, 0.0)
            expected = [ids[n] for n in sorted(drawn, key=lambda n: (-totals[n], n))]
            assert likeness.like(article_id, text, 12) == expected[:12]
            assert article_id not in expected
        # Nothing to go on: no words, or none that any body holds.
        for text in ("", "The", "Zyzzyva"):
            assert likeness._key_terms(text) == []
            assert likeness.like("k-1", text, 12) == []
