"""The seam between Flask and the archive: per-request store, one cache."""

from __future__ import annotations

import sqlite3
import threading
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g
from flask_caching import Cache

from .search import ArchiveIndex
from .store import Store, connect, open_store

cache = Cache()


def get_store() -> Store:
    """Return this request's archive connection, opening it on first use."""
    if "store" not in g:
        shared = current_app.extensions.get("readerapp.shared_reads")
        if shared is not None:
            # Reads kept from earlier requests are checked against the archive as
            # it is now.
            shared.watch.current()
        g.store = Store(_thread_connection(), shared)
    return g.store


def _thread_connection() -> sqlite3.Connection:
    """Return this thread's connection to the archive, opened on its first request.

    Opening one costs a page a tenth of its rendering (issue #16); serving threads
    live as long as the server, and between statements a connection holds no lock
    or snapshot, so each thread keeps one.
    """
    local = current_app.extensions["readerapp.connections"]
    connection = getattr(local, "connection", None)
    if connection is None:
        connection = local.connection = connect(current_app.config["DATABASE"])
    return connection


def get_index() -> ArchiveIndex:
    """Return the app's search index (each thread keeps its own searcher)."""
    return current_app.extensions["readerapp.index"]


def timezone() -> ZoneInfo:
    """Return the newsroom's time zone."""
    return ZoneInfo(current_app.config["TIMEZONE"])


def _release_store(_error: BaseException | None = None) -> None:
    store = g.pop("store", None)
    if store is not None and store.db.in_transaction:
        # Left mid-write by an error: the next request starts clean.
        store.db.rollback()


def init_app(app: Flask) -> None:
    """Create the archive's tables if needed and bind the cache."""
    open_store(app.config["DATABASE"]).close()
    app.extensions["readerapp.index"] = ArchiveIndex(app.config["INDEX_DIR"])
    cache.init_app(app)
    app.extensions["readerapp.connections"] = threading.local()
    app.teardown_appcontext(_release_store)
