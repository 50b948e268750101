"""Feeds for feed readers: RSS 2.0, Atom 1.0 and JSON Feed 1.1, site-wide and per
section, each with the newest stories in full."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    get_template_attribute,
    render_template,
    url_for,
)

from .. import text
from ..extensions import get_store
from ..models import Article, Section
from .pictures import shared_picture
from .templating import absolute_article_url, absolute_url, rfc3339, source_credit

bp = Blueprint("feeds", __name__, url_prefix="/feeds")

FEED_ARTICLES = 50
# Each format's endpoint, media type, name and what to call one of its feeds.
FORMATS = {
    "feeds.rss": ("application/rss+xml", "RSS", "RSS feed"),
    "feeds.atom": ("application/atom+xml", "Atom", "Atom feed"),
    "feeds.json": ("application/feed+json", "JSON Feed", "JSON Feed"),
}


class FeedLink(NamedTuple):
    media_type: str
    format_name: str
    title: str  # "Reader: Science (RSS feed)"
    label: str  # "RSS feed of Science"
    url: str


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One article as every feed format carries it: absolute links, plain strings."""

    article: Article
    url: str
    content_html: str  # the sanitised body with absolute links, and its credit
    summary: str
    author: str | None
    categories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Feed:
    title: str
    description: str
    home_url: str  # the HTML page the feed follows
    self_url: str
    updated: datetime
    entries: list[FeedEntry]


def feed_links(section: Section | None = None) -> list[FeedLink]:
    """Return a link to each feed of the site, or of one section."""
    site = current_app.config["SITE_NAME"]
    followed = section.name if section else f"all {site} stories"
    values = {"section_slug": section.slug} if section else {}
    return [
        FeedLink(
            media_type,
            format_name,
            f"{site}: {section.name if section else 'all stories'} ({kind})",
            f"{kind} of {followed}",
            url_for(endpoint, **values),
        )
        for endpoint, (media_type, format_name, kind) in FORMATS.items()
    ]


def _feed(endpoint: str, section_slug: str | None) -> Feed:
    store = get_store()
    config = current_app.config
    if section_slug is None:
        title, description = config["SITE_NAME"], config["SITE_DESCRIPTION"]
        home_url, self_url = absolute_url("news.home"), absolute_url(endpoint)
    else:
        section = store.section(section_slug)
        if section is None or not section.article_count:
            abort(404)
        title = f"{config['SITE_NAME']}: {section.name}"
        description = f"The newest stories in {section.name}."
        home_url = absolute_url("news.section", section_slug=section_slug)
        self_url = absolute_url(endpoint, section_slug=section_slug)
    articles = store.latest_articles(FEED_ARTICLES, section_slug)
    return Feed(
        title=title,
        description=description,
        home_url=home_url,
        self_url=self_url,
        # The newest change among the stories, not the time of the request, so an
        # unchanged feed keeps its ETag.
        updated=max(
            (a.modified for a in articles), default=datetime(1970, 1, 1, tzinfo=UTC)
        ),
        entries=[_entry(article) for article in articles],
    )


def _entry(article: Article) -> FeedEntry:
    url = absolute_article_url(article)
    source_note = get_template_attribute("macros/links.html", "source_note")
    content = text.absolute_urls(article.body_html, url) + source_note(article)
    credit = source_credit(article.source_url)
    return FeedEntry(
        article=article,
        url=url,
        # A plain str, not Markup, so that the XML templates escape it as text.
        content_html=str.__str__(content),
        summary=text.description(article.standfirst, article.body_text),
        author=article.byline or (credit["credit"] if credit else None),
        categories=tuple(dict.fromkeys((article.section.name, *article.tags))),
    )


def _xml(template: str, endpoint: str, section_slug: str | None) -> Response:
    feed = _feed(endpoint, section_slug)
    media_type = FORMATS[endpoint][0]
    return Response(render_template(template, feed=feed), mimetype=media_type)


@bp.get("/rss.xml", defaults={"section_slug": None})
@bp.get("/<section_slug>/rss.xml")
def rss(section_slug: str | None) -> Response:
    return _xml("feeds/rss.xml", "feeds.rss", section_slug)


@bp.get("/atom.xml", defaults={"section_slug": None})
@bp.get("/<section_slug>/atom.xml")
def atom(section_slug: str | None) -> Response:
    return _xml("feeds/atom.xml", "feeds.atom", section_slug)


@bp.get("/feed.json", defaults={"section_slug": None}, endpoint="json")
@bp.get("/<section_slug>/feed.json", endpoint="json")
def json_feed(section_slug: str | None) -> Response:
    feed = _feed("feeds.json", section_slug)
    config = current_app.config
    body = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": feed.title,
        "home_page_url": feed.home_url,
        "feed_url": feed.self_url,
        "description": feed.description,
        "icon": absolute_url("static", filename="icons/icon-512.png"),
        "favicon": absolute_url("static", filename="icons/icon-192.png"),
        "language": config["SITE_LANGUAGE"],
        "authors": [{"name": config["SITE_NAME"]}],
        "items": [_json_item(entry) for entry in feed.entries],
    }
    return Response(
        json.dumps(body, ensure_ascii=False, indent=1), mimetype="application/feed+json"
    )


def _json_item(entry: FeedEntry) -> dict:
    article = entry.article
    item = {
        "id": entry.url,
        "url": entry.url,
        "title": article.headline,
        "content_html": entry.content_html,
        "summary": entry.summary,
        "date_published": rfc3339(article.published),
        "date_modified": rfc3339(article.modified),
        "tags": list(entry.categories),
    }
    if entry.author:
        item["authors"] = [{"name": entry.author}]
    if article.source_url:
        item["external_url"] = article.source_url
    if article.picture:
        item["image"] = shared_picture(article.picture)[0]
    if article.language:
        item["language"] = article.language
    return item
