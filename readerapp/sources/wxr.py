"""WordPress exports (WXR 1.0 to 1.2, the file Tools > Export writes), streamed.

A post names its featured image by the id of an attachment item that may come
anywhere in the file, after the post as often as not; co-authors who are guest
authors are named by items of their own. So the file is read twice: a first pass
keeps those small maps (and checks the whole file is well-formed before anything is
imported), the second turns each item into an entry. Memory grows with the maps,
never with the posts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from . import Entry, Reading, Source, SourceError, dates, record, wordpress, xmltree

_CONTENT = "http://purl.org/rss/1.0/modules/content/"
_DC = "http://purl.org/dc/elements/1.1/"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
# Which postmeta keys name the primary category: Yoast SEO's, then Rank Math's.
_PRIMARY_KEYS = ("_yoast_wpseo_primary_category", "rank_math_primary_category")


@dataclass(slots=True)
class _Export:
    """What a post's fields refer to: the site, its people, terms and pictures."""

    host: str | None = None
    base: str | None = None  # for relative links
    language: str | None = None
    authors: dict[str, str] = field(default_factory=dict)  # login -> display name
    category_slugs: dict[str, str] = field(default_factory=dict)  # term id -> slug
    pictures: dict[str, dict[str, str]] = field(default_factory=dict)  # by post id


def read(kind: str, stream: Callable[[], IO[bytes]], reading: Reading) -> Source:
    """Return a WordPress export's posts as entries, one an item."""
    return Source("WordPress export", "item", _entries(stream, reading))


def _entries(stream: Callable[[], IO[bytes]], reading: Reading) -> Iterator[Entry]:
    export = _Export()
    for _position, item in _items(stream, export):
        post_type = _post_type(item)
        if post_type == "attachment":
            fields, _categories, meta = _fields(item)
            picture = _picture(fields, meta)
            if picture and fields.get("wp:post_id"):
                export.pictures[fields["wp:post_id"].strip()] = picture
        elif post_type == "guest-author":
            # Co-Authors Plus guest authors: bylines of people with no login.
            meta = _fields(item)[2]
            login, name = meta.get("cap-user_login"), meta.get("cap-display_name")
            if login and name and name.strip():
                export.authors.setdefault(login.strip(), name.strip())
    for position, item in _items(stream, None):
        yield _entry(position, *_fields(item), export, reading)


def _items(
    stream: Callable[[], IO[bytes]], export: _Export | None
) -> Iterator[tuple[int, xmltree.Element]]:
    """Yield each item element with its position, in file order.

    With `export`, also read the site's header (authors, categories) into it, which
    the parser keeps only until the first item has been read.
    """
    position = 0
    try:
        with stream() as opened:
            for _root, item in xmltree.iterate(opened, "item"):
                position += 1
                if position == 1 and export is not None:
                    _read_header(item.getparent(), export)
                yield position, item
    except xmltree.XMLRefused as refused:
        # The broken item is the one after the last whole one (a truncated file).
        raise SourceError(str(refused), position + 1 if position else 0) from None
    except (OSError, EOFError) as error:
        raise SourceError(f"cannot read the file: {error}", position) from None


_KEYS: dict[str, str] = {}


def _key(tag: object) -> str:
    """Return a tag as WXR writes it ("wp:post_id"), whatever its WXR version."""
    if not isinstance(tag, str):
        return ""
    key = _KEYS.get(tag)
    if key is None:
        key = tag
        if tag.startswith("{"):
            namespace, local = tag[1:].split("}", 1)
            if namespace.split("://", 1)[-1].startswith("wordpress.org/export/"):
                prefix = (
                    "excerpt" if namespace.rstrip("/").endswith("excerpt") else "wp"
                )
            else:
                prefix = {_CONTENT: "content", _DC: "dc"}.get(namespace, namespace)
            key = f"{prefix}:{local}"
        _KEYS[tag] = key
    return key


def _post_type(item: xmltree.Element) -> str:
    for child in item:
        if _key(child.tag) == "wp:post_type":
            return xmltree.text(child).strip()
    return ""


def _fields(
    element: xmltree.Element,
) -> tuple[dict[str, str], list[tuple[str, str, str]], dict[str, str]]:
    """Return an element's single fields, its categories and its postmeta."""
    fields: dict[str, str] = {}
    categories: list[tuple[str, str, str]] = []
    meta: dict[str, str] = {}
    for child in element:
        key = _key(child.tag)
        if key == "category":
            domain = child.get("domain") or "category"
            categories.append(
                (domain, child.get("nicename") or "", xmltree.text(child))
            )
        elif key == "wp:postmeta":
            pair = {_key(part.tag): xmltree.text(part) for part in child}
            meta_key = pair.get("wp:meta_key", "").strip()
            if meta_key:
                meta.setdefault(meta_key, pair.get("wp:meta_value", ""))
        elif key and key != "wp:comment":
            fields.setdefault(key, xmltree.text(child))
    return fields, categories, meta


