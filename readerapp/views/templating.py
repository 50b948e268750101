"""Template filters and globals every page, feed and sitemap shares."""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, request
from flask.templating import Environment
from markupsafe import Markup, escape

from .. import text
from ..extensions import get_store, store_away, timezone
from ..models import Article, ArticleStamp, ArticleSummary, Navigation
from .urls import article_path, site_url


class PageEnvironment(Environment):
    """Flask's Jinja environment, with each template's globals in one plain dict.

    Jinja chains a template's globals to the environment's (a ChainMap), and every
    render copies them into its context one Python-level lookup at a time: a
    sixtieth of an uncached article's time (#16). The globals are all set when
    the app is made, before any template loads (as Jinja asks), so each template
    takes a copy as it loads; while templates reload (debug), they stay chained.
    """

    def make_globals(
        self, d: MutableMapping[str, Any] | None
    ) -> MutableMapping[str, Any]:
        if self.auto_reload:
            return super().make_globals(d)
        return {**self.globals, **(d or {})}


def init_app(app: Flask) -> None:
    """Make the filters and globals available to every template."""
    app.add_template_filter(local_date, "date")
    app.add_template_filter(machine_date, "datetime_attr")
    app.add_template_filter(rfc3339)
    app.add_template_filter(rfc822)
    app.add_template_filter(reading_minutes)
    app.add_template_filter(text.is_right_to_left, "right_to_left")
    app.add_template_global(source_credit)
    app.add_template_global(absolute_url)
    app.add_template_global(absolute_article_url)
    app.add_template_global(nav_sections)
    app.add_template_global(article_path)
    app.add_template_global(language_attributes)
    app.extensions["readerapp.urls"] = {}
    # Every template's url_for builds each address once (urls.py).
    app.jinja_env.globals["url_for"] = site_url


def local_date(moment: datetime) -> str:
    """Format a moment as the newsroom's calendar date: 17 November 2006."""
    local = moment.astimezone(timezone())
    return f"{local.day} {local:%B %Y}"


def machine_date(moment: datetime) -> str:
    """Format a moment for a <time datetime> attribute."""
    return moment.astimezone(timezone()).isoformat()


def rfc3339(moment: datetime) -> str:
    """Format a moment as RFC 3339 in UTC (Atom, JSON Feed, sitemaps)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc822(moment: datetime) -> str:
    """Format a moment as RFC 822 in GMT, as RSS 2.0 requires."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def reading_minutes(word_count: int) -> int:
    """Return the minutes an article takes to read at the configured pace."""
    return text.reading_minutes(word_count, current_app.config["WORDS_PER_MINUTE"])


# Origins built from requests' hosts, remembered up to KEPT_ORIGINS (a Host header
# is the client's to choose).
KEPT_ORIGINS = 64
_ORIGINS: dict[tuple[str, str | None, str | None, str | None], str] = {}


def absolute_origin() -> str:
    """Return the site's public scheme and host: SITE_URL, else this request's."""
    origin = current_app.config["SITE_URL"]
    if not origin:
        # Werkzeug rebuilds the host URL on each call (decoding it from IDNA): a
        # page asks a dozen times, and its host is one of very few.
        environ = request.environ
        key = (
            environ["wsgi.url_scheme"],
            environ.get("HTTP_HOST"),
            environ.get("SERVER_NAME"),
            environ.get("SERVER_PORT"),
        )
        origin = _ORIGINS.get(key)
        if origin is None:
            if len(_ORIGINS) >= KEPT_ORIGINS:
                _ORIGINS.clear()
            origin = _ORIGINS[key] = request.host_url.rstrip("/")
    return origin


def absolute_url(endpoint: str, **values: Any) -> str:
    """Return the full public URL of an endpoint, on SITE_URL when it is set."""
    return absolute_origin() + site_url(endpoint, **values)


def absolute_article_url(article: Article | ArticleSummary | ArticleStamp) -> str:
    """Return the full public URL of an article's page."""
    return absolute_origin() + article_path(article)


def language_attributes(tag: str | None) -> Markup:
    """Return the lang and dir attributes of a story in another language than
    the site's (a leading space, or nothing)."""
    site = current_app.config["SITE_LANGUAGE"]
    if not tag or tag == site:
        return Markup("")
    attributes = f' lang="{escape(tag)}"'
    right_to_left = text.is_right_to_left(tag)
    if right_to_left != text.is_right_to_left(site):
        attributes += f' dir="{"rtl" if right_to_left else "ltr"}"'
    return Markup(attributes)


def source_credit(source_url: str | None) -> dict[str, Any] | None:
    """Return the credit and licence for an article's source, if one is configured."""
    if not source_url:
        return None
    return current_app.config["SOURCE_CREDITS"].get(_hostname(source_url))


@lru_cache(maxsize=256)
def _hostname(url: str) -> str | None:
    # An article page asks twice (its metadata and its source note).
    return urlsplit(url).hostname


def nav_sections() -> Navigation | tuple[()]:
    """Return the sections for the site navigation, busiest first (none while
    the archive cannot be reached)."""
    if store_away():
        return ()
    return get_store().navigation()
