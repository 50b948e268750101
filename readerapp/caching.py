"""HTTP caching: validators on every page and conditional requests answered with 304."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from flask import Flask, Response, request

from .extensions import get_store

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


def init_app(app: Flask) -> None:
    """Give generated responses strong ETags and Last-Modified, and answer 304s."""
    # A deploy can change every page without the archive changing.
    started = datetime.now(UTC).replace(microsecond=0)

    @app.after_request
    def validate(response: Response) -> Response:
        if (
            request.method not in ("GET", "HEAD")
            or response.status_code != 200
            or response.direct_passthrough
            or response.mimetype not in VALIDATED_TYPES
        ):
            return response
        body = response.get_data()
        response.set_etag(hashlib.sha256(body).hexdigest()[:32])
        changed = get_store().changed_at()
        response.last_modified = max(started, changed) if changed else started
        if not response.cache_control.no_cache:
            response.headers["Cache-Control"] = SHORT_LIVED
        return response.make_conditional(request)
