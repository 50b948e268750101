"""The seam between Flask and the archive: per-request store, one cache."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Flask, current_app, g, has_request_context, request
from flask_caching import Cache

from .engines import Archive, address, locate
from .search import ArchiveIndex
from .store import Store, migrate

cache = Cache()
# Set in the WSGI environ by the page cache (pagecache.SEQ) once it has caught up
# with the archive's changes at the start of the request.
_CAUGHT_UP = "readerapp.page_seq"


def get_store() -> Store:
    """Return this request's archive connection, taken on first use."""
    if "store" not in g:
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
    return g.store


def get_archive() -> Archive:
    """Return where the app's archive lives (engines.py)."""
    return current_app.extensions["readerapp.archive"]


def get_index() -> ArchiveIndex:
    """Return the app's search index (each thread keeps its own searcher)."""
    return current_app.extensions["readerapp.index"]


def timezone() -> ZoneInfo:
    """Return the newsroom's time zone."""
    return ZoneInfo(current_app.config["TIMEZONE"])


def _release_store(_error: BaseException | None = None) -> None:
    store = g.pop("store", None)
    if store is not None:
        get_archive().give_back(store.db)


def init_app(app: Flask) -> None:
    """Create or migrate the archive's tables if needed and bind the cache."""
    archive = app.extensions["readerapp.archive"] = locate(address(app.config))
    # Schema versions before and after, for `reader migrate` to report.
    app.extensions["readerapp.schema"] = migrate(archive)
    app.extensions["readerapp.index"] = ArchiveIndex(app.config["INDEX_DIR"])
    cache.init_app(app)
    app.teardown_appcontext(_release_store)
