"""Where the archive lives: a SQLite file (the default) or a PostgreSQL database.

The store (store.py) writes its SQL once, in the form both engines take (`?`
placeholders, `ON CONFLICT` upserts, `TRUE`/`FALSE`, `RETURNING`). What differs
is here and nowhere else, in two small objects:

- a `Dialect`: the few statements that differ (PRAGMAs and their PostgreSQL
  equivalents, the date arithmetic, how the schema's version is kept, the errors
  a full disk raises), and for PostgreSQL the placeholder spelling;
- an archive (`SQLiteArchive`, `PostgresArchive`): how to connect, how serving
  threads get a connection (one kept per thread; a psycopg_pool pool), how a
  serving process hears of commits (`PRAGMA data_version`; LISTEN/NOTIFY), and the
  write lock that lets one import or reindex run at a time (a file lock; a
  PostgreSQL advisory lock, across every node).

`DATABASE_URL=postgresql://...` chooses PostgreSQL; anything else is SQLite at
`DATABASE`, exactly as before: the SQLite side opens plain `sqlite3` connections,
so the default pays nothing for the choice.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from . import locking

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

POSTGRESQL_SCHEMES = ("postgresql", "postgres")
_SQLITE_FULL = 13  # "database or disk is full"
# Result codes that mean the file cannot be read now, not that a statement is wrong:
# SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_CANTOPEN.
_SQLITE_AWAY = frozenset({5, 6, 10, 14})
# Seconds to wait for PostgreSQL to accept a connection before calling it away.
CONNECT_TIMEOUT = 3
_PG_DISK_FULL = "53100"


def _lock_key(name: str) -> int:
    """Return a PostgreSQL advisory lock key (a signed 64-bit number) for a name."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# Advisory locks are per database, so two archives on one server never meet.
WRITER_LOCK = _lock_key("readerapp: one import or reindex")
MIGRATION_LOCK = _lock_key("readerapp: one migration")
CHANGE_LOCK = _lock_key("readerapp: numbering changes")
CHANGES_CHANNEL = "readerapp_changes"


class Connection(Protocol):
    """What the store asks of a connection: sqlite3's own API, which the
    PostgreSQL connection below speaks too."""

    in_transaction: bool

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...
    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: Any) -> Any: ...


