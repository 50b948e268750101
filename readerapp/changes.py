"""Following the archive's changes from a serving process.

Every write to the archive bumps the cache tags of what it touched, in the same
transaction (store.py). A serving process follows that log through
`PRAGMA data_version` on SQLite; on PostgreSQL, each change's transaction sends a
NOTIFY that a thread of the process LISTENs for (engines.ChangeListener), so that a
request asks the database only after something changed (asking on every request
made a cached page cost twice SQLite's: docs/benchmarks.md). Either way it knows,
for anything it kept, whether something it was made from has changed since: the
page cache (pagecache.py) keeps whole pages that way, and `SharedReads` keeps the
reads that many pages make alike.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .engines import Archive, locate
from .store import Store

T = TypeVar("T")


class Kept(Protocol):
    """Anything kept from the archive: when it was made, and the tags it read."""

    seq: int  # the archive's change number when making it began
    reads: frozenset[str]


class ChangeWatch:
    """Follow the archive's changes, so what was kept knows when it has gone stale."""

    def __init__(self, archive: Archive | Path | str) -> None:
        self.archive = locate(archive)
        self.seq = 0
        self._tag_seq: dict[str, int] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def current(self) -> int:
        """Catch up with the archive's changes; return its latest change number."""
        local = self._local
        db = self.archive.thread_connection()  # anew if the last one broke
        if getattr(local, "db", None) is not db:
            local.db, local.store, local.version = db, Store(db), None
        try:
            version = self.archive.change_signal()
            if version is None:
                version = local.store.data_version()
        except self.archive.dialect.Error:
            if not getattr(db, "broken", False):
                raise
            # The server restarted since this thread last asked: once more, on a
            # new connection (if the server is still down, that fails at once),
            # and the request that follows gets a working one too.
            self.archive.lost_connections()
            return self.current()
        if version != local.version:
            with self._lock:
                for tag, seq in local.store.changes_since(self.seq):
                    self._tag_seq[tag] = max(seq, self._tag_seq.get(tag, 0))
                    self.seq = max(self.seq, seq)
            local.version = version
        return self.seq

    def is_fresh(self, kept: Kept) -> bool:
        """Return whether nothing it read has changed since it was made."""
        return all(self._tag_seq.get(tag, 0) <= kept.seq for tag in kept.reads)


@dataclass(frozen=True, slots=True)
class SharedRead:
    value: Any
    seq: int
    reads: frozenset[str]


class SharedReads:
    """Reads that many pages make alike (the sections, each section's newest
    stories), made once per process and kept while nothing they read changes.

    A cold article page asks for its section's newest stories and four other
    sections' (issue #16); the archive answers those the same way until an import
    changes one of them, and the change log says exactly when.
    """

    # Different reads kept before starting again: a handful per section.
    LIMIT = 4096

    def __init__(self, watch: ChangeWatch) -> None:
        self.watch = watch
        self._kept: dict[Hashable, SharedRead] = {}

    def get(self, key: Hashable, read: Callable[[], T], reads: set[str]) -> T:
        """Return read()'s value, kept or made now; add the tags it read to `reads`."""
        kept = self._kept.get(key)
        if kept is not None and self.watch.is_fresh(kept):
            reads |= kept.reads
            return kept.value
        # Made from the archive as it is at this change number or later: kept with
        # it, it goes stale at the first change to anything it read.
        seq = self.watch.current()
        outer = set(reads)
        reads.clear()
        try:
            value = read()
        finally:
            made = frozenset(reads)
            reads |= outer
        if len(self._kept) >= self.LIMIT:
            self._kept.clear()
        self._kept[key] = SharedRead(value, seq, made)
        return value
