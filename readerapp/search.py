"""Full-text search of the archive: the only module that imports whoosh.

The index lives in generations under INDEX_DIR: each `gen-*` folder is a complete
Whoosh index and the file CURRENT names the one readers use. A rebuild writes a new
generation and swaps CURRENT with one rename, so readers never see a half-built
index, and a crash mid-build leaves the old one serving.

Each generation also records, in its file LAST_CHANGE, the number of the last
change of the archive's change log it holds (store.article_changes_since), written
after each commit with one rename: an index, or a copy of it on another node,
catches up by reading the changes after that number.
"""

from __future__ import annotations

import errno
import heapq
import math
import os
import re
import shutil
import struct
import threading
import time
import traceback
import unicodedata
import warnings
import zlib
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from itertools import accumulate, compress, repeat
from operator import add, ge, itemgetter, mul
from operator import sub as minus
from pathlib import Path
from pickle import dumps
from typing import Any

from markupsafe import Markup, escape
from whoosh import highlight, index, query
from whoosh.analysis import STOP_WORDS, StandardAnalyzer, StemmingAnalyzer
from whoosh.analysis.tokenizers import default_pattern
from whoosh.codec.whoosh3 import (
    COMPRESSION_MIN_SIZE,
    LENGTHS_COLUMN,
    WHOOSH3_HEADER_MAGIC,
    W3FieldWriter,
    W3LeafMatcher,
    W3TermInfo,
)
from whoosh.fields import DATETIME, ID, KEYWORD, TEXT, Schema
from whoosh.lang.porter import stem
from whoosh.multiproc import MpWriter, SubWriterTask
from whoosh.qparser import FieldAliasPlugin, MultifieldParser, PlusMinusPlugin
from whoosh.reading import TermNotFound
from whoosh.searching import Searcher
from whoosh.system import pack_int, pack_long, pack_uint, pack_ushort
from whoosh.util.numeric import byte_to_length, length_to_byte
from whoosh.writing import PostingPool, SegmentWriter

from .models import Article

PAGE_SIZE = 10
MAX_QUERY_CHARS = 500
MAX_QUERY_WORDS = 32
SNIPPET_CHARS = 220
SUGGESTION_LIMIT = 8
PARALLEL_BUILD = 2000
# Postings each index writer holds in memory before spilling them to sorted runs on
# disk. Whoosh's own pool at 256 MB made a large import's memory grow with its size
# (369 MiB for 34k stories against 93 for 3.4k) for no speed at all; _TermPool holds
# half the demo archive (17k stories) in 128 MB, so nothing spills and index writing
# takes half the CPU (docs/benchmarks.md, "Import when nothing is cached").
POOL_MB = 128
# "Did you mean" costs a spelling lookup per word, so it runs only when results are
# thin, and only for words this rare in the archive.
FEW_RESULTS = 20
RARE_WORD = 50

_STEMMED = StemmingAnalyzer()
_TOKEN = re.compile(default_pattern.pattern.replace("(", "(?:"))
# Each word's indexed form (None for a stop word or a single letter), as _STEMMED
# makes it. Words repeat enormously: the 4.8 million words of the demo archive's
# bodies are about 100,000 distinct ones.
_TERMS: dict[str, str | None] = {}
_TERMS_KEPT = 400_000


def _terms(words: list[str]) -> list[str | None]:
    """Return the indexed form of each lower-case word (None where _STEMMED drops
    it: stop words and single letters)."""
    known = _TERMS
    if len(known) > _TERMS_KEPT:
        known.clear()
    found = []
    for word in words:
        term = known.get(word, False)
        if term is False:
            keep = len(word) > 1 and word not in STOP_WORDS
            term = known[word] = stem(word) if keep else None
        found.append(term)
    return found


def _words(text: str) -> list[str]:
    """Return text's tokens in lower case, as _STEMMED's tokenizer and lower-case
    filter make them."""
    if text.isascii():
        return _TOKEN.findall(text.lower())
    # Lowering first could change where a token ends (a letter whose lower case
    # is longer): lower each token instead.
    return [word.lower() for word in _TOKEN.findall(text)]


class _TermOf(dict):
    """Each lower-case word's indexed form (None where _STEMMED drops it), learnt
    on first sight: looking words up through it runs in C (map, Counter)."""

    def __missing__(self, word: str) -> str | None:
        if len(self) > _TERMS_KEPT:
            self.clear()
        term = self[word] = _terms([word])[0]
        return term


_TERM_OF = _TermOf()


def term_positions(text: str) -> dict[str, list[int]]:
    """Return each term of text and its positions, exactly as Whoosh indexes a
    field analysed by _STEMMED (stop words removed and the positions after the
    first kept word renumbered), in the order terms first occur."""
    terms = list(map(_TERM_OF.__getitem__, _words(text)))
    kept = [term for term in terms if term is not None]
    positions: dict[str, list[int]] = {}
    if not kept:
        return positions
    # The first kept word keeps its own place; the ones after it follow on.
    first = terms.index(kept[0])
    get = positions.get
    for at, term in enumerate(kept, first):
        found = get(term)
        if found is None:
            positions[term] = [at]
        else:
            found.append(at)
    return positions


class _StemmedText(TEXT):
    """A TEXT field analysed by _STEMMED that indexes a text several times faster
    than Whoosh's token stream (a Token object and four generator steps a word):
    the same terms, frequencies and encoded positions (Positions.encode), from one
    regular expression and a cache of each word's stem. Queries still go through
    the analyzer, so searching is unchanged."""

    def index(
        self, value: Any, **kwargs: Any
    ) -> Iterator[tuple[bytes, int, float, bytes]]:
        if kwargs or not isinstance(value, str) or self.format.field_boost != 1.0:
            yield from super().index(value, **kwargs)
            return
        alone = _ALONE
        for term, places in term_positions(value).items():
            if len(places) == 1:
                # Most terms of a text occur once: their encodings repeat.
                encoded = alone.get(places[0])
                if encoded is None:
                    encoded = alone[places[0]] = _encoded(places)
                yield term.encode("utf-8"), 1, 1.0, encoded
            else:
                yield (
                    term.encode("utf-8"),
                    len(places),
                    float(len(places)),
                    _encoded(places),
                )


_ALONE: dict[int, bytes] = {}


def _spelling(text: str) -> list[str]:
    """Return the words of a _StemmedText field's text that Whoosh adds to its
    spelling field (spellable_words: the analyzer's tokens, stop words and single
    letters removed, not stemmed), each once, sorted."""
    return sorted({w for w in _words(text) if len(w) > 1 and w not in STOP_WORDS})


def _encoded(places: list[int]) -> bytes:
    """Return positions as Whoosh's Positions.encode does."""
    deltas = [places[0]]
    deltas.extend(b - a for a, b in zip(places, places[1:], strict=False))
    return pack_uint(len(deltas)) + dumps(deltas, 2)


SCHEMA = Schema(
    id=ID(stored=True, unique=True),
    # spelling=True keeps the unstemmed headline words, which "did you mean" offers.
    headline=_StemmedText(analyzer=_STEMMED, spelling=True),
    standfirst=_StemmedText(analyzer=_STEMMED),
    body=_StemmedText(analyzer=_STEMMED),
    byline=TEXT(analyzer=StandardAnalyzer(stoplist=None)),
    tags=KEYWORD(commas=True, lowercase=True, scorable=True),
    section_name=_StemmedText(analyzer=_STEMMED),
    section=ID(sortable=True),
    published=DATETIME(sortable=True),
)
# What a query searches when it names no field, and how much each field counts.
DEFAULT_FIELDS = {"headline": 3.0, "standfirst": 2.0, "body": 1.0}
# The field prefixes a reader may type, and the index field each one searches.
QUERY_FIELDS = {
    "headline": "headline",
    "section": "section_name",
    "byline": "byline",
    "tag": "tags",
}
SORTS = ("relevance", "newest", "oldest")
_SEARCHABLE = set(DEFAULT_FIELDS) | set(QUERY_FIELDS.values())
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_WORD = re.compile(r"[^\W\d_]{3,}")
_FIELD_PREFIX = re.compile(r"\w+:")
# "Also read" takes an article's key terms as Whoosh's more-like-this does (the five
# with the highest Bo1 weight in its text) and scores other articles' bodies for them
# with BM25F. To do that for a whole archive at once, only the LIKE_DEPTH best
# postings of each term put articles forward, and the LIKE_RESCORED best of those
# are scored exactly. On 300 random pages 90% keep their pick (95% at 128 and 32,
# for a fifth more time): bench/also_read.py.
LIKE_TERMS = 5
LIKE_DEPTH = 64
LIKE_RESCORED = 24


# Seconds a writer waits for another one of the same index folder to finish (a
# serving node's follower catching up while `reader import` runs on that node)
# before giving up with IndexBusy.
WRITER_WAIT = 60.0


class IndexBusy(Exception):
    """Another process holds the index's write lock."""


class IndexUnavailable(Exception):
    """The index cannot be read: a file of it is missing or damaged.

    `reader reindex` builds a whole new one from the archive.
    """