def _read_header(channel: xmltree.Element | None, export: _Export) -> None:
    if channel is None:
        return
    site: dict[str, str] = {}
    for child in channel:
        key = _key(child.tag)
        if key == "wp:author":
            author = _fields(child)[0]
            # Logins come with the line breaks of hand-made files: trimmed.
            login = author.get("wp:author_login", "").strip()
            name = record.plain(author.get("wp:author_display_name"))
            if login and name:
                export.authors[login] = name
        elif key == "wp:category":
            term = _fields(child)[0]
            term_id = term.get("wp:term_id", "").strip()
            if term_id:
                export.category_slugs[term_id] = term.get(
                    "wp:category_nicename", ""
                ).strip()
        elif key in ("link", "language", "wp:base_site_url", "wp:base_blog_url"):
            site.setdefault(key, xmltree.text(child).strip())
    # The blog's address names the site, as its posts' links do: the install's
    # (base_site_url) is wordpress.com for every site WordPress.com hosts.
    urls = [
        site.get("wp:base_blog_url"),
        site.get("wp:base_site_url"),
        site.get("link"),
    ]
    for url in urls:
        export.host = export.host or wordpress.site_host(url)
        export.base = export.base or wordpress.http_url(url)
    export.language = record.language(site.get("language"))


def _picture(fields: dict[str, str], meta: dict[str, str]) -> dict[str, str] | None:
    """Return an attachment's picture: its file, alt text, caption and credit."""
    url = wordpress.http_url(fields.get("wp:attachment_url") or fields.get("guid"))
    if not url:
        return None
    found = {
        "url": url,
        "alt": record.plain(meta.get("_wp_attachment_image_alt")),
        "caption": record.plain(fields.get("excerpt:encoded")),
        "credit": record.plain(
            _serialized_string(meta.get("_wp_attachment_metadata", ""), "credit")
        ),
    }
    return {key: value for key, value in found.items() if value}


def _serialized_string(data: str, key: str) -> str | None:
    """Return the string stored under `key` in PHP-serialized data (attachment meta)."""
    raw = data.encode("utf-8")
    name = key.encode("utf-8")
    marker = b's:%d:"%s";s:' % (len(name), name)
    at = raw.find(marker)
    if at < 0:
        return None
    length = re.match(rb'(\d+):"', raw[at + len(marker) :])
    if not length:
        return None
    # PHP counts bytes, not characters.
    start = at + len(marker) + length.end()
    return raw[start : start + int(length[1])].decode("utf-8", "replace")


def _entry(
    position: int,
    fields: dict[str, str],
    categories: list[tuple[str, str, str]],
    meta: dict[str, str],
    export: _Export,
    reading: Reading,
) -> Entry:
    link = wordpress.http_url(fields.get("link"), export.base)
    host = (
        wordpress.site_host(reading.origin) or export.host or wordpress.site_host(link)
    )
    post_id = fields.get("wp:post_id", "").strip() or fields.get("guid", "").strip()
    if not post_id:
        raise SourceError("the item has no wp:post_id", position)
    story_id = wordpress.story_id(host, post_id)
    reason = wordpress.skip_reason(
        fields.get("wp:post_type", "").strip() or "post",
        # WordPress saves a post that says no status as a draft.
        fields.get("wp:status", "").strip() or "draft",
        bool(fields.get("wp:post_password", "").strip()),
        reading,
    )
    if reason == wordpress.TAKE_DOWN:
        return record.entry(position, {"id": story_id, "removed": True})
    if reason:
        return record.skipped(position, reason)
    body = wordpress.body_html(fields.get("content:encoded"))
    text = record.plain(body)
    headline = record.headline(fields.get("title"), text)
    if not headline:
        return record.skipped(position, "empty items")
    primary = next((meta[k].strip() for k in _PRIMARY_KEYS if meta.get(k)), None)
    published = wordpress.moment(
        fields.get("wp:post_date_gmt"), fields.get("wp:post_date"), reading.zone
    ) or dates.rfc822(fields.get("pubDate"))
    return record.entry(
        position,
        {
            "id": story_id,
            "headline": headline,
            "body_html": body,
            "categories": wordpress.primary_first(
                [
                    (slug, record.plain(name) or "")
                    for domain, slug, name in categories
                    if domain == "category"
                ],
                export.category_slugs.get(primary or ""),
            )
            or [wordpress.DEFAULT_CATEGORY],
            "tags": list(
                dict.fromkeys(
                    tag
                    for domain, _slug, name in categories
                    if domain in ("post_tag", "tag") and (tag := record.plain(name))
                )
            ),
            "published": dates.stamp(published),
            "undated": None if published else True,
            "updated": dates.stamp(
                wordpress.moment(
                    fields.get("wp:post_modified_gmt"),
                    fields.get("wp:post_modified"),
                    reading.zone,
                )
            ),
            "dek": record.standfirst(fields.get("excerpt:encoded"), text),
            "author": _byline(fields, categories, export),
            "source_url": link,
            "slug": wordpress.slug(fields.get("wp:post_name")),
            "language": export.language,
            "picture": export.pictures.get(meta.get("_thumbnail_id", "").strip()),
        },
    )


def _byline(
    fields: dict[str, str], categories: list[tuple[str, str, str]], export: _Export
) -> str | None:
    """Return the post's byline: its co-authors (Co-Authors Plus), else its author."""
    logins = [
        (name.strip(), slug.removeprefix("cap-"))
        for domain, slug, name in categories
        if domain == "author"
    ] or [(fields.get("dc:creator", "").strip(), "")]
    names = []
    for login, slug in logins:
        name = export.authors.get(login) or export.authors.get(slug)
        # A login is no byline when it is an e-mail address: never publish those.
        names.append(name or (record.plain(login) if not _EMAIL.match(login) else None))
    return wordpress.byline(names)
