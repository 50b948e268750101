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

`IndexFollower` keeps the node's own search index following the stories' change
log (store.article_changes_since), whichever node wrote the changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .engines import Archive, locate
from .locking import WriterBusy
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
        if kept.seq >= self.seq:
            return True  # nothing at all has changed since: no tag to look at
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


class IndexFollower:
    """Keep this node's search index following the archive's change log, on a
    thread of its own beside the site (`reader serve`).

    It compares the log's latest number with the one the index records (one
    lookup on the log's primary key, and a small file read) and, when the index is
    behind, applies the changes after it (importer.catch_up): first thing (a node
    new, restarted, or started from a copy of another node's index), then at each
    commit of another connection (PostgreSQL's LISTEN/NOTIFY, the notification the
    page cache already follows, wakes it within milliseconds; on SQLite, `PRAGMA
    data_version`, looked at every 50 ms), and at least every WAIT seconds (a
    notification may be lost with its connection). So an import, correction or
    removal through any node is searchable on this one within about a second at
    most: the catch-up's own time.

    Anything that fails (the database away, another process writing this index)
    is said once and tried again on the next round.
    """

    WAIT = 0.5  # seconds between looks

    def __init__(
        self,
        archive: Archive | Path | str,
        catch_up: Callable[[Store], int],
        behind: Callable[[Store], bool],
        say: Callable[[str], None] = print,
    ) -> None:
        self.archive = locate(archive)
        self._catch_up = catch_up
        self._behind = behind
        self._say = say
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._problem: str | None = None

    def start(self) -> None:
        """Start following (on a daemon thread: it ends with the server)."""
        self._thread = threading.Thread(
            target=self._run, name="readerapp-index-follower", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop following, after the round under way."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def round(self, store: Store) -> int:
        """Catch the index up if it is behind; return how many stories it took
        (none while another catch-up of this index, an import's, is under way:
        that one takes them)."""
        if not self._behind(store):
            return 0
        try:
            return self._catch_up(store)
        except WriterBusy:
            return 0

    def _run(self) -> None:
        store: Store | None = None
        while not self._stop.is_set():
            try:
                if store is None:
                    store = Store(self.archive.connect())
                taken = self.round(store)
            except Exception as error:  # noqa: BLE001 - any failure: try again soon
                problem = f"{type(error).__name__}: {error}"
                if problem != self._problem:
                    self._say(f"search index not caught up ({problem}); retrying")
                self._problem = problem
                if store is not None:
                    _close_quietly(store)
                    store = None
            else:
                if self._problem is not None:
                    self._say("search index following the archive again")
                    self._problem = None
                if taken:
                    stories = "story" if taken == 1 else "stories"
                    self._say(f"search index caught up: {taken} {stories} indexed")
            if not self._stop.is_set():
                self.archive.wait_for_change(self.WAIT, self._stop)
        if store is not None:
            _close_quietly(store)


def _close_quietly(store: Store) -> None:
    try:
        store.close()
    except Exception:  # noqa: BLE001, S110 - a broken connection: nothing to close
        pass
