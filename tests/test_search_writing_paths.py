"""Index writing's quick paths (a field's postings held at once, a term's written in
one loop) write what Whoosh's own writer would, including where a writer mixes them
with Whoosh's way."""

from test_search_writing import TEXTS, documents, whoosh_schema, write
from whoosh.analysis import StemmingAnalyzer
from whoosh.fields import TEXT
from whoosh.writing import SegmentWriter

from readerapp import search


def test_spelling_words_are_whoosh_spellable_words():
    reference = TEXT(analyzer=StemmingAnalyzer(), spelling=True)
    for text in [*TEXTS, " ".join(TEXTS), "The the THE a I x ferry-boat e.g. 3.5"]:
        assert search._spelling(text) == list(reference.spellable_words(text)), text


def test_documents_of_both_ways_in_one_writer(tmp_path):
    """A document naming a boost goes Whoosh's way (a posting at a time into the
    pool), the others the quick way: their postings of one term come out in order."""
    stories = documents(60)
    for n, story in enumerate(stories):
        if n % 3 == 1:
            story["_boost"] = 1.0
    expected = write(tmp_path / "whoosh", whoosh_schema(), SegmentWriter, [stories])
    written = write(tmp_path / "ours", search.SCHEMA, search._Writer, [stories])
    assert written == expected


def test_a_term_of_several_blocks(tmp_path):
    """A term in more documents than a block holds (128) is written as Whoosh
    writes it: full blocks first, the last one marked."""
    stories = documents(300)
    for n, story in enumerate(stories):
        story["body"] += " harbour" * (n % 5 + 1)
    expected = write(tmp_path / "whoosh", whoosh_schema(), SegmentWriter, [stories])
    written = write(tmp_path / "ours", search.SCHEMA, search._Writer, [stories])
    assert written == expected
    assert len(written["postings"]["body", b"harbour"]) == 300
