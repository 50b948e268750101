"""Time a search results page: readerapp's ArchiveIndex against SQLite FTS5 and tantivy.

Usage:
    python bench/search_latency.py [--corpus DIR] [--work DIR] [--scale {1,10}]
                                   [--rounds R] [--http] [--reuse-index]
                                   [--recall N]

    --corpus  folder of *.jsonl files (default ../shared/corpus from the repo root)
    --work    scratch folder for the archive and the indexes (default: a temp dir)
    --scale   1 = the corpus as is; 10 = nine more copies of it made in SQL
    --rounds  timed rounds after the warm-up round (default 10 at 1x, 5 at 10x)
    --http    also time GET /api/search through the real app under waitress
              (loopback), in the same rounds as the others; its page cache is
              emptied before every round, so no timed request was answered before
    --reuse-index  keep WORK/index when it holds every article (no rebuild timed)
    --recall  how many held-out headlines to search for (default 300; 0: none)

Steps: import the corpus into WORK/archive.sqlite3 as `reader import` does (reused
when it already holds the right count), rebuild the Whoosh index in WORK/index,
build the reference engines, then run 40 fixed queries. Each round runs every
engine over every query (the engine order rotates each round); a query's figure is
its median over the rounds, and p50 / p95 / max are taken over the 40 medians, as in
/work/shared/SEARCH-NOTES.md. Ends by timing ArchiveIndex.add of 100 articles and
printing a Markdown block of every figure. Progress goes to stderr.

Recall: N articles spread evenly over the archive each have their headline's words
searched for as a reader would type them; the share found in the first ten results
is the recall@10 of held-out headlines.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from readerapp.importer import ImportFailed, Rules, import_file
from readerapp.search import ArchiveIndex, SearchRequest
from readerapp.sections import SectionMap
from readerapp.store import Store, connect, open_store

try:
    import tantivy
except ImportError:  # the tantivy reference is optional
    tantivy = None

ROOT = Path(__file__).resolve().parent.parent
PAGE = 10
SNIPPET_CHARS = 220
COPIES = 10  # --scale 10


@dataclass(frozen=True, slots=True)
class Query:
    """One benchmark query: its kind, its text, and how its page narrows or sorts."""

    kind: str
    text: str
    section: str | None = None
    sort: str = "relevance"

    def request(self) -> SearchRequest:
        """Return the SearchRequest the search page would make for this query."""
        return SearchRequest(text=self.text, section=self.section, sort=self.sort)

    def label(self) -> str:
        """Return the query as shown in the tables."""
        extra = f" [section={self.section}]" if self.section else ""
        extra += f" [sort={self.sort}]" if self.sort != "relevance" else ""
        return f"{self.text}{extra}"


# The fixed query set, 5 of each kind. Every word comes from the corpus, and its
# document frequency (df) was checked on the 1x store: the articles whose lower-cased
# headline + body_text hold the word as a whole word, before stemming (the engines'
# totals, which count stems, are in the per-query table). Multi-word queries were
# counted the same way (all words in one article; phrases verbatim). Common words
# have df > 1000, rare words df 2-10. Section and newest-first queries use common
# words, the sections being among the busiest. The misspellings drop or swap a
# letter of words with df 145-4,894; four match nothing and "goverment" is itself in
# 9 articles, so all five run "did you mean". Numbers in comments are 1x dfs.
QUERIES: list[Query] = [
    Query("common word", "government"),  # 4,894
    Query("common word", "people"),  # 4,881
    Query("common word", "market"),  # 3,410
    Query("common word", "company"),  # 6,388
    Query("common word", "country"),  # 2,582
    Query("rare word", "thallium"),  # 2
    Query("rare word", "sarajevo"),  # 3
    Query("rare word", "hypersonic"),  # 5
    Query("rare word", "kasparov"),  # 6
    Query("rare word", "schizophrenia"),  # 5
    Query("two words", "oil prices"),  # 619
    Query("two words", "police arrested"),  # 240
    Query("two words", "bank loans"),  # 465
    Query("two words", "election fraud"),  # 51
    Query("two words", "earthquake tsunami"),  # 15
    Query("three words", "federal reserve chairman"),  # 171
    Query("three words", "oil production quota"),  # 47
    Query("three words", "climate change summit"),  # 12
    Query("three words", "world cup final"),  # 13
    Query("three words", "police shooting suspect"),  # 7
    Query("phrase", '"prime minister"'),  # 1,746
    Query("phrase", '"white house"'),  # 486
    Query("phrase", '"human rights"'),  # 352
    Query("phrase", '"stock exchange"'),  # 503
    Query("phrase", '"united nations security council"'),  # 45
    Query("word + section", "police", section="law-and-crime"),  # 1,322
    Query("word + section", "shares", section="mergers-acquisitions"),  # 2,513
    Query("word + section", "election", section="politics-and-conflicts"),  # 1,392
    Query("word + section", "profit", section="earnings"),  # 1,396
    Query("word + section", "killed", section="armed-conflicts-and-attacks"),  # 3,145
    Query("word, newest first", "president", sort="newest"),  # 4,658
    Query("word, newest first", "bank", sort="newest"),  # 3,282
    Query("word, newest first", "war", sort="newest"),  # 2,407
    Query("word, newest first", "court", sort="newest"),  # 1,377
    Query("word, newest first", "trade", sort="newest"),  # 2,380
    Query("misspelling", "goverment"),  # 9 (government: 4,894)
    Query("misspelling", "parliment"),  # 0 (parliament: 888)
    Query("misspelling", "earthqauke"),  # 0 (earthquake: 149)
    Query("misspelling", "opportunty"),  # 0 (opportunity: 300)
    Query("misspelling", "journalsit"),  # 0 (journalist: 145)
]
KINDS = (
    "common word",
    "rare word",
    "two words",
    "three words",
    "phrase",
    "word + section",
    "word, newest first",
    "misspelling",
)


@dataclass
class Engine:
    """A way to produce a results page, and what running the queries recorded."""

    name: str
    page: Callable[[Query], int]  # runs one page; returns the exact total (or status)
    # Runs before each round, untimed (the HTTP engine empties the page cache).
    before_round: Callable[[], None] | None = None
    seconds: dict[int, list[float]] = field(default_factory=dict)
    found: dict[int, int] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)

    def medians_ms(self) -> dict[int, float]:
        """Return each query's median time over the timed rounds, in ms."""
        return {
            i: statistics.median(times) * 1000
            for i, times in self.seconds.items()
            if times and i not in self.errors
        }


