"""JSON for scripts and the offline app: search results, headline completions, the
newest stories, and the OpenAPI description of them all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from markupsafe import escape

from ..extensions import get_index, get_store
from ..models import ArticleSummary
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
    """The newest stories, which the service worker keeps for reading offline."""
    return jsonify({"urls": [_url(s) for s in get_store().latest(LATEST_OFFLINE)]})


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
