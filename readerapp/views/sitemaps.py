"""What search engines read: robots.txt, the sitemap index, a sitemap per month of
the archive and a Google News sitemap of the last two days."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, abort, current_app, render_template

from ..extensions import get_store
from .params import page_number
from .templating import absolute_url

bp = Blueprint("sitemaps", __name__)

# The sitemaps.org limit on URLs in one sitemap; a busier month is split in parts.
SITEMAP_URLS = 50_000
# Google News reads stories of the last two days, at most 1,000 of them.
NEWS_WINDOW = timedelta(hours=48)
NEWS_URLS = 1_000
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
# Not for indexing: search results (which say noindex too), the JSON API, and the
# installed app's own pages.
NOT_FOR_CRAWLERS = ("/search", "/api/", "/saved", "/offline")


def _xml(template: str, **context) -> Response:
    return Response(render_template(template, **context), mimetype="application/xml")


def _news_since() -> datetime:
    return datetime.now(UTC) - NEWS_WINDOW


@bp.get("/robots.txt")
def robots() -> Response:
    lines = [
        "User-agent: *",
        *(f"Disallow: {path}" for path in NOT_FOR_CRAWLERS),
        "",
        f"Sitemap: {absolute_url('sitemaps.sitemap_index')}",
    ]
    return Response("\n".join(lines) + "\n", mimetype="text/plain")


@bp.get("/sitemap.xml")
def sitemap_index() -> Response:
    store = get_store()
    sitemaps = [(absolute_url("sitemaps.pages"), store.changed_at())]
    for month in store.months():
        parts = math.ceil(month.article_count / SITEMAP_URLS)
        for part in range(1, parts + 1):
            values = {"page": part} if part > 1 else {}
            url = absolute_url("sitemaps.month", month=month.month, **values)
            sitemaps.append((url, month.modified))
    # An empty urlset is invalid, so the news sitemap is listed only when it has
    # stories; it still answers when it has none.
    news = store.stamps(_news_since(), limit=1)
    if news:
        sitemaps.append((absolute_url("sitemaps.news"), news[0].modified))
    return _xml("sitemaps/index.xml", sitemaps=sitemaps)


@bp.get("/sitemaps/pages.xml")
def pages() -> Response:
    store = get_store()
    urls = [
        absolute_url("news.home"),
        absolute_url("news.latest"),
        *(absolute_url("news.section", section_slug=s.slug) for s in store.sections()),
        absolute_url("news.about"),
    ]
    return _xml("sitemaps/pages.xml", urls=urls)


@bp.get("/sitemaps/<month>.xml")
def month(month: str) -> Response:
    match = _MONTH.match(month)
    if match is None or not 1 <= int(match[1]) < 9999:
        # datetime has no year 0, and the end of 9999-12 is past its last year.
        abort(404)
    start = datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)
    end = (start + timedelta(days=32)).replace(day=1)
    part = page_number()
    stamps = get_store().stamps(
        start, end, limit=SITEMAP_URLS, offset=(part - 1) * SITEMAP_URLS
    )
    if not stamps:
        abort(404)
    return _xml("sitemaps/month.xml", stamps=stamps)


@bp.get("/sitemaps/news.xml")
def news() -> Response:
    stamps = get_store().stamps(_news_since(), limit=NEWS_URLS)
    return _xml(
        "sitemaps/news.xml",
        stamps=stamps,
        publication=current_app.config["SITE_NAME"],
        language=current_app.config["SITE_LANGUAGE"],
    )