# --- the archive ------------------------------------------------------------------


def corpus_files(corpus: Path) -> list[Path]:
    """Return the corpus's JSON Lines files in name order."""
    files = sorted(corpus.glob("*.jsonl"))
    if not files:
        raise SystemExit(f"no *.jsonl files in {corpus}")
    return files


def count_articles(files: list[Path]) -> int:
    """Return how many non-blank lines (articles) the files hold."""
    total = 0
    for path in files:
        with path.open("rb") as stream:
            total += sum(1 for line in stream if line.strip())
    return total


def remove_database(path: Path) -> None:
    """Delete a SQLite database and its WAL and shared-memory files."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def import_corpus(store: Store, files: list[Path]) -> float:
    """Import the files as `reader import` does, in a process pool; return seconds."""
    # No section map: each story keeps the section its source names, as a plain
    # `reader import` does.
    rules = Rules(zone=ZoneInfo("UTC"), sections=SectionMap())
    start = time.perf_counter()
    with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        for path in files:
            try:
                import_file(store, path, rules, pool)
            except ImportFailed as failure:
                raise SystemExit(f"import failed: {failure}") from None
    return time.perf_counter() - start


def copy_articles(store: Store, copies: int) -> float:
    """Add copies-1 copies of every article (new ids and slugs) in SQL; return s."""
    start = time.perf_counter()
    with store.db:
        store.db.execute(
            "WITH RECURSIVE copy(k) AS"
            " (SELECT 1 UNION ALL SELECT k + 1 FROM copy WHERE k < ?)"
            " INSERT INTO article (id, slug, section_id, headline, standfirst, byline,"
            "  body_html, body_text, excerpt, published, updated, tags, source_url,"
            "  word_count, checksum)"
            " SELECT a.id || '~r' || copy.k, a.slug || '-r' || copy.k, a.section_id,"
            "  a.headline, a.standfirst, a.byline, a.body_html, a.body_text,"
            "  a.excerpt, a.published, a.updated, a.tags, a.source_url,"
            "  a.word_count, a.checksum"
            " FROM article a, copy",
            (copies - 1,),
        )
        store.db.execute(
            "WITH RECURSIVE copy(k) AS"
            " (SELECT 1 UNION ALL SELECT k + 1 FROM copy WHERE k < ?)"
            " INSERT INTO article_tag (tag, article_id)"
            " SELECT t.tag, t.article_id || '~r' || copy.k FROM article_tag t, copy",
            (copies - 1,),
        )
        store.db.execute(
            "UPDATE section SET article_count ="
            " (SELECT count(*) FROM article WHERE section_id = section.id)"
        )
    return time.perf_counter() - start


def prepare_store(path: Path, files: list[Path], scale: int) -> tuple[Store, dict]:
    """Open the archive at path, importing and copying only what it lacks."""
    base = count_articles(files)
    wanted = base * scale
    figures: dict[str, Any] = {"corpus articles": base}
    store = open_store(path)
    have = store.article_count()
    if have not in (wanted, base):
        store.close()
        remove_database(path)
        store = open_store(path)
        have = 0
    if have == 0:
        log(f"importing {len(files)} files into {path} …")
        figures["import s"] = import_corpus(store, files)
        have = store.article_count()
        if have != base:
            raise SystemExit(f"imported {have} articles, expected {base}")
    else:
        figures["import s"] = None  # reused
    if have != wanted:
        log(f"copying the archive to {scale}x in SQL …")
        figures["copy s"] = copy_articles(store, scale)
    figures["articles"] = store.article_count()
    return store, figures


# --- our index ----------------------------------------------------------------------


def folder_bytes(folder: Path) -> int:
    """Return the total size of the files under folder."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def rebuild_index(root: Path, store: Store) -> tuple[ArchiveIndex, dict]:
    """Time a full ArchiveIndex.rebuild of the archive; return it and its figures."""
    archive_index = ArchiveIndex(root)
    count = store.article_count()
    start = time.perf_counter()
    indexed = archive_index.rebuild(store.articles(), expected=count)
    seconds = time.perf_counter() - start
    store.mark_indexed()
    current = archive_index.current()
    assert current is not None
    return archive_index, {
        "indexed": indexed,
        "rebuild s": seconds,
        "index bytes": folder_bytes(current),
    }


