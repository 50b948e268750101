"""/healthz: whether this node can serve, for load balancers and monitoring.

It answers about this node as it is now: the page cache never keeps it
(pagecache.UNCACHED_PATHS), nor may anything between it and its reader
(`Cache-Control: no-store`), and it costs a few indexed lookups, no scans. 200
when the node can serve; 503 with Retry-After when the store cannot be reached or
the search index cannot be read at all. A page cache that cannot be reached, or an
index that is only behind (its lag: the archive's changes it does not hold yet,
the latest number in the change log minus the last one the index records), is
reported as "warn" and the node stays in: it renders every page without the
cache, and every page but search serves from the store. Every node shares one
cache, so failing them for it would take the whole site out while each could
still serve.

The body's media type and its "pass" / "warn" / "fail" are those of the Health
Check Response Format for HTTP APIs (an IETF draft), which monitoring tools read.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, make_response
from werkzeug.exceptions import ServiceUnavailable

from ..extensions import (
    RETRY_AFTER,
    found_away,
    get_archive,
    get_index,
    get_store,
    store_away,
    store_outage,
)
from ..pagecache import HEALTH_PATH
from ..search import IndexUnavailable
from ..store import ArchiveUnreachable

bp = Blueprint("health", __name__)

MEDIA_TYPE = "application/health+json"


class ArchiveAway(ServiceUnavailable):
    """The page needs the archive, which cannot be reached just now."""

    name = "Back in a moment"
    description = (
        "The news archive cannot be reached just now. Stories you have opened"
        " before are kept on your device; try again in a few seconds."
    )


def _store() -> dict[str, Any]:
    """Reach the store: its latest change numbers (cache tags, and the stories'
    change log that search indexes follow)."""
    if store_away():
        return {
            "reachable": False,
            "error": "ArchiveUnreachable",
            "away_for": round(store_outage().down_for() or 0, 1),
        }
    try:
        store = get_store()
        return {
            "reachable": True,
            "change": store.change_seq(),
            "article_change": store.latest_article_change(),
        }
    except Exception as error:  # noqa: BLE001 - either engine's errors, any failure
        found_away(error, get_archive(), store_outage())
        return {"reachable": False, "error": type(error).__name__}


def _index(latest: int | None) -> dict[str, Any]:
    """Open (or reuse) this thread's searcher: the generation, its documents, the
    last change it holds and its lag behind the store (None if unreachable)."""
    archive_index = get_index()
    held = archive_index.last_change()
    lag = None if latest is None else max(latest - (held or 0), 0)
    try:
        reading = archive_index.searcher()
    except IndexUnavailable:
        return {"readable": False, "generation": None, "lag": lag}
    return {
        "readable": True,
        "generation": reading.folder.name if reading else None,
        "documents": reading.searcher.doc_count() if reading else 0,
        "change": held,
        # The store's changes this node's index does not hold yet.
        "lag": lag,
    }


def _cache() -> dict[str, Any]:
    """Ask the page cache's backend (Redis, when several nodes share one)."""
    backend = current_app.extensions["readerapp.page_cache"]
    return {"reachable": backend.reachable(), "type": backend.name}


@bp.get(HEALTH_PATH)
def healthz() -> Response:
    """Report the store, the search index and the page cache; 200 or 503."""
    store = _store()
    index = _index(store.get("article_change"))
    cache = _cache()
    serving = store["reachable"] and index["readable"]
    if not serving:
        status = "fail"
    elif index["lag"] or not cache["reachable"]:
        status = "warn"
    else:
        status = "pass"
    body = {"status": status, "store": store, "index": index, "cache": cache}
    response = Response(
        json.dumps(body, indent=1) + "\n",
        status=200 if serving else 503,
        mimetype=MEDIA_TYPE,
    )
    response.headers["Cache-Control"] = "no-store"
    if not serving:
        response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


def answer_without_store(error: Exception) -> Response:
    """Answer a request that needed the archive while it cannot be reached: the
    site's error page, 503 with Retry-After (a reader's browser, its service worker
    and nginx all know to try again, or another node), never a traceback. Any other
    database error is a fault, and goes on to be one."""
    if not found_away(error, get_archive(), store_outage()):
        raise error
    g.store_away = True  # the error page's header must not ask the archive either
    away = ArchiveAway(retry_after=RETRY_AFTER)
    response = make_response(current_app.handle_http_exception(away))
    response.headers["Cache-Control"] = "no-store"
    return response


def register_outage_handler(app: Flask) -> None:
    """Answer 503 for every request that meets the archive away."""
    app.register_error_handler(ArchiveUnreachable, answer_without_store)
    app.register_error_handler(
        app.extensions["readerapp.archive"].dialect.Error, answer_without_store
    )
