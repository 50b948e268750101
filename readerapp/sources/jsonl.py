"""Our own JSON Lines: one record a line, already in the import schema."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from typing import IO

from . import Entry, Reading, Source, SourceError

MAX_LINE_BYTES = 5_000_000


def checksum(data: bytes) -> str:
    """Return the short digest an import compares to skip unchanged items."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def read(kind: str, stream: Callable[[], IO[bytes]], reading: Reading) -> Source:
    """Return a JSON Lines file's records, a line each."""
    return Source("JSON Lines", "line", entries(stream()))


def entries(stream: IO[bytes]) -> Iterator[Entry]:
    """Yield each line's record; raise SourceError at the first unreadable line."""
    try:
        with stream:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                yield Entry(number, _decoded(number, line), checksum(line.strip()))
    except (OSError, EOFError) as error:
        raise SourceError(f"cannot read the file: {error}") from None


def _decoded(number: int, line: bytes) -> dict:
    if len(line) > MAX_LINE_BYTES:
        raise SourceError("line is longer than 5 MB", number)
    try:
        value = json.loads(line)
    except UnicodeDecodeError:
        raise SourceError("not UTF-8 text", number) from None
    except json.JSONDecodeError as error:
        raise SourceError(f"not valid JSON: {error.msg}", number) from None
    if not isinstance(value, dict):
        raise SourceError("expected a JSON object", number)
    return value
