"""Records in from any source; validated, sanitised articles out, stored all-or-nothing
per file. The formats live in `sources/`; this module never knows one."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass, replace
from datetime import date, datetime, time, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import curation, locking
from .models import Article, ArticleRecord, ArticleRemoval, Picture, SaveCounts
from .sanitize import clean_html
from .search import ArchiveIndex
from .sections import SectionMap
from .sources import Entry, Reading, Source, SourceError, open_source
from .store import STORED, Store
from .text import (
    excerpt,
    first_figure,
    html_to_text,
    picture_urls,
    slugify,
    word_count,
)

REQUIRED = {
    "id": str,
    "headline": str,
    "body_html": str,
}
OPTIONAL = {
    "section": str,
    "published": str,
    "updated": str,
    "dek": str,
    "author": str,
    "source_url": str,
    "slug": str,
    "tags": list,
    "categories": list,
    "language": str,
    "picture": dict,
    "removed": bool,
    "undated": bool,
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# What XML 1.0 cannot carry at all, so feeds and sitemaps could not hold it; lone
# surrogates (JSON's "\ud800") cannot even be stored as UTF-8.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Any printable characters: sources name stories by URLs and URIs as often as not.
_ID = re.compile(r"^[^\s\x00-\x1f\x7f]{1,300}$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")


class ImportFailed(Exception):
    """An item of an import file is no valid article; nothing of the file was kept."""

    def __init__(
        self, path: Path | str, line: int, reason: str, unit: str = "line"
    ) -> None:
        if not line:
            where = f"{path}"
        elif unit == "line":
            where = f"{path}:{line}"
        else:
            where = f"{path}: {unit} {line}"
        super().__init__(f"{where}: {reason}")
        self.path, self.line, self.reason, self.unit = path, line, reason, unit


class _Invalid(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Rules:
    """What turns a source's record into an article here: dates and sections."""

    zone: tzinfo  # for dates that name no zone
    sections: SectionMap
    # The import file's folder: a picture's relative path is read from inside it.
    folder: Path | None = None


def _plain(value: str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    text = " ".join(_CONTROL.sub(" ", value).split())
    if len(text) > limit:
        raise _Invalid(f"'{field}' is longer than {limit} characters")
    return text or None


def _moment(value: str, field: str, zone: tzinfo) -> datetime:
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), zone)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _Invalid(
            f"'{field}' is not an ISO 8601 date or date-time: {value[:40]!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _url(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value.strip())
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or _CONTROL.search(value)
        or " " in value.strip()
    ):
        raise _Invalid(f"'{field}' is not an http(s) URL: {value[:60]!r}")
    return value.strip()


def _picture(value: dict | None, folder: Path | None) -> Picture | None:
    if value is None:
        return None
    if not all(isinstance(v, str) or v is None for v in value.values()):
        raise _Invalid("'picture' fields must be strings")
    if not value.get("url"):
        raise _Invalid("'picture' needs a 'url'")
    url = value["url"]
    if folder is not None and not urlsplit(url).scheme:
        url = _local_picture(url, folder)
    else:
        url = _url(url, "picture.url")
    return Picture(
        url=url,
        alt=_plain(value.get("alt"), "picture.alt", 500),
        caption=_plain(value.get("caption"), "picture.caption", 1000),
        credit=_plain(value.get("credit"), "picture.credit", 300),
    )


def _local_picture(path: str, folder: Path) -> str:
    """Return the file: URL of a picture named by a path relative to the import
    file; a path that leads outside its folder is refused, not read."""
    if _CONTROL.search(path) or Path(path).is_absolute():
        raise _Invalid(
            f"'picture.url' is neither an http(s) URL nor a path relative to the"
            f" import file: {path[:60]!r}"
        )
    inside = folder.resolve()
    target = (inside / path).resolve()
    if not target.is_relative_to(inside):
        raise _Invalid(
            f"'picture.url' leads outside the import file's folder: {path[:60]!r}"
        )
    return target.as_uri()