class Dialect:
    """The statements that differ between engines. This one is SQLite's."""

    name = "sqlite"
    # Whatever a damaged or unreachable archive raises.
    Error: type[Exception] = sqlite3.DatabaseError
    # A number that moves when another connection commits (changes.py).
    data_version = "PRAGMA data_version"
    # Run before numbering a change: SQLite writers are one at a time already.
    serialize_changes: str | None = None
    # Run after numbering one, to tell other processes at once (changes.py).
    announce_change: str | None = None
    # Rebuilds the tables' indexes (`reader check --repair`).
    reindex: tuple[str, ...] = ("REINDEX",)
    # Whether `reader backup` can copy the archive (a file, with SQLite's API).
    file_backups = True
    # What file_problems() checks, in `reader check`'s words.
    checks = "SQLite integrity, foreign keys"

    def days_apart(self, first: str, second: str) -> str:
        """Return an SQL expression: days between two ISO 8601 timestamps."""
        return f"abs(julianday({first}) - julianday({second}))"

    def disk_full(self, error: Exception) -> bool:
        """Tell whether an error says the disk holding the archive is full."""
        return (
            isinstance(error, sqlite3.OperationalError)
            and getattr(error, "sqlite_errorcode", 0) & 0xFF == _SQLITE_FULL
        )

    def unavailable(self, error: BaseException) -> bool:
        """Tell whether an error says the archive cannot be reached just now (a
        server away, a file locked or unreadable), not that a statement is wrong."""
        return (
            isinstance(error, sqlite3.OperationalError)
            and getattr(error, "sqlite_errorcode", 0) & 0xFF in _SQLITE_AWAY
        )

    def location(self, db: Connection) -> str:
        """Return the address the archive was opened at (another process may open
        it there); without_password() makes it fit to print."""
        return db.execute("PRAGMA database_list").fetchone()[2]

    def stream(self, db: Connection, sql: str, parameters: Any = ()) -> Iterable[Any]:
        """Return the rows of a query that may read the whole archive, without
        holding them all in memory (a SQLite cursor reads as it goes)."""
        return db.execute(sql, parameters)

    def file_problems(self, db: Connection) -> list[str]:
        """Return what the engine's own checks find wrong with the archive."""
        found = [
            row[0] for row in db.execute("PRAGMA integrity_check") if row[0] != "ok"
        ]
        for table, rowid, parent, _ in db.execute("PRAGMA foreign_key_check"):
            found.append(f"{table} row {rowid} refers to a missing {parent}")
        return found

    def migrate(
        self,
        db: Connection,
        history: Sequence[str],
        after: Callable[[Connection, int], None],
    ) -> tuple[int, int]:
        """Bring the schema to the last version of `history`; return the versions
        before and after. Version 0 is schema.sql (run on every open, as it only
        creates what is missing); PRAGMA user_version counts the migrations since."""
        db.executescript(history[0])  # type: ignore[attr-defined]
        latest = len(history) - 1
        before = db.execute("PRAGMA user_version").fetchone()[0]
        if before >= latest:
            return before, before
        # One process migrates; others wait on the write lock, then find it done.
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for number in range(version + 1, latest + 1):
                for statement in filter(str.strip, history[number].split(";")):
                    db.execute(statement)
                after(db, number)
                db.execute(f"PRAGMA user_version = {number}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return before, latest


class PostgresDialect(Dialect):
    """PostgreSQL's spelling of what differs."""

    name = "postgresql"
    # The newest change number: one index lookup, and it moves exactly when a
    # commit changed something a page may have read.
    data_version = "SELECT coalesce(max(seq), 0) FROM cache_tag"
    # Writers on several nodes would otherwise take the same next number; held to
    # the commit, it also makes the numbers commit in order.
    serialize_changes = f"SELECT pg_advisory_xact_lock({CHANGE_LOCK})"
    # Delivered to every listening node when the transaction commits.
    announce_change = f"NOTIFY {CHANGES_CHANNEL}"
    reindex = tuple(
        f"REINDEX TABLE {table}" for table in ("section", "article", "article_tag")
    )
    file_backups = False
    checks = "PostgreSQL (keeps its own files and foreign keys)"

    @property
    def Error(self) -> type[Exception]:  # type: ignore[override]  # noqa: N802
        import psycopg

        return psycopg.Error

    def days_apart(self, first: str, second: str) -> str:
        return (
            f"abs(extract(epoch FROM CAST({first} AS timestamptz)"
            f" - CAST({second} AS timestamptz)) / 86400)"
        )

    def disk_full(self, error: Exception) -> bool:
        return getattr(error, "sqlstate", None) == _PG_DISK_FULL

    def unavailable(self, error: BaseException) -> bool:
        import psycopg

        # Connections refused, lost or shut down by the server, and a pool that
        # found none in time (psycopg_pool.PoolTimeout is an OperationalError).
        return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError))

    def location(self, db: Connection) -> str:
        return db.url  # type: ignore[attr-defined]

    def stream(self, db: Connection, sql: str, parameters: Any = ()) -> Iterable[Any]:
        return db.stream(sql, parameters)  # type: ignore[attr-defined]

    def file_problems(self, db: Connection) -> list[str]:
        # PostgreSQL keeps its own files whole and enforces foreign keys as it
        # writes; damage there is the server's to report (its logs, checksums).
        return []

    def migrate(
        self,
        db: Connection,
        history: Sequence[str],
        after: Callable[[Connection, int], None],
    ) -> tuple[int, int]:
        """The same versions as SQLite's, each in PostgreSQL's own DDL, recorded in
        `schema_version` (one row per version applied, 0 the first tables)."""
        raw: psycopg.Connection = db.raw  # type: ignore[attr-defined]
        latest = len(history) - 1
        before = _pg_version(raw)
        if before >= latest:
            return before, before
        with raw.transaction():
            # One node migrates; the others wait here, then find it done.
            raw.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            raw.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version INTEGER PRIMARY KEY, applied TEXT NOT NULL)"
            )
            version = _pg_version(raw)
            for number in range(version + 1, latest + 1):
                raw.execute(history[number].encode())  # no parameters: a script
                after(db, number)
                raw.execute(
                    "INSERT INTO schema_version (version, applied) VALUES (%s, %s)",
                    (number, datetime.now(UTC).isoformat(timespec="seconds")),
                )
        return before, latest


