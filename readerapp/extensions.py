"""The seam between Flask and the archive: per-request store, one cache."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g, has_request_context, request
from flask_caching import Cache

from .engines import Archive, address, locate
from .outages import Outage
from .search import ArchiveIndex
from .store import ArchiveUnreachable, Store, migrate

cache = Cache()
# Set in the WSGI environ by the page cache (pagecache.SEQ) once it has caught up
# with the archive's changes at the start of the request.
_CAUGHT_UP = "readerapp.page_seq"
# Set in the WSGI environ by the page cache when the archive cannot be reached.
STORE_AWAY = "readerapp.store_away"
# What a reader is told to wait, and a load balancer before asking again, when
# the archive is away (seconds).
RETRY_AFTER = 10


def get_store() -> Store:
    """Return this request's archive connection, taken on first use.

    Raises ArchiveUnreachable at once while the archive is known to be away
    (`store_away()`), rather than have the request wait for a connection."""
    if "store" not in g:
        if store_away():
            raise ArchiveUnreachable(f"{get_archive().where}: away")
        shared = current_app.extensions.get("readerapp.shared_reads")
        if shared is not None and not (
            has_request_context() and _CAUGHT_UP in request.environ
        ):
            # Reads kept from earlier requests are checked against the archive as
            # it is now (on PostgreSQL a round trip: not twice in one request).
            shared.watch.current()
        # SQLite: the connection this serving thread keeps; PostgreSQL: one from
        # the pool (engines.py).
        g.store = Store(get_archive().borrow(), shared)
        if store_outage().answered():
            get_archive().recovered()
    return g.store


def store_outage() -> Outage:
    """Return what this process knows of the archive's reachability."""
    return current_app.extensions["readerapp.store_outage"]


def store_away() -> bool:
    """Tell whether this request must do without the archive: the page cache found
    it away (STORE_AWAY), an error handler is answering for it, or it is away and
    this request is not the one that asks again."""
    if has_request_context() and (STORE_AWAY in request.environ or g.get("store_away")):
        return True
    outage = store_outage()
    return outage.down and not outage.worth_asking()


def found_away(error: BaseException, archive: Archive, outage: Outage) -> bool:
    """Tell whether an error says the archive cannot be reached (our own
    ArchiveUnreachable, or the engine's word for it), noting a first-hand one in
    the outage; any other error is a fault."""
    if isinstance(error, ArchiveUnreachable):
        return True  # raised because the outage already knew
    if archive.dialect.unavailable(error):
        outage.failed(error)
        return True
    return False


def get_archive() -> Archive:
    """Return where the app's archive lives (engines.py)."""
    return current_app.extensions["readerapp.archive"]


def get_index() -> ArchiveIndex:
    """Return the app's search index (each thread keeps its own searcher)."""
    return current_app.extensions["readerapp.index"]


def timezone() -> ZoneInfo:
    """Return the newsroom's time zone."""
    return _zone(current_app.config["TIMEZONE"])


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    # ZoneInfo keeps its zones too, behind a weak cache: a page asks four times.
    return ZoneInfo(name)


def _release_store(_error: BaseException | None = None) -> None:
    store = g.pop("store", None)
    if store is not None:
        get_archive().give_back(store.db)


def init_app(app: Flask) -> None:
    """Create or migrate the archive's tables if needed and bind the cache."""
    archive = app.extensions["readerapp.archive"] = locate(address(app.config))
    app.extensions["readerapp.store_outage"] = Outage(
        f"archive ({archive.dialect.name})",
        "answering from the page cache or with 503",
        app.logger,
    )
    # Schema versions before and after, for `reader migrate` to report.
    app.extensions["readerapp.schema"] = migrate(archive)
    app.extensions["readerapp.index"] = ArchiveIndex(app.config["INDEX_DIR"])
    cache.init_app(app)
    app.teardown_appcontext(_release_store)