def _lead_from_body(body_html: str, folder: Path | None) -> tuple[Picture | None, str]:
    """Return the body's first figure as the lead picture, and the body without it
    (it is shown under the headline, not twice); a figure whose picture cannot be
    fetched stays where it is."""
    figure = first_figure(body_html)
    if figure is None:
        return None, body_html
    url = figure.source
    if not urlsplit(url).scheme:
        try:
            url = _local_picture(url, folder) if folder else ""
        except _Invalid:
            url = ""
    if urlsplit(url).scheme not in ("http", "https", "file"):
        return None, body_html
    start, end = figure.span
    picture = Picture(url=url, alt=figure.alt or None, caption=figure.caption or None)
    return picture, body_html[:start] + body_html[end:]


def _strings(raw: dict, field: str) -> list[str]:
    values = raw.get(field) or []
    if not all(isinstance(value, str) for value in values):
        raise _Invalid(f"'{field}' must be a list of strings")
    return values


def parse_record(
    raw: Any, rules: Rules, checksum: str
) -> ArticleRecord | ArticleRemoval:
    """Validate one record and return it as a sanitised ArticleRecord.

    A record that says `removed` asks for its story to be taken off the site.
    """
    if not isinstance(raw, dict):
        raise _Invalid("expected a JSON object")
    if raw.get("removed") is True and isinstance(raw.get("id"), str):
        if not _ID.match(raw["id"]):
            raise _Invalid("'id' must be 1-300 printable characters, no spaces")
        return ArticleRemoval(id=raw["id"], checksum=checksum)
    for field, kind in REQUIRED.items():
        if field not in raw or raw[field] is None:
            raise _Invalid(f"missing required field '{field}'")
        if not isinstance(raw[field], kind):
            raise _Invalid(f"'{field}' must be a string")
    for field, kind in OPTIONAL.items():
        value = raw.get(field)
        if value is not None and not isinstance(value, kind):
            names = {list: "a list", dict: "an object", bool: "true or false"}
            raise _Invalid(f"'{field}' must be {names.get(kind, 'a string')}")
    if raw.get("published") is None and raw.get("undated") is not True:
        raise _Invalid("missing required field 'published'")
    if not _ID.match(raw["id"]):
        raise _Invalid("'id' must be 1-300 printable characters, no spaces")
    tags = _strings(raw, "tags")
    categories = [
        c for c in (_plain(c, "categories", 300) for c in _strings(raw, "categories"))
        if c
    ]  # fmt: skip
    headline = _plain(raw["headline"], "headline", 300)
    named = _plain(raw.get("section"), "section", 80)
    if not headline or (raw.get("section") is not None and not named):
        raise _Invalid("'headline' and 'section' must not be blank")
    section = rules.sections.section_for([named] if named else categories)
    slug = raw.get("slug")
    if slug is not None and slug != slugify(slug):
        raise _Invalid("'slug' must be lowercase letters, digits and hyphens")
    language = raw.get("language")
    if language is not None and not _LANGUAGE.match(language):
        raise _Invalid(f"'language' is not a language tag: {language[:20]!r}")
    body_html = clean_html(_NOT_XML.sub("", raw["body_html"]))
    picture = _picture(raw.get("picture"), rules.folder)
    if picture is None:
        picture, body_html = _lead_from_body(body_html, rules.folder)
    body_text = html_to_text(body_html)
    standfirst = _plain(raw.get("dek"), "dek", 1000)
    clean_tags = tuple(
        dict.fromkeys(t for t in (_plain(t, "tags", 300) for t in tags) if t)
    )
    undated = raw.get("published") is None
    return ArticleRecord(
        id=raw["id"],
        section=section,
        headline=headline,
        standfirst=standfirst,
        byline=_plain(raw.get("author"), "author", 200),
        body_html=body_html,
        body_text=body_text,
        excerpt=excerpt(standfirst or body_text),
        published=(
            datetime.now(rules.zone)
            if undated
            else _moment(raw["published"], "published", rules.zone)
        ),
        tags=clean_tags,
        source_url=_url(raw.get("source_url"), "source_url"),
        # Made here, in the sanitising processes, rather than in the one storing.
        slug=slug or slugify(headline),
        word_count=word_count(body_text),
        checksum=checksum,
        updated=(
            _moment(raw["updated"], "updated", rules.zone)
            if raw.get("updated")
            else None
        ),
        language=(language or "").lower(),
        picture=picture,
        undated=undated,
        picture_urls=tuple(picture_urls(body_html, picture.url if picture else None)),
    )