def ours(archive_index: ArchiveIndex, store: Store) -> Engine:
    """Return the engine that runs ArchiveIndex.search, the app's own page."""

    def page(query: Query) -> int:
        return archive_index.search(query.request(), store.bodies).total

    return Engine("ours (whoosh)", page)


def time_add(root: Path, store: Store, count: int = 100) -> dict:
    """Time ArchiveIndex.add of `count` stored articles given new ids."""
    step = max(1, store.article_count() // count)
    slugs = [
        row[0]
        for row in store.db.execute(
            "SELECT slug FROM article WHERE rowid % ? = 0 ORDER BY rowid LIMIT ?",
            (step, count),
        )
    ]
    fresh = []
    for slug in slugs:
        article = store.article(slug)
        assert article is not None
        fresh.append(dataclasses.replace(article, id=f"{article.id}~add"))
    archive_index = ArchiveIndex(root)
    before = archive_index.document_count()
    start = time.perf_counter()
    added = archive_index.add(fresh, expected=len(fresh))
    seconds = time.perf_counter() - start
    grown = archive_index.document_count() - before
    return {"add s": seconds, "added": added, "index grew by": grown}


def reuse_index(root: Path, store: Store) -> tuple[ArchiveIndex, dict] | None:
    """Return the index in root if it holds every article of the archive."""
    archive_index = ArchiveIndex(root)
    current = archive_index.current()
    if current is None or archive_index.document_count() != store.article_count():
        return None
    return archive_index, {"index bytes": folder_bytes(current)}


def held_out_recall(archive_index: ArchiveIndex, store: Store, count: int) -> str:
    """Search for `count` articles' headlines, spread evenly over the archive, as a
    reader types them (the words only); return the share found in the top ten."""
    total = store.article_count()
    step = max(1, total // count)
    rows = store.db.execute(
        "SELECT id, headline FROM article WHERE rowid % ? = 0 ORDER BY rowid LIMIT ?",
        (step, count),
    ).fetchall()
    found = 0
    for article_id, headline in rows:
        words = " ".join(re.findall(r"\w+", headline))
        results = archive_index.search(SearchRequest(text=words), store.bodies)
        found += any(hit.id == article_id for hit in results.hits)
    return f"{found}/{len(rows)} ({found / max(1, len(rows)):.1%})"


# --- SQLite FTS5 --------------------------------------------------------------------


def fts5_match(text: str) -> str:
    """Translate a query to FTS5: phrases stay quoted, every word quoted, all ANDed."""
    parts = []
    for phrase, words in re.findall(r'"([^"]*)"|(\S+)', text):
        if phrase:
            tokens = re.findall(r"\w+", phrase)
            if tokens:
                parts.append('"' + " ".join(tokens) + '"')
        else:
            parts.extend(f'"{token}"' for token in re.findall(r"\w+", words))
    return " AND ".join(parts)


class Fts5:
    """SQLite FTS5 over the store's article table (external content), same page."""

    def __init__(self, path: Path) -> None:
        self.db = connect(path)

    def build(self) -> dict:
        """Create the fts table afresh and time its 'rebuild' and 'optimize'."""
        with self.db:
            self.db.execute("DROP TABLE IF EXISTS fts")
            self.db.execute(
                "CREATE VIRTUAL TABLE fts USING fts5(headline, standfirst, body_text,"
                " content='article', content_rowid='rowid',"
                " tokenize='porter unicode61 remove_diacritics 2')"
            )
        start = time.perf_counter()
        with self.db:
            self.db.execute("INSERT INTO fts(fts) VALUES ('rebuild')")
        rebuilt = time.perf_counter() - start
        start = time.perf_counter()
        with self.db:
            self.db.execute("INSERT INTO fts(fts) VALUES ('optimize')")
        optimized = time.perf_counter() - start
        return {
            "rebuild s": rebuilt,
            "optimize s": optimized,
            "index bytes": self.size(),
        }

    def size(self) -> int:
        """Return the bytes of the fts shadow tables (dbstat, else block lengths)."""
        try:
            return self.db.execute(
                "SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'fts%'"
            ).fetchone()[0]
        except sqlite3.OperationalError:
            return self.db.execute(
                "SELECT (SELECT sum(length(block)) FROM fts_data)"
                " + (SELECT sum(length(term) + 16) FROM fts_idx)"
            ).fetchone()[0]

    def page(self, query: Query) -> int:
        """Run one results page: top 10 with snippets, exact count, section facets."""
        match = fts5_match(query.text)
        # CROSS JOIN keeps fts as the outer loop: left to itself, SQLite walks every
        # article of the section and probes fts for each (10x slower here).
        joins = (
            " CROSS JOIN article a ON a.rowid = fts.rowid"
            " CROSS JOIN section s ON s.id = a.section_id"
        )
        narrowed = bool(query.section) or query.sort == "newest"
        where, args = "fts MATCH ?", [match]
        if query.section:
            where += " AND s.slug = ?"
            args.append(query.section)
        order = (
            "a.published DESC, a.id DESC"
            if query.sort == "newest"
            else "bm25(fts, 3.0, 2.0, 1.0)"
        )
        top = [
            row[0]
            for row in self.db.execute(
                f"SELECT fts.rowid FROM fts{joins if narrowed else ''}"
                f" WHERE {where} ORDER BY {order} LIMIT {PAGE}",
                args,
            )
        ]
        # Snippets only for the page's rows: in the ordered query SQLite would make
        # one for every match before sorting.
        hits = [
            self.db.execute(
                "SELECT a.id, snippet(fts, 2, '<mark>', '</mark>', ' … ', 40)"
                " FROM fts JOIN article a ON a.rowid = fts.rowid"
                " WHERE fts MATCH ? AND fts.rowid = ?",
                (match, rowid),
            ).fetchone()
            for rowid in top
        ]
        assert len(hits) == len(top)
        total = self.db.execute(
            f"SELECT count(*) FROM fts{joins if query.section else ''} WHERE {where}",
            args,
        ).fetchone()[0]
        self.db.execute(
            f"SELECT s.slug, count(*) FROM fts{joins} WHERE fts MATCH ?"
            " GROUP BY s.slug ORDER BY 2 DESC, 1",
            (match,),
        ).fetchall()
        return total


# --- tantivy ------------------------------------------------------------------------


class Tantivy:
    """tantivy with the same fields, weights and page work; bodies from the store."""

    FIELDS = ("headline", "standfirst", "body")
    BOOSTS = {"headline": 3.0, "standfirst": 2.0, "body": 1.0}

    def __init__(self, folder: Path, store: Store) -> None:
        self.folder = folder
        self.store = store
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("id", stored=True, tokenizer_name="raw")
        for name in self.FIELDS:
            builder.add_text_field(name, tokenizer_name="en_stem")
        builder.add_text_field("section", tokenizer_name="raw", fast=True)
        builder.add_date_field("published", indexed=True, fast=True)
        self.schema = builder.build()
        self.index: Any = None

    def build(self) -> dict:
        """Index every article into a new index in folder; time it."""
        if self.folder.exists():
            for path in self.folder.iterdir():
                path.unlink()
        self.folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        self.index = tantivy.Index(self.schema, path=str(self.folder))
        writer = self.index.writer(heap_size=256_000_000)
        count = 0
        for article in self.store.articles():
            doc = tantivy.Document(
                id=article.id,
                headline=article.headline,
                standfirst=article.standfirst or "",
                body=article.body_text,
                section=article.section.slug,
            )
            doc.add_date("published", article.published)
            writer.add_document(doc)
            count += 1
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()
        seconds = time.perf_counter() - start
        self.searcher = self.index.searcher()
        return {
            "indexed": count,
            "build s": seconds,
            "index bytes": folder_bytes(self.folder),
            "segments": self.searcher.num_segments,
        }

    def page(self, query: Query) -> int:
        """Run one results page: top 10 with snippets, exact count, section facets."""
        parsed = self.index.parse_query(
            query.text,
            list(self.FIELDS),
            field_boosts=self.BOOSTS,
            conjunction_by_default=True,
        )
        narrowed = parsed
        if query.section:
            section = tantivy.Query.term_query(self.schema, "section", query.section)
            narrowed = tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, parsed), (tantivy.Occur.Must, section)]
            )
        order = {"order_by_field": "published"} if query.sort == "newest" else {}
        found = self.searcher.search(narrowed, limit=PAGE, count=True, **order)
        ids = [self.searcher.doc(address)["id"][0] for _, address in found.hits]
        bodies = self.store.bodies(ids)
        generator = tantivy.SnippetGenerator.create(
            self.searcher, parsed, self.schema, "body"
        )
        generator.set_max_num_chars(SNIPPET_CHARS)
        for i in ids:
            doc = tantivy.Document(body=bodies.get(i, ""))
            generator.snippet_from_doc(doc).to_html()
        self.searcher.aggregate(
            parsed, {"sections": {"terms": {"field": "section", "size": 1000}}}
        )
        return found.count


