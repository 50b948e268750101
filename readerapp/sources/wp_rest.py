"""WordPress REST API answers (`/wp-json/wp/v2/posts`), saved as JSON or fetched.

A post's names (author, categories, tags, featured image) come in `_embedded` when
the answer was asked for with `_embed`; without it the answer holds only their ids,
and the story gets what can be known: no byline, the default category, no picture.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from . import Entry, Reading, Source, SourceError, dates, record, wordpress

_GUID_ID = re.compile(r"[?&]p=(\d+)")


def read_document(kind: str, document: Any, reading: Reading) -> Source:
    """Return the posts of a REST API answer (a list of posts, or one) as entries."""
    posts = document if isinstance(document, list) else [document]
    return Source("WordPress REST API answer", "item", _entries(posts, reading))


def _entries(posts: list[Any], reading: Reading) -> Iterator[Entry]:
    for position, post in enumerate(posts, start=1):
        yield post_entry(position, post, reading)


def post_entry(position: int, post: Any, reading: Reading) -> Entry:
    """Return the entry for one REST API post object; raise SourceError if none."""
    if not isinstance(post, dict):
        raise SourceError("expected a WordPress post object", position)
    link = wordpress.http_url(post.get("link"))
    guid = _text(post.get("guid"))[0]
    # The address a site is pulled from names it (`reader pull` knows its posts by
    # that); a saved answer is named by its posts' links, as an export by its blog's.
    host = wordpress.site_host(reading.origin) or wordpress.site_host(link)
    post_id = post.get("id")
    if not isinstance(post_id, int | str) or not str(post_id).strip():
        found = _GUID_ID.search(guid or "")
        if not found:
            raise SourceError("the post has no 'id'", position)
        post_id = found[1]
    story_id = wordpress.story_id(host or wordpress.site_host(guid), post_id)
    content = post.get("content") if isinstance(post.get("content"), dict) else {}
    reason = wordpress.skip_reason(
        _string(post.get("type")) or "post",
        # Public answers hold published posts only, and some leave the status out.
        _string(post.get("status")) or "publish",
        content.get("protected") is True,
        reading,
    )
    if reason == wordpress.TAKE_DOWN:
        return record.entry(position, {"id": story_id, "removed": True})
    if reason:
        return record.skipped(position, reason)
    stored, rendered = _text(post.get("content"))
    body = wordpress.body_html(stored, rendered=rendered)
    text = record.plain(body)
    headline = record.headline(_text(post.get("title"))[0], text)
    if not headline:
        return record.skipped(position, "empty items")
    embedded = post.get("_embedded") if isinstance(post.get("_embedded"), dict) else {}
    terms = _terms(embedded)
    yoast = post.get("yoast_head_json")
    yoast = yoast if isinstance(yoast, dict) else {}
    meta = post.get("meta") if isinstance(post.get("meta"), dict) else {}
    primary = meta.get("_yoast_wpseo_primary_category")
    published = wordpress.moment(
        _string(post.get("date_gmt")), _string(post.get("date")), reading.zone
    )
    return record.entry(
        position,
        {
            "id": story_id,
            "headline": headline,
            "body_html": body,
            "categories": wordpress.primary_first(
                [
                    (str(term.get("id")), record.plain(_string(term.get("name"))) or "")
                    for term in terms
                    if term.get("taxonomy") == "category"
                ],
                str(primary) if primary else None,
            )
            or [wordpress.DEFAULT_CATEGORY],
            "tags": list(
                dict.fromkeys(
                    tag
                    for term in terms
                    if term.get("taxonomy") == "post_tag"
                    and (tag := record.plain(_string(term.get("name"))))
                )
            ),
            "published": dates.stamp(published),
            "undated": None if published else True,
            "updated": dates.stamp(
                wordpress.moment(
                    _string(post.get("modified_gmt")),
                    _string(post.get("modified")),
                    reading.zone,
                )
            ),
            "dek": record.standfirst(_text(post.get("excerpt"))[0], text),
            "author": _byline(embedded, terms, yoast),
            "source_url": link,
            "slug": wordpress.slug(_string(post.get("slug"))),
            # Yoast SEO's head tells the site's locale; the API itself never does.
            "language": record.language(_string(yoast.get("og_locale"))),
            "picture": _picture(embedded, post),
        },
    )


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _text(value: Any) -> tuple[str | None, bool]:
    """Return a field's stored form (`raw`, asked with context=edit) or its rendered
    one, and whether it is the rendered one."""
    if isinstance(value, dict):
        if isinstance(value.get("raw"), str):
            return value["raw"], False
        return _string(value.get("rendered")), True
    return _string(value), True


def _terms(embedded: dict[str, Any]) -> list[dict[str, Any]]:
    """Return a post's embedded terms of every taxonomy, in the API's order."""
    groups = embedded.get("wp:term")
    if not isinstance(groups, list):
        return []
    # One list per taxonomy, in no fixed order: each term names its taxonomy.
    return [
        term
        for group in groups
        if isinstance(group, list)
        for term in group
        if isinstance(term, dict)
    ]


def _byline(
    embedded: dict[str, Any], terms: list[dict[str, Any]], yoast: dict[str, Any]
) -> str | None:
    """Return the byline: co-authors (Co-Authors Plus terms), else the author."""
    names = [
        record.plain(_string(term.get("name")))
        for term in terms
        if term.get("taxonomy") == "author"
    ]
    if not any(names):
        authors = embedded.get("author")
        author = authors[0] if isinstance(authors, list) and authors else None
        # An author the API may not show is embedded as an error object, no name.
        if isinstance(author, dict):
            names = [record.plain(_string(author.get("name")))]
    if not any(names):
        names = [record.plain(_string(yoast.get("author")))]
    return wordpress.byline(names)


def _picture(embedded: dict[str, Any], post: dict[str, Any]) -> dict[str, str] | None:
    """Return the featured image: its file, alt text, caption and credit."""
    media = embedded.get("wp:featuredmedia")
    found = media[0] if isinstance(media, list) and media else None
    if isinstance(found, dict) and wordpress.http_url(found.get("source_url")):
        details = found.get("media_details")
        image_meta = details.get("image_meta") if isinstance(details, dict) else None
        credit = image_meta.get("credit") if isinstance(image_meta, dict) else None
        picture = {
            "url": wordpress.http_url(found.get("source_url")),
            "alt": record.plain(_string(found.get("alt_text"))),
            "caption": record.plain(_text(found.get("caption"))[0]),
            "credit": record.plain(_string(credit)),
        }
    else:
        # Jetpack names the featured image's file even without _embed.
        url = wordpress.http_url(post.get("jetpack_featured_media_url"))
        picture = {"url": url} if url else {}
    return {key: value for key, value in picture.items() if value} or None
