"""The reader's pages: home, listings, articles, about, errors."""

from __future__ import annotations

from datetime import datetime

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    redirect,
    render_template,
    url_for,
)
from flask.globals import request_ctx
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from .. import curation, text
from ..extensions import get_index, get_store, timezone
from ..models import Article, Page
from ..pagecache import depends_on
from ..search import PAGE_SIZE, IndexUnavailable
from ..store import INDEX_TAG
from . import metadata, pictures
from .params import found_articles, page_number, search_args, search_request

bp = Blueprint("news", __name__)
# How long a reader or script is asked to wait while the index cannot be read.
SEARCH_RETRY_SECONDS = 120


class SearchUnavailable(ServiceUnavailable):
    """The search index cannot be read; the stories themselves can."""

    name = "Search is being rebuilt"
    description = (
        "Searching the archive is not possible for a few minutes while its index is"
        " rebuilt. Every story can still be read from the front page and the sections."
    )


def search_unavailable(damaged: IndexUnavailable) -> None:
    """Log that the index cannot be read, saying what the operator should run."""
    current_app.logger.error(
        "the search index cannot be read (%s); run `reader check`, then"
        " `reader reindex` to rebuild it from the archive",
        damaged,
    )


@bp.get("/")
def home() -> str:
    store = get_store()
    lead, rundowns = curation.rundown(store)
    return render_template(
        "home.html", lead=lead, rundowns=rundowns, meta=metadata.for_home()
    )


@bp.get("/news/")
def latest() -> str:
    page = get_store().latest_page(page_number(), current_app.config["PAGE_SIZE"])
    if page is None:
        abort(404)
    return render_template(
        "section.html", section=None, page=page, meta=metadata.for_listing(None, page)
    )


@bp.get("/news/<section_slug>/")
def section(section_slug: str) -> str:
    store = get_store()
    found = store.section(section_slug)
    if found is None:
        abort(404)
    page = store.latest_page(page_number(), current_app.config["PAGE_SIZE"], found)
    if page is None:
        abort(404)
    return render_template(
        "section.html",
        section=found,
        page=page,
        current_section=found.slug,
        meta=metadata.for_listing(found, page),
    )


@bp.get("/news/<section_slug>/<article_slug>")
def article(section_slug: str, article_slug: str):
    store = get_store()
    found = store.article(article_slug)
    if found is None:
        # A story its source no longer publishes is gone, not missing.
        abort(410 if store.removed(article_slug) else 404)
    if found.section.slug != section_slug:
        # The article moved section on a re-import: its old address still works.
        return redirect(
            url_for(
                ".article", section_slug=found.section.slug, article_slug=found.slug
            ),
            301,
        )
    today = datetime.now(timezone()).date()
    around = curation.surroundings(store, found, today, related=_related)
    body = found.body_html
    if "<img" in body:
        body = pictures.body_with_pictures(body, store.body_pictures(found.id))
    body_lead, body_rest = text.split_at_third(text.demote_headings(body))
    return render_template(
        "article.html",
        article=found,
        around=around,
        body_lead=body_lead,
        body_rest=body_rest,
        current_section=found.section.slug,
        meta=metadata.for_article(found),
    )


def _related(article: Article, limit: int) -> list[str]:
    """Return the stories most like this one; none while the index cannot be read,
    when "Also read" falls back to shared tags and time."""
    try:
        return get_index().related(article, limit)
    except IndexUnavailable as damaged:
        search_unavailable(damaged)
        return []


@bp.get("/search")
def search() -> str:
    wanted, notes = search_request()
    depends_on(INDEX_TAG)
    store = get_store()
    try:
        results = (
            get_index().search(wanted, store.bodies) if wanted.text.strip() else None
        )
    except IndexUnavailable as damaged:
        search_unavailable(damaged)
        raise SearchUnavailable(retry_after=SEARCH_RETRY_SECONDS) from None
    hits, facets = [], []
    if results is not None:
        hits = found_articles(results, store)
        names = {s.slug: s.name for s in store.sections()}
        facets = [(slug, names.get(slug, slug), n) for slug, n in results.facets]
    total = results.total if results else 0
    page = Page(items=hits, number=wanted.page, size=PAGE_SIZE, total=total)
    if total and wanted.page > page.count:
        abort(404)
    return render_template(
        "search.html",
        wanted=wanted,
        results=results,
        page=page,
        facets=facets,
        notes=notes,
        args=search_args(),
    )


@bp.get("/about")
def about() -> str:
    return render_template(
        "about.html",
        article_count=get_store().article_count(),
        meta=metadata.for_page(
            "news.about",
            "About this archive",
            "Where the stories come from, and the licences they are offered under.",
        ),
    )


def register_errors(app: Flask) -> None:
    """Render 404s and other HTTP errors as friendly pages."""

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if request_ctx.url_adapter is None:
            # A Host header no URL can be built for (BadHost): the friendly page is
            # made of links, so send Werkzeug's plain one.
            return error.get_response()
        sections = get_store().sections() if error.code in (404, 410) else []
        page = render_template("error.html", error=error, sections=sections)
        # Retry-After, Allow and the like travel with the friendly page.
        headers = [(k, v) for k, v in error.get_headers() if k != "Content-Type"]
        return page, error.code, headers