# --- the app over HTTP --------------------------------------------------------------


def start_app(work: Path) -> tuple[Any, Any, threading.Thread, str]:
    """Serve the real app under waitress on loopback as `reader serve` would (its
    page cache and thread count); return the app, server, thread and URL."""
    from waitress.server import create_server

    from readerapp import create_app
    from readerapp.cli import serving_capacity

    app = create_app(
        {"DATABASE": work / "archive.sqlite3", "INDEX_DIR": work / "index"}
    )
    threads, connections = serving_capacity(
        app.config["SERVE_THREADS"], app.config["SERVE_CONNECTIONS"]
    )
    server = create_server(
        app, host="127.0.0.1", port=0, threads=threads, connection_limit=connections
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return app, server, thread, f"http://127.0.0.1:{server.effective_port}/api/search"


def stop_app(server: Any, thread: threading.Thread) -> None:
    """Let waitress's workers finish, then close its sockets and loop."""
    server.task_dispatcher.shutdown()
    server.close()
    thread.join(timeout=5)


def http_engine(app: Any, url: str) -> Engine:
    """Return the engine that GETs /api/search with the query's parameters, its
    page cache emptied before each round: every timed answer is rendered afresh."""
    from readerapp.extensions import cache

    backend = app.extensions["cache"][cache]

    def page(query: Query) -> int:
        params = {"q": query.text}
        if query.section:
            params["section"] = query.section
        if query.sort != "relevance":
            params["sort"] = query.sort
        target = f"{url}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(target, timeout=120) as response:
            return json.loads(response.read())["total"]

    return Engine("HTTP GET /api/search, never asked", page, before_round=backend.clear)


def warm_up_threads(url: str, threads: int) -> None:
    """Open each waitress thread's searcher with words outside the query set, so
    no timed request pays for opening the index (the app keeps one per thread)."""
    words = ["harbour", "festival", "railway", "museum", "orchestra", "glacier"]
    urls = [
        f"{url}?{urllib.parse.urlencode({'q': f'{a} {b}'})}"
        for a in words
        for b in words
        if a != b
    ][: 8 * threads]

    def fetch(target: str) -> None:
        with urllib.request.urlopen(target, timeout=120) as response:
            response.read()

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(fetch, urls))


