"""Index writing: the fast analysis and term-keyed pool write what Whoosh's own
analysis and writer would, posting for posting."""

from datetime import datetime

import pytest
from whoosh import index
from whoosh.analysis import StemmingAnalyzer
from whoosh.fields import TEXT, Schema
from whoosh.writing import SegmentWriter

from readerapp import search

TEXTS = [
    "The ferry sailed at dawn; the ferries sail again.",
    "a an the of: only stop words and then harbour harbours HARBOUR",
    "Ünïcode İstanbul straße ǅemal — ΣΊΣΥΦΟΣ ﬁne 3.5 per cent, U.S.A. e-mail",
    "",
    "x y z",
    "Prices rose 3.5% to 1,200.50 in the year's first quarter.\nNew line, same words.",
]


def whoosh_schema() -> Schema:
    """SCHEMA with Whoosh's own TEXT fields where readerapp analyses its own way."""
    fields = {}
    for name in search.SCHEMA.names():
        field = search.SCHEMA[name]
        if isinstance(field, search._StemmedText):
            field = TEXT(analyzer=StemmingAnalyzer(), spelling=field.spelling)
        if not name.startswith("spell_"):
            fields[name] = field
    return Schema(**fields)


def documents(count: int, start: int = 0) -> list[dict]:
    return [
        {
            "id": f"a-{n}",
            "headline": f"{TEXTS[n % len(TEXTS)][:30]} story {n}",
            "standfirst": TEXTS[(n + 1) % len(TEXTS)],
            "body": " ".join(TEXTS[(n + k) % len(TEXTS)] for k in range(n % 4 + 1)),
            "byline": "Ann Smith" if n % 2 else "",
            "tags": "Harbours,Ferries" if n % 3 else "",
            "section": "news",
            "section_name": "World news",
            "published": datetime(2024, 1, 1 + n % 28),
        }
        for n in range(start, start + count)
    ]


def contents(folder) -> dict:
    """Return every posting, stored field and field length of an index."""
    with index.open_dir(str(folder)).reader() as reader:
        postings = {}
        for fieldname, text in reader.all_terms():
            matcher = reader.postings(fieldname, text)
            found = []
            while matcher.is_active():
                found.append((matcher.id(), matcher.weight(), matcher.value()))
                matcher.next()
            postings[fieldname, text] = found
        lengths = {
            (docnum, name): reader.doc_field_length(docnum, name)
            for docnum in range(reader.doc_count_all())
            for name in ("headline", "standfirst", "body", "byline", "section_name")
        }
        stored = list(reader.all_stored_fields())
    return {"postings": postings, "lengths": lengths, "stored": stored}


def write(folder, schema, writer_class, batches, limitmb=search.POOL_MB) -> dict:
    folder.mkdir()
    ix = index.create_in(str(folder), schema)
    for batch in batches:
        writer = writer_class(ix, limitmb=limitmb, compound=False)
        for fields in batch:
            writer.update_document(**fields)
        writer.commit()
    return contents(folder)


def test_fast_analysis_indexes_what_whoosh_analysis_would():
    reference = TEXT(analyzer=StemmingAnalyzer())
    for field in ("headline", "body", "section_name"):
        for text in [*TEXTS, " ".join(TEXTS), "the " * 5 + "ferry " * 3]:
            assert list(search.SCHEMA[field].index(text)) == list(
                reference.index(text)
            ), text


@pytest.mark.parametrize("limitmb", [search.POOL_MB, 0])
def test_the_writer_writes_what_whoosh_writer_would(tmp_path, limitmb):
    """Same postings, lengths and stored fields, whether the pool holds everything
    or spills to runs on disk (limitmb=0), over an update that merges segments."""
    batches = [documents(40), documents(25, start=30)]
    expected = write(tmp_path / "whoosh", whoosh_schema(), SegmentWriter, batches)
    written = write(tmp_path / "ours", search.SCHEMA, search._Writer, batches, limitmb)
    assert written["postings"].keys() == expected["postings"].keys()
    assert written == expected


def test_a_large_first_build_in_processes_finds_what_whoosh_would(tmp_path):
    """Two writer processes, one segment each: every story is there once, and a
    phrase finds the same stories as in an index of Whoosh's own making."""
    stories = documents(300)
    write(tmp_path / "whoosh", whoosh_schema(), SegmentWriter, [stories])
    (tmp_path / "ours").mkdir()
    ix = index.create_in(str(tmp_path / "ours"), search.SCHEMA)
    writer = search._MpWriter(ix, procs=2, limitmb=search.POOL_MB, compound=False)
    for fields in stories:
        writer.add_document(**fields)
    writer.commit()
    phrase = search.parse('"ferries sail" OR "year\'s first"')[0]
    found = {}
    for name in ("whoosh", "ours"):
        with index.open_dir(str(tmp_path / name)).searcher() as searcher:
            assert sorted(f["id"] for f in searcher.all_stored_fields()) == sorted(
                d["id"] for d in stories
            )
            found[name] = {hit["id"] for hit in searcher.search(phrase, limit=None)}
    assert found["ours"] == found["whoosh"]
    assert 0 < len(found["ours"]) < len(stories)
    assert len(index.open_dir(str(tmp_path / "ours"))._segments()) == 2