def _pg_version(raw: psycopg.Connection) -> int:
    """Return the schema version of a PostgreSQL archive, -1 before any."""
    if raw.execute("SELECT to_regclass('schema_version')").fetchone()[0] is None:
        return -1
    return raw.execute(
        "SELECT coalesce(max(version), -1) FROM schema_version"
    ).fetchone()[0]


SQLITE = Dialect()
POSTGRESQL = PostgresDialect()


def dialect_of(db: Connection) -> Dialect:
    """Return the dialect of a connection (a plain sqlite3 one is SQLite)."""
    return getattr(db, "dialect", SQLITE)


# `?` and `:name` placeholders become psycopg's `%s` and `%(name)s`; a literal `%`
# is doubled. String literals are copied as they are (but for their `%`).
_TOKENS = re.compile(r"'(?:[^']|'')*'|\?|(?<![:\w]):(\w+)|%")


@lru_cache(maxsize=512)
def postgres_sql(sql: str) -> str:
    """Return a statement written for sqlite3 as psycopg takes it."""

    def swap(match: re.Match[str]) -> str:
        text = match.group(0)
        if text[0] == "'" or text == "%":
            return text.replace("%", "%%")
        if text == "?":
            return "%s"
        return f"%({match.group(1)})s"

    return _TOKENS.sub(swap, sql)


_streams = itertools.count()


class PostgresConnection:
    """A psycopg connection that speaks the part of sqlite3's API the store uses.

    It runs in autocommit, as a sqlite3 connection does between writes, so a
    serving thread holds no transaction between statements; `with connection:`
    is one transaction, committed at the end or rolled back on an error.
    """

    dialect = POSTGRESQL
    STREAM_ROWS = 256  # rows a streaming read fetches at a time
    # Transactions committed by this process: its own writes are followed at once,
    # without waiting for their notification to come back.
    commits = 0

    def __init__(self, raw: psycopg.Connection, url: str) -> None:
        self.raw = raw
        self.url = url
        self._transactions: list[Any] = []

    def execute(self, sql: str, parameters: Any = ()) -> psycopg.Cursor:
        # Parameters always given (maybe none), so psycopg reads `%%` as `%`.
        return self.raw.execute(postgres_sql(sql), parameters)

    def executemany(self, sql: str, parameters: Iterable[Any]) -> psycopg.Cursor:
        cursor = self.raw.cursor()
        cursor.executemany(postgres_sql(sql), parameters)
        return cursor

    def stream(self, sql: str, parameters: Any = ()) -> Iterator[Any]:
        """Yield a query's rows a few at a time, from a server-side cursor. WITH
        HOLD, it lives outside any transaction, and other statements may run on
        this connection while it is read."""
        name = f"readerapp_stream_{next(_streams)}"
        with self.raw.cursor(name=name, withhold=True) as cursor:
            cursor.itersize = self.STREAM_ROWS
            cursor.execute(postgres_sql(sql), parameters)
            yield from cursor

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    @property
    def broken(self) -> bool:
        """Tell whether the connection to the server was lost."""
        return self.raw.broken

    def rollback(self) -> None:
        self.raw.rollback()

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> PostgresConnection:
        transaction = self.raw.transaction()
        transaction.__enter__()
        self._transactions.append(transaction)
        return self

    def __exit__(self, *exc: Any) -> bool | None:
        swallowed = self._transactions.pop().__exit__(*exc)
        if exc[0] is None and not self._transactions:
            PostgresConnection.commits += 1
        return swallowed