# --- running and reporting -----------------------------------------------------------


def log(message: str) -> None:
    """Print progress to stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_rounds(engines: list[Engine], queries: list[Query], rounds: int) -> None:
    """Run a warm-up round then `rounds` timed ones, rotating the engine order."""
    for number in range(rounds + 1):
        shift = number % len(engines)
        for engine in engines[shift:] + engines[:shift]:
            if engine.before_round is not None:
                engine.before_round()
            for i, query in enumerate(queries):
                start = time.perf_counter()
                try:
                    found = engine.page(query)
                except Exception:  # noqa: BLE001 - recorded and reported
                    engine.errors.setdefault(i, traceback.format_exc())
                    continue
                elapsed = time.perf_counter() - start
                engine.found[i] = found
                if number:
                    engine.seconds.setdefault(i, []).append(elapsed)
        log(f"round {number}/{rounds} done" + (" (warm-up)" if not number else ""))


def spread(values: list[float]) -> tuple[float, float, float]:
    """Return p50, p95 (linear interpolation) and max of values."""
    ordered = sorted(values)
    if len(ordered) < 2:
        return (ordered[0],) * 3 if ordered else (float("nan"),) * 3
    p95 = statistics.quantiles(ordered, n=20, method="inclusive")[18]
    return statistics.median(ordered), p95, ordered[-1]


def ms(value: float) -> str:
    """Format milliseconds with three significant figures or so."""
    if value != value:  # NaN
        return "–"
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def machine() -> dict[str, str]:
    """Describe the machine and the software versions."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    whoosh_dists = metadata.packages_distributions().get("whoosh", ["?"])
    whoosh = ", ".join(f"{d} {metadata.version(d)}" for d in whoosh_dists)
    tantivy_version = metadata.version("tantivy") if tantivy else "not installed"
    return {
        "nproc": subprocess.run(
            ["nproc"], capture_output=True, text=True
        ).stdout.strip(),
        "cpu": cpu,
        "python": platform.python_version(),
        "whoosh distribution": whoosh,
        "sqlite": sqlite3.sqlite_version,
        "tantivy": tantivy_version,
    }


