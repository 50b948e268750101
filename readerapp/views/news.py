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
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException

from .. import curation, text
from ..extensions import get_store, timezone

bp = Blueprint("news", __name__)


def _page_number() -> int:
    value = request.args.get("page", "1")
    if not value.isascii() or not value.isdigit() or len(value) > 6:
        abort(404)
    return int(value)


@bp.get("/")
def home() -> str:
    store = get_store()
    lead, rundowns = curation.rundown(store)
    return render_template("home.html", lead=lead, rundowns=rundowns)


@bp.get("/news/")
def latest() -> str:
    page = get_store().latest_page(_page_number(), current_app.config["PAGE_SIZE"])
    if page is None:
        abort(404)
    return render_template("section.html", section=None, page=page)


@bp.get("/news/<section_slug>/")
def section(section_slug: str) -> str:
    store = get_store()
    found = store.section(section_slug)
    if found is None:
        abort(404)
    page = store.latest_page(_page_number(), current_app.config["PAGE_SIZE"], found)
    if page is None:
        abort(404)
    return render_template(
        "section.html", section=found, page=page, current_section=found.slug
    )


@bp.get("/news/<section_slug>/<article_slug>")
def article(section_slug: str, article_slug: str):
    store = get_store()
    found = store.article(article_slug)
    if found is None:
        abort(404)
    if found.section.slug != section_slug:
        # The article moved section on a re-import: its old address still works.
        return redirect(
            url_for(
                ".article", section_slug=found.section.slug, article_slug=found.slug
            ),
            301,
        )
    today = datetime.now(timezone()).date()
    around = curation.surroundings(store, found, today)
    body_lead, body_rest = text.split_at_third(found.body_html)
    return render_template(
        "article.html",
        article=found,
        around=around,
        body_lead=body_lead,
        body_rest=body_rest,
        current_section=found.section.slug,
    )


@bp.get("/about")
def about() -> str:
    return render_template("about.html", article_count=get_store().article_count())


def register_errors(app: Flask) -> None:
    """Render 404s and other HTTP errors as friendly pages."""

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        sections = get_store().sections() if error.code == 404 else []
        return render_template("error.html", error=error, sections=sections), error.code
