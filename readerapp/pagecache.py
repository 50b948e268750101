"""Rendered pages kept in Flask-Caching until something they read changes.

A page is rendered once by Flask; `caching.py` hands the finished representation
to this cache, which replays it byte for byte, headers included, in front of Flask
(as a WSGI middleware, so a hit costs less than routing a request would). Each page
remembers the cache tags of what it read (store.py names them); an import or
reindex bumps the tags it touched in the same SQLite transaction as its writes, and
each serving process notices the commit through `PRAGMA data_version` (changes.py).

The cache may be another service (Redis, shared by several nodes): while it cannot
be reached, every lookup is a miss and pages are rendered as if nothing were kept
(`Unfailing`), and the outage is logged once.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import brotli
from flask import Flask, g
from werkzeug.http import is_resource_modified, parse_accept_header

from .changes import ChangeWatch, SharedReads
from .extensions import STORE_AWAY, cache, found_away
from .media import saving_data
from .outages import Outage
from .store import ArchiveUnreachable

# Pages whose content comes only from the archive, the index and the settings, so
# that the URL and the day (for "Don't miss") say everything about the response.
CACHED_ENDPOINTS = frozenset(
    {
        "news.home",
        "news.latest",
        "news.section",
        "news.article",
        "news.search",
        "news.about",
        "api.search",
        "api.latest",
        "api.suggest",
        "feeds.rss",
        "feeds.atom",
        "feeds.json",
        "sitemaps.robots",
        "sitemaps.sitemap_index",
        "sitemaps.pages",
        "sitemaps.month",
        "sitemaps.news",
    }
)
# Paths that answer about this node as it is now: never from the cache, and not
# held up by the change log (the health check must answer when the store cannot).
HEALTH_PATH = "/healthz"
UNCACHED_PATHS = frozenset({HEALTH_PATH})
# What the WSGI environ carries from the cache to Flask and back on a miss.
KEY = "readerapp.page_key"
SEQ = "readerapp.page_seq"
PAGE = "readerapp.page"
# Headers that belong to one encoding of a page, set afresh on each replay.
_PER_ENCODING = frozenset({"content-length", "content-encoding", "etag"})
# Below this a compressed body saves less than the header it needs.
MIN_COMPRESS_BYTES = 512

StartResponse = Callable[..., Any]


@dataclass
class CachedPage:
    """A rendered page as the cache keeps it, with what it read and when."""

    body: bytes
    digest: str  # the strong ETag of the plain body
    last_modified: datetime
    seq: int  # the archive's change number when rendering began
    reads: frozenset[str]  # the cache tags of everything it read
    compressible: bool = False  # large enough to be worth compressing
    encoded: dict[str, bytes] = field(default_factory=dict)  # by content coding
    headers: tuple[tuple[str, str], ...] = ()  # all but the per-encoding ones


def compress(body: bytes, encoding: str) -> bytes:
    """Return body compressed as `br` or `gzip` (deterministically, for ETags)."""
    if encoding == "br":
        return brotli.compress(body, quality=5)
    return gzip.compress(body, compresslevel=6, mtime=0)


def depends_on(*tags: str) -> None:
    """Record that this request's page reads something the store cannot see."""
    g.setdefault("reads", set()).update(tags)


def reads() -> frozenset[str]:
    """Return the cache tags of everything this request has read."""
    store = g.get("store")
    return frozenset((store.reads if store else set()) | g.get("reads", set()))


@lru_cache(maxsize=64)
def preferred_encoding(accept_encoding: str) -> str | None:
    """Return the coding to send for an Accept-Encoding header: br, else gzip."""
    accepted = parse_accept_header(accept_encoding)
    return next((e for e in ("br", "gzip") if accepted[e]), None)


class Unfailing:
    """The page cache's backend, where failing to reach it counts as a miss.

    Redis (or memcached) is another service: while it is down or restarting, pages
    are rendered and served as if nothing were kept, and no request waits on a dead
    connection (outages.Outage: asked once a second, the outage logged once). Nothing
    kept can be wrong after one: each page carries the change number it was made at
    and the tags it read, and is checked against the archive's change log, not
    against the cache.
    """

    # How long a node leaves it alone once it is found away (tests wait this long).
    RETRY_AFTER = Outage.RETRY_AFTER
    PROBE_KEY = "readerapp:probe"

    def __init__(self, backend: Any, logger: logging.Logger) -> None:
        self.backend = backend
        self.name = type(backend).__name__
        self.outage = Outage(
            f"page cache ({self.name})", "rendering every page", logger
        )

    def get(self, key: str) -> Any:
        """Return what the cache keeps under key, or None (also when unreachable)."""
        if not self.outage.worth_asking():
            return None
        try:
            value = self.backend.get(key)
        except Exception as error:  # noqa: BLE001 - each backend has its own errors
            self.outage.failed(error)
            self.outage.spared()
            return None
        self.outage.answered()
        return value

    def set(self, key: str, value: Any) -> None:
        """Keep value under key, unless the cache cannot be reached."""
        if not self.outage.worth_asking():
            return
        try:
            self.backend.set(key, value)
        except Exception as error:  # noqa: BLE001 - each backend has its own errors
            self.outage.failed(error)
            return
        self.outage.answered()

    def reachable(self) -> bool:
        """Ask the backend now, even during an outage (for /healthz)."""
        try:
            self.backend.get(self.PROBE_KEY)
        except Exception as error:  # noqa: BLE001 - each backend has its own errors
            self.outage.failed(error)
            return False
        self.outage.answered()
        return True