def loadavg() -> str:
    """Return the 1, 5 and 15 minute load averages."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def latency_tables(engines: list[Engine], queries: list[Query]) -> list[str]:
    """Return the p50 / p95 / max table and the ours ÷ reference ratios."""
    lines = [
        "### Results page latency (ms; each query's median, then over the queries)",
        "",
        "| engine | p50 | p95 | max | queries timed |",
        "|---|---:|---:|---:|---:|",
    ]
    stats = {}
    for engine in engines:
        medians = engine.medians_ms()
        stats[engine.name] = p50, p95, top = spread(list(medians.values()))
        lines.append(
            f"| {engine.name} | {ms(p50)} | {ms(p95)} | {ms(top)}"
            f" | {len(medians)}/{len(queries)} |"
        )
    references = [e.name for e in engines if e.name in ("FTS5", "tantivy")]
    ours = [e.name for e in engines if e.name not in references]
    if references:
        lines += ["", "Ratios, ours ÷ reference (p50 / p95):", ""]
        lines += ["| ours | " + " | ".join(references) + " |"]
        lines += ["|---|" + "---:|" * len(references)]
        for name in ours:
            cells = [
                f"{stats[name][0] / stats[ref][0]:.2f}× / "
                f"{stats[name][1] / stats[ref][1]:.2f}×"
                for ref in references
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def kind_table(engines: list[Engine], queries: list[Query]) -> list[str]:
    """Return the table of each kind's median of its per-query medians."""
    medians = [engine.medians_ms() for engine in engines]
    lines = [
        "### By kind (ms; median of the kind's 5 per-query medians)",
        "",
        "| kind | " + " | ".join(e.name for e in engines) + " |",
        "|---|" + "---:|" * len(engines),
    ]
    for kind in KINDS:
        cells = []
        for by_query in medians:
            values = [by_query[i] for i, q in enumerate(queries) if q.kind == kind]
            cells.append(ms(statistics.median(values)) if values else "–")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return lines


