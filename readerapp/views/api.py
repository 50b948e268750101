"""JSON for scripts and the offline app: search results, headline completions, the
newest stories, and the OpenAPI description of them all."""

from __future__ import annotations

import contextvars
import json
from io import BytesIO
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from markupsafe import escape

from ..extensions import get_index, get_store
from ..models import ArticleSummary
from ..pagecache import KEY as PAGE_KEY
from ..pagecache import depends_on
from ..search import IndexUnavailable
from ..store import INDEX_TAG
from .news import SEARCH_RETRY_SECONDS, search_unavailable
from .params import found_articles, search_request

bp = Blueprint("api", __name__, url_prefix="/api")
LATEST_OFFLINE = 20
# The API's one description: a data file, served as it is, that tests/test_fuzz.py
# holds every answer to.
OPENAPI = Path(__file__).with_name("openapi.json")


@bp.errorhandler(IndexUnavailable)
def index_unavailable(damaged: IndexUnavailable) -> tuple[Response, int]:
    """Answer 503 with Retry-After while the search index cannot be read."""
    search_unavailable(damaged)
    response = jsonify(
        {
            "error": "search is being rebuilt; try again later",
            "retry_after": SEARCH_RETRY_SECONDS,
        }
    )
    response.retry_after = SEARCH_RETRY_SECONDS
    response.cache_control.no_store = True
    return response, 503


def _url(article: ArticleSummary) -> str:
    return url_for(
        "news.article", section_slug=article.section.slug, article_slug=article.slug
    )


@bp.get("/search")
def search() -> Response:
    wanted, notes = search_request()
    depends_on(INDEX_TAG)
    store = get_store()
    body: dict[str, Any] = {
        "query": wanted.text,
        "page": wanted.page,
        "total": 0,
        "hits": [],
        "facets": [],
        "suggestion": None,
        "message": None,
        "notes": notes,
    }
    if wanted.text.strip():
        results = get_index().search(wanted, store.bodies)
        body.update(
            query=results.query_text,
            total=results.total,
            suggestion=results.suggestion,
            message=results.message,
            facets=[{"section": slug, "count": n} for slug, n in results.facets],
            hits=[
                {
                    "url": _url(article),
                    "headline": article.headline,
                    "section": article.section.name,
                    "published": article.published.isoformat(),
                    "byline": article.byline,
                    "snippet": str(snippet or escape(article.excerpt)),
                }
                for article, snippet in found_articles(results, store)
            ],
        )
    return jsonify(body)


@bp.get("/latest")
def latest() -> Response:
    """The newest stories, which the service worker keeps for reading offline; with
    `pages` (addresses from that list or the home page, comma-separated), those pages
    as they are served, in one answer."""
    urls = [_url(s) for s in get_store().latest(LATEST_OFFLINE)]
    if "pages" not in request.args:
        return jsonify({"urls": urls})
    # Compressed together, the template the pages share is sent once, not once a
    # page: the 20 newest stories are about 88 KB one by one and 22 KB together.
    # Readers ask for different sets, so the answer is not kept in the page cache.
    request.environ.pop(PAGE_KEY, None)
    wanted = set(request.args["pages"].split(",")) & {"/", *urls}
    pages = {url: html for url in sorted(wanted) if (html := _page(url)) is not None}
    return Response(json.dumps(pages, ensure_ascii=False), mimetype="application/json")


def _page(path: str) -> str | None:
    """Return the page at path as this reader would get it (the page cache's copy
    when it has one), or None when it is not a 200."""
    environ = {
        key: value
        for key, value in request.environ.items()
        if not key.startswith(("HTTP_IF_", "HTTP_ACCEPT_ENCODING", "readerapp."))
    }
    environ.update(
        PATH_INFO=path, QUERY_STRING="", CONTENT_LENGTH="0", **{"wsgi.input": BytesIO()}
    )
    status: list[str] = []
    # In a context of its own, the page gets an app context (and `g`) of its own.
    answer = contextvars.Context().run(
        current_app.wsgi_app,
        environ,
        lambda code, headers, *exc_info: status.append(code),
    )
    try:
        body = b"".join(answer)
    finally:
        getattr(answer, "close", lambda: None)()
    return body.decode() if status and status[0].startswith("200") else None


@bp.get("/suggest")
def suggest() -> Response:
    prefix = request.args.get("q", "")
    depends_on(INDEX_TAG)
    ids = get_index().suggest(prefix)
    # Running stories repeat a headline day after day; one of each is enough.
    seen: set[str] = set()
    suggestions = []
    for summary in get_store().summaries(ids):
        if summary.headline not in seen:
            seen.add(summary.headline)
            suggestions.append({"headline": summary.headline, "url": _url(summary)})
    return jsonify({"query": prefix, "suggestions": suggestions})


@bp.get("/openapi.json")
def openapi() -> Response:
    """Serve the API's OpenAPI 3.1 description, validated like every answer."""
    return Response(OPENAPI.read_bytes(), mimetype="application/json")