Parsed = ArticleRecord | ArticleRemoval
BATCH_ITEMS = 250
READ_AHEAD = 6


@dataclass(frozen=True, slots=True)
class _Failure:
    position: int
    reason: str


def _parse_batch(batch: list[Entry], rules: Rules) -> list[Parsed | _Failure]:
    """Parse entries until the first bad one; runs in worker processes."""
    parsed: list[Parsed | _Failure] = []
    for entry in batch:
        try:
            parsed.append(parse_record(entry.record, rules, entry.checksum))
        except _Invalid as error:
            parsed.append(_Failure(entry.position, str(error)))
            break
    return parsed


def read_records(
    path: Path | str,
    source: Source,
    rules: Rules,
    stored_checksums: Callable[[list[str]], dict[str, str]],
    counts: SaveCounts,
    pool: Executor | None = None,
) -> Iterator[Parsed]:
    """Yield each new or changed article (or removal) of a source, in its order.

    Raises ImportFailed at the first bad item. Items whose stored checksum matches
    are counted unchanged and skipped before the costly sanitising, which runs in
    the pool's processes when one is given.
    """
    batches = _changed_batches(path, source, stored_checksums, counts)
    for parsed in _parse_batches(batches, rules, pool):
        for item in parsed:
            if isinstance(item, _Failure):
                raise ImportFailed(path, item.position, item.reason, source.unit)
            yield item


def _parse_batches(
    batches: Iterator[list[Entry]], rules: Rules, pool: Executor | None
) -> Iterator[list[Parsed | _Failure]]:
    if pool is None:
        for batch in batches:
            yield _parse_batch(batch, rules)
        return
    pending: deque[Future] = deque()
    try:
        for batch in batches:
            pending.append(pool.submit(_parse_batch, batch, rules))
            # Bounded read-ahead keeps every worker busy and memory flat.
            if len(pending) > READ_AHEAD:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def _changed_batches(
    path: Path | str,
    source: Source,
    stored_checksums: Callable[[list[str]], dict[str, str]],
    counts: SaveCounts,
) -> Iterator[list[Entry]]:
    batch: list[Entry] = []

    def changed() -> list[Entry]:
        ids = [e.record["id"] for e in batch if isinstance(e.record.get("id"), str)]
        stored = stored_checksums(ids)
        fresh = [e for e in batch if stored.get(e.record.get("id")) != e.checksum]
        counts.unchanged += len(batch) - len(fresh)
        batch.clear()
        return fresh

    try:
        for entry in source.entries:
            if entry.skipped:
                counts.skipped[entry.skipped] += 1
                continue
            batch.append(entry)
            if len(batch) >= BATCH_ITEMS:
                yield changed()
        if batch:
            yield changed()
    except SourceError as error:
        raise ImportFailed(path, error.position, error.reason, source.unit) from None


def import_file(
    store: Store,
    path: Path,
    rules: Rules,
    pool: Executor | None = None,
    on_bytes: Callable[[int], None] | None = None,
    reading: Reading | None = None,
) -> SaveCounts:
    """Import one file (any format readerapp reads) into the store: all, or none."""
    try:
        source = open_source(path, reading or Reading(zone=rules.zone), on_bytes)
    except SourceError as error:
        raise ImportFailed(path, error.position, error.reason) from None
    folder = path if path.is_dir() else path.parent
    return import_source(store, path, source, replace(rules, folder=folder), pool)


