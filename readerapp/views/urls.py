"""The site's own URLs, built once and remembered.

An article page links to some sixty addresses (navigation, cards, static files,
metadata), and Werkzeug builds each one by matching rule converters afresh: a fifth
of a page's rendering (issue #16). The same endpoint and values always build the
same path under the same script root, so each path is built by `url_for` once per
process and then looked up.
"""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, request, url_for
from flask.globals import _cv_request

from .. import assets
from ..models import Article, ArticleStamp, ArticleSummary

# Characters a URL path segment carries as they are: a slug made only of these is
# its own path, exactly as Werkzeug would build it.
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+\Z")

# Distinct addresses remembered per app before the memo starts again; a walk of a
# large archive would otherwise keep every article's address.
REMEMBERED_URLS = 50_000


def site_url(endpoint: str, **values: Any) -> str:
    """Return `url_for(endpoint, **values)`, built once per address and process.

    External URLs, anchors, methods and blueprint-relative endpoints are built
    each time, as Flask builds them: they depend on more than the values.
    """
    if _cv_request.get(None) is None or endpoint[0] == "." or "_external" in values:
        return url_for(endpoint, **values)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # Keyword order is each call site's own, so the same address is found again.
    key: tuple[Any, ...] = (request.script_root, endpoint, *values.items())
    if endpoint == "static" and app.debug:
        # Edited while a developer serves: the address carries the content hash.
        key += (assets.digest(app.static_folder or "", values["filename"]),)
    built = app.extensions["readerapp.urls"]
    try:
        url = built.get(key)
    except TypeError:  # a value that cannot be a key: build it, as Flask would
        return url_for(endpoint, **values)
    if url is None:
        url = url_for(endpoint, **values)
        if any(name[0] == "_" for name in values):
            return url  # anchors and methods: built as Flask builds them
        if len(built) >= REMEMBERED_URLS:
            built.clear()
        built[key] = url
    return url


def article_path(article: Article | ArticleSummary | ArticleStamp) -> str:
    """Return the path of an article's page, as `url_for("news.article")` builds it.

    A page links to its own address and to three or four stories no other page
    names (previous, next, "Also read"), so these are seldom in the memo; their
    slugs are almost always plain, and a plain path needs no rule to be built.
    """
    section, slug = article.section.slug, article.slug
    if _PLAIN_SEGMENT.match(section) and _PLAIN_SEGMENT.match(slug):
        return f"{request.script_root}/news/{section}/{slug}"
    return site_url("news.article", section_slug=section, article_slug=slug)
