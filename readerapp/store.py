"""The archive, in SQLite or PostgreSQL: the only module that speaks SQL.

Statements are written once, in the SQL both engines take; the few that differ
come from the connection's dialect (engines.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import (
    Callable,
    Collection,
    Hashable,
    Iterable,
    Iterator,
    Sequence,
)
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from markupsafe import Markup

from .engines import (
    Archive,
    Connection,
    Dialect,
    connect_sqlite,
    dialect_of,
    locate,
    without_password,
)
from .models import (
    ArchiveMonth,
    Article,
    ArticleRecord,
    ArticleRemoval,
    ArticleStamp,
    ArticleSummary,
    MissingPicture,
    Navigation,
    Page,
    Picture,
    PictureReport,
    SaveCounts,
    Section,
    SourceState,
    StoredPicture,
)
from .sections import key as section_key
from .text import picture_urls, slugify

if TYPE_CHECKING:
    from .changes import SharedReads

T = TypeVar("T")

SCHEMA = Path(__file__).with_name("schema.sql")
POSTGRESQL_SCHEMA = Path(__file__).with_name("schema_postgresql.sql")
# What a re-import compares to decide whether an article changed.
_CONTENT = (
    "section_id", "headline", "standfirst", "byline", "body_html",
    "published", "tags", "source_url", "language", "picture",
)  # fmt: skip
COMMON_TAG = 300
NO_LIMIT = 2**63 - 1  # LIMIT that limits nothing, as both engines read it

# Cache tags name what a rendered page read, so a change can invalidate exactly the
# pages that read it: the whole archive's order, one section's stories, one
# article, the section navigation, the search index.
ARCHIVE_TAG = "archive"
NAV_TAG = "nav"
INDEX_TAG = "index"
# Kinds of change in the change log (article_change): a story stored (new or
# changed) or taken off the site.
STORED = "stored"
REMOVED = "removed"


class ArchiveFull(Exception):
    """The disk holding the archive is full; the write was rolled back whole."""


class ArchiveDamaged(Exception):
    """The archive file cannot be opened as a database."""


class ArchiveUnreachable(Exception):
    """The archive's PostgreSQL server cannot be reached, or refuses us."""


class CopyFailed(Exception):
    """The archive could not be copied (unreadable, or no room for the copy)."""


def section_tag(slug: str) -> str:
    """Return the cache tag of one section's stories."""
    return f"section:{slug}"


def article_tag(article_id: str) -> str:
    """Return the cache tag of one article's content."""
    return f"article:{article_id}"


_SUMMARY_COLUMNS = (
    "a.id, a.slug, a.headline, a.excerpt, a.byline, a.published, a.word_count,"
    " s.slug, s.name, a.language, a.shown_picture"
)
_ARTICLE_COLUMNS = (
    "a.id, a.slug, a.headline, a.standfirst, a.byline, a.body_html, a.body_text,"
    " a.published, a.updated, a.tags, a.source_url, a.word_count, s.slug, s.name,"
    " a.language, a.picture, a.shown_picture"
)


def connect(path: str | Path) -> sqlite3.Connection:
    """Open a SQLite archive with WAL journaling and foreign keys on."""
    return connect_sqlite(path)


# What came after schema.sql, in order: PRAGMA user_version says how many of these
# an archive has. schema.sql stays as the first archives were made. PostgreSQL has
# the same versions in its own DDL (schema_postgresql.sql), kept in step by
# schema_history().
COMPACT_CHANGE_LOG = """
    CREATE INDEX IF NOT EXISTS article_change_by_article
        ON article_change (article_id, seq);
    DELETE FROM article_change WHERE seq < (
        SELECT max(later.seq) FROM article_change AS later
        WHERE later.article_id = article_change.article_id
    );
"""