def import_source(
    store: Store,
    path: Path | str,
    source: Source,
    rules: Rules,
    pool: Executor | None = None,
) -> SaveCounts:
    """Import a source's stories into the store in one transaction."""
    counts = SaveCounts()
    records = read_records(path, source, rules, store.checksums, counts, pool)
    counts.add(store.save(records))
    return counts


def index_behind(store: Store, archive_index: ArchiveIndex) -> bool:
    """Tell whether the index lacks changes the archive's log has (or is none)."""
    held = archive_index.last_change()
    return held is None or store.latest_article_change() > held


# In each index folder: one catch-up at a time on a node (its `reader serve`'s
# follower, and `reader import` or `pull` run there).
CATCH_UP_LOCK = "catch-up.lock"


def catch_up(
    store: Store,
    archive_index: ArchiveIndex,
    workers: int = 1,
    choose: bool = True,
    chosen_since: int | None = None,
    wait: bool = True,
) -> int:
    """Bring the search index up to date with the archive, and choose "Also read"
    for what changed; return how many articles it added or replaced (removed ones
    are taken out too).

    The index follows the archive's change log: it records the last change it
    holds and applies the ones after it, each story as the archive has it now
    (stored: added or replaced; gone: deleted). Its number is recorded only after
    the index committed, so a failure here loses nothing: the next catch-up (an
    import, a reindex, or a serving node's follower) applies them again.

    `choose` False leaves "Also read" (kept in the shared archive) to the node
    that wrote the changes: a follower on another node only brings its index up.
    `chosen_since`, the log's last number before an import stored anything, makes
    it choose for every change since, even those this node's follower indexed
    first (it does not choose).

    One catch-up runs at a time in an index folder (CATCH_UP_LOCK): an import on
    a serving node waits for that node's follower to finish its round; a caller
    that passes `wait` False (the follower) gets WriterBusy instead, and leaves
    the changes to the catch-up under way.
    """
    with locking.file_lock(archive_index.root / CATCH_UP_LOCK, wait=wait):
        return _catch_up(store, archive_index, workers, choose, chosen_since)


def _catch_up(
    store: Store,
    archive_index: ArchiveIndex,
    workers: int,
    choose: bool,
    chosen_since: int | None,
) -> int:
    if archive_index.current() is None:
        # A new node: build from the whole archive, from the change read first.
        last = store.latest_article_change()
        total = store.article_count()
        if not total:
            return 0  # nothing to index yet: no empty generation either
        indexed: list[str] = []

        def tracked() -> Iterator[Article]:
            for article in store.articles():
                indexed.append(article.id)
                yield article

        archive_index.rebuild(tracked(), expected=total, last_change=last)
        if choose:
            # Marking every story indexed (an UPDATE of each row) waits for no
            # choice: done while the choosing processes start.
            curation.choose_also_read(
                store, archive_index, indexed, workers, meanwhile=store.mark_indexed
            )
        else:
            store.mark_indexed()
        return len(indexed)
    # An index made before the change log holds all but its first changes.
    since = archive_index.last_change() or 0
    changes, last = store.article_changes_since(since)
    if choose and chosen_since is not None and chosen_since < since:
        chosen = list(store.article_changes_since(chosen_since)[0])
    else:
        chosen = list(changes)
    if not changes:
        if archive_index.last_change() is None:
            archive_index.record_change(last)
        if choose and chosen:
            curation.choose_also_read(store, archive_index, chosen, workers)
        return 0
    stored = [i for i, kind in changes.items() if kind == STORED]
    kept: list[str] = []

    def tracked() -> Iterator[Article]:
        # Read as they are written: a large catch-up never holds every story.
        for article in store.articles_with_ids(stored):
            kept.append(article.id)
            yield article

    if stored:
        archive_index.add(tracked(), expected=len(stored))
    # Removed since, or stored and removed again: gone from the archive now.
    gone = set(changes) - set(kept)
    if gone:
        archive_index.delete(gone)
    archive_index.record_change(last)
    # Moves the search pages' cache tag (and keeps the old flags in step).
    store.mark_indexed(kept)
    if choose:
        curation.choose_also_read(store, archive_index, chosen, workers)
    return len(kept)