class PageCache:
    """WSGI middleware: answer from the cache when it holds a fresh copy."""

    def __init__(self, app: Flask, watch: ChangeWatch) -> None:
        self.wsgi_app = app.wsgi_app
        self.backend = Unfailing(app.extensions["cache"][cache], app.logger)
        app.extensions["readerapp.page_cache"] = self.backend
        self.watch = watch
        self.archive = app.extensions["readerapp.archive"]
        self.store_outage = app.extensions["readerapp.store_outage"]
        self.zone = ZoneInfo(app.config["TIMEZONE"])
        self.static_prefix = f"{app.static_url_path}/"
        # Without SITE_URL, pages carry the address they were asked at (canonical
        # links, feeds), so the address is part of the key.
        self.keyed_by_host = not app.config["SITE_URL"]

    def key(self, environ: dict[str, Any]) -> str:
        """Return the cache key of the page this request asks for."""
        query_string = environ.get("QUERY_STRING", "")
        query = sorted(parse_qsl(query_string, True)) if query_string else []
        day = datetime.now(self.zone).date().isoformat()
        origin = (
            (environ.get("wsgi.url_scheme"), environ.get("HTTP_HOST"))
            if self.keyed_by_host
            else ()
        )
        # Pages offer smaller pictures to readers saving data (views/pictures.py).
        light = saving_data(environ.get("HTTP_SAVE_DATA"), environ.get("HTTP_ECT"))
        # Hashed, because memcached keys may not hold spaces and readers' queries may.
        raw = repr((day, origin, environ.get("PATH_INFO", ""), query, light)).encode()
        return "page:" + hashlib.blake2b(raw, digest_size=16).hexdigest()

    def __call__(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if (
            environ["REQUEST_METHOD"] not in ("GET", "HEAD")
            or path.startswith(self.static_prefix)
            or path in UNCACHED_PATHS
        ):
            return self.wsgi_app(environ, start_response)
        try:
            if not self.store_outage.worth_asking():
                raise ArchiveUnreachable("away")
            environ[SEQ] = self.watch.current()
        except Exception as error:
            if not found_away(error, self.archive, self.store_outage):
                raise
            return self.without_store(environ, start_response)
        if self.store_outage.answered():
            self.archive.recovered()
        environ[KEY] = key = self.key(environ)
        page = self.backend.get(key)
        if page is not None and self.watch.is_fresh(page):
            return self.replay(page, environ, start_response, key)

        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], *exc_info: Any):
            captured[:] = [status, headers]
            return start_response(status, headers, *exc_info)

        body = self.wsgi_app(environ, capture)
        page = environ.get(PAGE)
        if page is not None and captured and captured[0].startswith("200"):
            page.headers = tuple(
                (name, value)
                for name, value in captured[1]
                if name.lower() not in _PER_ENCODING
            )
            self.backend.set(key, page)
        return body

    def without_store(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        """Answer while the archive cannot be reached: the page as the cache last
        kept it (its freshness cannot be checked, and the last version known beats
        none), else whatever Flask can answer without the archive: a 503 with
        Retry-After where a page needs it (views/health.py)."""
        environ[STORE_AWAY] = True
        key = self.key(environ)
        page = self.backend.get(key)
        if page is not None:
            self.store_outage.spared()
            return self.replay(page, environ, start_response, key)
        return self.wsgi_app(environ, start_response)

    def replay(
        self,
        page: CachedPage,
        environ: dict[str, Any],
        start_response: StartResponse,
        key: str,
    ) -> Iterable[bytes]:
        """Answer from the cached page: 200, or 304 when the client has it already."""
        encoding = None
        if page.compressible:
            encoding = preferred_encoding(environ.get("HTTP_ACCEPT_ENCODING", ""))
            if encoding and encoding not in page.encoded:
                # Compressed once, the first time a reader asks for this encoding.
                page.encoded[encoding] = compress(page.body, encoding)
                self.backend.set(key, page)
        body = page.encoded.get(encoding, page.body) if encoding else page.body
        etag = f"{page.digest}-{encoding}" if body is not page.body else page.digest
        headers = [*page.headers, ("ETag", f'"{etag}"')]
        if (
            "HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MODIFIED_SINCE" in environ
        ) and not is_resource_modified(
            environ, etag=etag, last_modified=page.last_modified
        ):
            start_response("304 Not Modified", headers)
            return []
        if body is not page.body:
            headers.append(("Content-Encoding", encoding))
        headers.append(("Content-Length", str(len(body))))
        start_response("200 OK", headers)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]


def init_app(app: Flask) -> None:
    """Put the page cache in front of the app; share reads between its pages."""
    watch = ChangeWatch(app.extensions["readerapp.archive"])
    app.extensions["readerapp.shared_reads"] = SharedReads(watch)
    app.wsgi_app = PageCache(app, watch)  # type: ignore[method-assign]
