"""One import or reindex at a time, and nothing of one left running once it is gone.

The write lock is an advisory lock on a file beside a SQLite archive, or a
PostgreSQL advisory lock on a PostgreSQL one (then across every node): the kernel
drops the first when the last process holding it ends, the server the second when
its session ends, so a killed import never leaves it stuck.
Processes an import forks (sanitising workers, the index's build workers) inherit
it; they are made to die with their parent, or a `kill -9` of `reader import`
would leave them working, and the lock held, for as long as they take.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_forking_pid: int | None = None
_bound = False


class WriterBusy(Exception):
    """Another import or reindex holds the archive's write lock."""


BUSY = "another import or reindex is running; try again when it has finished"


@contextmanager
def exclusive_writer(archive: Any) -> Iterator[None]:
    """Hold the archive's write lock for the block; raise WriterBusy if taken.

    `archive` is an engines.Archive, which knows which lock it takes.
    """
    bind_children_to_this_process()
    with archive.writer_lock():
        yield


@contextmanager
def file_lock(path: Path, wait: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on a file for the block; raise WriterBusy if taken,
    or with `wait`, wait until it is free."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = path.open("a")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise WriterBusy(BUSY) from None
        yield
    finally:
        handle.close()


@contextmanager
def advisory_lock(session: psycopg.Connection, key: int) -> Iterator[None]:
    """Hold a PostgreSQL session advisory lock for the block; raise WriterBusy if
    another session holds it."""
    if not session.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
        raise WriterBusy(BUSY)
    try:
        yield
    finally:
        if not session.closed:
            session.execute("SELECT pg_advisory_unlock(%s)", (key,))


def bind_children_to_this_process() -> None:
    """Make every process forked from now on die when the one forking it dies."""
    global _bound
    if _bound or not sys.platform.startswith("linux"):
        return
    os.register_at_fork(before=_remember_parent, after_in_child=_die_with_parent)
    _bound = True


def _remember_parent() -> None:
    global _forking_pid
    _forking_pid = os.getpid()


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    # The parent may have died between the fork and the prctl call.
    if os.getppid() != _forking_pid:
        os._exit(1)
