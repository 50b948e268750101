"""The values that flow from the store to the pages: plain, frozen, no I/O."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from markupsafe import Markup

T = TypeVar("T")


# Values that pages render through `fragment` (views/fragments.py) are hashed on
# every page as parts of its keys: by what names them, since equal values name
# the same thing (values equal in that alone still compare in full).


@dataclass(frozen=True, slots=True)
class Section:
    slug: str
    name: str
    article_count: int = 0

    def __hash__(self) -> int:
        return hash(self.slug)


@dataclass(frozen=True, slots=True)
class Navigation:
    """The sections every page's header links to, busiest first.

    Kept once for all pages (the store's shared reads) and hashed once: it is part
    of the key of the header fragment every page renders.
    """

    sections: tuple[Section, ...]
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash(self.sections))

    def __hash__(self) -> int:
        return self._hash

    def __iter__(self) -> Iterator[Section]:
        return iter(self.sections)

    def __len__(self) -> int:
        return len(self.sections)


@dataclass(frozen=True, slots=True)
class Picture:
    """A story's lead picture as its source describes it (where it is, not a copy)."""

    url: str
    alt: str | None = None
    caption: str | None = None
    credit: str | None = None


@dataclass(frozen=True, slots=True)
class StoredPicture:
    """A picture kept on the site: what markup needs to offer its renditions."""

    digest: str  # of the original's bytes: names its files and URLs
    width: int  # as shown, after the camera's orientation is applied
    height: int
    tint: int  # the placeholder colour shown while it loads (pictures.TINTS)
    alt: str | None = None
    caption: str | None = None
    credit: str | None = None

    def __hash__(self) -> int:
        return hash(self.digest)

    @property
    def column(self) -> str:
        """Return how an article row keeps it (see `from_column`)."""
        return f"{self.digest} {self.width} {self.height} {self.tint}"

    @classmethod
    def from_column(cls, value: str, described: Picture | None = None) -> StoredPicture:
        digest, width, height, tint = value.split()
        words = (
            (described.alt, described.caption, described.credit) if described else ()
        )
        return cls(digest, int(width), int(height), int(tint), *words)


@dataclass(frozen=True, slots=True)
class Article:
    id: str
    slug: str
    section: Section
    headline: str
    standfirst: str | None
    byline: str | None
    body_html: Markup
    body_text: str
    published: datetime
    updated: datetime | None
    tags: tuple[str, ...]
    source_url: str | None
    word_count: int
    language: str = ""  # BCP 47; "" is the site's own (SITE_LANGUAGE)
    # The lead picture once it is kept on the site; until then the story shows none.
    picture: StoredPicture | None = None
    # Where the source said the lead picture was (feeds and `reader pictures`).
    picture_source: Picture | None = None

    @property
    def modified(self) -> datetime:
        return self.updated or self.published


@dataclass(frozen=True, slots=True)
class ArticleSummary:
    """What a listing or a card needs: no body, an excerpt instead."""

    id: str
    slug: str
    section: Section
    headline: str
    excerpt: str
    byline: str | None
    published: datetime
    word_count: int
    language: str = ""
    picture: StoredPicture | None = None  # the lead picture, once kept on the site

    def __hash__(self) -> int:
        return hash(self.id)


@dataclass(frozen=True, slots=True)
class ArticleStamp:
    """Where an article lives and when it last changed: what a sitemap lists."""

    slug: str
    section: Section
    headline: str
    published: datetime
    updated: datetime | None

    @property
    def modified(self) -> datetime:
        return self.updated or self.published


@dataclass(frozen=True, slots=True)
class ArchiveMonth:
    """One calendar month of the archive (in UTC), for the sitemap index."""

    month: str  # YYYY-MM
    article_count: int
    modified: datetime  # the latest publication or update among its articles


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    number: int
    size: int
    total: int

    @property
    def count(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.count

    @property
    def first_index(self) -> int:
        return (self.number - 1) * self.size + 1 if self.total else 0

    @property
    def last_index(self) -> int:
        return min(self.number * self.size, self.total)


@dataclass(frozen=True, slots=True)
class ArticleRecord:
    """One validated, sanitised article from an import file, ready to store."""

    id: str
    section: str
    headline: str
    standfirst: str | None
    byline: str | None
    body_html: str
    body_text: str
    excerpt: str
    published: datetime
    tags: tuple[str, ...]
    source_url: str | None
    slug: str | None
    word_count: int
    checksum: str
    updated: datetime | None = None  # when the source says it last changed
    language: str = ""
    picture: Picture | None = None
    # The source gave no date: the story is dated when it is first imported.
    undated: bool = False
    # Every picture the story shows, lead first: what to fetch and keep for it.
    picture_urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ArticleRemoval:
    """A source says this story is no longer published: take it off the site."""

    id: str
    checksum: str


@dataclass(slots=True)
class SaveCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    # New stories the source gave no date, dated when imported.
    undated: int = 0
    # Items of a source that are not stories for readers, by why ("draft", "page").
    skipped: Counter[str] = field(default_factory=Counter)

    def add(self, other: SaveCounts) -> None:
        """Count another file's import into this one."""
        self.added += other.added
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.removed += other.removed
        self.undated += other.undated
        self.skipped.update(other.skipped)


@dataclass(frozen=True, slots=True)
class Surroundings:
    """The stories placed around an article on its page; none appears twice."""

    also_read: ArticleSummary | None
    previous: ArticleSummary | None
    next: ArticleSummary | None
    # Tuples: a page renders each list as one fragment, keyed by its stories.
    latest: tuple[ArticleSummary, ...]
    dont_miss: tuple[ArticleSummary, ...]


@dataclass(frozen=True, slots=True)
class SectionRundown:
    section: Section
    articles: list[ArticleSummary]


@dataclass(frozen=True, slots=True)
class SourceState:
    """A live source `reader pull` follows, and what it knows of it since last time."""

    url: str
    kind: str  # "feed" or "wordpress"
    # Validators, cursors and counts: what the next pull asks with (a JSON object).
    state: dict
    added: datetime
    attempted: datetime | None = None
    succeeded: datetime | None = None
    outcome: str | None = None  # what the last pull did, in words
    not_before: datetime | None = None  # the site asked us to wait until then


@dataclass(frozen=True, slots=True)
class MissingPicture:
    """A picture a story shows that is not kept on the site, and why."""

    url: str
    problem: str | None  # None: not tried yet
    refused: bool  # refused for what it is; only `reader pictures --retry` asks again
    attempts: int


@dataclass(frozen=True, slots=True)
class PictureReport:
    """What `reader pictures` says about the media folder."""

    kept: int
    bytes: int
    missing: list[MissingPicture]
    unused: int
