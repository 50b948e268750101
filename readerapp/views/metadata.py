"""What search engines and link previews read about a page: its canonical address,
description, Open Graph and Twitter card tags, and schema.org JSON-LD."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from json.encoder import c_make_encoder, encode_basestring_ascii
from typing import Any

from flask import current_app, request
from markupsafe import Markup

from .. import text
from ..models import Article, ArticleSummary, Page, Section
from .pictures import shared_picture
from .templating import (
    KEPT_ORIGINS,
    absolute_article_url,
    absolute_origin,
    absolute_url,
    rfc3339,
    source_credit,
)
from .urls import article_path, site_url

SCHEMA_ORG = "https://schema.org"
# The site icon stands in for a story's picture in link previews.
FALLBACK_IMAGE = ("icons/icon-512.png", 512)


@dataclass(frozen=True, slots=True)
class PageMetadata:
    canonical: str
    description: str
    open_graph: list[tuple[str, str]]
    twitter: list[tuple[str, str]]
    linked_data: list[dict[str, Any]] = field(default_factory=list)

    def markup(self) -> Markup:
        """Return the page's <head> tags: canonical link, cards and JSON-LD.

        Built here rather than in a template: a page carries some thirty of them,
        and a macro escaping each took a tenth of an uncached article's time (#16).
        """
        # The names are this module's own; the values may be anything a story says,
        # and the cards repeat most of them (title, description, address, picture).
        escaped = dict.fromkeys(
            [self.canonical, *(value for _, value in self.open_graph + self.twitter)]
        )
        for value in escaped:
            escaped[value] = escape(value)
        tags = [
            f'\n  <link rel="canonical" href="{escaped[self.canonical]}">',
            *[
                f'\n  <meta property="{name}" content="{escaped[content]}">'
                for name, content in self.open_graph
            ],
            *[
                f'\n  <meta name="{name}" content="{escaped[content]}">'
                for name, content in self.twitter
            ],
            *[
                '\n  <script type="application/ld+json">'
                f"{_script_safe_json(item)}</script>"
                for item in self.linked_data
            ],
        ]
        return Markup("".join(tags))


def _unserialisable(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON")


# json.dumps as the standard library makes it, made once: dumps makes its encoder
# anew on every call (a quarter of the time, for the two blocks a page has).
_to_json: Callable[[Any], str] = json.dumps
if c_make_encoder is not None:
    _encode = c_make_encoder(
        None,  # markers: no check for cycles (the dicts are made here, acyclic)
        _unserialisable,
        encode_basestring_ascii,  # ensure_ascii, as json.dumps
        None,  # indent
        ": ",
        ", ",
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan
    )

    def _to_json(value: Any) -> str:
        return "".join(_encode(value, 0))


def _script_safe_json(item: dict[str, Any]) -> str:
    # As Jinja's tojson: no "</script" can end the element early, and no "'"
    # ends an attribute. str.translate would take four times as long.
    return (
        _to_json(item)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("'", "\\u0027")
    )


@dataclass(frozen=True, slots=True)
class _SiteFacts:
    """What every page's metadata says about the site, under one origin."""

    origin: str
    name: str
    home: str
    icon: str
    publisher: dict[str, Any]


def _facts() -> _SiteFacts:
    # The site's addresses: its origin, and the path it is mounted under.
    origin = absolute_origin()
    key = (origin, request.environ.get("SCRIPT_NAME", ""))
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    kept = app.extensions.setdefault("readerapp.site_facts", {})
    facts = kept.get(key)
    if facts is None:
        logo, size = FALLBACK_IMAGE
        name, home = app.config["SITE_NAME"], absolute_url("news.home")
        icon = absolute_url("static", filename=logo)
        publisher = {
            "@type": "Organization",
            "name": name,
            "url": home,
            "logo": {
                "@type": "ImageObject",
                "url": icon,
                "width": size,
                "height": size,
            },
        }
        # As many addresses as origins are kept (a Host header is the client's).
        if len(kept) >= KEPT_ORIGINS:
            kept.clear()
        facts = kept[key] = _SiteFacts(origin, name, home, icon, publisher)
    return facts


def _breadcrumbs(facts: _SiteFacts, *trail: tuple[str, str]) -> dict[str, Any]:
    return {
        "@context": SCHEMA_ORG,
        "@type": "BreadcrumbList",
        "itemListElement": [
            {"@type": "ListItem", "position": n, "name": label, "item": url}
            for n, (label, url) in enumerate(
                [(facts.name, facts.home), *trail], start=1
            )
        ],
    }


