"""Static files addressed by content: hashed URLs, cached for a year."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

IMMUTABLE_SECONDS = 365 * 24 * 3600


@cache
def _digest(path: Path, mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10]


def digest(static_folder: str | Path, filename: str) -> str | None:
    """Return a short content hash of a static file, or None if it is missing."""
    path = Path(static_folder, filename)
    try:
        # The mtime is part of the cache key, so an edited file gets a new hash.
        return _digest(path, path.stat().st_mtime_ns)
    except OSError:
        return None


def init_app(app: Flask) -> None:
    """Version static URLs by content and let browsers keep versioned files."""

    @app.url_defaults
    def add_version(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and "v" not in values and app.static_folder:
            version = digest(app.static_folder, values["filename"])
            if version:
                values["v"] = version

    @app.after_request
    def cache_versioned(response: Response) -> Response:
        if request.endpoint == "static" and "v" in request.args:
            response.cache_control.no_cache = None
            response.cache_control.public = True
            response.cache_control.max_age = IMMUTABLE_SECONDS
            response.cache_control.immutable = True
        return response
