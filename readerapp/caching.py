"""Caching and compression: rendered pages kept until what they read changes,
validators and 304s, gzip and brotli bodies."""

from __future__ import annotations

import gzip
import hashlib
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import brotli
from flask import Flask, Response, current_app, g, request

from .extensions import cache, get_store, timezone
from .store import Store, connect

# Pages and API answers a browser must revalidate (cheaply, with a 304) but a shared
# cache or CDN in front may hold for a minute, and serve stale while it refetches.
SHORT_LIVED = (
    "public, max-age=0, must-revalidate, s-maxage=60, stale-while-revalidate=300"
)
VALIDATED_TYPES = (
    "text/html",
    "application/json",
    "application/manifest+json",
    "text/javascript",
    "application/xml",
    "application/atom+xml",
    "application/rss+xml",
    "application/feed+json",
)
COMPRESSIBLE_TYPES = (*VALIDATED_TYPES, "text/css", "image/svg+xml")
# Below this a compressed body saves less than the header it needs.
MIN_COMPRESS_BYTES = 512
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
    }
)


@dataclass
class CachedPage:
    """A rendered page as the cache keeps it, with what it read and when."""

    body: bytes
    mimetype: str
    digest: str
    last_modified: datetime
    seq: int  # the archive's change number when rendering began
    reads: frozenset[str]  # the cache tags of everything it read
    encoded: dict[str, bytes] = field(default_factory=dict)


class ChangeWatch:
    """Follow the archive's changes, so a cached page knows when it has gone stale.

    An import in another process bumps the cache tags it touched in the same
    transaction as its writes; `PRAGMA data_version` tells each serving thread
    cheaply whether anything was committed since it last looked.
    """

    def __init__(self, database: Path) -> None:
        self.database = database
        self.seq = 0
        self._tag_seq: dict[str, int] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def current(self) -> int:
        """Catch up with the archive's changes; return its latest change number."""
        local = self._local
        if not hasattr(local, "store"):
            local.store = Store(connect(self.database))
            local.version = None
        version = local.store.data_version()
        if version != local.version:
            with self._lock:
                for tag, seq in local.store.changes_since(self.seq):
                    self._tag_seq[tag] = seq
                    self.seq = max(self.seq, seq)
            local.version = version
        return self.seq

    def is_fresh(self, page: CachedPage) -> bool:
        """Return whether nothing the page read has changed since it was rendered."""
        return all(self._tag_seq.get(tag, 0) <= page.seq for tag in page.reads)


def depends_on(*tags: str) -> None:
    """Record that this request's page reads something the store cannot see."""
    g.setdefault("reads", set()).update(tags)


def compress(body: bytes, encoding: str) -> bytes:
    """Return body compressed as `br` or `gzip` (deterministically, for ETags)."""
    if encoding == "br":
        return brotli.compress(body, quality=5)
    return gzip.compress(body, compresslevel=6, mtime=0)


@lru_cache(maxsize=256)
def _compressed_file(path: Path, mtime_ns: int, encoding: str) -> bytes:
    return compress(path.read_bytes(), "br" if encoding == "br" else "gzip")


def _encoding(response: Response) -> str | None:
    if response.mimetype not in COMPRESSIBLE_TYPES:
        return None
    accepted = request.accept_encodings
    for encoding in ("br", "gzip"):
        if accepted[encoding]:
            return encoding
    return None


def _page_key() -> str:
    query = sorted(request.args.items(multi=True))
    day = datetime.now(timezone()).date().isoformat()
    # Hashed, because memcached keys may not hold spaces and readers' queries may.
    raw = repr((day, request.path, query)).encode()
    return "page:" + hashlib.blake2b(raw, digest_size=16).hexdigest()


def _apply(response: Response, page: CachedPage, encoding: str | None) -> bool:
    """Fill response from page; return whether page gained a new encoding."""
    gained = False
    response.mimetype = page.mimetype
    response.vary.add("Accept-Encoding")
    if encoding and len(page.body) >= MIN_COMPRESS_BYTES:
        if encoding not in page.encoded:
            page.encoded[encoding] = compress(page.body, encoding)
            gained = True
        response.set_data(page.encoded[encoding])
        response.headers["Content-Encoding"] = encoding
        # Each encoding is its own representation, so it has its own strong ETag.
        response.set_etag(f"{page.digest}-{encoding}")
    else:
        response.set_data(page.body)
        response.set_etag(page.digest)
    response.last_modified = page.last_modified
    if not response.cache_control.no_cache:
        response.headers["Cache-Control"] = SHORT_LIVED
    return gained


def init_app(app: Flask) -> None:
    """Cache, validate and compress generated pages; compress static files once."""
    # A deploy can change every page without the archive changing.
    started = datetime.now(UTC).replace(microsecond=0)
    app.extensions["readerapp.changes"] = ChangeWatch(app.config["DATABASE"])

    @app.before_request
    def serve_from_cache() -> Response | None:
        if request.method not in ("GET", "HEAD"):
            return None
        if request.endpoint not in CACHED_ENDPOINTS:
            return None
        g.page_seq = current_app.extensions["readerapp.changes"].current()
        g.page_key = _page_key()
        page = cache.get(g.page_key)
        if page is None or not current_app.extensions["readerapp.changes"].is_fresh(
            page
        ):
            return None
        g.page_served = True
        response = current_app.response_class()
        if _apply(response, page, _encoding(response)):
            cache.set(g.page_key, page)
        return response.make_conditional(request)

    @app.after_request
    def validate_and_compress(response: Response) -> Response:
        if request.method not in ("GET", "HEAD") or response.status_code != 200:
            return response
        if g.get("page_served"):
            return response
        if response.mimetype in COMPRESSIBLE_TYPES:
            response.vary.add("Accept-Encoding")
        encoding = _encoding(response)
        if response.direct_passthrough:
            if encoding and request.endpoint == "static":
                _compress_static_file(app, response, encoding)
            return response
        if response.mimetype not in VALIDATED_TYPES:
            return response
        body = response.get_data()
        changed = get_store().changed_at()
        store = g.get("store")
        page = CachedPage(
            body=body,
            mimetype=response.mimetype,
            digest=hashlib.sha256(body).hexdigest()[:32],
            last_modified=max(started, changed) if changed else started,
            seq=g.get("page_seq", 0),
            reads=frozenset((store.reads if store else set()) | g.get("reads", set())),
        )
        _apply(response, page, encoding)
        if "page_key" in g and "Set-Cookie" not in response.headers:
            cache.set(g.page_key, page)
        return response.make_conditional(request)


def _compress_static_file(app: Flask, response: Response, encoding: str) -> None:
    path = Path(app.static_folder or "", request.view_args["filename"])
    stat = path.stat()
    if stat.st_size < MIN_COMPRESS_BYTES:
        return
    body = _compressed_file(path, stat.st_mtime_ns, encoding)
    file_wrapper = response.response
    response.direct_passthrough = False
    response.set_data(body)
    if hasattr(file_wrapper, "close"):
        file_wrapper.close()
    response.headers["Content-Encoding"] = encoding
    etag, _ = response.get_etag()
    if etag:
        response.set_etag(f"{etag}-{encoding}")
