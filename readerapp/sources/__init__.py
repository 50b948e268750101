"""Stories in from where newsrooms keep them: one module per format, one record out.

Every format yields the same record, a dict in the import schema of README "Import
format" (our JSON Lines), so that everything goes through the same validation and
sanitising in the importer. Formats never import the store or the index, and the
importer never knows a format: `open_source` recognises a file by its content.
"""

from __future__ import annotations

import gzip
import importlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import tzinfo
from pathlib import Path
from typing import IO, Any

from . import detect

HEAD_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Entry:
    """One item of a source: a record to import, or the reason it is skipped."""

    position: int  # its line or item number, from 1
    record: dict[str, Any] | None = None
    # Of what the source said about it, so that an unchanged item skips the work.
    checksum: str = ""
    # Why this item is no story for readers, in a word the summary counts.
    skipped: str | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """What a format needs to know beyond the bytes."""

    zone: tzinfo  # for local times that name no zone
    # WordPress post types that are stories ("post", and any a setting adds).
    post_types: frozenset[str] = frozenset({"post"})
    # The charset an HTTP answer named, for a document fetched by `reader pull`.
    charset: str | None = None
    # The address a fetched document came from: names its site, resolves links.
    origin: str | None = None


@dataclass(slots=True)
class Source:
    """A file (or fetched document) of stories, recognised and ready to read."""

    format: str  # in words, for messages: "WordPress export"
    unit: str  # what `Entry.position` counts: "line" or "item"
    entries: Iterator[Entry]


class SourceError(Exception):
    """A source cannot be read; says where (line or item) when it knows."""

    def __init__(self, reason: str, position: int = 0) -> None:
        super().__init__(reason)
        self.reason, self.position = reason, position


def open_source(
    path: Path, reading: Reading, on_bytes: Callable[[int], None] | None = None
) -> Source:
    """Recognise a file's format by its content and return its entries.

    A folder (REST answers saved page by page, say) is one source: its files in
    name order, all imported or none.
    """
    if path.is_dir():
        return _folder(path, reading, on_bytes)
    try:
        with _open(path) as stream:
            head = stream.read(HEAD_BYTES)
    except (OSError, EOFError) as error:
        raise SourceError(f"cannot read the file: {error}") from None
    try:
        kind = detect.sniff(head)
    except detect.NotASource as error:
        raise SourceError(str(error)) from None

    def stream() -> IO[bytes]:
        return _Counted(_open(path), on_bytes)

    return _reader(kind, stream, reading)


def _folder(
    folder: Path, reading: Reading, on_bytes: Callable[[int], None] | None
) -> Source:
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
    )
    if not files:
        raise SourceError("is an empty folder")
    first = open_source(files[0], reading, on_bytes)

    def entries() -> Iterator[Entry]:
        position = 0
        for path in files:
            unit = "item"
            try:
                source = (
                    first if path == files[0] else open_source(path, reading, on_bytes)
                )
                unit = source.unit
                for entry in source.entries:
                    position += 1
                    yield replace(entry, position=position)
            except SourceError as error:
                where = f"{unit} {error.position}: " if error.position else ""
                raise SourceError(f"{path.name}: {where}{error.reason}") from None

    return Source(f"{first.format} ({len(files)} files)", "item", entries())


def read_document(data: bytes, reading: Reading) -> Source:
    """Recognise a fetched document (a feed, an API answer) and return its entries."""
    if data.startswith(detect.GZIP_MAGIC):
        data = gzip.decompress(data)
    try:
        kind = detect.sniff(data[:HEAD_BYTES])
    except detect.NotASource as error:
        raise SourceError(str(error)) from None

    def stream() -> IO[bytes]:
        return io.BytesIO(data)

    return _reader(kind, stream, reading)


# What each kind of document is called, and the module that reads it.
FORMATS = {
    "jsonl": ("JSON Lines", "jsonl"),
    "ninjs-lines": ("IPTC ninjs (JSON Lines)", "ninjs"),
    "wxr": ("WordPress export", "wxr"),
    "feed": ("feed", "feeds"),
    "json-feed": ("JSON Feed", "feeds"),
    "wp-rest": ("WordPress REST API answer", "wp_rest"),
    "ninjs": ("IPTC ninjs", "ninjs"),
}


def _reader(kind: str, stream: Callable[[], IO[bytes]], reading: Reading) -> Source:
    if kind == "json":
        document = _json(stream)
        try:
            kind = detect.shape(document)
        except detect.NotASource as error:
            raise SourceError(str(error)) from None
        if kind == "empty":
            return Source("JSON", "item", iter(()))
    else:
        document = None
    name, module_name = FORMATS[kind]
    # Each format's module is imported when a file of it comes (lxml only then).
    module = importlib.import_module(f"{__name__}.{module_name}")
    if document is not None:
        return module.read_document(kind, document, reading)
    return module.read(kind, stream, reading)


def _whole(stream: Callable[[], IO[bytes]]) -> bytes:
    with stream() as opened:
        return opened.read()


def _json(stream: Callable[[], IO[bytes]]) -> Any:
    try:
        return json.loads(_whole(stream))
    except UnicodeDecodeError:
        raise SourceError("is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise SourceError(
            f"is not valid JSON: {error.msg} (line {error.lineno},"
            f" column {error.colno})"
        ) from None
    except (OSError, EOFError) as error:
        raise SourceError(f"cannot read the file: {error}") from None


def _open(path: Path) -> IO[bytes]:
    """Open a file, gunzipping it when its first bytes say it is gzip."""
    with path.open("rb") as probe:
        gzipped = probe.read(2) == detect.GZIP_MAGIC
    return gzip.open(path, "rb") if gzipped else path.open("rb")


class _Counted:
    """A byte stream that reports how much of it has been read (progress bars)."""

    def __init__(self, stream: IO[bytes], on_bytes: Callable[[int], None] | None):
        self.stream, self.on_bytes = stream, on_bytes

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        if self.on_bytes:
            self.on_bytes(len(data))
        return data

    def __iter__(self) -> Iterator[bytes]:
        for line in self.stream:
            if self.on_bytes:
                self.on_bytes(len(line))
            yield line

    def __enter__(self) -> _Counted:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.close()

    def close(self) -> None:
        self.stream.close()
