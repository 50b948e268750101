"""JSON Lines in; validated, sanitised articles out, stored all-or-nothing per file."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from .models import Article, ArticleRecord, SaveCounts
from .sanitize import clean_html
from .search import ArchiveIndex
from .store import Store
from .text import excerpt, html_to_text, slugify, word_count

REQUIRED = {
    "id": str,
    "section": str,
    "headline": str,
    "body_html": str,
    "published": str,
}
OPTIONAL = {
    "dek": str,
    "author": str,
    "source_url": str,
    "slug": str,
    "tags": list,
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# What XML 1.0 cannot carry at all, so feeds and sitemaps could not hold it; lone
# surrogates (JSON's "\ud800") cannot even be stored as UTF-8.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:~-]{0,199}$")
MAX_LINE_BYTES = 5_000_000


class ImportFailed(Exception):
    """A line of an import file is not a valid article; nothing of the file was kept."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path, self.line, self.reason = path, line, reason


class _Invalid(ValueError):
    pass


def open_lines(path: Path) -> IO[bytes]:
    """Open a JSON Lines file, gunzipping it when its name ends in .gz."""
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _plain(value: str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    text = " ".join(_CONTROL.sub(" ", value).split())
    if len(text) > limit:
        raise _Invalid(f"'{field}' is longer than {limit} characters")
    return text or None


def _published(value: str, zone: tzinfo) -> datetime:
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), zone)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _Invalid(
            f"'published' is not an ISO 8601 date or date-time: {value[:40]!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _source_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value.strip())
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or _CONTROL.search(value)
        or " " in value.strip()
    ):
        raise _Invalid(f"'source_url' is not an http(s) URL: {value[:60]!r}")
    return value.strip()


def parse_record(raw: Any, zone: tzinfo, checksum: str) -> ArticleRecord:
    """Validate one decoded JSON value and return it as a sanitised ArticleRecord."""
    if not isinstance(raw, dict):
        raise _Invalid("expected a JSON object")
    for field, kind in REQUIRED.items():
        if field not in raw or raw[field] is None:
            raise _Invalid(f"missing required field '{field}'")
        if not isinstance(raw[field], kind):
            raise _Invalid(f"'{field}' must be a string")
    for field, kind in OPTIONAL.items():
        value = raw.get(field)
        if value is not None and not isinstance(value, kind):
            raise _Invalid(
                f"'{field}' must be {'a list' if kind is list else 'a string'}"
            )
    if not _ID.match(raw["id"]):
        raise _Invalid("'id' must be 1-200 letters, digits or ._:~- characters")
    tags = raw.get("tags") or []
    if not all(isinstance(tag, str) for tag in tags):
        raise _Invalid("'tags' must be a list of strings")
    headline = _plain(raw["headline"], "headline", 300)
    section = _plain(raw["section"], "section", 80)
    if not headline or not section:
        raise _Invalid("'headline' and 'section' must not be blank")
    slug = raw.get("slug")
    if slug is not None and slug != slugify(slug):
        raise _Invalid("'slug' must be lowercase letters, digits and hyphens")
    body_html = clean_html(_NOT_XML.sub("", raw["body_html"]))
    body_text = html_to_text(body_html)
    standfirst = _plain(raw.get("dek"), "dek", 1000)
    clean_tags = tuple(
        dict.fromkeys(t for t in (_plain(t, "tags", 300) for t in tags) if t)
    )
    return ArticleRecord(
        id=raw["id"],
        section=section,
        headline=headline,
        standfirst=standfirst,
        byline=_plain(raw.get("author"), "author", 200),
        body_html=body_html,
        body_text=body_text,
        excerpt=excerpt(standfirst or body_text),
        published=_published(raw["published"], zone),
        tags=clean_tags,
        source_url=_source_url(raw.get("source_url")),
        slug=slug,
        word_count=word_count(body_text),
        checksum=checksum,
    )


def _checksum(line: bytes) -> str:
    return hashlib.blake2b(line.strip(), digest_size=16).hexdigest()


@dataclass(slots=True)
class Progress:
    """What reading a file has got through so far."""

    bytes_read: int = 0
    skipped_unchanged: int = 0


Line = tuple[int, dict[str, Any], str]  # line number, decoded object, checksum
BATCH_LINES = 250
READ_AHEAD = 6