class IndexFull(Exception):
    """The disk holding the index is full; the index is left as it was."""


@dataclass(slots=True)
class IndexReport:
    """What `ArchiveIndex.inspect` found in the index folder."""

    generation: str | None = None
    # Generations other than the current one: half-built or superseded.
    stale: list[str] = field(default_factory=list)
    # Why the current generation cannot be read, if it cannot.
    damage: str | None = None
    # How many live documents hold each article id.
    ids: Counter[str] = field(default_factory=Counter)
    # Files no commit of the current generation refers to: a stopped writer's.
    unfinished: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SearchRequest:
    text: str = ""
    section: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    byline: str | None = None
    sort: str = "relevance"
    page: int = 1


@dataclass(frozen=True, slots=True)
class SearchHit:
    id: str
    snippet: Markup | None


@dataclass(slots=True)
class SearchResults:
    hits: list[SearchHit] = field(default_factory=list)
    total: int = 0
    facets: list[tuple[str, int]] = field(default_factory=list)
    suggestion: str | None = None
    message: str | None = None
    seconds: float = 0.0
    query_text: str = ""


class _MarkFormatter(highlight.Formatter):
    """Wrap matched words in <mark>, escaping all text so none can inject markup."""

    between = " … "

    def _text(self, text: str) -> str:
        return str(escape(text))

    def format_token(self, text: str, token: Any, replace: bool = False) -> str:
        return f"<mark>{escape(highlight.get_text(text, token, replace))}</mark>"


def clean_query(text: str) -> tuple[str, str | None]:
    """Return a query made safe to parse, and a message if it had to be shortened."""
    text = " ".join(unicodedata.normalize("NFKC", _CONTROL.sub(" ", text)).split())
    words = text.split(" ")
    if len(text) <= MAX_QUERY_CHARS and len(words) <= MAX_QUERY_WORDS:
        return text, None
    text = " ".join(words[:MAX_QUERY_WORDS])
    if len(text) > MAX_QUERY_CHARS:
        text = text[:MAX_QUERY_CHARS].rsplit(" ", 1)[0]
    kept = len(text.split())
    return text, f"Your search was long, so only its first {kept} words were used."


@lru_cache(maxsize=1)
def _parser() -> MultifieldParser:
    parser = MultifieldParser(list(DEFAULT_FIELDS), SCHEMA, fieldboosts=DEFAULT_FIELDS)
    parser.add_plugin(PlusMinusPlugin())
    aliases = {name: [alias] for alias, name in QUERY_FIELDS.items() if alias != name}
    parser.add_plugin(FieldAliasPlugin(aliases))
    return parser


def parse(text: str) -> tuple[query.Query, str]:
    """Parse a reader's query leniently; never raises.

    Returns the query (query.NullQuery when nothing is left to search) and the
    text it stands for, which is the plain words when the syntax made no sense.
    """
    try:
        parsed = _parser().parse(text).normalize()
    except Exception:  # noqa: BLE001 - nothing a reader types may become a 500
        parsed = None
    if parsed is not None and _reader_safe(parsed):
        return parsed, text
    words = " ".join(re.findall(r"\w+", text))
    parsed = _parser().parse(words).normalize() if words else query.NullQuery
    return parsed, words


def _reader_safe(parsed: query.Query) -> bool:
    if isinstance(parsed, query.Every) or parsed is query.NullQuery:
        return parsed is query.NullQuery
    for sub in parsed.leaves():
        if isinstance(sub, query.Every):
            return False
        fieldname = getattr(sub, "fieldname", None)
        if fieldname is not None and fieldname not in _SEARCHABLE:
            return False
    return True


def likeness_text(headline: str, standfirst: str | None, body_text: str) -> str:
    """Return the text of an article that finding articles like it reads."""
    return f"{headline}\n{standfirst or ''}\n{body_text}"


def _stems(word: str) -> list[str]:
    return [token.text for token in _STEMMED(word)]


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _fields(article: Article) -> dict[str, Any]:
    return {
        "id": article.id,
        "headline": article.headline,
        "standfirst": article.standfirst or "",
        "body": article.body_text,
        "byline": article.byline or "",
        "tags": ",".join(article.tags),
        "section": article.section.slug,
        "section_name": article.section.name,
        "published": _utc(article.published),
    }


# The generation's file naming the last change of the archive it holds.
LAST_CHANGE = "LAST_CHANGE"