class Archive(Protocol):
    """Where the archive lives, and how its users reach it."""

    dialect: Dialect
    where: str  # for messages: a path, or the URL without its password

    def connect(self) -> Connection:
        """Open a new connection (the caller closes it)."""
        ...

    def thread_connection(self) -> Connection:
        """Return a connection this thread keeps, closed by close()."""
        ...

    def borrow(self) -> Connection:
        """Return a connection for one request (give it back after)."""
        ...

    def give_back(self, db: Connection) -> None:
        """Take back a connection borrow() gave, left clean for the next request."""
        ...

    def writer_lock(self) -> Any:
        """Hold the write lock for a block; raise WriterBusy if another has it."""
        ...

    def lost_connections(self) -> None:
        """Replace the serving connections a server restart broke (the change
        watch found its own broken: a request's would fail next)."""
        ...

    def recovered(self) -> None:
        """Start afresh after the archive could not be reached for a while."""
        ...

    def wait_for_change(self, timeout: float, stop: threading.Event) -> None:
        """Return when another connection may have committed a change, after
        timeout seconds, or soon after stop is set (the caller looks either way)."""
        ...

    def change_signal(self) -> Any:
        """Return a value that moves whenever the archive may have changed, at no
        cost, or None when the archive must be asked (changes.py)."""
        ...

    def close(self) -> None:
        """Close every connection this archive keeps."""
        ...


class _KeptConnections:
    """One connection per thread, all closed together when the site stops."""

    def __init__(self, connect: Callable[[], Connection], may_break: bool) -> None:
        self._connect = connect
        self._may_break = may_break  # a server's connection can be lost; a file's not
        self._local = threading.local()
        self._all: list[Connection] = []
        self._lock = threading.Lock()

    def get(self) -> Connection:
        db = getattr(self._local, "db", None)
        if self._may_break and db is not None and db.broken:  # type: ignore[attr-defined]
            # The server restarted or the network dropped it: open another.
            with self._lock:
                self._all.remove(db)
            # Forgotten before connecting again, which fails while it is away.
            self._local.db = None
            db.close()
            db = None
        if db is None:
            db = self._local.db = self._connect()
            with self._lock:
                self._all.append(db)
        return db

    def close(self) -> None:
        with self._lock:
            kept, self._all = self._all, []
        for db in kept:
            db.close()
        self._local = threading.local()


