"""The seam between Flask and the archive: per-request store, one cache."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Flask, current_app, g
from flask_caching import Cache

from .search import ArchiveIndex
from .store import Store, connect, open_store

cache = Cache()


def get_store() -> Store:
    """Return this request's archive connection, opening it on first use."""
    if "store" not in g:
        g.store = Store(connect(current_app.config["DATABASE"]))
    return g.store


def get_index() -> ArchiveIndex:
    """Return the app's search index (each thread keeps its own searcher)."""
    return current_app.extensions["readerapp.index"]


def timezone() -> ZoneInfo:
    """Return the newsroom's time zone."""
    return ZoneInfo(current_app.config["TIMEZONE"])


def _close_store(_error: BaseException | None = None) -> None:
    store = g.pop("store", None)
    if store is not None:
        store.close()


def init_app(app: Flask) -> None:
    """Create the archive's tables if needed and bind the cache."""
    open_store(app.config["DATABASE"]).close()
    app.extensions["readerapp.index"] = ArchiveIndex(app.config["INDEX_DIR"])
    cache.init_app(app)
    app.teardown_appcontext(_close_store)
