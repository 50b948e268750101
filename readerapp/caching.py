"""HTTP caching and compression: validators, 304s, gzip and brotli bodies."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from flask_caching.backends import SimpleCache as FlaskSimpleCache
from werkzeug.http import http_date

from . import pagecache
from .extensions import cache, get_store, store_away
from .pagecache import CachedPage, compress

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
    "text/plain",
)
COMPRESSIBLE_TYPES = (*VALIDATED_TYPES, "text/css", "image/svg+xml")
# The request headers (as WSGI keys) that can turn a page into a 304, 412 or 206.
_CONDITIONS = frozenset(
    f"HTTP_{name}"
    for name in (
        "IF_NONE_MATCH",
        "IF_MODIFIED_SINCE",
        "IF_MATCH",
        "IF_UNMODIFIED_SINCE",
        "IF_RANGE",
        "RANGE",
    )
)


@lru_cache(maxsize=256)
def _compressed_file(path: Path, mtime_ns: int, encoding: str) -> bytes:
    return compress(path.read_bytes(), "br" if encoding == "br" else "gzip")


def vary_on(response: Response, *names: str) -> None:
    """Add request headers to the response's Vary, leaving those it names already.

    Werkzeug's `response.vary` parses the header into a set and writes it back on
    every change; on every page that is a noticeable part of its cost (#16).
    """
    current = ", ".join(response.headers.getlist("Vary"))
    if not current:
        response.headers["Vary"] = ", ".join(names)
        return
    present = {name.strip().lower() for name in current.split(",")}
    added = [name for name in names if name.lower() not in present]
    if added:
        response.headers["Vary"] = ", ".join([current, *added])


class _AsIs:
    """Keeps values as they are: in one process, pickling a page on every miss and
    unpickling it on every hit only copies it (#16). Pages are not changed once
    kept, but for the encodings `PageCache.replay` adds, which it keeps anyway."""

    def dumps(self, value: Any) -> Any:
        return value

    def loads(self, value: Any) -> Any:
        return value


class SimpleCache(FlaskSimpleCache):
    """Flask-Caching's in-process cache, making room in constant time.

    Once full, cachelib's SimpleCache scans every entry for expired ones and then
    sorts them all by expiry on each `set`: with 2,000 pages kept, that was a sixth
    of the CPU time of an uncached page in a long-running server (#16). Entries
    here are kept in the order they were last set, so the first is the one that
    expires first (pages are all kept for the default time), and room is made by
    dropping from the front: the same entries go as before. Values are kept
    unpickled (`_AsIs`).
    """

    serializer = _AsIs()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cache: OrderedDict[str, Any] = OrderedDict()

    def _prune(self) -> None:
        while len(self._cache) > self._threshold:
            self._cache.popitem(last=False)

    def set(self, key: str, value: Any, timeout: Any = None) -> bool | None:
        with self._lock:
            # Set again, it expires last: to the back of the line.
            self._cache.pop(key, None)
            return super().set(key, value, timeout)


def _use_constant_time_simple_cache(app: Flask) -> None:
    """Replace Flask-Caching's SimpleCache with the one above, same settings."""
    kept = app.extensions["cache"]
    if type(kept[cache]) is FlaskSimpleCache:
        old = kept[cache]
        kept[cache] = SimpleCache(
            threshold=old._threshold, default_timeout=old.default_timeout
        )


def init_app(app: Flask) -> None:
    """Validate and compress generated pages, offer them to the page cache;
    compress static files once."""
    _use_constant_time_simple_cache(app)
    # A deploy can change every page without the archive changing.
    started = datetime.now(UTC).replace(microsecond=0)

    @app.after_request
    def validate_and_compress(response: Response) -> Response:
        # Every page passes here: the request looked up once, not through its proxy.
        asked = request._get_current_object()  # type: ignore[attr-defined]
        if asked.method not in ("GET", "HEAD") or response.status_code != 200:
            return response
        mimetype = response.mimetype
        if mimetype in COMPRESSIBLE_TYPES:
            vary_on(response, "Accept-Encoding")
            encoding = pagecache.preferred_encoding(
                asked.environ.get("HTTP_ACCEPT_ENCODING", "")
            )
        else:
            encoding = None
        if response.direct_passthrough:
            if encoding and asked.endpoint == "static":
                _compress_static_file(app, response, encoding)
            return response
        if mimetype not in VALIDATED_TYPES:
            return response
        body = response.get_data()
        # A page made while the archive is away read nothing from it.
        changed = None if store_away() else get_store().changed_at()
        page = CachedPage(
            body=body,
            digest=hashlib.sha256(body).hexdigest()[:32],
            last_modified=max(started, changed) if changed else started,
            seq=asked.environ.get(pagecache.SEQ, 0),
            reads=pagecache.reads(),
            compressible=len(body) >= pagecache.MIN_COMPRESS_BYTES,
        )
        # Werkzeug's Headers raise and catch an exception for each name a `get` or
        # `in` does not find: every page asks for a few that are not there (#16).
        headers = response.headers
        cacheable = (
            pagecache.KEY in asked.environ
            and asked.endpoint in pagecache.CACHED_ENDPOINTS
            and not headers.getlist("Set-Cookie")
        )
        if page.compressible and encoding:
            # Only the encoding asked for: a crawler asking for none costs none. The
            # page cache adds another the first time a hit asks for it (#16).
            page.encoded[encoding] = compress(body, encoding)
        if encoding in page.encoded:
            response.set_data(page.encoded[encoding])
            headers["Content-Encoding"] = encoding
            # Each encoding is its own representation, so it has its own strong ETag.
            headers["ETag"] = f'"{page.digest}-{encoding}"'
        else:
            headers["ETag"] = f'"{page.digest}"'
        headers["Last-Modified"] = _http_date(page.last_modified)
        # Not response.cache_control, which parses the header into an object.
        if not any("no-cache" in value for value in headers.getlist("Cache-Control")):
            headers["Cache-Control"] = SHORT_LIVED
        if cacheable:
            asked.environ[pagecache.PAGE] = page
        if _CONDITIONS.isdisjoint(asked.environ):
            return response  # nothing to compare with: the page as it is
        return response.make_conditional(asked)


@lru_cache(maxsize=64)
def _http_date(moment: datetime) -> str:
    # Pages share a few: the archive's last change, or when this process started.
    return http_date(moment)


def _compress_static_file(app: Flask, response: Response, encoding: str) -> None:
    path = Path(app.static_folder or "", request.view_args["filename"])
    stat = path.stat()
    if stat.st_size < pagecache.MIN_COMPRESS_BYTES:
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