class ArchiveIndex:
    """The archive's Whoosh index: one writer at a time, a searcher per thread."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._local = threading.local()
        self._open: set[_Reading] = set()
        self._open_lock = threading.Lock()

    @property
    def _pointer(self) -> Path:
        return self.root / "CURRENT"

    def current(self) -> Path | None:
        """Return the generation readers use, or None before the first index."""
        try:
            name = self._pointer.read_text("utf-8").strip()
        except FileNotFoundError:
            return None
        folder = self.root / name
        return folder if name.startswith("gen-") and folder.is_dir() else None

    def _new_generation(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        folder = self.root / f"gen-{stamp}-{os.getpid()}-{time.monotonic_ns()}"
        folder.mkdir()
        index.create_in(str(folder), SCHEMA)
        return folder

    def _swap_to(self, folder: Path) -> None:
        staged = self.root / f"CURRENT.{os.getpid()}"
        staged.write_text(folder.name, "utf-8")
        os.replace(staged, self._pointer)
        self.remove_stale()

    def remove_stale(self) -> None:
        """Delete generations other than the current one (old or half-built)."""
        current = self.current()
        for folder in self.root.glob("gen-*"):
            if folder != current:
                shutil.rmtree(folder, ignore_errors=True)

    def add(self, articles: Iterable[Article], expected: int = 0) -> int:
        """Add or replace articles in the current index; return how many.

        `expected` (how many articles are coming) lets a large first load use
        every core.
        """
        folder = self.current()
        if folder is None:
            folder = self._new_generation()
            self._swap_to(folder)
        with self._guarded():
            ix = index.open_dir(str(folder))
        return _write(ix, articles, fresh=ix.is_empty(), expected=expected)

    def delete(self, ids: Iterable[str]) -> int:
        """Remove the documents of these article ids from the current index."""
        folder = self.current()
        if folder is None:
            return 0
        with self._guarded():
            ix = index.open_dir(str(folder))
        try:
            writer = ix.writer(timeout=WRITER_WAIT)
        except index.LockError:
            raise IndexBusy("another process is writing the search index") from None
        deleted = sum(writer.delete_by_term("id", i) for i in ids)
        writer.commit()
        return deleted

    def inspect(self, thorough: bool = True) -> IndexReport:
        """Report on the index folder; `thorough` reads every posting list too."""
        current = self.current()
        report = IndexReport(generation=current.name if current else None)
        report.stale = sorted(
            p.name for p in self.root.glob("gen-*") if p.is_dir() and p != current
        )
        if current is None:
            return report
        try:
            ix = index.open_dir(str(current))
            with ix.reader() as reader:
                report.ids.update(f["id"] for f in reader.all_stored_fields())
                if thorough:
                    _read_everything(reader)
            report.unfinished = _unfinished_files(ix)
        except Exception as error:  # noqa: BLE001 - any damage reads as damage
            _release(error)
            report.damage = f"{type(error).__name__}: {error}"
        return report

    def discard_unfinished(self) -> list[str]:
        """Delete files a stopped writer left in the current generation."""
        current = self.current()
        if current is None:
            return []
        ix = index.open_dir(str(current))
        leftovers = _unfinished_files(ix)
        for name in leftovers:
            path = current / name
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        return leftovers

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        """Turn any failure to read the index into IndexUnavailable.

        A missing or truncated file surfaces as whatever the code reading it
        trips on (FileNotFoundError, KeyError, UnpicklingError, struct errors), so
        every failure counts; the reader's searcher is dropped, so the next
        query opens the index afresh (after a reindex, the repaired one).
        """
        try:
            yield
        except (IndexBusy, IndexUnavailable):
            raise
        except Exception as error:
            reading = getattr(self._local, "reading", None)
            if reading is not None:
                self._forget(reading)
            _release(error)
            raise IndexUnavailable(f"{type(error).__name__}: {error}") from None

    def rebuild(
        self,
        articles: Iterable[Article],
        expected: int = 0,
        last_change: int | None = None,
    ) -> int:
        """Index every article into a new generation, then swap it in.

        `last_change`, the change log's number read before the articles were, is
        recorded in the generation before readers (or a follower) see it.
        """
        folder = self._new_generation()
        try:
            count = _write(index.open_dir(str(folder)), articles, True, expected)
            if last_change is not None:
                self.record_change(last_change, folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._swap_to(folder)
        return count

    def last_change(self) -> int | None:
        """Return the number of the last archive change the current generation
        holds; None when it records none (no index, or one made before the change
        log: it holds what the log's first changes are not)."""
        folder = self.current()
        if folder is None:
            return None
        try:
            return int((folder / LAST_CHANGE).read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    def record_change(self, seq: int, folder: Path | None = None) -> None:
        """Record that the generation (the current one by default) holds every
        archive change up to `seq`. Written whole or not at all (one rename)."""
        folder = folder or self.current()
        if folder is None:
            return
        staged = folder / f"{LAST_CHANGE}.{os.getpid()}.{threading.get_ident()}"
        staged.write_text(str(seq), "utf-8")
        os.replace(staged, folder / LAST_CHANGE)

    def document_count(self) -> int:
        """Return how many articles the current index holds."""
        folder = self.current()
        if folder is None:
            return 0
        with self._guarded():
            return index.open_dir(str(folder)).doc_count()

    def searcher(self) -> _Reading | None:
        """Return this thread's searcher, reopened when the index has changed."""
        current = self.current()
        reading: _Reading | None = getattr(self._local, "reading", None)
        if reading is not None:
            if reading.folder == current and reading.searcher.up_to_date():
                return reading
            self._forget(reading)
        if current is None:
            return None
        # One long-lived searcher per thread: opening one per query costs more than
        # most queries, and an uncompounded index reopens by mapping, not copying.
        with self._guarded():
            reading = _Reading(current, index.open_dir(str(current)).searcher())
        self._local.reading = reading
        with self._open_lock:
            self._open.add(reading)
        return reading

    def _forget(self, reading: _Reading) -> None:
        reading.searcher.close()
        self._local.reading = None
        with self._open_lock:
            self._open.discard(reading)

    def close(self) -> None:
        """Close every thread's searcher (for shutting down)."""
        with self._open_lock:
            readings, self._open = self._open, set()
        for reading in readings:
            reading.searcher.close()

    def search(
        self,
        request: SearchRequest,
        bodies: Callable[[list[str]], dict[str, str]],
        size: int = PAGE_SIZE,
    ) -> SearchResults:
        """Run a reader's search: one page of hits with snippets, total, facets."""
        with self._guarded():
            return self._search(request, bodies, size)

    def _search(
        self,
        request: SearchRequest,
        bodies: Callable[[list[str]], dict[str, str]],
        size: int,
    ) -> SearchResults:
        started = time.perf_counter()
        text, message = clean_query(request.text)
        parsed, searched = parse(text)
        if searched != text and searched:
            message = f"Searched for the words: {searched}"
        results = SearchResults(query_text=searched, message=message)
        reading = self.searcher()
        if reading is None or parsed is query.NullQuery:
            if text and reading is not None:
                results.message = (
                    "Your search has only very common words or symbols."
                    " Add a more specific word."
                )
            results.seconds = time.perf_counter() - started
            return results
        reading.run(parsed, request, results, size, bodies)
        if results.total < FEW_RESULTS:
            results.suggestion = reading.did_you_mean(searched, request, results.total)
        results.seconds = time.perf_counter() - started
        return results

    def suggest(self, prefix: str) -> list[str]:
        """Return ids of articles whose headline completes the typed prefix."""
        with self._guarded():
            return self._suggest(prefix)

    def _suggest(self, prefix: str) -> list[str]:
        text, _ = clean_query(prefix)
        words = re.findall(r"\w+", text.lower())
        reading = self.searcher()
        if not words or len(words[-1]) < 2 or reading is None:
            return []
        parts: list[query.Query] = [
            query.Term("headline", stem) for word in words[:-1] for stem in _stems(word)
        ]
        # Headlines are indexed stemmed: "ferry" is kept as "ferri", so a finished
        # last word must match through its stem as well as by its letters.
        typed = words[-1]
        parts.append(
            query.Or(
                [
                    query.Prefix("headline", p)
                    for p in dict.fromkeys([typed, *_stems(typed)])
                ]
            )
        )
        hits = reading.searcher.search(query.And(parts), limit=SUGGESTION_LIMIT)
        return [hit["id"] for hit in hits]

    def related(self, article: Article, limit: int) -> list[str]:
        """Return ids of the articles most like this one, best first."""
        with self._guarded():
            reading = self.searcher()
            if reading is None:
                return []
            docnum = reading.searcher.document_number(id=article.id)
            if docnum is None:
                return []
            text = likeness_text(
                article.headline, article.standfirst, article.body_text
            )
            hits = reading.searcher.more_like(docnum, "body", text=text, top=limit + 1)
            return [hit["id"] for hit in hits if hit["id"] != article.id][:limit]

    @contextmanager
    def likeness(self) -> Iterator[Likeness | None]:
        """Open the current index for finding related articles in bulk (None before
        the first index)."""
        folder = self.current()
        if folder is None:
            yield None
            return
        with self._guarded():
            searcher = index.open_dir(str(folder)).searcher()
            found = Likeness(searcher)
        try:
            yield found
        finally:
            searcher.close()


@dataclass(slots=True, eq=False)
class _Reading:
    """A searcher and what this process has learnt about its snapshot."""

    folder: Path
    searcher: Searcher
    _sections: list[str] | None = None
    _published: list[Any] | None = None
    _filters: dict[tuple, frozenset[int]] = field(default_factory=dict)
    _norms: dict[str, array] = field(default_factory=dict)

    def sections(self) -> list[str]:
        if self._sections is None:
            self._sections = list(self.searcher.reader().column_reader("section"))
        return self._sections

    def published(self) -> list[Any]:
        if self._published is None:
            self._published = list(self.searcher.reader().column_reader("published"))
        return self._published

    def docs(self, key: tuple, make: Callable[[], query.Query]) -> frozenset[int]:
        if key not in self._filters:
            if len(self._filters) > 256:
                self._filters.clear()
            self._filters[key] = frozenset(self.searcher.docs_for_query(make()))
        return self._filters[key]

    def run(
        self,
        parsed: query.Query,
        request: SearchRequest,
        results: SearchResults,
        size: int,
        bodies: Callable[[list[str]], dict[str, str]],
    ) -> None:
        """Fill results with the total, section facets and one page of hits."""
        narrowings = self._narrowings(request)
        # One pass over the posting lists finds every match and its score: the
        # total, the facets and the ranking all come from it.
        scores = _Ranking(self).scores(parsed)
        matched = self._narrowed(parsed, narrowings, scores)
        sections = self.sections()
        counts = Counter(sections[docnum] for docnum in matched)
        results.facets = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        matched = self._in_section(matched, request.section)
        results.total = len(matched)
        offset = (request.page - 1) * size
        if offset >= results.total:
            return
        if request.sort in ("newest", "oldest"):
            published = self.published()
            pick = heapq.nlargest if request.sort == "newest" else heapq.nsmallest
            # Date order needs no scoring: the published column decides.
            ordered = pick(offset + size, matched, key=lambda d: (published[d], d))
            docnums = ordered[offset:]
        elif scores is not None:
            # Whoosh's order: the higher score first, then the lower number.
            ranked = heapq.nsmallest(
                offset + size, matched, key=lambda d: (-scores[d], d)
            )
            docnums = ranked[offset:]
        else:
            narrowed = bool(request.section or narrowings)
            hits = self.searcher.search(
                parsed, limit=offset + size, filter=matched if narrowed else None
            )
            docnums = [hit.docnum for hit in hits[offset : offset + size]]
        ids = [self.searcher.stored_fields(docnum)["id"] for docnum in docnums]
        texts = bodies(ids)
        terms = self._highlight_terms(parsed)
        results.hits = [SearchHit(i, _snippet(texts.get(i, ""), terms)) for i in ids]

    def norms(self, fieldname: str) -> array:
        """Return each document's length part of BM25F's denominator in a field,
        by document number, from the field's length column (one byte a document).
        """
        if fieldname not in self._norms:
            searcher = self.searcher
            k1, b = searcher.weighting.K1, searcher.weighting.B
            average = searcher.avg_field_length(fieldname) or 1
            # whoosh.scoring.bm25's arithmetic, once for each of the 256 lengths.
            by_byte = [
                k1 * ((1 - b) + b * byte_to_length(n) / average) for n in range(256)
            ]
            norms = array("d")
            for leaf, _ in searcher.reader().leaf_readers():
                # whoosh3 3.54's length column, read whole (pinned exactly).
                name = f"_{fieldname}_len"
                raw = b""
                if leaf._perdoc.has_column(name):
                    column = leaf._perdoc.column_reader(name, LENGTHS_COLUMN)
                    raw = column._dbfile.get(column._basepos, column._count)
                norms.extend(by_byte[n] for n in raw)
                # The column leaves off the documents at its end with no length.
                norms.extend(by_byte[0] for _ in range(leaf.doc_count_all() - len(raw)))
            self._norms[fieldname] = norms
        return self._norms[fieldname]

    def matching(self, parsed: query.Query) -> set[int]:
        """Return the document numbers a query matches, unscored."""
        reader = self.searcher.reader()
        found = _docset(parsed, reader)
        if found is None:
            return set(self.searcher.docs_for_query(parsed))
        if reader.has_deletions():
            found = {docnum for docnum in found if not reader.is_deleted(docnum)}
        return found

    def _narrowed(
        self,
        parsed: query.Query,
        narrowings: list[frozenset[int]],
        scores: dict[int, float] | None = None,
    ) -> set[int]:
        matched = set(scores) if scores is not None else self.matching(parsed)
        for narrowing in narrowings:
            matched &= narrowing
        return matched

    def _in_section(self, matched: set[int], section: str | None) -> set[int]:
        if not section:
            return matched
        sections = self.sections()
        return {docnum for docnum in matched if sections[docnum] == section}

    def _narrowings(self, request: SearchRequest) -> list[frozenset[int]]:
        narrowings = []
        if request.date_from or request.date_to:
            start = _utc(request.date_from) if request.date_from else None
            end = _utc(request.date_to) if request.date_to else None
            narrowings.append(
                self.docs(
                    ("dates", start, end),
                    lambda: query.DateRange("published", start, end),
                )
            )
        if request.byline:
            words = re.findall(r"\w+", request.byline.lower())
            if words:
                narrowings.append(
                    self.docs(
                        ("byline", *words),
                        lambda: query.And([query.Term("byline", w) for w in words]),
                    )
                )
        return narrowings

    def _highlight_terms(self, parsed: query.Query) -> frozenset[str]:
        reader = self.searcher.reader()
        # iter_all_terms names every plain and phrase term; existing_terms adds the
        # words that prefix and wildcard queries expand to.
        pairs = [
            *parsed.iter_all_terms(phrases=True),
            *parsed.existing_terms(reader, phrases=True, expand=True),
        ]
        return frozenset(
            text.decode("utf-8") if isinstance(text, bytes) else text
            for fieldname, text in pairs
            if fieldname in DEFAULT_FIELDS
        )

    def did_you_mean(self, text: str, request: SearchRequest, found: int) -> str | None:
        """Return the query with rare words respelt if that finds more, else None."""
        reader = self.searcher.reader()
        corrector = self.searcher.corrector("headline")
        corrected = text
        words = _WORD.findall(_FIELD_PREFIX.sub(" ", text))
        for word in dict.fromkeys(words):
            frequency = self._frequency(reader, word)
            if frequency >= RARE_WORD or not _stems(word):
                continue
            # Few misspellings get the first two letters wrong, and trusting them
            # makes the lookup five to ten times faster.
            prefix = 2 if len(word) > 3 else 1
            fixes = corrector.suggest(word.lower(), limit=3, maxdist=2, prefix=prefix)
            if not fixes:
                continue
            frequencies = {fix: self._frequency(reader, fix) for fix in fixes}
            fix = max(fixes, key=frequencies.__getitem__)
            # A misspelling that is itself in the archive a few times still deserves
            # a correction if the right spelling is far commoner.
            if frequencies[fix] >= (10 * frequency or 1):
                pattern = rf"\b{re.escape(word)}\b(?!:)"
                corrected = re.sub(pattern, fix, corrected, count=1)
        if corrected == text:
            return None
        # Compared with what the reader sees: the same filters and section.
        better = self._narrowed(parse(corrected)[0], self._narrowings(request))
        better = self._in_section(better, request.section)
        return corrected if len(better) > found else None

    @staticmethod
    def _frequency(reader: Any, word: str) -> int:
        return max(
            (
                reader.doc_frequency(name, stem)
                for stem in _stems(word)
                for name in ("body", "headline")
            ),
            default=0,
        )


@dataclass(frozen=True, slots=True)
class _TermScores:
    """A term's postings scored by BM25F: the best few by document, and all of
    them by document number (empty when the best few are all of them)."""

    top: dict[int, float]
    docnums: array
    scores: array

    def score(self, docnum: int) -> float:
        found = self.top.get(docnum)
        if found is not None or not self.docnums:
            return found or 0.0
        at = bisect_left(self.docnums, docnum)
        found = at < len(self.docnums) and self.docnums[at] == docnum
        return self.scores[at] if found else 0.0


_NONE = array("l")


class _Bo1Part(dict):
    """One part of each term's Bo1 weight (`part` 0: what its count multiplies;
    1: what is added), worked out on first sight by `weigh`: looked up through
    map, in C. A term no body holds weighs (0, -1): below every other."""

    def __init__(
        self, weigh: Callable[[str], tuple[float, float] | None], part: int
    ) -> None:
        super().__init__()
        self._weigh = weigh
        self._part = part

    def __missing__(self, term: str) -> float:
        weight = self[term] = (self._weigh(term) or (0.0, -1.0))[self._part]
        return weight


class Likeness:
    """Find the articles most like others in one snapshot of the index, many at a
    time: each term's postings are read and scored once for all of them."""

    def __init__(self, searcher: Searcher) -> None:
        self._searcher = searcher
        self._reader = searcher.reader()
        self._leaves = self._reader.leaf_readers()
        self._documents = self._reader.doc_count_all()
        self._average_length = searcher.avg_field_length("body") or 1
        self._docnums = {
            fields["id"]: docnum for docnum, fields in self._reader.iter_docs()
        }
        self._ids = {docnum: i for i, docnum in self._docnums.items()}
        # Each body term's total count and document count, and its information in
        # each segment, read in one pass: a lookup per term costs a hundred times
        # more (and looking a term up again to read it, half its reading).
        self._statistics: dict[str, list] = {}
        decode = SCHEMA["body"].from_bytes
        for number, (leaf, _) in enumerate(self._leaves):
            for term, info in leaf.iter_field("body"):
                counted = self._statistics.setdefault(decode(term), [0.0, 0])
                counted[0] += info.weight()
                counted[1] += info.doc_frequency()
                counted.append((number, info))
        self._multiplied = _Bo1Part(self._bo1, 0)
        self._added = _Bo1Part(self._bo1, 1)
        self._terms: dict[str, _TermScores] = {}
        self._body_lengths: list[float] | None = None

    def like(self, article_id: str, text: str, limit: int) -> list[str]:
        """Return ids of the articles whose bodies are most like `text` (the
        article's headline, standfirst and body), best first."""
        docnum = self._docnums.get(article_id)
        terms = self._key_terms(text)
        if docnum is None or not terms:
            return []
        scored = [(weight, self._term(term)) for term, weight in terms]
        forward: dict[int, float] = {}
        get = forward.get
        for weight, term in scored:
            for other, score in term.top.items():
                forward[other] = get(other, 0.0) + weight * score
        forward.pop(docnum, None)
        # Terms whose best few are not all their postings: a candidate missing
        # from their best few may still score there.
        partial = [term for _, term in scored if term.docnums]
        if not partial:
            # Every score is in forward already, added in the terms' order.
            ranked = sorted((-total, other) for other, total in forward.items())
            return [self._ids[other] for _, other in ranked[:limit]]
        # A stable sort keeps the first put forward first among equals.
        drawn = sorted(forward.items(), key=itemgetter(1), reverse=True)
        ranked = []
        for other, total in drawn[:LIKE_RESCORED]:
            if any(other not in term.top for term in partial):
                # The exact score: each term's score (0 where it is absent),
                # weighed and added up in the terms' order.
                total = 0.0
                for weight, term in scored:
                    found = term.top.get(other)
                    if found is None:
                        found = term.score(other) if term.docnums else 0.0
                    total += weight * found
            ranked.append((-total, other))
        # Ties go to the earlier document, as in Whoosh's own ranking.
        ranked.sort()
        return [self._ids[other] for _, other in ranked[:limit]]

    def _key_terms(self, text: str) -> list[tuple[str, float]]:
        """Return the key terms of a text and their weights (the best is 1), as
        Whoosh's Expander with the Bo1 model chooses them.

        The same tokens, stop words and stems as SCHEMA's body analyzer, several
        times faster for not making a Token of each word (term_positions' way).
        """
        counts = Counter(map(_TERM_OF.__getitem__, _words(text)))
        counts.pop(None, None)
        # Each term's weight, count * multiplied + added, in C.
        scores = list(
            map(
                add,
                map(mul, counts.values(), map(self._multiplied.__getitem__, counts)),
                map(self._added.__getitem__, counts),
            )
        )
        # The fifth best score, found among floats alone, admits the few terms
        # that sorting by score and then term (as the Expander does) ranks.
        least = max(heapq.nlargest(LIKE_TERMS, scores or [0.0])[-1], 0.0)
        admitted = compress(
            zip(scores, counts, strict=True), map(ge, scores, repeat(least))
        )
        best = sorted((-score, term) for score, term in admitted)[:LIKE_TERMS]
        # (None when no body holds any of the text's terms.)
        return [(term, score / best[0][0]) for score, term in best]

    def _bo1(self, term: str) -> tuple[float, float] | None:
        """Return a term's Bo1 weight, as (what its count multiplies, what is
        added), or None for a term no body holds."""
        entry = self._statistics.get(term)
        if entry is None or not entry[0]:
            return None
        share = entry[0] / self._documents
        # Whoosh's Bo1Model.score(), split into the part a term's count multiplies.
        return math.log((1.0 + share) / share, 2), math.log(1.0 + share, 2)

    def _term(self, term: str) -> _TermScores:
        found = self._terms.get(term)
        if found is not None:
            return found
        entry = self._statistics[term]
        # Whoosh's WeightingModel.idf(), from the counts read already.
        idf = math.log(self._documents / (entry[1] + 1)) + 1
        saturation = self._searcher.weighting.K1 + 1
        lengths = self._lengths()
        docnums: list[int] = []
        scores: list[float] = []
        for number, where in entry[2:]:
            leaf, offset = self._leaves[number]
            deleted = leaf.is_deleted if leaf.has_deletions() else None
            for ids, weights, _ in self._postings(leaf, where):
                if deleted is not None:
                    live = [at for at, d in enumerate(ids) if not deleted(d)]
                    ids = [ids[at] for at in live]
                    weights = [weights[at] for at in live]
                if offset:
                    ids = [d + offset for d in ids]
                docnums.extend(ids)
                # whoosh.scoring.bm25's arithmetic: ties stay ties.
                scores.extend(
                    [
                        idf * ((tf * saturation) / (tf + lengths[d]))
                        for d, tf in zip(ids, weights, strict=True)
                    ]
                )
        if len(docnums) <= LIKE_DEPTH:
            # Rare terms, most key terms: the best few are all of them.
            found = _TermScores(dict(zip(docnums, scores, strict=True)), _NONE, _NONE)
        else:
            best = heapq.nlargest(
                LIKE_DEPTH, zip(docnums, scores, strict=True), key=itemgetter(1)
            )
            found = _TermScores(dict(best), array("l", docnums), array("d", scores))
        self._terms[term] = found
        return found

    @staticmethod
    def _postings(leaf: Any, info: Any) -> Iterable[tuple[Sequence, Sequence, Any]]:
        """Yield a term's postings in a segment as _blocks does, from its term
        information (whoosh3 3.54's W3TermInfo, kept by the statistics pass).

        Most key terms are rare: where a term is in one document, or in two once
        each, its first and last document and its total count say it all.
        """
        frequency = info.doc_frequency()
        if frequency == 1:
            yield (info.min_id(),), (info.weight(),), ()
        elif frequency == 2 and info.weight() == 2.0:
            yield (info.min_id(), info.max_id()), (1.0, 1.0), ()
        else:
            terms = leaf._terms
            body = leaf.schema["body"].format
            if info.is_inlined():
                matcher = terms._codec.postings_reader(terms._postfile, info, body)
                yield from _blocks(matcher)
                return
            matcher = W3LeafMatcher(terms._postfile, *info.extent(), body)
            # _blocks' way, with the document numbers' deltas added up in C.
            while matcher.is_active():
                matcher._read_data()
                ids, weights = matcher._data[0], matcher._data[1]
                size = matcher._blocklength
                if weights is None or isinstance(weights, float):
                    weights = [weights or 1.0] * size
                yield list(accumulate(ids)), weights, ()
                matcher._i = size - 1
                matcher.next()

    def _lengths(self) -> list[float]:
        """Return each document's body length as BM25F weighs it (K1 included)."""
        if self._body_lengths is None:
            length = self._reader.doc_field_length
            b, k1 = self._searcher.weighting.B, self._searcher.weighting.K1
            self._body_lengths = [
                k1 * ((1 - b) + b * length(docnum, "body", 0) / self._average_length)
                for docnum in range(self._documents)
            ]
        return self._body_lengths


def _blocks(
    postings: Any, values: bool = False
) -> Iterator[tuple[Sequence[int], Sequence[float], Sequence[Any]]]:
    """Yield the (document numbers, weights, raw values) of a segment's postings,
    a block at a time: about twice as fast as a posting at a time. The values
    (encoded positions) are read only when asked for.

    Whoosh reads whole blocks but hands them out one posting at a time; the block
    attributes used here are whoosh3 3.54's (pinned exactly in pyproject.toml).
    """
    if not hasattr(postings, "_read_ids"):
        ids, weights, raw = [], [], []
        while postings.is_active():
            ids.append(postings.id())
            weights.append(postings.weight())
            raw.append(postings.value() if values else None)
            postings.next()
        yield ids, weights, raw
        return
    while postings.is_active():
        postings._read_ids()
        postings._read_weights()
        if values:
            postings._read_values()
        yield postings._ids, postings._weights, postings._values if values else ()
        postings._i = postings._blocklength - 1
        postings.next()


@dataclass(slots=True)
class _Postings:
    """One term's postings in a snapshot, live documents only, by document number."""

    docnums: list[int]
    weights: list[float]
    # The raw value of each posting (its encoded positions), read for phrases.
    values: list[bytes] | None


class _Ranking:
    """Every document a query matches, with Whoosh's BM25F score for it.

    Whoosh walks a query's matchers one document at a time in Python, and a page
    with an exact total walks them twice (to count, then to rank), checking a
    phrase's positions in every document both times. This reads each term's
    posting list whole, a block at a time, and adds up the same arithmetic per
    document in dicts, so the same documents come out in the same order; the
    total, facets and ranking then all come from one pass.
    """

    def __init__(self, reading: _Reading) -> None:
        self._reading = reading
        self._searcher = reading.searcher
        self._reader = reading.searcher.reader()
        self._postings: dict[tuple[str, str], _Postings] = {}

    def scores(self, parsed: query.Query) -> dict[int, float] | None:
        """Return {document number: score} for every match, or None when the
        query has a part this does not evaluate (Whoosh's matchers do those)."""
        try:
            return self._scores(parsed)
        except _Unranked:
            return None

    def _scores(self, parsed: query.Query) -> dict[int, float]:
        if isinstance(parsed, query.Term):
            scored = self._term(parsed.fieldname, parsed.text)
        elif isinstance(parsed, query.Phrase):
            scored = self._phrase(parsed)
        elif isinstance(parsed, query.AndNot):
            scored = self._scores(parsed.a)
            for docnum in self._docs(parsed.b):
                scored.pop(docnum, None)
        elif type(parsed) in (query.And, query.Or):
            scored = self._compound(parsed)
        else:
            raise _Unranked
        if parsed.boost != 1.0:
            # Whoosh's WrappingMatcher multiplies a boosted part's score.
            boost = parsed.boost
            scored = {docnum: score * boost for docnum, score in scored.items()}
        return scored

    def _compound(self, parsed: query.And | query.Or) -> dict[int, float]:
        excluded = [sub for sub in parsed.subqueries if isinstance(sub, query.Not)]
        if excluded and isinstance(parsed, query.Or):
            raise _Unranked
        parts = [
            self._scores(sub)
            for sub in parsed.subqueries
            if not isinstance(sub, query.Not)
        ]
        if not parts:
            raise _Unranked
        if isinstance(parsed, query.Or):
            scored: dict[int, float] = {}
            for part in parts:
                for docnum, score in part.items():
                    scored[docnum] = scored.get(docnum, 0.0) + score
        else:
            common = set(min(parts, key=len)).intersection(*parts)
            scored = {docnum: sum(part[docnum] for part in parts) for docnum in common}
        for sub in excluded:
            for docnum in self._docs(sub.query):
                scored.pop(docnum, None)
            # Whoosh scores the documents a Not lets through as 1 (its
            # InverseMatcher's weight), which its And adds up with the rest.
            for docnum in scored:
                scored[docnum] += 1.0
        return scored

    def _docs(self, parsed: query.Query) -> Iterable[int]:
        """Return the documents an excluded part matches (its scores go unused)."""
        found = _docset(parsed, self._reader)
        if found is None:
            return self._searcher.docs_for_query(parsed)
        return found

    def _read(self, fieldname: str, text: str, values: bool = False) -> _Postings:
        key = (fieldname, text)
        known = self._postings.get(key)
        if known is not None and (known.values is not None or not values):
            return known
        docnums: list[int] = []
        weights: list[float] = []
        raw: list[bytes] | None = [] if values else None
        for leaf, offset in self._reader.leaf_readers():
            try:
                postings = leaf.postings(fieldname, text)
            except TermNotFound:
                continue
            deleted = leaf.is_deleted if leaf.has_deletions() else None
            for ids, block_weights, block_values in _blocks(postings, values):
                if deleted is None:
                    docnums.extend(
                        [docnum + offset for docnum in ids] if offset else ids
                    )
                    weights.extend(block_weights)
                    if raw is not None:
                        raw.extend(block_values)
                    continue
                for at, docnum in enumerate(ids):
                    if not deleted(docnum):
                        docnums.append(docnum + offset)
                        weights.append(block_weights[at])
                        if raw is not None:
                            raw.append(block_values[at])
        self._postings[key] = found = _Postings(docnums, weights, raw)
        return found

    def _term(
        self, fieldname: str, text: str, positions: bool = False
    ) -> dict[int, float]:
        if fieldname not in self._searcher.schema:
            return {}
        if not self._searcher.schema[fieldname].scorable:
            raise _Unranked
        if (fieldname, text) not in self._reader:
            return {}
        postings = self._read(fieldname, text, positions)
        idf = self._searcher.idf(fieldname, text)
        saturation = self._searcher.weighting.K1 + 1
        norms = self._reading.norms(fieldname)
        # whoosh.scoring.bm25's arithmetic, term for term: ties stay ties.
        return {
            docnum: idf * ((tf * saturation) / (tf + norms[docnum]))
            for docnum, tf in zip(postings.docnums, postings.weights, strict=True)
        }

    def _phrase(self, parsed: query.Phrase) -> dict[int, float]:
        """Score a phrase as Whoosh does (the sum of its words' scores) in the
        documents where its words stand in order, next to each other."""
        fieldname, words = parsed.fieldname, parsed.words
        field_type = (
            self._searcher.schema[fieldname]
            if fieldname in self._searcher.schema
            else None
        )
        if (
            parsed.slop != 1
            or field_type is None
            or not field_type.format.supports("positions")
        ):
            raise _Unranked
        words = list(words)
        if not words or any((fieldname, word) not in self._reader for word in words):
            return {}
        term_scores = [self._term(fieldname, word, positions=True) for word in words]
        candidates = set(min(term_scores, key=len)).intersection(*term_scores)
        if len(words) > 1 and candidates:
            candidates = self._in_order(fieldname, words, candidates)
        return {
            docnum: sum(scores[docnum] for scores in term_scores)
            for docnum in candidates
        }

    def _in_order(
        self, fieldname: str, words: list[str], candidates: set[int]
    ) -> set[int]:
        decode = self._searcher.schema[fieldname].format.decode_positions
        # Start from the rarest word: each further word keeps only the documents
        # (and starting positions) where it follows on.
        order = sorted(
            range(len(words)),
            key=lambda i: len(self._read(fieldname, words[i]).docnums),
        )
        starts: dict[int, set[int]] | None = None
        for i in order:
            postings = self._read(fieldname, words[i], values=True)
            assert postings.values is not None
            wanted = candidates if starts is None else starts
            found: dict[int, set[int]] = {}
            for docnum, value in zip(postings.docnums, postings.values, strict=True):
                if docnum not in wanted:
                    continue
                shifted = {position - i for position in decode(value)}
                if starts is not None:
                    shifted &= starts[docnum]
                if shifted:
                    found[docnum] = shifted
            starts = found
            if not starts:
                break
        return set(starts or ())


class _Unranked(Exception):
    """A query part that _Ranking leaves to Whoosh's matchers."""


def _docset(parsed: query.Query, reader: Any) -> set[int] | None:
    """Evaluate plain term logic from posting lists as sets; None for anything else.

    Whoosh's matchers walk And/Or trees one document at a time in Python; reading
    each term's posting list whole and combining sets is several times faster for
    the counts and facets of a page. Phrases and wildcards go the matcher way.
    """
    if isinstance(parsed, query.Term):
        key = (parsed.fieldname, parsed.text)
        return set(reader.postings(*key).all_ids()) if key in reader else set()
    if isinstance(parsed, query.AndNot):
        positive = _docset(parsed.a, reader)
        negative = _docset(parsed.b, reader)
        return None if positive is None or negative is None else positive - negative
    if isinstance(parsed, query.And | query.Or):
        parts = [_docset(sub, reader) for sub in parsed.subqueries]
        if any(part is None for part in parts):
            return None
        if isinstance(parsed, query.Or):
            return set().union(*parts)
        parts.sort(key=len)
        return parts[0].intersection(*parts[1:]) if parts else set()
    return None


def _snippet(text: str, terms: frozenset[str]) -> Markup | None:
    """Return the passage of text that best shows the terms, matches in <mark>.

    The same passage and marks as Whoosh's highlight() with a ContextFragmenter
    of SNIPPET_CHARS and 60 characters of context, which analyses the whole text
    again through the field's analyzer, Token objects and filter chain: here one
    compiled pattern finds the words and a cache holds each word's indexed form.
    """
    if not text or not terms:
        return None
    best: tuple[int, int, int, list[tuple[int, int, str]]] | None = None
    for fragment in _fragments(text, terms):
        start, _, matches = fragment
        # Whoosh's BasicFragmentScorer: matches times distinct terms matched;
        # of equal fragments, nlargest keeps the last.
        score = len(matches) * (len({form for _, _, form in matches}) * 100 or 1)
        if best is None or (score, start) > best[:2]:
            best = (score, start, fragment[1], matches)
    if best is None:
        return None
    _, start, end, matches = best
    out = []
    at = start
    for first, last, _ in matches:
        if first < at:
            continue
        out.append(str(escape(text[at:first])))
        out.append(f"<mark>{escape(text[first:last])}</mark>")
        at = last
    out.append(str(escape(text[at:end])))
    # Every character of article text is escaped above.
    return Markup("".join(out))


SNIPPET_SURROUND = 60
# Whoosh's highlighter reads no further into a text than this.
SNIPPET_CHARLIMIT = highlight.DEFAULT_CHARLIMIT


def _fragments(
    text: str, terms: frozenset[str]
) -> Iterator[tuple[int, int, list[tuple[int, int, str]]]]:
    """Yield (start, end, matches) of each passage Whoosh's ContextFragmenter
    would cut from text; a match is (start, end, indexed form).

    Whoosh steps through every token in Python; the regular expression finds
    them all at once, and Python steps only through the few near a match.
    Outside a passage a token matters only as context for the next one: the
    passage starts at the first token that ends no more than `surround` before
    the next match's preceding token, which a bisection finds.
    """
    maxchars, surround = SNIPPET_CHARS, SNIPPET_SURROUND
    # Only the tokens up to the limit count, and the one that crosses it.
    reach = min(len(text), SNIPPET_CHARLIMIT + SNIPPET_CHARS)
    spans = [token.span() for token in _TOKEN.finditer(text, 0, reach)]
    if not spans:
        return
    if spans[-1][1] == reach < len(text):
        # The last token may go on past where the search stopped.
        spans[-1] = _TOKEN.match(text, spans[-1][0]).span()  # type: ignore[union-attr]
    starts = [start for start, _ in spans]
    ends = [end for _, end in spans]
    # Whoosh stops at the first token that ends past its limit, but the end of
    # that token still closes a passage left open.
    cut = bisect_right(ends, SNIPPET_CHARLIMIT)
    last_end = ends[cut] if cut < len(ends) else ends[-1]
    lowered = text[:reach].lower()
    if len(lowered) == reach:
        words = [lowered[start:end] for start, end in spans[:cut]]
    else:  # a letter whose lower case is longer: lower each word on its own
        words = [text[start:end].lower() for start, end in spans[:cut]]
    matching = {word for word in set(words) if _indexed_form(word) in terms}
    if not matching:
        return
    hits = [at for at, word in enumerate(words) if word in matching]
    closed = -1  # the token that ended the last passage
    swallow = False
    for hit in hits:
        if hit <= closed:
            continue
        if swallow and hit > closed + 1:
            # A passage whose countdown ran out exactly leaves Whoosh "inside"
            # for one more token, which it closes as an empty passage.
            closed += 1
        swallow = False
        if ends[hit] - starts[hit] > maxchars:
            # Too long to fit: Whoosh closes an empty passage on it.
            closed = hit
            continue
        countdown = surround
        context = bisect_left(starts, ends[hit - 1] - surround, closed + 1, hit)
        if hit - 1 > closed and context < hit:
            first = starts[context]
        else:
            first = starts[hit]
            countdown += surround
        matches = [(starts[hit], ends[hit], _indexed_form(words[hit]))]
        length = ends[hit] - starts[hit]
        countdown -= length
        at = hit
        while countdown > 0:
            at += 1
            if at >= cut:
                yield first, last_end, matches
                return
            size = ends[at] - starts[at]
            if length + size > maxchars:
                countdown = 0
            elif words[at] in matching:
                countdown = surround
                matches.append((starts[at], ends[at], _indexed_form(words[at])))
            length += size
            countdown -= size
        yield first, ends[at], matches
        closed = at
        swallow = countdown == 0


@lru_cache(maxsize=65536)
def _indexed_form(word: str) -> str:
    """Return a word as the stemming analyzer indexes it, stop words kept (as
    Whoosh's highlighter sees them): lower case, then stemmed unless a stop word
    or a single letter."""
    word = word.lower()
    return word if len(word) < 2 or word in STOP_WORDS else stem(word)


# A term's postings: (fieldname, term bytes, document numbers, weights, values).
_TermPostings = tuple[
    str, bytes, Sequence[int], Sequence[float], Sequence[bytes | None]
]


class _TermPool(PostingPool):
    """Whoosh's posting pool, holding postings by term in lists.

    Whoosh's pool keeps a tuple per posting, sorts them all, and past its size
    pickles sorted runs to disk and merges them back at the commit: with a pool
    of 32 MB that was a third of index writing. Kept by term, half the demo
    archive's postings fit in one writer's 128 MB (about 150 MiB of memory) and
    come out in order from one sort of the terms. Past `limitmb` (counted as this
    pool holds them) they still go to runs on disk, through Whoosh's code.

    A term's postings are three lists (document numbers, weights, values) rather
    than arrays: appending to a list stores a reference, and a writer's document
    number, the weight 1.0 and most values (one position: see _ALONE) are the same
    objects from posting to posting, so lists take no more room and less time.
    """

    def __init__(self, tempstore: Any, segment: Any, limitmb: int = 128) -> None:
        super().__init__(tempstore, segment, limitmb=limitmb)
        # (fieldname, term bytes) -> [document numbers, weights, values (bytes or
        # None), whether the numbers came in rising order]
        self._terms: dict[tuple[str, bytes], list] = {}
        # The same for the stemmed text fields, by field and term (add_text).
        self._texts: dict[str, dict[str, list]] = {}
        self._held = 0

    def add_text(self, fieldname: str, docnum: int, text: str) -> tuple[int, bytes]:
        """Hold the postings of a _StemmedText field's text in one document, as
        `add` would each of what the field's `index` yields; return the field's
        length and the value of its last posting (b"" when it has none).

        Half a writer's postings are its bodies': held here without a tuple, a
        call and a term encoded for each (terms are encoded once, when written).
        """
        by_term = self._texts.get(fieldname)
        if by_term is None:
            by_term = self._texts[fieldname] = {}
            self.fieldnames.add(fieldname)
        alone = _ALONE
        length = held = 0
        encoded = b""
        for term, places in term_positions(text).items():
            count = len(places)
            if count == 1:
                weight = 1.0
                encoded = alone.get(places[0]) or alone.setdefault(
                    places[0], _encoded(places)
                )
            else:
                weight = float(count)
                encoded = _encoded(places)
            length += count
            postings = by_term.get(term)
            if postings is None:
                by_term[term] = [[docnum], [weight], [encoded], True]
                held += 400 + len(term)
            else:
                postings[0].append(docnum)
                postings[1].append(weight)
                postings[2].append(encoded)
            # A list slot each; a value of several positions and its weight are
            # objects of their own (one position's are shared: _ALONE, 1.0).
            held += 24 if count == 1 else 81 + len(encoded)
        self._held += held
        if self._held > self.limit:
            self.save()
        return length, encoded

    def _gather(self) -> None:
        """Put what add_text holds with what add does, keyed as add keys it."""
        terms = self._terms
        for fieldname, by_term in self._texts.items():
            for term, postings in by_term.items():
                key = (fieldname, term.encode("utf-8"))
                known = terms.get(key)
                if known is None:
                    terms[key] = postings
                    continue
                # Both ways for one field (not in a build): put in order when read.
                for held, more in zip(known[:3], postings[:3], strict=True):
                    held.extend(more)
                known[3] = False
        self._texts = {}

    def add(self, item: tuple) -> None:
        fieldname, btext, docnum, weight, value = item
        key = (fieldname, btext)
        postings = self._terms.get(key)
        if postings is None:
            self.fieldnames.add(fieldname)
            self._terms[key] = [[docnum], [weight], [value or None], True]
            self._held += 400 + len(btext)
        else:
            if postings[3] and docnum <= postings[0][-1]:
                postings[3] = False  # a spelling word's postings, all document 0
            postings[0].append(docnum)
            postings[1].append(weight)
            postings[2].append(value or None)
        self._held += 24 + len(value or b"")
        if self._held > self.limit:
            self.save()

    def _taken(self) -> Iterator[tuple[str, bytes, list, list, list, bool]]:
        """Take out every term's postings, in the order of their keys."""
        self._gather()
        terms, self._terms, self._held = self._terms, {}, 0
        for key in sorted(terms):
            docnums, weights, values, in_order = terms.pop(key)
            yield key[0], key[1], docnums, weights, values, in_order

    def _sorted(self) -> Iterator[tuple]:
        for fieldname, btext, docnums, weights, values, in_order in self._taken():
            postings = [
                (fieldname, btext, docnum, weight, value)
                for docnum, weight, value in zip(docnums, weights, values, strict=True)
            ]
            if not in_order:
                postings.sort()
            yield from postings

    def terms(self) -> Iterator[_TermPostings]:
        """Take out each term's postings in order, as (fieldname, term bytes,
        document numbers, weights, values (None for none)): what `_sorted` yields
        a posting at a time, for a pool that spilled no runs."""
        for fieldname, btext, docnums, weights, values, in_order in self._taken():
            if in_order:
                yield fieldname, btext, docnums, weights, values
                continue
            postings = sorted(zip(docnums, weights, values, strict=True))
            yield fieldname, btext, *zip(*postings, strict=True)  # type: ignore[misc]

    def save(self) -> None:
        # Whoosh's own spilling: everything held goes to one sorted run on disk.
        self.current.extend(self._sorted())
        super().save()

    def items(self, maxfiles: int = 128) -> Iterator[tuple]:  # type: ignore[override]
        if not self.runs:
            return self._sorted()
        self.save()
        return super().items(maxfiles)


class _Lengths:
    """Each document's field lengths in a new segment, read once per field.

    Whoosh's field writer asks for the length of a posting's document once per
    posting, through a column reader (a tenth of the commit); a list read once
    per field answers the same (length_to_byte's rounding included).
    """

    def __init__(self, perdoc: Any, documents: int) -> None:
        self._perdoc = perdoc
        self._documents = documents

    def doc_field_length_reader(
        self, fieldname: str, default: int = 0
    ) -> Callable[[int], int | None]:
        column = self._perdoc._cached_reader(f"_{fieldname}_len", LENGTHS_COLUMN)
        if column is None:
            return lambda docnum: default
        by_byte = [byte_to_length(n) if n else None for n in range(256)]
        lengths = [by_byte[column[docnum]] for docnum in range(self._documents)]
        return lengths.__getitem__


class _Writer(SegmentWriter):
    """Whoosh's segment writer with the term-keyed pool and lengths read once."""

    def __init__(self, ix: Any, **kwargs: Any) -> None:
        super().__init__(ix, **kwargs)
        self.pool = _TermPool(
            self._tempstorage, self.newsegment, limitmb=kwargs.get("limitmb", 128)
        )
        self._vectors = any(field.vector for _, field in self.schema.items())

    def add_document(self, **fields: Any) -> None:
        """SegmentWriter.add_document, the stemmed text fields' postings held a
        field at a time (_TermPool.add_text) and their spelling words found by
        the same regular expression, instead of through a Token stream each.

        A document that names a boost or a stored value of its own goes through
        Whoosh's way, as does every document of a schema that keeps vectors.
        """
        if self._vectors or any(name.startswith("_") for name in fields):
            super().add_document(**fields)
            return
        self._check_state()
        perdoc = self.perdocwriter
        schema = self.schema
        docnum = self.docnum
        pool = self.pool
        names = sorted(fields)
        self._check_fields(schema, names)
        perdoc.start_doc(docnum)
        # As in Whoosh, a field's spelling words take the value of the last
        # posting made before them (whatever field it was of).
        vbytes = None
        try:
            for fieldname in names:
                value = fields[fieldname]
                if value is None:
                    continue
                field = schema[fieldname]
                length = 0
                stemmed = type(field) is _StemmedText and isinstance(value, str)
                if stemmed and field.format.field_boost == 1.0:
                    length, last = pool.add_text(fieldname, docnum, value)
                    vbytes = last or vbytes
                elif field.indexed:
                    scorable = field.scorable
                    for tbytes, freq, weight, vbytes in field.index(value):
                        if scorable:
                            length += freq
                        pool.add((fieldname, tbytes, docnum, weight * 1.0, vbytes))
                if field.separate_spelling():
                    spelling = field.spelling_fieldname(fieldname)
                    words = (
                        _spelling(value) if stemmed else field.spellable_words(value)
                    )
                    for word in words:
                        pool.add((spelling, word.encode("utf-8"), 0, 1, vbytes))
                stored = value if field.stored else None
                perdoc.add_field(fieldname, field, stored, length)
                column = field.column_type
                if column:
                    column_value = field.to_column_value(value)
                    perdoc.add_column_value(fieldname, column, column_value)
        except ValueError:
            perdoc.cancel_doc()
            raise
        perdoc.finish_doc()
        self._added = True
        self.docnum += 1

    def _flush_segment(self) -> None:
        # SegmentWriter._flush_segment, with _Lengths for the per-document reader.
        self.perdocwriter.close()
        perdoc = self.per_document_reader()
        try:
            lengths = _Lengths(perdoc, self.get_segment().doc_count_all())
            if self.pool.runs or type(self.fieldwriter) is not W3FieldWriter:
                postings = self.pool.iter_postings()
                self.fieldwriter.add_postings(self.schema, lengths, postings)
            else:
                _write_terms(self.fieldwriter, self.schema, lengths, self.pool.terms())
            self.fieldwriter.close()
        finally:
            perdoc.close()


def _write_terms(
    writer: W3FieldWriter,
    schema: Schema,
    lengths: _Lengths,
    terms: Iterable[_TermPostings],
) -> None:
    """Write postings and term records as W3FieldWriter.add_postings does, the
    same bytes, a term at a time.

    Whoosh hands the field writer one posting at a time, and each term goes through
    a dozen calls (start it, buffer and check each posting, write its blocks, make
    and pack its term information, add that to the term table): a writer's 17,000
    stories make 150,000 terms, most with one posting, and that was most of the
    commit. Here one loop does what those calls do, from the attributes of
    whoosh3 3.54 (pinned exactly in pyproject.toml): W3PostingsWriter's blocks,
    W3TermInfo's record, OrderedHashWriter's table.
    """
    postfile = writer._postfile
    table = writer._tindex
    codec = writer._codec
    limit, compression = codec._blocklimit, codec._compression
    position = postfile.tell()
    at = table.dbfile.tell()
    hashed, buckets, places = table.hashfn, table.buckets, table.index.append
    pack_lengths, pack_record = _KEY_VALUE_LENGTHS.pack, W3TermInfo._struct.pack
    last_key = table.lastkey
    field = None
    length_of: Callable[[int], int | None] = lambda docnum: 0  # noqa: E731
    fixed: int | None = None
    prefix = b""
    for fieldname, btext, docnums, weights, values in terms:
        if fieldname != field:
            if field is not None:
                writer.finish_field()
            writer.start_field(fieldname, schema[fieldname])
            length_of = lengths.doc_field_length_reader(fieldname)
            fixed = writer._format.fixed_value_size()
            prefix = pack_ushort(writer._fieldid)
            field = fieldname
        count = len(docnums)
        if count == 1:
            # Most terms: one posting, one block. What _blocks_of makes of it.
            docnum, weight, value = docnums[0], weights[0], values[0]
            single = weight if weight == 1.0 else array("f", (weight,))[0]
            heaviest = weight if weight > 0 else 0
            longest = length_of(docnum) or 0
            shortest = longest or None
            if fixed is None or fixed < 0:
                mini_values: Any = (value,) if value else ()
            else:
                mini_values = None if fixed == 0 else value or b""
            data = dumps(((docnum,), None if single == 1.0 else single, mini_values), 2)
            level = compression if len(data) >= COMPRESSION_MIN_SIZE else 0
            if level:
                data = zlib.compress(data, level)
            info = dumps(
                (
                    1,
                    docnum,
                    heaviest,
                    level,
                    length_to_byte(shortest),
                    length_to_byte(longest),
                ),
                2,
            )
            size = len(info) + len(data)
            block = b"".join((_BLOCKS_MAGIC, pack_int(-size), info, data))
            total = single
        else:
            block, total, shortest, longest, heaviest = _blocks_of(
                docnums, weights, values, length_of, fixed, limit, compression
            )
        postfile.write(block)
        # W3TermInfo.to_bytes, then the term table's row (OrderedHashWriter.add).
        record = (
            pack_record(
                False,
                total,
                count,
                0 if shortest is None else length_to_byte(shortest),
                length_to_byte(longest),
                heaviest,
                docnums[0],
                docnums[-1],
            )
            + pack_long(position)
            + pack_int(len(block))
        )
        position += len(block)
        key = prefix + btext
        if key <= last_key:
            raise ValueError(f"Keys must increase: {last_key!r}..{key!r}")
        places(at)
        row = pack_lengths(len(key), len(record)) + key + record
        table.dbfile.write(row)
        digest = hashed(key)
        buckets[digest & 255].append((digest, at))
        at += len(row)
        last_key = key
    table.lastkey = last_key
    if field is not None:
        writer.finish_field()


def _blocks_of(
    docnums: Sequence[int],
    weights: Sequence[float],
    values: Sequence[bytes | None],
    length_of: Callable[[int], int | None],
    fixed: int | None,
    limit: int,
    compression: int,
) -> tuple[bytes, float, int | None, int, float]:
    """Return a term's postings as W3PostingsWriter writes them (its header, then
    blocks of `limit`, the last one's length negative), and what W3TermInfo adds
    up of its blocks: total weight, shortest and longest length, heaviest weight."""
    written = [_BLOCKS_MAGIC]
    total: float = 0
    shortest: int | None = None
    longest: int = 0
    heaviest: float = 0
    count = len(docnums)
    for start in range(0, count, limit):
        ids = docnums[start : start + limit]
        stored = array("f", weights[start : start + limit])
        kept = [v for v in values[start : start + limit] if v]
        top = max(weights[start : start + limit])
        top = top if top > 0 else 0
        known = [n for n in map(length_of, ids) if n]
        least = min(known) if known else None
        most = max(known) if known else 0
        first = stored[0]
        if first == 1.0 and stored.count(1.0) == len(stored):
            mini_weights = None
        elif stored.count(first) == len(stored):
            mini_weights = first
        else:
            mini_weights = tuple(stored)
        if fixed is None or fixed < 0:
            mini_values: Any = tuple(kept)
        elif fixed == 0:
            mini_values = None
        else:
            mini_values = b"".join(kept)
        deltas = (ids[0], *map(minus, ids[1:], ids))
        data = dumps((deltas, mini_weights, mini_values), 2)
        level = compression if len(data) >= COMPRESSION_MIN_SIZE else 0
        if level:
            data = zlib.compress(data, level)
        info = dumps(
            (
                len(ids),
                ids[-1],
                top,
                level,
                length_to_byte(least),
                length_to_byte(most),
            ),
            2,
        )
        size = len(info) + len(data)
        written += (pack_int(size if start + limit < count else -size), info, data)
        # W3TermInfo.add_block
        total += sum(stored)
        if shortest is None:
            shortest = least
        else:
            shortest = min(shortest, least)  # type: ignore[type-var]
        longest = max(longest, most)
        heaviest = max(heaviest, top)
    return b"".join(written), total, shortest, longest, heaviest


# W3PostingsWriter's header before a term's blocks; HashWriter's row lengths.
_BLOCKS_MAGIC = WHOOSH3_HEADER_MAGIC
_KEY_VALUE_LENGTHS = struct.Struct("!ii")


class _WriterTask(SubWriterTask):
    """A process of _MpWriter: SubWriterTask.run with a _Writer, one segment each
    (multisegment)."""

    def run(self) -> None:
        ix = self.storage.open_index(self.indexname)
        writer = self.writer = _Writer(ix, _lk=False, **self.kwargs)
        while self.running:
            job = self.jobqueue.get()
            if job is None:
                break
            self._process_file(*job)
        if not self.running:
            writer.cancel()
            return
        fieldnames = writer.pool.fieldnames
        segment = writer._finalize_segment()
        self.resultqueue.put((None, fieldnames, segment), timeout=5)


class _MpWriter(MpWriter):
    """Whoosh's multiprocess writer whose processes run _WriterTask."""

    def __init__(self, ix: Any, **kwargs: Any) -> None:
        super().__init__(ix, multisegment=True, **kwargs)

    def _new_task(self) -> SubWriterTask:
        task = _WriterTask(
            self.storage,
            self.indexname,
            self.jobqueue,
            self.resultqueue,
            self.subargs,
            True,
        )
        self.tasks.append(task)
        task.start()
        return task


def _write(
    ix: index.Index, articles: Iterable[Article], fresh: bool, expected: int
) -> int:
    # Several processes pay off only for a large load into an empty index; their
    # segments are left unmerged, the fastest full build measured here.
    procs = (os.cpu_count() or 1) if fresh and expected >= PARALLEL_BUILD else 1
    try:
        # Uncompounded segments let new searchers map files instead of copying them.
        if procs > 1:
            writer = _MpWriter(
                ix, procs=procs, limitmb=POOL_MB, compound=False, timeout=WRITER_WAIT
            )
        else:
            writer = _Writer(ix, limitmb=POOL_MB, compound=False, timeout=WRITER_WAIT)
    except index.LockError:
        raise IndexBusy("another process is writing the search index") from None
    count = 0
    try:
        for article in articles:
            if fresh:
                writer.add_document(**_fields(article))
            else:
                writer.update_document(**_fields(article))
            count += 1
        writer.commit()
    except BaseException as error:
        if not writer.is_closed:
            writer.cancel()
        # What the writer had written belongs to no commit: readers never see it,
        # and it must not hold the space.
        for name in _unfinished_files(ix):
            shutil.rmtree(Path(ix.storage.folder, name), ignore_errors=True)
            Path(ix.storage.folder, name).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            raise IndexFull(
                "the disk holding the search index"
                f" ({Path(ix.storage.folder).parent}) is full"
            ) from None
        raise
    return count


def _release(error: BaseException) -> None:
    """Close what the code that failed left open, now, rather than at its collection.

    Whoosh leaves a file open when a damaged table of contents fails to unpickle;
    clearing the failed frames closes it (its ResourceWarning says only that), so a
    damaged index costs no file descriptor per query.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        traceback.clear_frames(error.__traceback__)


def _unfinished_files(ix: index.Index) -> list[str]:
    """Return the files in an index folder that its latest commit does not use."""
    segments = {segment.segment_id() for segment in ix._segments()}
    toc = f"_{ix.indexname}_{ix.latest_generation()}.toc"
    lock = f"{ix.indexname}_WRITELOCK"
    return sorted(
        name
        for name in os.listdir(ix.storage.folder)
        if name not in (toc, lock)
        and name.split(".", 1)[0] not in segments
        # Ours, beside Whoosh's files: the change it holds, or a crashed write of it.
        and not name.startswith(LAST_CHANGE)
    )


def _read_everything(reader: Any) -> None:
    """Read every term's posting list and every column: damage anywhere raises."""
    for fieldname, text in reader.all_terms():
        for _ in reader.postings(fieldname, text).all_ids():
            pass
    for name in ("section", "published"):
        list(reader.column_reader(name))