def query_table(engines: list[Engine], queries: list[Query]) -> list[str]:
    """Return the per-query medians with each engine's total (or HTTP status)."""
    medians = [engine.medians_ms() for engine in engines]
    lines = [
        "### Per query (median ms, and in brackets the total hits or HTTP status)",
        "",
        "| # | kind | query | " + " | ".join(e.name for e in engines) + " |",
        "|---:|---|---|" + "---|" * len(engines),
    ]
    for i, query in enumerate(queries):
        cells = [
            "ERROR"
            if i in engine.errors
            else f"{ms(by_query.get(i, float('nan')))} ({engine.found.get(i)})"
            for engine, by_query in zip(engines, medians, strict=True)
        ]
        label = query.label().replace("|", "\\|")
        row = f"| {i + 1} | {query.kind} | `{label}` | " + " | ".join(cells)
        lines.append(row + " |")
    return lines


def report(facts: dict, engines: list[Engine], queries: list[Query]) -> str:
    """Return the Markdown block of every figure."""
    lines = ["## Search latency benchmark", ""]
    lines += [f"- {key}: {value}" for key, value in facts.items()]
    for table in (latency_tables, kind_table, query_table):
        lines += ["", *table(engines, queries)]
    errors = [(e.name, i, tb) for e in engines for i, tb in sorted(e.errors.items())]
    lines += ["", f"### Errors: {len(errors)}"]
    for name, i, tb in errors:
        lines += ["", f"{name}, query {i + 1} `{queries[i].label()}`:", ""]
        lines += ["```", tb.rstrip(), "```"]
    return "\n".join(lines)


def mb(size: int) -> str:
    """Format bytes as MB."""
    return f"{size / 1e6:.1f} MB"


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus", type=Path, default=ROOT.parent / "shared" / "corpus"
    )
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--scale", type=int, choices=(1, COPIES), default=1)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--reuse-index", action="store_true")
    parser.add_argument("--recall", type=int, default=300)
    args = parser.parse_args()
    if args.rounds is None:
        args.rounds = 10 if args.scale == 1 else 5
    return args