def connect_sqlite(path: str | Path) -> sqlite3.Connection:
    """Open a SQLite archive with WAL journaling and foreign keys on."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=30, check_same_thread=False)
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA journal_mode = WAL")
    # Under WAL, NORMAL survives application crashes at a fraction of FULL's cost.
    connection.execute("PRAGMA synchronous = NORMAL")
    return connection


class SQLiteArchive:
    """The archive in one SQLite file; each serving thread keeps a connection.

    Opening one costs a page a tenth of its rendering (issue #16); serving threads
    live as long as the server, and between statements a connection holds no lock
    or snapshot, so each thread keeps one.
    """

    dialect = SQLITE
    CHANGE_POLL = 0.05  # seconds between looks at PRAGMA data_version

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.where = str(path)
        self._serving = _KeptConnections(self.connect, may_break=False)
        self._watching = _KeptConnections(self.connect, may_break=False)

    def connect(self) -> sqlite3.Connection:
        return connect_sqlite(self.path)

    def thread_connection(self) -> Connection:
        return self._watching.get()

    def borrow(self) -> Connection:
        return self._serving.get()

    def give_back(self, db: Connection) -> None:
        if db.in_transaction:
            # Left mid-write by an error: the next request starts clean.
            db.rollback()

    def writer_lock(self) -> Any:
        return locking.file_lock(self.path.with_suffix(".lock"))

    def lost_connections(self) -> None:
        pass  # a file's connections do not break

    def recovered(self) -> None:
        pass  # a file that was locked or unreadable needs nothing new

    def change_signal(self) -> None:
        return None  # PRAGMA data_version costs less than a check would

    def wait_for_change(self, timeout: float, stop: threading.Event) -> None:
        # A file tells no one of a commit, but PRAGMA data_version (about a
        # microsecond) moves when another connection commits: looked at often.
        db = self._watching.get()
        seen = db.execute("PRAGMA data_version").fetchone()[0]
        deadline = time.monotonic() + timeout
        while not stop.wait(min(self.CHANGE_POLL, max(deadline - time.monotonic(), 0))):
            if time.monotonic() >= deadline:
                return
            if db.execute("PRAGMA data_version").fetchone()[0] != seen:
                return

    def close(self) -> None:
        self._serving.close()
        self._watching.close()


class PostgresArchive:
    """The archive in a PostgreSQL database, shared by every node.

    Serving threads borrow connections from a psycopg_pool pool, made on the first
    request (commands never need one); the change watch keeps one per thread.
    """

    dialect = POSTGRESQL
    POOL_SIZE = 32  # at most; it starts at two and grows with the serving threads
    POOL_WAIT = 5.0  # seconds

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = without_password(url)
        self._pool: ConnectionPool | None = None
        self._pool_lock = threading.Lock()
        self._watching = _KeptConnections(self.connect, may_break=True)
        self._listener = ChangeListener(url, self.lost_connections)

    def connect(self) -> PostgresConnection:
        import psycopg

        return PostgresConnection(
            psycopg.connect(self.url, **connection_options(self.url)), self.url
        )

    def thread_connection(self) -> Connection:
        return self._watching.get()

    def borrow(self) -> Connection:
        return PostgresConnection(self._serving_pool().getconn(), self.url)

    def give_back(self, db: Connection) -> None:
        # The pool rolls back what an error left open, and drops a broken one.
        self._serving_pool().putconn(db.raw)  # type: ignore[attr-defined]

    def _serving_pool(self) -> ConnectionPool:
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    from psycopg_pool import ConnectionPool

                    self._pool = ConnectionPool(
                        self.url,
                        min_size=2,
                        max_size=self.POOL_SIZE,
                        kwargs=connection_options(self.url),
                        name="readerapp",
                        # A request waits this long at most for a connection (all
                        # busy, or the server away), then fails rather than hang.
                        timeout=self.POOL_WAIT,
                        open=True,
                    )
        return self._pool

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        import psycopg

        # Held by its own session: it ends with the process, however it ends.
        with psycopg.connect(self.url, **connection_options(self.url)) as holder:
            with locking.advisory_lock(holder, WRITER_LOCK):
                yield

    def change_signal(self) -> tuple[int, int] | None:
        heard = self._listener.heard()
        return None if heard is None else (heard, PostgresConnection.commits)

    def wait_for_change(self, timeout: float, stop: threading.Event) -> None:
        self._listener.wait(timeout, stop)

    def lost_connections(self) -> None:
        # Checks the idle ones only; one in use fails its request, and the pool
        # drops it when it comes back.
        if self._pool is not None:
            self._pool.check()

    def recovered(self) -> None:
        # The pool's own reconnection backs off for as long as the server was
        # away (seconds, then minutes): a new pool connects now, and requests
        # never meet the old one's dead connections.
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close(timeout=0)

    def close(self) -> None:
        self._listener.close()
        self._watching.close()
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


class ChangeListener:
    """LISTEN for the archive's changes on a thread of its own, so that a serving
    node knows of another's commit without asking on every request.

    Started on the first request. Until it listens, and whenever its connection
    is lost, heard() says None and the change watch asks the database instead;
    each (re)start counts as a change, so whatever was committed meanwhile is read.
    A notification arrives within about a millisecond of the commit.
    """

    WAIT = 0.5  # seconds between looks at the stop flag, and before reconnecting

    def __init__(self, url: str, reconnected: Callable[[], None]) -> None:
        self.url = url
        # Called when listening again after the server was away: the serving
        # connections it dropped are replaced before a request meets them.
        self._reconnected = reconnected
        self._count = 0
        self._listening = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._heard = threading.Condition()

    def heard(self) -> int | None:
        """Return how many notifications came (and restarts), None if deaf."""
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stop.is_set():
                    self._thread = threading.Thread(
                        target=self._listen, name="readerapp-changes", daemon=True
                    )
                    self._thread.start()
        return self._count if self._listening else None

    def wait(self, timeout: float, stop: threading.Event) -> None:
        """Return at the next notification (or restart), after timeout seconds, or
        within WAIT of stop being set."""
        if self.heard() is None:  # not listening (yet): the caller asks anyway
            stop.wait(min(timeout, self.WAIT))
            return
        deadline = time.monotonic() + timeout
        with self._heard:
            seen = self._count
            while self._count == seen and not stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._heard.wait(min(left, self.WAIT))

    def _counted(self) -> None:
        self._count += 1
        with self._heard:
            self._heard.notify_all()

    def _listen(self) -> None:
        import psycopg

        lost = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self.url, **connection_options(self.url)
                ) as connection:
                    connection.execute(f"LISTEN {CHANGES_CHANNEL}")
                    if lost:
                        self._reconnected()
                    self._counted()
                    self._listening = True
                    while not self._stop.is_set():
                        for _ in connection.notifies(timeout=self.WAIT):
                            self._counted()
            except psycopg.Error:
                pass  # the server is away: asked on each request until it is back
            finally:
                self._listening = False
                self._counted()
            lost = True
            self._stop.wait(self.WAIT)

    def close(self) -> None:
        """Stop listening (at once: a notification wakes the thread)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self._listening:
            import psycopg

            try:
                with psycopg.connect(self.url, **connection_options(self.url)) as waker:
                    waker.execute(f"NOTIFY {CHANGES_CHANNEL}")
            except psycopg.Error:
                pass
        thread.join(timeout=2 * self.WAIT + 1)


def connection_options(url: str) -> dict[str, Any]:
    """Return the options every PostgreSQL connection is made with: autocommit, and
    a server that does not answer is away after CONNECT_TIMEOUT seconds (unless the
    URL says otherwise), not after the system's minutes."""
    if "connect_timeout" in url:
        return {"autocommit": True}
    return {"autocommit": True, "connect_timeout": CONNECT_TIMEOUT}


def is_postgresql(address: str | Path) -> bool:
    """Tell whether an archive address names a PostgreSQL database."""
    return isinstance(address, str) and urlsplit(address).scheme in POSTGRESQL_SCHEMES


def without_password(url: str) -> str:
    """Return a database URL fit to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def locate(address: str | Path | Archive) -> Archive:
    """Return the archive at an address: a postgresql:// URL, else a SQLite file."""
    if isinstance(address, (SQLiteArchive, PostgresArchive)):
        return address
    if is_postgresql(address):  # type: ignore[arg-type]
        return PostgresArchive(str(address))
    return SQLiteArchive(address)  # type: ignore[arg-type]


def address(config: Any) -> str | Path:
    """Return the archive's address from the settings: DATABASE_URL, else DATABASE."""
    return config.get("DATABASE_URL") or config["DATABASE"]
