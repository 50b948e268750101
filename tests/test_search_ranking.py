"""The search API's totals, facets, order and snippets, held to Whoosh's own answers.

readerapp ranks, counts and highlights from posting lists read whole (see
readerapp/search.py, _Ranking and _fragments); these tests drive /api/search
over a generated archive and compare each answer with what Whoosh's matchers and
highlighter give for the same query on the same index.
"""

import random
import re

import pytest
from whoosh import highlight
from whoosh.analysis import StemmingAnalyzer

from conftest import import_records, record
from readerapp.search import _MarkFormatter, parse
from readerapp.store import open_store

SECTIONS = ["Harbour Town", "Money", "World"]
WORDS = (
    "ferry ferries harbour united nations security council prime minister storm"
    " bank loans oil prices said bye the of a on us day days happy running ran"
).split()
FILLER = (
    "quiet morning tide rope gull pier crane cargo timber lantern brass quay"
    " dredger pilot mooring"
).split()
QUERIES = [
    "ferry",
    "ferries harbour",
    "oil prices",
    "bank loans said",
    '"united nations security council"',
    '"united nations"',
    '"prime minister"',
    '"minister of the storm"',
    '"bye bye"',
    '"happy days" ferry',
    "ferry -storm",
    "ferry NOT storm",
    "oil OR bank",
    "(oil OR bank) prices",
    "ferry -(storm OR oil)",
    "headline:storm",
    "harb*",
    '"ferry harbour"~3',
    "nothingmatches",
]


def _body(rng: random.Random) -> str:
    words = [rng.choice(WORDS + FILLER * 2) for _ in range(rng.randint(3, 260))]
    for at in range(0, len(words), 17):
        words[at] = words[at].capitalize() + "."
    return " ".join(words)


@pytest.fixture(scope="module")
def archive(tmp_path_factory, request):
    from conftest import build_app

    tmp_path = tmp_path_factory.mktemp("ranking")
    app = build_app(tmp_path)
    request.addfinalizer(app.extensions["readerapp.index"].close)
    rng = random.Random(16)
    records = [
        record(
            f"g-{n:03}",
            " ".join(rng.choice(WORDS + FILLER) for _ in range(rng.randint(2, 6))),
            _body(rng),
            section=rng.choice(SECTIONS),
            published=f"2024-{1 + n % 12:02}-{1 + n % 28:02}T{n % 24:02}:00:00Z",
        )
        for n in range(160)
    ]
    # Every pair of the phrase in one story, never the whole phrase.
    records.append(
        record(
            "trap",
            "Council notes",
            "The united nations met. Nations security rose. Security council sat.",
        )
    )
    records.append(
        record("whole", "Council notes", "The United Nations Security Council met.")
    )
    # Longer than the highlighter reads, with the match near and past its limit.
    records.append(
        record("long", "Tide tables", ("tide pier " * 3270) + "ferry " + "quay " * 40)
    )
    # A word longer than a snippet, and one that ends a passage exactly.
    records.append(record("wide", "Cargo", "ferry " + "x" * 300 + " ferry ok"))
    import_records(app, tmp_path / "generated.jsonl", *records)
    return app


def _api(client, **params) -> dict:
    response = client.get("/api/search", query_string=params)
    assert response.status_code == 200
    return response.get_json()


def _whoosh_ranking(app, text: str) -> list[tuple[str, str]]:
    """Return (id, section) of every match, in Whoosh's order, from its matchers."""
    reading = app.extensions["readerapp.index"].searcher()
    searcher = reading.searcher
    parsed, _ = parse(text)
    hits = searcher.search(parsed, limit=None)
    ranked = sorted(hits, key=lambda hit: (-hit.score, hit.docnum))
    sections = reading.sections()
    return [
        (searcher.stored_fields(h.docnum)["id"], sections[h.docnum]) for h in ranked
    ]


@pytest.mark.parametrize("text", QUERIES)
def test_order_total_and_facets_are_whooshs(archive, text):
    client = archive.test_client()
    expected = _whoosh_ranking(archive, text)
    data = _api(client, q=text)
    assert data["total"] == len(expected)
    counts: dict[str, int] = {}
    for _, section in expected:
        counts[section] = counts.get(section, 0) + 1
    assert {f["section"]: f["count"] for f in data["facets"]} == counts
    urls = [hit["url"] for hit in data["hits"]]
    assert [u.rsplit("/", 1)[1] for u in urls] == [
        _slug(archive, i) for i, _ in expected[:10]
    ]
    # Later pages continue the same order, and a section narrows it.
    page_two = _api(client, q=text, page=2) if len(expected) > 10 else None
    if page_two is not None:
        assert [h["url"].rsplit("/", 1)[1] for h in page_two["hits"]] == [
            _slug(archive, i) for i, _ in expected[10:20]
        ]
    section = "money"
    narrowed = [i for i, s in expected if s == section]
    data = _api(client, q=text, section=section)
    assert data["total"] == len(narrowed)
    assert [h["url"].rsplit("/", 1)[1] for h in data["hits"]] == [
        _slug(archive, i) for i in narrowed[:10]
    ]


def test_a_phrase_needs_its_words_together_in_order(archive):
    client = archive.test_client()
    found = _api(client, q='"united nations security council"')
    ids = {h["url"].rsplit("/", 1)[1] for h in found["hits"]}
    assert _slug(archive, "whole") in ids
    assert _slug(archive, "trap") not in ids
    reversed_phrase = _api(client, q='"council security nations united"')
    assert _slug(archive, "whole") not in {
        h["url"].rsplit("/", 1)[1] for h in reversed_phrase["hits"]
    }


@pytest.mark.parametrize(
    "text", ["ferry", "oil prices", '"prime minister"', "bank loans said", "happy"]
)
def test_snippets_are_whooshs_highlights(archive, text):
    client = archive.test_client()
    data = _api(client, q=text)
    assert data["hits"]
    store = open_store(archive.config["DATABASE"])
    try:
        slugs = {hit["url"].rsplit("/", 1)[1] for hit in data["hits"]}
        ids = [
            row[0]
            for row in store.db.execute(
                f"SELECT id FROM article WHERE slug IN ({','.join('?' * len(slugs))})",
                list(slugs),
            )
        ]
        bodies = store.bodies(ids)
    finally:
        store.close()
    analyzer = StemmingAnalyzer()
    terms = frozenset(t.text for t in analyzer(re.sub(r'["]', " ", text)))
    expected = {
        highlight.highlight(
            body,
            terms,
            analyzer,
            highlight.ContextFragmenter(maxchars=220, surround=60),
            _MarkFormatter(),
            top=1,
        )
        for body in bodies.values()
    }
    got = {hit["snippet"] for hit in data["hits"]}
    # A hit with no highlight shows its excerpt instead.
    assert got - expected <= {
        h["snippet"] for h in data["hits"] if "<mark>" not in h["snippet"]
    }
    assert {s for s in expected if s} <= got


def test_highlights_reach_a_match_near_the_end_of_what_is_read(archive):
    client = archive.test_client()
    hit = next(
        h
        for h in _api(client, q="ferry", section="desk")["hits"]
        if h["url"].endswith(_slug(archive, "long"))
    )
    assert "<mark>ferry</mark>" in hit["snippet"]


def _slug(app, article_id: str) -> str:
    store = open_store(app.config["DATABASE"])
    try:
        row = store.db.execute(
            "SELECT slug FROM article WHERE id = ?", (article_id,)
        ).fetchone()
        return row[0]
    finally:
        store.close()