MIGRATIONS: tuple[str, ...] = (
    # 1 (#14): each story's language and lead picture; stories taken off the site
    # (their URLs answer 410); the live sources `reader pull` follows.
    """
    ALTER TABLE article ADD COLUMN language TEXT NOT NULL DEFAULT '';
    ALTER TABLE article ADD COLUMN picture TEXT;
    CREATE TABLE removed_article (
        id          TEXT PRIMARY KEY,
        slug        TEXT NOT NULL,
        section_slug TEXT NOT NULL,
        removed     TEXT NOT NULL,
        index_pending INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX removed_article_by_slug ON removed_article (slug);
    CREATE TABLE source (
        url         TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,
        state       TEXT NOT NULL DEFAULT '{}',
        added       TEXT NOT NULL,
        attempted   TEXT,
        succeeded   TEXT,
        outcome     TEXT,
        not_before  TEXT
    );
    """,
    # 2 (#15): pictures kept on the site. An original is stored once per content
    # (its digest); each address a story names is fetched once, and remembers what
    # it gave or why it failed; each story lists the pictures it shows. An article
    # row keeps its lead picture's stored form (`shown_picture`) so listings need
    # no join.
    """
    CREATE TABLE picture (
        digest      TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,
        width       INTEGER NOT NULL,
        height      INTEGER NOT NULL,
        tint        INTEGER NOT NULL,
        bytes       INTEGER NOT NULL,
        stored      TEXT NOT NULL
    );
    CREATE TABLE picture_source (
        url         TEXT PRIMARY KEY,
        digest      TEXT REFERENCES picture (digest),
        attempts    INTEGER NOT NULL DEFAULT 0,
        tried       TEXT,
        problem     TEXT,
        permanent   INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX picture_source_by_digest ON picture_source (digest);
    CREATE TABLE article_picture (
        article_id  TEXT NOT NULL REFERENCES article (id) ON DELETE CASCADE,
        url         TEXT NOT NULL REFERENCES picture_source (url),
        lead        INTEGER NOT NULL,
        PRIMARY KEY (article_id, url)
    );
    CREATE INDEX article_picture_by_url ON article_picture (url);
    ALTER TABLE article ADD COLUMN shown_picture TEXT;
    """,
    # 3 (#16): each story's "Also read" candidates, best first, chosen when the search
    # index took it in, so that an article page need not ask the index. A story
    # without a row (new, changed, or stored before this) is asked about live.
    """
    CREATE TABLE IF NOT EXISTS also_read (
        article_id  TEXT PRIMARY KEY REFERENCES article (id) ON DELETE CASCADE,
        candidates  TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 4 (#17): the change log every node's search index follows. Each insert,
    # update and removal of a story is numbered in the transaction that writes it
    # (numbers commit in order); an index records the last number it holds and
    # reads the ones after it. The stories an index lacked when this came in (the
    # pending flags) are logged first, so an index made before it catches up.
    """
    CREATE TABLE IF NOT EXISTS article_change (
        seq         INTEGER PRIMARY KEY,
        article_id  TEXT NOT NULL,
        kind        TEXT NOT NULL
    );
    """,
    # 5 (#17): the change log keeps each story's latest change only (_log_changes),
    # so it grows with the stories, not with every correction: an index catching
    # up reads each story as it is now, and needs no more than its latest change.
    COMPACT_CHANGE_LOG,
)


def _link_stored_pictures(connection: Connection) -> None:
    """List the pictures of the stories stored before pictures were kept, so that
    the next run fetches them without the files being imported again."""
    rows = connection.execute(
        "SELECT id, picture, body_html FROM article"
        " WHERE picture IS NOT NULL OR body_html LIKE '%<img %'"
    ).fetchall()
    for article_id, picture, body_html in rows:
        lead = json.loads(picture)["url"] if picture else None
        _list_pictures(connection, article_id, picture_urls(body_html, lead), lead)


def _list_pictures(
    db: Connection, article_id: str, urls: Sequence[str], lead: str | None
) -> None:
    """Record, in the caller's transaction, the pictures a story shows."""
    db.executemany(
        "INSERT INTO picture_source (url) VALUES (?) ON CONFLICT DO NOTHING",
        [(url,) for url in urls],
    )
    db.executemany(
        "INSERT INTO article_picture (article_id, url, lead)"
        " VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        [(article_id, url, url == lead) for url in urls],
    )


def schema_history(dialect: Dialect) -> tuple[str, ...]:
    """Return each schema version's script for an engine: version 0 creates the
    first tables, each one after it is a migration."""
    if dialect.name == "sqlite":
        return (SCHEMA.read_text("utf-8"), *MIGRATIONS)
    return _postgresql_history()


def _postgresql_history() -> tuple[str, ...]:
    """Split schema_postgresql.sql at its "-- version N" lines."""
    scripts: list[str] = []
    for line in POSTGRESQL_SCHEMA.read_text("utf-8").splitlines(keepends=True):
        if line.startswith("-- version "):
            number = int(line.split()[2])
            if number != len(scripts):
                raise ValueError(
                    f"{POSTGRESQL_SCHEMA.name}: version {number} out of order"
                )
            scripts.append("")
        elif scripts:
            scripts[-1] += line
    if len(scripts) != len(MIGRATIONS) + 1:
        raise ValueError(
            f"{POSTGRESQL_SCHEMA.name} has {len(scripts) - 1} migrations,"
            f" SQLite {len(MIGRATIONS)}: one schema history needs both"
        )
    return tuple(scripts)


def _after_migration(connection: Connection, number: int) -> None:
    """Move the data a migration's new tables need, in its transaction."""
    if number == 2:
        _link_stored_pictures(connection)
    elif number == 4:
        _log_pending_changes(connection)


def _log_pending_changes(connection: Connection) -> None:
    """Log, as the first changes, the stories the search index did not hold yet
    (the pending flags the change log replaces)."""
    pending = [
        (article_id, STORED)
        for (article_id,) in connection.execute(
            "SELECT id FROM article WHERE index_pending ORDER BY id"
        )
    ] + [
        (article_id, REMOVED)
        for (article_id,) in connection.execute(
            "SELECT id FROM removed_article WHERE index_pending ORDER BY id"
        )
    ]
    connection.executemany(
        "INSERT INTO article_change (seq, article_id, kind) VALUES (?, ?, ?)",
        [(seq, article_id, kind) for seq, (article_id, kind) in enumerate(pending, 1)],
    )


def init_schema(connection: Connection) -> tuple[int, int]:
    """Create the tables if they are missing, then migrate; return the schema
    versions before and after."""
    dialect = dialect_of(connection)
    return dialect.migrate(connection, schema_history(dialect), _after_migration)


def _datetime(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


@lru_cache(maxsize=1024)
def _section(slug: str, name: str) -> Section:
    # A section as an article names it (no count): one object per section, not
    # one per story read; an article page reads five (#16).
    return Section(slug, name)


def _summary(row: Sequence) -> ArticleSummary:
    return ArticleSummary(
        id=row[0],
        slug=row[1],
        headline=row[2],
        excerpt=row[3],
        byline=row[4],
        published=datetime.fromisoformat(row[5]),
        word_count=row[6],
        section=_section(row[7], row[8]),
        language=row[9],
        picture=StoredPicture.from_column(row[10]) if row[10] else None,
    )


def _tags(column: str) -> tuple[str, ...]:
    # Most stories have none: no JSON parser for those.
    return () if column == "[]" else tuple(json.loads(column))


def _article(row: Sequence) -> Article:
    described = Picture(**json.loads(row[15])) if row[15] else None
    return Article(
        id=row[0],
        slug=row[1],
        headline=row[2],
        standfirst=row[3],
        byline=row[4],
        # Sanitised by the importer before it was stored.
        body_html=Markup(row[5]),
        body_text=row[6],
        published=datetime.fromisoformat(row[7]),
        updated=_datetime(row[8]),
        tags=_tags(row[9]),
        source_url=row[10],
        word_count=row[11],
        section=_section(row[12], row[13]),
        language=row[14],
        picture=StoredPicture.from_column(row[16], described) if row[16] else None,
        picture_source=described,
    )


_NEIGHBOURS = (
    f"SELECT * FROM (SELECT 0, {_SUMMARY_COLUMNS} FROM article a"
    " JOIN section s ON s.id = a.section_id WHERE s.slug = ?"
    " AND (a.published, a.id) < (?, ?)"
    " ORDER BY a.published DESC, a.id DESC LIMIT 1) AS older"
    f" UNION ALL SELECT * FROM (SELECT 1, {_SUMMARY_COLUMNS} FROM article a"
    " JOIN section s ON s.id = a.section_id WHERE s.slug = ?"
    " AND (a.published, a.id) > (?, ?)"
    " ORDER BY a.published, a.id LIMIT 1) AS newer"
)
_SOURCE_COLUMNS = "url, kind, state, added, attempted, succeeded, outcome, not_before"


def _source(row: Sequence) -> SourceState:
    return SourceState(
        url=row[0],
        kind=row[1],
        state=json.loads(row[2]),
        added=datetime.fromisoformat(row[3]),
        attempted=_datetime(row[4]),
        succeeded=_datetime(row[5]),
        outcome=row[6],
        not_before=_datetime(row[7]),
    )


def _chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    """Split a list of SQL parameters into runs SQLite accepts in one statement."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _storable(text: str) -> bool:
    """Tell whether a text from a request could be a stored one: no slug holds a
    NUL, and PostgreSQL refuses to be asked about one."""
    return "\x00" not in text


def _picture_json(picture: Picture | None) -> str | None:
    return json.dumps(asdict(picture), ensure_ascii=False) if picture else None


class Store:
    """Read and write the archive through one connection (SQLite or PostgreSQL)."""

    def __init__(
        self, connection: Connection, shared: SharedReads | None = None
    ) -> None:
        self.db = connection
        self.dialect = dialect_of(connection)
        # The cache tags of everything read through this store, for page caching.
        self.reads: set[str] = set()
        # A serving process keeps the reads every page makes alike (changes.py).
        self.shared = shared
        # "Also read" candidates read with their article (article()), for the
        # also_read() that follows on the same page: a statement fewer.
        self._candidates: dict[str, str | None] = {}

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """Commit the block's writes together, or none of them."""
        try:
            with self.db:
                yield
        except self.dialect.Error as error:
            if not self.dialect.disk_full(error):
                raise
            raise ArchiveFull(
                f"the disk holding the archive ({without_password(self.path())})"
                " is full"
            ) from None

    def path(self) -> str:
        """Return where the archive is kept: its file, or its database's URL (with
        its password, if it has one: for other processes to open it)."""
        return self.dialect.location(self.db)

    def sections(self) -> list[Section]:
        """Return every section with its article count, busiest first.

        Readers depend on the order and names (NAV_TAG), not on the counts.
        """
        return list(self.navigation())

    def kept(self, key: Hashable, read: Callable[[], T]) -> T:
        """Return read()'s value, made once and kept while nothing it read from
        this store changes (where reads are shared between pages), else made now.

        For what many pages derive alike from shared reads: `key` must name all
        that read() depends on besides the archive."""
        if self.shared is None:
            return read()
        return self.shared.get(key, read, self.reads)

    def navigation(self) -> Navigation:
        """Return `sections()` as every page's header links to them: one object,
        the same until the sections change where reads are shared, so that what is
        made from it (the header fragment, "Don't miss") can be kept with it."""
        if self.shared is None:
            return self._navigation_sections()
        return self.shared.get("sections", self._navigation_sections, self.reads)

    def _navigation_sections(self) -> Navigation:
        self.reads.add(NAV_TAG)
        return Navigation(tuple(self._sections()))

    def _sections(self) -> list[Section]:
        rows = self.db.execute(
            "SELECT slug, name, article_count FROM section WHERE article_count > 0"
            " ORDER BY article_count DESC, name"
        )
        return [Section(slug, name, count) for slug, name, count in rows]

    def section(self, slug: str) -> Section | None:
        """Return the section with this slug, or None."""
        self.reads.add(section_tag(slug))
        if not _storable(slug):
            return None
        row = self.db.execute(
            "SELECT slug, name, article_count FROM section WHERE slug = ?", (slug,)
        ).fetchone()
        return Section(*row) if row else None

    def article_count(self) -> int:
        """Return how many articles the archive holds."""
        self.reads.add(ARCHIVE_TAG)
        return self.db.execute("SELECT count(*) FROM article").fetchone()[0]

    def article(self, slug: str) -> Article | None:
        """Return the article with this slug, or None."""
        if not _storable(slug):
            return None
        row = self.db.execute(
            f"SELECT {_ARTICLE_COLUMNS}, r.candidates FROM article a"
            " JOIN section s ON s.id = a.section_id"
            " LEFT JOIN also_read r ON r.article_id = a.id WHERE a.slug = ?",
            (slug,),
        ).fetchone()
        if row is None:
            return None
        found = _article(row)
        self._candidates[found.id] = row[-1]
        self.reads.add(article_tag(found.id))
        return found

    def articles(self, pending_only: bool = False) -> Iterator[Article]:
        """Yield every article (or those the search index lacks), oldest first."""
        where = "WHERE a.index_pending" if pending_only else ""
        rows = self.dialect.stream(
            self.db,
            f"SELECT {_ARTICLE_COLUMNS} FROM article a"
            f" JOIN section s ON s.id = a.section_id {where}"
            " ORDER BY a.published, a.id",
        )
        return (_article(row) for row in rows)

    def articles_with_ids(self, ids: Iterable[str]) -> Iterator[Article]:
        """Yield the articles with these ids that the archive holds."""
        for chunk in _chunks(sorted(ids)):
            marks = ", ".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT {_ARTICLE_COLUMNS} FROM article a"
                f" JOIN section s ON s.id = a.section_id WHERE a.id IN ({marks})"
                " ORDER BY a.published, a.id",
                chunk,
            ).fetchall()
            yield from (_article(row) for row in rows)

    def pending_count(self) -> int:
        """Return how many articles wait to be added to the search index."""
        return self.db.execute(
            "SELECT count(*) FROM article WHERE index_pending"
        ).fetchone()[0]

    def mark_indexed(self, ids: Iterable[str] | None = None) -> None:
        """Record that the search index holds these articles (all when None)."""
        with self._transaction():
            if ids is None:
                self.db.execute(
                    "UPDATE article SET index_pending = FALSE WHERE index_pending"
                )
            else:
                self.db.executemany(
                    "UPDATE article SET index_pending = FALSE WHERE id = ?",
                    ((i,) for i in ids),
                )
            self._mark_changed({INDEX_TAG})

    def bodies(self, ids: Sequence[str]) -> dict[str, str]:
        """Return the plain-text body of each of these articles, by id."""
        if not ids:
            return {}
        self.reads.update(article_tag(i) for i in ids)
        marks = ",".join("?" * len(ids))
        return dict(
            self.db.execute(
                f"SELECT id, body_text FROM article WHERE id IN ({marks})", list(ids)
            )
        )

    def summaries(self, ids: Iterable[str]) -> list[ArticleSummary]:
        """Return summaries of the articles with these ids, in the order given."""
        ids = list(ids)
        if not ids:
            return []
        self.reads.update(article_tag(i) for i in ids)
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"SELECT {_SUMMARY_COLUMNS} FROM article a"
            f" JOIN section s ON s.id = a.section_id WHERE a.id IN ({marks})",
            ids,
        )
        by_id = {row[0]: _summary(row) for row in rows}
        return [by_id[i] for i in ids if i in by_id]

    def latest(
        self, limit: int, section: str | None = None, offset: int = 0
    ) -> list[ArticleSummary]:
        """Return the newest articles, of one section (by slug) or of all."""
        if self.shared is None or offset:
            return self._latest(limit, section, offset)
        return list(
            self.shared.get(
                ("latest", limit, section),
                lambda: tuple(self._latest(limit, section)),
                self.reads,
            )
        )

    def _latest(
        self, limit: int, section: str | None, offset: int = 0
    ) -> list[ArticleSummary]:
        rows = self._newest(_SUMMARY_COLUMNS, limit, section, offset)
        return [_summary(row) for row in rows]

    def latest_articles(self, limit: int, section: str | None = None) -> list[Article]:
        """Return the newest articles in full, of one section (by slug) or of all."""
        return [_article(row) for row in self._newest(_ARTICLE_COLUMNS, limit, section)]

    def _newest(
        self, columns: str, limit: int, section: str | None, offset: int = 0
    ) -> Iterable[Sequence]:
        self.reads.add(section_tag(section) if section else ARCHIVE_TAG)
        where, args = ("WHERE s.slug = ?", [section]) if section else ("", [])
        return self.db.execute(
            f"SELECT {columns} FROM article a"
            f" JOIN section s ON s.id = a.section_id {where}"
            " ORDER BY a.published DESC, a.id DESC LIMIT ? OFFSET ?",
            [*args, limit, offset],
        )

    def months(self) -> list[ArchiveMonth]:
        """Return each calendar month (UTC) that has articles, oldest first."""
        self.reads.add(ARCHIVE_TAG)
        rows = self.db.execute(
            "SELECT substr(published, 1, 7), count(*),"
            " max(coalesce(updated, published)) FROM article GROUP BY 1 ORDER BY 1"
        )
        return [
            ArchiveMonth(month, count, datetime.fromisoformat(modified))
            for month, count, modified in rows
        ]

    def stamps(
        self,
        since: datetime,
        before: datetime | None = None,
        limit: int = -1,
        offset: int = 0,
    ) -> list[ArticleStamp]:
        """Return where and when of the articles published in [since, before),
        newest first."""
        self.reads.add(ARCHIVE_TAG)
        bounds = [_stamp(since), *([_stamp(before)] if before else [])]
        rows = self.db.execute(
            "SELECT a.slug, s.slug, s.name, a.headline, a.published, a.updated"
            " FROM article a JOIN section s ON s.id = a.section_id"
            f" WHERE a.published >= ?{' AND a.published < ?' if before else ''}"
            " ORDER BY a.published DESC, a.id DESC LIMIT ? OFFSET ?",
            [*bounds, limit if limit >= 0 else NO_LIMIT, offset],
        )
        return [
            ArticleStamp(
                slug=slug,
                section=Section(section_slug, section_name),
                headline=headline,
                published=datetime.fromisoformat(published),
                updated=_datetime(updated),
            )
            for slug, section_slug, section_name, headline, published, updated in rows
        ]

    def latest_page(
        self, number: int, size: int, section: Section | None = None
    ) -> Page[ArticleSummary] | None:
        """Return page `number` of the newest articles, or None past the last page."""
        total = section.article_count if section else self.article_count()
        if number < 1 or number > max(1, -(-total // size)):
            return None
        offset = (number - 1) * size
        items = self.latest(size, section.slug if section else None, offset)
        return Page(items=items, number=number, size=size, total=total)

    def neighbours(
        self, article: Article | ArticleSummary
    ) -> tuple[ArticleSummary | None, ArticleSummary | None]:
        """Return the previous (older) and next (newer) article in its section."""
        previous, newer, _ = self.neighbours_and(article, ())
        return previous, newer

    def neighbours_and(
        self, article: Article | ArticleSummary, ids: Sequence[str]
    ) -> tuple[ArticleSummary | None, ArticleSummary | None, list[ArticleSummary]]:
        """Return the previous (older) and next (newer) article in its section, and
        summaries of the articles with these ids, in the order given.

        One statement for all: a round trip fewer where the archive is a server,
        and a statement fewer for every article page (#16).
        """
        key = (article.section.slug, _stamp(article.published), article.id)
        self.reads.add(section_tag(article.section.slug))
        statement = _NEIGHBOURS
        if ids:
            self.reads.update(article_tag(i) for i in ids)
            statement += (
                f" UNION ALL SELECT 2, {_SUMMARY_COLUMNS} FROM article a"
                " JOIN section s ON s.id = a.section_id"
                f" WHERE a.id IN ({','.join('?' * len(ids))})"
            )
        previous = newer = None
        by_id: dict[str, ArticleSummary] = {}
        for row in self.db.execute(statement, [*key, *key, *ids]).fetchall():
            if row[0] == 0:
                previous = _summary(row[1:])
            elif row[0] == 1:
                newer = _summary(row[1:])
            else:
                by_id[row[1]] = _summary(row[1:])
        return previous, newer, [by_id[i] for i in ids if i in by_id]

    def tag_neighbours(self, article: Article, limit: int) -> list[str]:
        """Return ids of articles sharing the most tags with this one, nearest first."""
        rows = self.db.execute(
            "SELECT other.article_id FROM article_tag mine"
            " JOIN article_tag other ON other.tag = mine.tag"
            "  AND other.article_id != mine.article_id"
            " JOIN article a ON a.id = other.article_id"
            " WHERE mine.article_id = ?"
            # A tag that only repeats the section name relates nothing, and one
            # on thousands of stories ("usa") relates little at great cost.
            "  AND mine.tag NOT IN (SELECT name FROM section)"
            "  AND (SELECT count(*) FROM article_tag t WHERE t.tag = mine.tag) <= ?"
            " GROUP BY other.article_id, a.published"
            " ORDER BY count(*) DESC,"
            f" {self.dialect.days_apart('a.published', '?')}, other.article_id"
            " LIMIT ?",
            (article.id, COMMON_TAG, _stamp(article.published), limit),
        )
        return [row[0] for row in rows]

    def relating_tags(self) -> dict[str, list[tuple[str, str]]]:
        """Return, for each tag that relates stories (as tag_neighbours counts them),
        the (id, published) of the articles carrying it."""
        rows = self.db.execute(
            "SELECT t.tag, t.article_id, a.published FROM article_tag t"
            " JOIN article a ON a.id = t.article_id"
            " WHERE t.tag IN (SELECT tag FROM article_tag"
            "  WHERE tag NOT IN (SELECT name FROM section)"
            "  GROUP BY tag HAVING count(*) <= ?)",
            (COMMON_TAG,),
        )
        found: dict[str, list[tuple[str, str]]] = {}
        for tag, article_id, published in rows:
            found.setdefault(tag, []).append((article_id, published))
        return found

    def headlines(self) -> dict[str, str]:
        """Return every article's headline, by id."""
        return dict(self.db.execute("SELECT id, headline FROM article"))

    def texts(self, ids: Iterable[str] | None = None) -> Iterator[tuple[str, ...]]:
        """Yield (id, headline, standfirst, body text) of these articles (all when
        None), in no particular order."""
        columns = "id, headline, coalesce(standfirst, ''), body_text"
        if ids is None:
            yield from self.dialect.stream(self.db, f"SELECT {columns} FROM article")
            return
        for chunk in _chunks(list(ids)):
            yield from self.db.execute(
                f"SELECT {columns} FROM article"
                f" WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            )

    def also_read(self, article_id: str) -> list[str] | None:
        """Return the ids chosen for an article's "Also read", best first, or None
        when none were chosen since it last changed."""
        if article_id in self._candidates:
            # Read with the article a moment ago; once only, so never stale.
            candidates = self._candidates.pop(article_id)
            return json.loads(candidates) if candidates is not None else None
        row = self.db.execute(
            "SELECT candidates FROM also_read WHERE article_id = ?", (article_id,)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def also_read_due(self, changed: Collection[str]) -> set[str]:
        """Return the articles whose "Also read" must be chosen again: those with no
        choice yet, and those whose choices name one of the `changed` articles."""
        changed = set(changed)
        due = {
            row[0]
            for row in self.db.execute(
                "SELECT id FROM article a WHERE NOT EXISTS"
                " (SELECT 1 FROM also_read r WHERE r.article_id = a.id)"
            )
        }
        if changed and len(due) < self.article_count():
            for article_id, candidates in self.db.execute(
                "SELECT article_id, candidates FROM also_read"
            ):
                if not changed.isdisjoint(json.loads(candidates)):
                    due.add(article_id)
        return due

    def keep_also_read(self, choices: dict[str, list[str]]) -> None:
        """Store articles' "Also read" choices; the pages of those whose choice
        changed are rendered anew."""
        before: dict[str, str] = {}
        for chunk in _chunks(list(choices)):
            before.update(
                self.db.execute(
                    "SELECT article_id, candidates FROM also_read"
                    f" WHERE article_id IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
            )
        rows = [(i, json.dumps(c)) for i, c in choices.items()]
        with self._transaction():
            self.db.executemany(
                "INSERT INTO also_read (article_id, candidates)"
                " SELECT ?, ? WHERE EXISTS (SELECT 1 FROM article WHERE id = ?)"
                " ON CONFLICT (article_id) DO UPDATE"
                " SET candidates = excluded.candidates",
                [(i, c, i) for i, c in rows],
            )
            changed = {article_tag(i) for i, c in rows if before.get(i, c) != c}
            if changed:
                self._mark_changed(changed)

    def ids(self) -> set[str]:
        """Return the id of every article in the archive."""
        return {row[0] for row in self.db.execute("SELECT id FROM article")}

    def pending_ids(self) -> set[str]:
        """Return the ids of the articles the search index does not hold yet."""
        rows = self.db.execute("SELECT id FROM article WHERE index_pending")
        return {row[0] for row in rows}

    def mark_pending(self, ids: Iterable[str]) -> None:
        """Record that the search index must (re-)add these articles: logged as
        changes, which every node's index applies."""
        ids = sorted(ids)
        with self._transaction():
            self.db.executemany(
                "UPDATE article SET index_pending = TRUE WHERE id = ?",
                ((i,) for i in ids),
            )
            self._log_changes([(i, STORED) for i in ids])

    def problems(self) -> list[str]:
        """Return what is wrong with the archive file and its own bookkeeping.

        The engine's own checks (SQLite's integrity and foreign-key checks), then
        the counts kept beside the articles. An empty list means nothing is.
        """
        try:
            found = self.dialect.file_problems(self.db)
            for slug, kept, counted in self.db.execute(
                "SELECT s.slug, s.article_count, count(a.id) FROM section s"
                " LEFT JOIN article a ON a.section_id = s.id GROUP BY s.id"
                " HAVING s.article_count != count(a.id)"
            ):
                found.append(f"section {slug} says {kept} articles, holds {counted}")
        except self.dialect.Error as error:
            # Damage bad enough stops the checks themselves.
            return [str(error)]
        return found

    def repair(self) -> None:
        """Rebuild the indexes of the tables and recount the sections."""
        with self._transaction():
            for statement in self.dialect.reindex:
                self.db.execute(statement)
            self.db.execute(
                "UPDATE section SET article_count ="
                " (SELECT count(*) FROM article WHERE section_id = section.id)"
            )
            self._mark_changed({NAV_TAG, ARCHIVE_TAG})

    def backup(self, target: str | Path) -> None:
        """Copy the archive, as it is at one moment, to target (a new file)."""
        if not self.dialect.file_backups:
            raise CopyFailed(
                f"{self.path()} is a PostgreSQL database: back it up with"
                " PostgreSQL's own tools (pg_dump, or the server's base backups)"
            )
        copy = sqlite3.connect(target)
        try:
            # SQLite's online backup API in one step reads every page in one read
            # transaction: under WAL, imports commit meanwhile without restarting it
            # (a stepwise copy restarts at each commit of another process).
            # VACUUM INTO is as consistent, but rebuilds every b-tree as it copies:
            # about 30% more CPU, for a file 1.5% smaller, and the site serves less
            # while it runs (docs/benchmarks.md, "Backups").
            self.db.backup(copy, pages=-1)
            # The copy inherits WAL mode; a rollback journal makes it one file,
            # complete on its own, that a read-only check leaves as it is.
            copy.execute("PRAGMA journal_mode = DELETE")
        except sqlite3.Error as error:
            raise CopyFailed(f"copying {self.path()} to {target}: {error}") from None
        finally:
            copy.close()

    def checksums(self, ids: Sequence[str]) -> dict[str, str]:
        """Return the stored checksum of each of these ids that the archive holds."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            found.update(
                self.db.execute(
                    f"SELECT id, checksum FROM article WHERE id IN ({marks})", chunk
                )
            )
        return found

    def save(self, records: Iterable[ArticleRecord | ArticleRemoval]) -> SaveCounts:
        """Insert new articles, update changed ones and take removed ones off the
        site, all in one transaction.

        A changed article keeps its slug, so its URL survives the update; a removed
        one leaves its slug behind, so its URL answers 410 Gone.
        """
        counts = SaveCounts()
        now = _stamp(datetime.now(UTC))
        changed: set[str] = set()
        # (article id, kind) for the change log, in the order written.
        logged: list[tuple[str, str]] = []
        with self._transaction():
            navigation = self._navigation()
            section_ids: dict[str, int] = {}
            section_slugs: dict[str, str] = {}
            # Statements a new story cannot need are skipped: an import of a whole
            # archive makes a third as many round trips.
            removals_kept = self._any("removed_article")
            pictures_kept = self._any("picture")
            for record in records:
                if isinstance(record, ArticleRemoval):
                    if self._remove(record.id, now, changed):
                        logged.append((record.id, REMOVED))
                        counts.removed += 1
                        removals_kept = True
                    else:
                        counts.skipped["no longer published"] += 1
                    continue
                if record.section not in section_ids:
                    section_id = self._section_id(record.section)
                    section_ids[record.section] = section_id
                    section_slugs[record.section] = self._section_slug(section_id)
                existing = self.db.execute(
                    f"SELECT checksum, {', '.join(_CONTENT)}, (SELECT slug FROM section"
                    " WHERE id = article.section_id) FROM article WHERE id = ?",
                    (record.id,),
                ).fetchone()
                if existing and existing[0] == record.checksum:
                    counts.unchanged += 1
                    continue
                published = _stamp(record.published)
                if existing and record.undated:
                    # Dated when first imported: later imports keep that date.
                    published = existing[1 + _CONTENT.index("published")]
                values = {
                    "id": record.id,
                    "section_id": section_ids[record.section],
                    "headline": record.headline,
                    "standfirst": record.standfirst,
                    "byline": record.byline,
                    "body_html": record.body_html,
                    "body_text": record.body_text,
                    "excerpt": record.excerpt,
                    "published": published,
                    "tags": json.dumps(list(record.tags), ensure_ascii=False),
                    "source_url": record.source_url,
                    "word_count": record.word_count,
                    "checksum": record.checksum,
                    # A source that names no language (a REST answer) keeps the
                    # one another (the export) named: it is no change.
                    "language": record.language
                    or (existing[1 + _CONTENT.index("language")] if existing else ""),
                    "picture": _picture_json(record.picture),
                }
                if existing and existing[1:-1] == tuple(values[c] for c in _CONTENT):
                    # Same content, differently written line (key order, spacing).
                    self.db.execute(
                        "UPDATE article SET checksum = ? WHERE id = ?",
                        (record.checksum, record.id),
                    )
                    counts.unchanged += 1
                    continue
                # When the source says it changed the story, else when we saw it.
                values["updated"] = (
                    _stamp(record.updated)
                    if record.updated and record.updated > record.published
                    else (now if existing else None)
                )
                if existing:
                    self.db.execute(
                        "UPDATE article SET section_id = :section_id,"
                        " headline = :headline, standfirst = :standfirst,"
                        " byline = :byline, body_html = :body_html,"
                        " body_text = :body_text, excerpt = :excerpt,"
                        " published = :published, tags = :tags,"
                        " source_url = :source_url, word_count = :word_count,"
                        " checksum = :checksum, updated = :updated,"
                        " language = :language, picture = :picture,"
                        " index_pending = TRUE WHERE id = :id",
                        values,
                    )
                    self.db.execute(
                        "DELETE FROM article_tag WHERE article_id = ?", (record.id,)
                    )
                    # Chosen for the old text: the next index update chooses again.
                    self.db.execute(
                        "DELETE FROM also_read WHERE article_id = ?", (record.id,)
                    )
                    counts.updated += 1
                    changed.update((article_tag(record.id), section_tag(existing[-1])))
                else:
                    values["slug"] = self._free_slug(record)
                    self.db.execute(
                        "INSERT INTO article (id, slug, section_id, headline,"
                        " standfirst, byline, body_html, body_text, excerpt,"
                        " published, updated, tags, source_url, word_count, checksum,"
                        " language, picture)"
                        " VALUES (:id, :slug, :section_id, :headline, :standfirst,"
                        " :byline, :body_html, :body_text, :excerpt, :published,"
                        " :updated, :tags, :source_url, :word_count, :checksum,"
                        " :language, :picture)",
                        values,
                    )
                    if removals_kept:
                        # Published again after it was taken off: its URL comes back.
                        self.db.execute(
                            "DELETE FROM removed_article WHERE id = ?", (record.id,)
                        )
                    counts.added += 1
                    counts.undated += record.undated
                changed.add(section_tag(section_slugs[record.section]))
                logged.append((record.id, STORED))
                if record.tags:
                    self.db.executemany(
                        "INSERT INTO article_tag (tag, article_id)"
                        " VALUES (?, ?) ON CONFLICT DO NOTHING",
                        [(tag, record.id) for tag in record.tags],
                    )
                if existing or record.picture_urls:
                    self._link_pictures(
                        record.id,
                        record.picture_urls,
                        record.picture.url if record.picture else None,
                        existing is not None,
                        pictures_kept,
                    )
            self.db.execute(
                "UPDATE section SET article_count ="
                " (SELECT count(*) FROM article WHERE section_id = section.id)"
            )
            if counts.added or counts.updated or counts.removed:
                self.db.execute(
                    "INSERT INTO archive_meta (key, value) VALUES ('changed_at', ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (now,),
                )
                changed.add(ARCHIVE_TAG)
                if self._navigation() != navigation:
                    changed.add(NAV_TAG)
                self._mark_changed(changed)
                self._log_changes(logged)
        return counts

    def _remove(self, article_id: str, now: str, changed: set[str]) -> bool:
        """Take one article off the site, leaving its URL to answer 410."""
        row = self.db.execute(
            "SELECT a.slug, s.slug FROM article a JOIN section s"
            " ON s.id = a.section_id WHERE a.id = ?",
            (article_id,),
        ).fetchone()
        if row is None:
            return False
        slug, section_slug = row
        self.db.execute(
            "INSERT INTO removed_article (id, slug, section_slug, removed)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET slug = excluded.slug,"
            " section_slug = excluded.section_slug, removed = excluded.removed,"
            " index_pending = TRUE",
            (article_id, slug, section_slug, now),
        )
        self.db.execute("DELETE FROM article WHERE id = ?", (article_id,))
        changed.update((article_tag(article_id), section_tag(section_slug)))
        return True

    def _link_pictures(
        self,
        article_id: str,
        urls: Sequence[str],
        lead: str | None,
        stored_before: bool = True,
        pictures_kept: bool = True,
    ) -> None:
        """Record, in the caller's transaction, the pictures a story shows; show its
        lead at once if that picture is kept already (another story used it).

        A story stored for the first time has no pictures listed or shown yet, and
        none can be shown while the archive keeps no picture at all."""
        if stored_before:
            self.db.execute(
                "DELETE FROM article_picture WHERE article_id = ?", (article_id,)
            )
        _list_pictures(self.db, article_id, urls, lead)
        shown = None
        if lead is not None and pictures_kept:
            shown = self.db.execute(
                "SELECT p.digest, p.width, p.height, p.tint FROM picture_source ps"
                " JOIN picture p ON p.digest = ps.digest WHERE ps.url = ?",
                (lead,),
            ).fetchone()
        if shown is None and not stored_before:
            return
        self.db.execute(
            "UPDATE article SET shown_picture = ? WHERE id = ?",
            (StoredPicture(*shown).column if shown else None, article_id),
        )

    def pictures_wanted(self, retry_refused: bool = False) -> list[str]:
        """Return the addresses of pictures stories show that are not kept yet.

        A picture refused for what it is (an SVG, a damaged file) is not asked for
        again unless `retry_refused`; one that failed on the way (a timeout, a 503)
        is asked for on every run.
        """
        rows = self.db.execute(
            "SELECT ps.url FROM picture_source ps WHERE ps.digest IS NULL"
            " AND (? OR NOT ps.permanent)"
            " AND EXISTS (SELECT 1 FROM article_picture ap WHERE ap.url = ps.url)"
            " ORDER BY ps.tried IS NOT NULL, ps.tried, ps.url",
            (retry_refused,),
        )
        return [row[0] for row in rows]

    def keep_picture(
        self,
        url: str,
        digest: str,
        kind: str,
        width: int,
        height: int,
        tint: int,
        size: int,
    ) -> int:
        """Record that the picture at `url` is kept (its file written already), and
        show it on the stories that use it; return how many stories that is."""
        now = _stamp(datetime.now(UTC))
        shown = StoredPicture(digest, width, height, tint).column
        with self._transaction():
            self.db.execute(
                "INSERT INTO picture (digest, kind, width, height, tint,"
                " bytes, stored) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (digest, kind, width, height, tint, size, now),
            )
            self.db.execute(
                "UPDATE picture_source SET digest = ?, problem = NULL,"
                " permanent = FALSE, attempts = attempts + 1, tried = ? WHERE url = ?",
                (digest, now, url),
            )
            users = self.db.execute(
                "SELECT a.id, s.slug, ap.lead FROM article_picture ap"
                " JOIN article a ON a.id = ap.article_id"
                " JOIN section s ON s.id = a.section_id WHERE ap.url = ?",
                (url,),
            ).fetchall()
            self.db.executemany(
                "UPDATE article SET shown_picture = ? WHERE id = ?",
                [(shown, article_id) for article_id, _, lead in users if lead],
            )
            changed = {article_tag(article_id) for article_id, _, _ in users}
            if any(lead for _, _, lead in users):
                # Listings show lead pictures as thumbnails.
                changed |= {section_tag(slug) for _, slug, _ in users} | {ARCHIVE_TAG}
            if changed:
                self._mark_changed(changed)
        return len(users)

    def picture_failed(self, url: str, problem: str, permanent: bool) -> None:
        """Record why fetching the picture at `url` failed, for the next run."""
        with self._transaction():
            self.db.execute(
                "UPDATE picture_source SET problem = ?, permanent = ?,"
                " attempts = attempts + 1, tried = ? WHERE url = ?",
                (problem, permanent, _stamp(datetime.now(UTC)), url),
            )

    def body_pictures(self, article_id: str) -> dict[str, StoredPicture]:
        """Return the kept pictures an article's body shows, by their address."""
        rows = self.db.execute(
            "SELECT ap.url, p.digest, p.width, p.height, p.tint"
            " FROM article_picture ap JOIN picture_source ps ON ps.url = ap.url"
            " JOIN picture p ON p.digest = ps.digest"
            " WHERE ap.article_id = ? AND NOT ap.lead",
            (article_id,),
        )
        return {url: StoredPicture(*rest) for url, *rest in rows}

    def picture_report(self) -> PictureReport:
        """Return what is kept, what is missing and why, for `reader pictures`."""
        kept, size = self.db.execute(
            "SELECT count(*), coalesce(sum(bytes), 0) FROM picture"
        ).fetchone()
        waiting = self.db.execute(
            "SELECT url, problem, permanent, attempts FROM picture_source ps"
            " WHERE digest IS NULL AND EXISTS"
            " (SELECT 1 FROM article_picture ap WHERE ap.url = ps.url)"
            " ORDER BY url"
        ).fetchall()
        unused = len(self.unused_pictures())
        return PictureReport(
            kept=kept,
            bytes=size,
            missing=[MissingPicture(*row) for row in waiting],
            unused=unused,
        )

    def unused_pictures(self) -> list[str]:
        """Return the digests of kept pictures no story shows any more."""
        rows = self.db.execute(
            "SELECT p.digest FROM picture p WHERE NOT EXISTS"
            " (SELECT 1 FROM picture_source ps JOIN article_picture ap"
            "  ON ap.url = ps.url WHERE ps.digest = p.digest)"
        )
        return [row[0] for row in rows]

    def forget_pictures(self, digests: Sequence[str]) -> None:
        """Drop kept pictures, and the addresses no story names. A story that showed
        one shows none until its address is fetched again."""
        with self._transaction():
            shown = self.db.execute(
                "SELECT a.id, s.slug FROM article a JOIN section s"
                " ON s.id = a.section_id WHERE a.shown_picture IS NOT NULL"
                " AND substr(a.shown_picture, 1, 32) IN"
                f" ({','.join('?' * len(digests))})",
                list(digests),
            ).fetchall()
            if shown:
                self.db.executemany(
                    "UPDATE article SET shown_picture = NULL WHERE id = ?",
                    [(article_id,) for article_id, _ in shown],
                )
                self._mark_changed(
                    {article_tag(i) for i, _ in shown}
                    | {section_tag(slug) for _, slug in shown}
                    | {ARCHIVE_TAG}
                )
            self.db.executemany(
                "UPDATE picture_source SET digest = NULL WHERE digest = ?",
                [(digest,) for digest in digests],
            )
            self.db.executemany(
                "DELETE FROM picture WHERE digest = ?", [(d,) for d in digests]
            )
            self.db.execute(
                "DELETE FROM picture_source WHERE NOT EXISTS"
                " (SELECT 1 FROM article_picture ap WHERE ap.url = picture_source.url)"
            )

    def kept_pictures(self) -> list[tuple[str, str]]:
        """Return (digest, kind) of every kept picture, for `reader check`."""
        return self.db.execute("SELECT digest, kind FROM picture").fetchall()

    def source(self, url: str) -> SourceState | None:
        """Return a live source `reader pull` follows, or None."""
        row = self.db.execute(
            f"SELECT {_SOURCE_COLUMNS} FROM source WHERE url = ?", (url,)
        ).fetchone()
        return _source(row) if row else None

    def sources(self) -> list[SourceState]:
        """Return every live source, in the order they were added."""
        rows = self.db.execute(
            f"SELECT {_SOURCE_COLUMNS} FROM source ORDER BY added, url"
        )
        return [_source(row) for row in rows]

    def record_pull(
        self,
        url: str,
        kind: str,
        state: dict,
        outcome: str,
        succeeded: bool,
        not_before: datetime | None = None,
    ) -> None:
        """Record what a pull of a source did, and what the next one starts from."""
        now = _stamp(datetime.now(UTC))
        with self._transaction():
            self.db.execute(
                "INSERT INTO source (url, kind, state, added, attempted, succeeded,"
                " outcome, not_before) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (url) DO UPDATE SET kind = excluded.kind,"
                " state = excluded.state, attempted = excluded.attempted,"
                " succeeded = coalesce(excluded.succeeded, source.succeeded),"
                " outcome = excluded.outcome, not_before = excluded.not_before",
                (
                    url,
                    kind,
                    json.dumps(state, sort_keys=True),
                    now,
                    now,
                    now if succeeded else None,
                    outcome,
                    _stamp(not_before) if not_before else None,
                ),
            )

    def forget_source(self, url: str) -> bool:
        """Stop following a source (its stories stay); tell whether it was followed."""
        with self._transaction():
            return (
                self.db.execute("DELETE FROM source WHERE url = ?", (url,)).rowcount > 0
            )

    def ids_starting(self, prefix: str) -> set[str]:
        """Return the ids of the articles whose id starts with prefix."""
        rows = self.db.execute(
            "SELECT id FROM article WHERE id >= ? AND id < ?",
            (prefix, prefix + "\U0010ffff"),
        )
        return {row[0] for row in rows}

    def removed(self, slug: str) -> bool:
        """Tell whether an article with this slug was taken off the site."""
        self.reads.add(ARCHIVE_TAG)
        if not _storable(slug):
            return False
        return (
            self.db.execute(
                "SELECT 1 FROM removed_article WHERE slug = ?", (slug,)
            ).fetchone()
            is not None
        )

    def removed_pending(self) -> list[str]:
        """Return ids of removed articles the search index may still hold."""
        rows = self.db.execute("SELECT id FROM removed_article WHERE index_pending")
        return [row[0] for row in rows]

    def mark_removals_indexed(self, ids: Iterable[str]) -> None:
        """Record that the search index no longer holds these removed articles."""
        with self._transaction():
            self.db.executemany(
                "UPDATE removed_article SET index_pending = FALSE WHERE id = ?",
                ((i,) for i in ids),
            )

    def change_seq(self) -> int:
        """Return the number of the archive's latest change (0 before any)."""
        return self.db.execute(
            "SELECT coalesce(max(seq), 0) FROM cache_tag"
        ).fetchone()[0]

    def changes_since(self, seq: int) -> list[tuple[str, int]]:
        """Return (cache tag, change number) for each tag changed after change seq."""
        return self.db.execute(
            "SELECT tag, seq FROM cache_tag WHERE seq > ?", (seq,)
        ).fetchall()

    def latest_article_change(self) -> int:
        """Return the number of the latest story change in the log (0 before any)."""
        return self.db.execute(
            "SELECT coalesce(max(seq), 0) FROM article_change"
        ).fetchone()[0]

    def article_changes_since(self, seq: int) -> tuple[dict[str, str], int]:
        """Return each story changed after change `seq` with its latest kind of
        change (STORED or REMOVED), and the number of the last change read."""
        latest: dict[str, str] = {}
        last = seq
        rows = self.dialect.stream(
            self.db,
            "SELECT seq, article_id, kind FROM article_change WHERE seq > ?"
            " ORDER BY seq",
            (seq,),
        )
        for number, article_id, kind in rows:
            latest[article_id] = kind
            last = number
        return latest, last

    def _log_changes(self, changes: Sequence[tuple[str, str]]) -> None:
        """Number, in the caller's transaction, these story changes in the log.

        On PostgreSQL the change lock, held to the commit, makes numbers taken and
        committed one writer at a time; a SQLite writer is alone.
        """
        if not changes:
            return
        if self.dialect.serialize_changes:
            self.db.execute(self.dialect.serialize_changes)  # held: a no-op
        if self.dialect.announce_change:
            self.db.execute(self.dialect.announce_change)
        first = self.latest_article_change() + 1
        self.db.executemany(
            "INSERT INTO article_change (seq, article_id, kind) VALUES (?, ?, ?)",
            [
                (seq, article_id, kind)
                for seq, (article_id, kind) in enumerate(changes, first)
            ],
        )
        # A story's earlier changes say nothing its latest does not: an index
        # behind them reads the story as it is now either way. Kept, they would
        # grow the log by a row a correction, forever.
        self.db.executemany(
            "DELETE FROM article_change WHERE article_id = ? AND seq < ?",
            [(article_id, first) for article_id, _ in changes],
        )

    def data_version(self) -> int:
        """Return a number that moves whenever another connection commits a write
        (on PostgreSQL: one that changes a cache tag)."""
        return self.db.execute(self.dialect.data_version).fetchone()[0]

    def _mark_changed(self, tags: set[str]) -> None:
        """Record, in the caller's transaction, that these tags changed together."""
        if self.dialect.serialize_changes:
            self.db.execute(self.dialect.serialize_changes)
        if self.dialect.announce_change:
            self.db.execute(self.dialect.announce_change)
        seq = self.change_seq() + 1
        self.db.executemany(
            "INSERT INTO cache_tag (tag, seq) VALUES (?, ?)"
            " ON CONFLICT (tag) DO UPDATE SET seq = excluded.seq",
            [(tag, seq) for tag in sorted(tags)],
        )

    def _navigation(self) -> list[tuple[str, str]]:
        return [(section.slug, section.name) for section in self._sections()]

    def _section_slug(self, section_id: int) -> str:
        return self.db.execute(
            "SELECT slug FROM section WHERE id = ?", (section_id,)
        ).fetchone()[0]

    def changed_at(self) -> datetime | None:
        """Return when an import last added or changed an article."""
        if self.shared is None:
            return self._changed_at()
        # Every page asks (Last-Modified); it moves only with the archive tag,
        # which it is kept by. The page itself does not read that tag.
        kept_by: set[str] = set()

        def read() -> datetime | None:
            kept_by.add(ARCHIVE_TAG)
            return self._changed_at()

        return self.shared.get("changed_at", read, kept_by)

    def _changed_at(self) -> datetime | None:
        row = self.db.execute(
            "SELECT value FROM archive_meta WHERE key = 'changed_at'"
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def _section_id(self, name: str) -> int:
        row = self.db.execute(
            "SELECT id FROM section WHERE name = ?", (name,)
        ).fetchone()
        if row:
            return row[0]
        # Names that differ only in case, punctuation or word order are one section.
        wanted = section_key(name)
        for section_id, existing in self.db.execute("SELECT id, name FROM section"):
            if section_key(existing) == wanted:
                return section_id
        slug = self._free_name("section", slugify(name))
        return self.db.execute(
            "INSERT INTO section (slug, name) VALUES (?, ?) RETURNING id", (slug, name)
        ).fetchone()[0]

    def _free_slug(self, record: ArticleRecord) -> str:
        base = record.slug or slugify(record.headline)
        if not self._taken("article", base):
            return base
        # Running stories repeat headlines day after day: the date tells them apart.
        return self._free_name("article", f"{base}-{record.published:%Y-%m-%d}")

    def _free_name(self, table: str, base: str) -> str:
        slug, n = base, 1
        while self._taken(table, slug):
            n += 1
            slug = f"{base}-{n}"
        return slug

    def _any(self, table: str) -> bool:
        query = f"SELECT 1 FROM {table} LIMIT 1"  # table is ours, never input
        return self.db.execute(query).fetchone() is not None

    def _taken(self, table: str, slug: str) -> bool:
        query = f"SELECT 1 FROM {table} WHERE slug = ?"  # table is ours, never input
        return self.db.execute(query, (slug,)).fetchone() is not None


def open_store(where: str | Path | Archive) -> Store:
    """Open (creating or migrating if needed) the archive at an address: a
    postgresql:// URL, else a SQLite file's path."""
    return Store(open_connection(where))


def open_connection(where: str | Path | Archive) -> Connection:
    """Open a connection to the archive at an address, its schema up to date."""
    return _open(where)[0]


def migrate(where: str | Path | Archive) -> tuple[int, int]:
    """Bring the archive's schema up to date; return its versions before and after
    (-1 before: a new PostgreSQL database)."""
    connection, versions = _open(where)
    connection.close()
    return versions


def _open(where: str | Path | Archive) -> tuple[Connection, tuple[int, int]]:
    archive = locate(where)
    connection = None
    try:
        connection = archive.connect()
        return connection, init_schema(connection)
    except BaseException as error:
        if connection is not None:
            connection.close()
        if not isinstance(error, archive.dialect.Error):
            raise
        if archive.dialect.file_backups:  # a file: unreadable means damaged
            raise ArchiveDamaged(f"{archive.where}: {error}") from None
        raise ArchiveUnreachable(f"{archive.where}: {error}") from None


def sqlite_version() -> str:
    """Return the version of the SQLite library in use."""
    return sqlite3.sqlite_version


def open_copy(path: str | Path) -> Store:
    """Open a copy of the archive (a backup's) read-only, to check it."""
    uri = f"{Path(path).resolve().as_uri()}?mode=ro"
    return Store(sqlite3.connect(uri, uri=True, check_same_thread=False))


def open_elsewhere(path: str | Path) -> bool:
    """Return whether another process has the archive open, as a served site does.

    The last connection to close checkpoints the archive and deletes its -wal and
    -shm files, so they outlive this one only while someone else holds them.
    """
    try:
        connect(path).close()
    except sqlite3.DatabaseError:
        pass  # a damaged archive still has its -wal and -shm files, or none
    return any(Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-shm"))