def main() -> None:
    """Build everything, time it, print the report."""
    args = parse_args()
    load_start = loadavg()
    with tempfile.TemporaryDirectory(prefix="search-latency-") as scratch:
        work = (args.work or Path(scratch)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        run(args, work, load_start)


def run(args: argparse.Namespace, work: Path, load_start: str) -> None:
    """Run every step in work and print the Markdown block."""
    facts: dict[str, Any] = {
        "command": shlex.join(sys.orig_argv),
        "date -u": subprocess.run(
            ["date", "-u"], capture_output=True, text=True
        ).stdout.strip(),
        **machine(),
        "load average at start (1/5/15 min)": load_start,
        "work dir": str(work),
        "rounds": f"1 warm-up + {args.rounds} timed; engine order rotates each round",
        "queries": f"{len(QUERIES)} ({len(KINDS)} kinds × 5)",
    }
    store, built = prepare_store(
        work / "archive.sqlite3", corpus_files(args.corpus), args.scale
    )
    facts["articles"] = f"{built['articles']:,} (corpus {built['corpus articles']:,}"
    facts["articles"] += f", scale {args.scale}x)"
    if built["import s"] is None:
        facts["import"] = "reused the existing archive (right count)"
    else:
        facts[f"import (reader import semantics, pool of {os.cpu_count()})"] = (
            f"{built['import s']:.1f} s"
        )
    if "copy s" in built:
        facts[f"copy to {args.scale}x in SQL"] = f"{built['copy s']:.1f} s"

    reused = reuse_index(work / "index", store) if args.reuse_index else None
    if reused is not None:
        archive_index, whoosh = reused
        facts["ours: index"] = (
            f"reused ({mb(whoosh['index bytes'])} on disk; no rebuild timed)"
        )
    else:
        log("rebuilding the Whoosh index …")
        archive_index, whoosh = rebuild_index(work / "index", store)
        facts["ours: full rebuild"] = (
            f"{whoosh['rebuild s']:.1f} s, "
            f"{whoosh['indexed'] / whoosh['rebuild s']:,.0f}"
            f" docs/s, {mb(whoosh['index bytes'])} on disk"
        )
    engines = [ours(archive_index, store)]

    log("building FTS5 …")
    fts5 = Fts5(work / "archive.sqlite3")
    built_fts = fts5.build()
    facts["FTS5: build"] = (
        f"rebuild {built_fts['rebuild s']:.1f} s + optimize"
        f" {built_fts['optimize s']:.1f} s, {mb(built_fts['index bytes'])}"
        " (plus the article table it reads)"
    )
    engines.append(Engine("FTS5", fts5.page))

    if tantivy is None:
        facts["tantivy"] = "skipped: `import tantivy` failed"
    else:
        log("building tantivy …")
        reference = Tantivy(work / "tantivy", store)
        built_tv = reference.build()
        facts["tantivy: build"] = (
            f"{built_tv['build s']:.1f} s, {mb(built_tv['index bytes'])},"
            f" {built_tv['segments']} segments"
        )
        engines.append(Engine("tantivy", reference.page))

    served = None
    if args.http:
        log("starting the app under waitress …")
        app, server, thread, url = start_app(work)
        served = server, thread
        warm_up_threads(url, server.adj.threads)
        engines.insert(1, http_engine(app, url))
        facts["HTTP"] = (
            f"waitress, {server.adj.threads} threads, page cache on and emptied"
            " before each round; one client on loopback in this process"
        )

    facts["load average before the query rounds"] = loadavg()
    log(f"timing {len(QUERIES)} queries × {args.rounds} rounds …")
    try:
        run_rounds(engines, QUERIES, args.rounds)
    finally:
        if served is not None:
            stop_app(*served)
    facts["load average after the query rounds"] = loadavg()

    if args.recall:
        log(f"searching for {args.recall} held-out headlines …")
        facts["recall@10 of held-out headlines (ours)"] = held_out_recall(
            archive_index, store, args.recall
        )

    if args.reuse_index:
        # Adding would leave the index unfit for reuse (more documents than
        # articles), so it is timed only with a rebuild.
        facts["ours: add 100 articles"] = "not timed (--reuse-index)"
    else:
        log("timing ArchiveIndex.add of 100 articles …")
        added = time_add(work / "index", store)
        facts["ours: add 100 articles (ArchiveIndex.add, incremental)"] = (
            f"{added['add s']:.2f} s (added {added['added']},"
            f" index grew by {added['index grew by']})"
        )
    facts["load average at end (1/5/15 min)"] = loadavg()
    store.close()
    print(report(facts, engines, QUERIES))


if __name__ == "__main__":
    main()