def _parse_batch(batch: list[Line], zone: tzinfo) -> list[ArticleRecord | _Failure]:
    """Parse lines until the first bad one; runs in worker processes."""
    parsed: list[ArticleRecord | _Failure] = []
    for number, raw, checksum in batch:
        try:
            parsed.append(parse_record(raw, zone, checksum))
        except _Invalid as error:
            parsed.append(_Failure(number, str(error)))
            break
    return parsed


@dataclass(frozen=True, slots=True)
class _Failure:
    line: int
    reason: str


def read_records(
    path: Path,
    zone: tzinfo,
    stored_checksums: Callable[[list[str]], dict[str, str]],
    progress: Progress,
    pool: Executor | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[ArticleRecord]:
    """Yield each new or changed article of a JSON Lines file, in file order.

    Raises ImportFailed at the first bad line. Articles whose stored checksum
    matches are counted in `progress` and skipped before the costly sanitising,
    which runs in the pool's processes when one is given.
    """
    batches = _changed_batches(path, stored_checksums, progress, on_bytes)
    for parsed in _parse_batches(batches, zone, pool):
        for item in parsed:
            if isinstance(item, _Failure):
                raise ImportFailed(path, item.line, item.reason)
            yield item


def _parse_batches(
    batches: Iterator[list[Line]], zone: tzinfo, pool: Executor | None
) -> Iterator[list[ArticleRecord | _Failure]]:
    if pool is None:
        for batch in batches:
            yield _parse_batch(batch, zone)
        return
    pending: deque[Future] = deque()
    try:
        for batch in batches:
            pending.append(pool.submit(_parse_batch, batch, zone))
            # Bounded read-ahead keeps every worker busy and memory flat.
            if len(pending) > READ_AHEAD:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def _changed_batches(
    path: Path,
    stored_checksums: Callable[[list[str]], dict[str, str]],
    progress: Progress,
    on_bytes: Callable[[int], None] | None,
) -> Iterator[list[Line]]:
    batch: list[Line] = []

    def changed() -> list[Line]:
        stored = stored_checksums([raw["id"] for _, raw, _ in batch if _is_id(raw)])
        fresh = [line for line in batch if stored.get(line[1].get("id")) != line[2]]
        progress.skipped_unchanged += len(batch) - len(fresh)
        batch.clear()
        return fresh

    try:
        with open_lines(path) as stream:
            for number, line in enumerate(stream, start=1):
                progress.bytes_read += len(line)
                if on_bytes:
                    on_bytes(len(line))
                if not line.strip():
                    continue
                raw = _decode(path, number, line)
                batch.append((number, raw, _checksum(line)))
                if len(batch) >= BATCH_LINES:
                    yield changed()
            if batch:
                yield changed()
    except (OSError, EOFError) as error:
        raise ImportFailed(path, 0, f"cannot read the file: {error}") from None


def _is_id(raw: dict[str, Any]) -> bool:
    return isinstance(raw.get("id"), str)


def _decode(path: Path, number: int, line: bytes) -> dict[str, Any]:
    if len(line) > MAX_LINE_BYTES:
        raise ImportFailed(path, number, "line is longer than 5 MB")
    try:
        raw = json.loads(line)
    except UnicodeDecodeError:
        raise ImportFailed(path, number, "not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise ImportFailed(path, number, f"not valid JSON: {error.msg}") from None
    if not isinstance(raw, dict):
        raise ImportFailed(path, number, "expected a JSON object")
    return raw


def import_file(
    store: Store,
    path: Path,
    zone: tzinfo,
    pool: Executor | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> SaveCounts:
    """Import one JSON Lines file into the store: every article of it, or none."""
    progress = Progress()
    records = read_records(path, zone, store.checksums, progress, pool, on_bytes)
    counts = store.save(records)
    counts.unchanged += progress.skipped_unchanged
    return counts


def catch_up(store: Store, archive_index: ArchiveIndex) -> int:
    """Add every article the search index lacks to it; return how many.

    Articles stay marked pending until the index has committed them, so a failure
    here loses nothing: the next import or reindex picks them up.
    """
    everything = archive_index.current() is None
    pending = store.article_count() if everything else store.pending_count()
    if not pending:
        return 0
    indexed: list[str] = []

    def tracked() -> Iterator[Article]:
        for article in store.articles(pending_only=not everything):
            indexed.append(article.id)
            yield article

    archive_index.add(tracked(), expected=pending)
    store.mark_indexed(None if everything else indexed)
    return len(indexed)