def _cards(
    facts: _SiteFacts,
    kind: str,
    title: str,
    description: str,
    url: str,
    image: tuple[str, str] | None,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    picture, alt = image or (facts.icon, facts.name)
    open_graph = [
        ("og:site_name", facts.name),
        ("og:type", kind),
        ("og:title", title),
        ("og:description", description),
        ("og:url", url),
        ("og:image", picture),
        ("og:image:alt", alt),
    ]
    if image is None:
        size = str(FALLBACK_IMAGE[1])
        open_graph += [("og:image:width", size), ("og:image:height", size)]
    twitter = [
        ("twitter:card", "summary_large_image" if image else "summary"),
        ("twitter:title", title),
        ("twitter:description", description),
        ("twitter:image", picture),
        ("twitter:image:alt", alt),
    ]
    return open_graph, twitter


def for_article(article: Article) -> PageMetadata:
    """Describe an article page: NewsArticle and its breadcrumbs."""
    facts = _facts()
    origin = facts.origin
    url = origin + article_path(article)
    section_url = origin + site_url("news.section", section_slug=article.section.slug)
    description = text.description(article.standfirst, article.body_text)
    # Only a picture kept on the site is named: its address is ours and lasts.
    image = (
        (shared_picture(article.picture)[0], article.picture.alt or article.headline)
        if article.picture
        else None
    )
    credit = source_credit(article.source_url)
    if article.byline:
        author = {"@type": "Person", "name": article.byline}
    else:
        # Many-handed sources (Wikinews) credit the source; else the site itself.
        organisation = credit["credit"] if credit else facts.name
        author = {"@type": "Organization", "name": organisation}
    published, modified = rfc3339(article.published), rfc3339(article.modified)
    news_article: dict[str, Any] = {
        "@context": SCHEMA_ORG,
        "@type": "NewsArticle",
        "@id": url,
        "url": url,
        "mainEntityOfPage": {"@type": "WebPage", "@id": url},
        "headline": article.headline,
        "description": description,
        "datePublished": published,
        "dateModified": modified,
        "author": [author],
        "publisher": facts.publisher,
        "articleSection": article.section.name,
        "wordCount": article.word_count,
        "inLanguage": article.language or current_app.config["SITE_LANGUAGE"],
        "isAccessibleForFree": True,
    }
    if image:
        news_article["image"] = [image[0]]
    if article.tags:
        news_article["keywords"] = list(article.tags)
    if article.source_url:
        news_article["isBasedOn"] = article.source_url
    if credit:
        news_article["license"] = credit["licence_url"]
    open_graph, twitter = _cards(
        facts, "article", article.headline, description, url, image
    )
    open_graph += [
        ("article:published_time", published),
        ("article:modified_time", modified),
        ("article:section", article.section.name),
        *(("article:tag", tag) for tag in article.tags),
    ]
    return PageMetadata(
        canonical=url,
        description=description,
        open_graph=open_graph,
        twitter=twitter,
        linked_data=[
            news_article,
            _breadcrumbs(
                facts, (article.section.name, section_url), (article.headline, url)
            ),
        ],
    )


def for_listing(section: Section | None, page: Page[ArticleSummary]) -> PageMetadata:
    """Describe a listing page: a CollectionPage of its stories."""
    values: dict[str, Any] = {"page": page.number} if page.number > 1 else {}
    if section:
        url = absolute_url("news.section", section_slug=section.slug, **values)
        title, trail = section.name, [(section.name, url)]
    else:
        url = absolute_url("news.latest", **values)
        title, trail = "All stories", [("All stories", url)]
    facts = _facts()
    name, home = facts.name, facts.home
    stories = f"{section.name} stories" if section else "stories"
    description = (
        f"The newest {stories} from {name}, page {page.number} of {page.count}."
    )
    collection = {
        "@context": SCHEMA_ORG,
        "@type": "CollectionPage",
        "@id": url,
        "url": url,
        "name": title,
        "description": description,
        "inLanguage": current_app.config["SITE_LANGUAGE"],
        "isPartOf": {"@type": "WebSite", "name": name, "url": home},
        "mainEntity": {
            "@type": "ItemList",
            "itemListElement": [
                {
                    "@type": "ListItem",
                    "position": page.first_index + n,
                    "url": absolute_article_url(item),
                }
                for n, item in enumerate(page.items)
            ],
        },
    }
    open_graph, twitter = _cards(facts, "website", title, description, url, None)
    return PageMetadata(
        canonical=url,
        description=description,
        open_graph=open_graph,
        twitter=twitter,
        linked_data=[collection, _breadcrumbs(facts, *trail)],
    )


def for_home() -> PageMetadata:
    """Describe the home page: the WebSite, and how to search it."""
    facts = _facts()
    name, home = facts.name, facts.home
    description = current_app.config["SITE_DESCRIPTION"]
    website = {
        "@context": SCHEMA_ORG,
        "@type": "WebSite",
        "@id": home,
        "url": home,
        "name": name,
        "description": description,
        "inLanguage": current_app.config["SITE_LANGUAGE"],
        "publisher": facts.publisher,
        "potentialAction": {
            "@type": "SearchAction",
            "target": {
                "@type": "EntryPoint",
                "urlTemplate": absolute_url("news.search") + "?q={search_term_string}",
            },
            "query-input": "required name=search_term_string",
        },
    }
    open_graph, twitter = _cards(facts, "website", name, description, home, None)
    return PageMetadata(home, description, open_graph, twitter, [website])


def for_page(endpoint: str, title: str, description: str) -> PageMetadata:
    """Describe a plain page of the site, such as About."""
    url = absolute_url(endpoint)
    open_graph, twitter = _cards(_facts(), "website", title, description, url, None)
    return PageMetadata(url, description, open_graph, twitter)
