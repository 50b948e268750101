"""Feeds: RSS 2.0 and 0.9x, RSS 1.0 (RDF), Atom 1.0 (and 0.3) and JSON Feed.

Each format is read into one `_Item` by its own adapter (Miniflux's
`internal/reader/{rss,atom,rdf,json}`), and one function turns an item into the
import record, so that the same post in RSS and in Atom gives the same record.
XML goes through `xmltree` only: decoded as it really is, never expanded.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

from . import Entry, Reading, Source, SourceError, dates, record, xmltree
from .xmltree import Element

ATOM = "http://www.w3.org/2005/Atom"
ATOM_03 = "http://purl.org/atom/ns#"
RSS_10 = "http://purl.org/rss/1.0/"
RSS_090 = "http://my.netscape.com/rdf/simple/0.9/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "{http://purl.org/dc/elements/1.1/}"
DCTERMS = "{http://purl.org/dc/terms/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
FEEDBURNER = "{http://rssnamespace.org/feedburner/ext/1.0}"
# Media RSS, with and without the slash its publishers disagree on.
MEDIA = ("{http://search.yahoo.com/mrss/}", "{http://search.yahoo.com/mrss}")

# What the import schema allows (README "JSON Lines"): longer text is cut at a
# word, so that one long title cannot reject a whole feed.
HEADLINE_MAX, DEK_MAX, BYLINE_MAX, NAME_MAX = 300, 1000, 200, 300
_ID = re.compile(r"^[^\s\x00-\x1f\x7f]{1,300}$")
_IMAGE_PATH = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)$", re.I)
_EMAIL = re.compile(r"\S+@\S+\.\w+")
# href and src values in raw HTML, quoted either way or not at all.
_URL_ATTRIBUTE = re.compile(
    r"""(\s(?:href|src)\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'<>`]+))""", re.I
)


@dataclass(slots=True)
class _Item:
    """One item as any feed format says it, before it is a record."""

    own_id: str | None = None  # guid, Atom id, JSON Feed id
    link: str | None = None  # absolute
    title: str | None = None  # HTML (plain text arrives escaped)
    body: str | None = None  # HTML
    summary: str | None = None  # HTML
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    published: datetime | None = None
    updated: datetime | None = None
    language: str | None = None
    picture: dict[str, str] | None = None
    base: str | None = None  # what relative links in the body are relative to


def read(kind: str, stream: Callable[[], IO[bytes]], reading: Reading) -> Source:
    """Return an RSS, RDF or Atom document's items, read whole and safely."""
    try:
        with stream() as opened:
            data = opened.read()
    except (OSError, EOFError) as error:
        raise SourceError(f"cannot read the file: {error}") from None
    try:
        root = xmltree.parse(data, reading.charset)
    except xmltree.XMLRefused as error:
        raise SourceError(str(error)) from None
    name, space = xmltree.local_name(root), _namespace(root)
    if name == "feed" and space in (ATOM, ATOM_03, ""):
        # An Atom feed that forgot its namespace is still read (as Miniflux does).
        version = {ATOM: " 1.0", ATOM_03: " 0.3", "": ""}[space]
        return Source(f"Atom{version}", "item", _entries(_atom(root, space, reading)))
    if name == "rss":
        version = (root.get("version") or "").strip()
        items = _rss(root, space, reading)
        return Source(f"RSS {version}".rstrip(), "item", _entries(items))
    if name == "RDF" and space == RDF:
        for core, version in ((RSS_10, "1.0"), (RSS_090, "0.90")):
            if root.find(f"{{{core}}}channel") is not None:
                items = _rss(root, core, reading)
                return Source(f"RSS {version} (RDF)", "item", _entries(items))
        raise SourceError("is RDF, but neither an RSS 1.0 nor an RSS 0.90 feed")
    raise SourceError(f"is XML with a <{name}> root in no feed's namespace")


def read_document(kind: str, document: Any, reading: Reading) -> Source:
    """Return a JSON Feed's items."""
    version = str(document.get("version", "")).rsplit("/", 1)[-1]
    items = document.get("items")
    if not isinstance(items, list):
        raise SourceError("is a JSON Feed whose 'items' is not a list")
    name = f"JSON Feed {'1.0' if version == '1' else version}"
    return Source(name, "item", _entries(_json_feed(document, items, reading)))


def _entries(items: Iterable[_Item]) -> Iterator[Entry]:
    """Number every item, and skip those with nothing to read or seen before."""
    seen: set[str] = set()
    for position, item in enumerate(items, start=1):
        story = _record(item)
        if story is None:
            yield record.skipped(position, "empty items")
        elif story["id"] in seen:
            # A feed that lists one story twice: its first (newest) copy counts.
            yield record.skipped(position, "repeated items")
        else:
            seen.add(story["id"])
            yield record.entry(position, story)


def _record(item: _Item) -> dict[str, Any] | None:
    """Return the import record for an item, or None when it has no words at all."""
    body, summary = item.body, item.summary
    if summary and not record.plain(body):
        body, summary = summary, None
    body_text = record.plain(body)
    headline = record.headline(item.title, body_text)
    if not headline:
        return None
    published = item.published or item.updated
    updated = item.updated if item.updated and item.updated > published else None
    body_html = _absolute(body or "", item.base)
    # Names are text, but engines escape them once more than XML needs
    # (WordPress: "Arts &amp; Culture" in CDATA): decoded once, as headlines are.
    names = (" ".join(html.unescape(name).split()) for name in item.categories)
    categories = [n for n in dict.fromkeys(names) if n and len(n) <= NAME_MAX]
    people = (_person(html.unescape(name)) for name in item.authors)
    byline = ", ".join(dict.fromkeys(filter(None, people)))
    return {
        "id": _identifier(item.own_id or item.link, headline, body_html),
        "headline": record.clip(headline, HEADLINE_MAX),
        "body_html": body_html,
        "dek": record.clip(record.standfirst(summary, body_text), DEK_MAX),
        "author": record.clip(byline, BYLINE_MAX) or None,
        "published": dates.stamp(published),
        "undated": True if published is None else None,
        "updated": dates.stamp(updated),
        "categories": categories,
        "tags": categories,
        "source_url": item.link,
        "language": record.language(item.language),
        "picture": item.picture,
    }


def _rss(root: Element, core: str, reading: Reading) -> Iterator[_Item]:
    """Read RSS 2.0 / 0.9x (items in the channel) and RDF (items beside it)."""

    def tag(name: str) -> str:
        return _tag(core, name)

    channel = root.find(tag("channel"))
    if channel is None:
        return
    channel_base = _base(channel, reading.origin) or reading.origin
    site = _url(_text(channel.find(tag("link"))), channel_base)
    base = site or channel_base
    language = (
        _text(channel.find(tag("language")))
        or _text(channel.find(f"{DC}language"))
        or xmltree.language(channel)
    )
    channel_categories = _texts(channel, tag("category"))
    for item in [*channel.iterfind(tag("item")), *root.iterfind(tag("item"))]:
        here = _base(item, base) or base
        guid = item.find(tag("guid"))
        permalink = guid is not None and guid.get("isPermaLink", "true") != "false"
        atom_link = item.find(f"{{{ATOM}}}link[@href]")
        link = (
            _url(_text(item.find(f"{FEEDBURNER}origLink")), here)
            or _url(_text(item.find(tag("link"))), here)
            or _url(atom_link.get("href") if atom_link is not None else None, here)
            # A permalink guid is the page only when it is a whole address.
            or (_url(_text(guid), None) if permalink else None)
        )
        encoded = _html(item.find(f"{CONTENT}encoded"))
        description = _html(item.find(tag("description")))
        rss_authors = [_from_rss_author(a) for a in _texts(item, tag("author"))]
        yield _Item(
            own_id=(
                _text(guid)
                or item.get(f"{{{RDF}}}about")
                or link
                or _text(item.find(f"{{{ATOM}}}id"))
            ),
            link=link,
            title=_html(item.find(tag("title"))),
            body=encoded or description,
            summary=description if encoded else None,
            authors=_texts(item, f"{DC}creator") or rss_authors,
            categories=(
                _texts(item, tag("category"), f"{DC}subject") or channel_categories
            ),
            published=_first_date(
                reading.zone,
                item,
                tag("pubDate"),
                f"{DC}date",
                f"{DCTERMS}issued",
                f"{DCTERMS}created",
                f"{{{ATOM}}}published",
            ),
            updated=_first_date(
                reading.zone, item, f"{DCTERMS}modified", f"{{{ATOM}}}updated"
            ),
            language=(
                item.get(xmltree.XML_LANG)
                or _text(item.find(f"{DC}language"))
                or language
            ),
            picture=_media_picture(item, here)
            or _enclosure_picture(item.iterfind(tag("enclosure")), "url", here)
            or _thumbnail(item, here),
            base=_base(item, base) or link or base,
        )


def _atom(root: Element, space: str, reading: Reading) -> Iterator[_Item]:
    """Read Atom 1.0, and the Atom 0.3 that a few old feeds still are."""

    def tag(name: str) -> str:
        return _tag(space, name)

    feed_base = _base(root, reading.origin) or reading.origin
    site = _alternate(root, space, feed_base)
    base = site or feed_base
    feed_authors = _atom_people(root, space)
    feed_categories = _atom_categories(root, space)
    for entry in root.iterfind(tag("entry")):
        here = _base(entry, base) or base
        link = _url(_text(entry.find(f"{FEEDBURNER}origLink")), here) or _alternate(
            entry, space, here
        )
        content = entry.find(tag("content"))
        if content is not None and content.get("src"):
            content = None  # out-of-line content: only its address is here
        summary = entry.find(tag("summary"))
        source = entry.find(tag("source"))
        worded = content if content is not None else summary
        yield _Item(
            own_id=_text(entry.find(tag("id"))) or link,
            link=link,
            title=_atom_text(entry.find(tag("title"))),
            body=_atom_text(content, block=True),
            summary=_atom_text(summary, block=True),
            authors=(
                _atom_people(entry, space)
                or (_atom_people(source, space) if source is not None else [])
                or feed_authors
            ),
            categories=_atom_categories(entry, space) or feed_categories,
            published=_first_date(
                reading.zone, entry, tag("published"), tag("issued"), tag("created")
            ),
            updated=_first_date(reading.zone, entry, tag("updated"), tag("modified")),
            language=xmltree.language(worded if worded is not None else entry),
            picture=_media_picture(entry, link or base)
            or _enclosure_picture(
                (e for e in entry.iterfind(tag("link")) if e.get("rel") == "enclosure"),
                "href",
                link or base,
            )
            or _thumbnail(entry, link or base),
            base=_base(worded, base) or link or base,
        )


def _json_feed(
    document: dict[str, Any], items: list[Any], reading: Reading
) -> Iterator[_Item]:
    """Read JSON Feed 1.0 and 1.1 items (https://jsonfeed.org/version/1.1)."""
    site = _url(_string(document.get("home_page_url")), reading.origin)
    base = site or _url(_string(document.get("feed_url")), reading.origin)
    base = base or reading.origin
    feed_authors = _json_authors(document)
    language = _string(document.get("language"))
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise SourceError("is not a JSON object", position)
        link = _url(_string(item.get("url")), base)
        text = _string(item.get("content_text"))
        summary = _string(item.get("summary"))
        tags = [t for t in item.get("tags") or [] if isinstance(t, str)]
        images = [item.get("image"), item.get("banner_image")] + [
            a.get("url")
            for a in item.get("attachments") or []
            if isinstance(a, dict) and str(a.get("mime_type", "")).startswith("image/")
        ]
        urls = (_url(_string(image), link or base) for image in images)
        image = next(filter(None, urls), None)
        yield _Item(
            own_id=_string(item.get("id")) or link,
            link=link,
            # Plain text by the specification, yet often HTML-escaped by the
            # blog engines that write it: decoded once, as RSS titles are.
            title=_string(item.get("title")),
            body=_string(item.get("content_html"))
            or (text and record.paragraphs(text)),
            summary=html.escape(summary) if summary else None,
            authors=_json_authors(item) or feed_authors,
            categories=tags,
            published=dates.either(_string(item.get("date_published")), reading.zone),
            updated=dates.either(_string(item.get("date_modified")), reading.zone),
            language=_string(item.get("language")) or language,
            picture={"url": image} if image else None,
            base=link or base,
        )


def _json_authors(value: dict[str, Any]) -> list[str]:
    authors = value.get("authors")
    if not isinstance(authors, list):
        authors = [value.get("author")]
    return [
        a["name"] for a in authors if isinstance(a, dict) and _string(a.get("name"))
    ]


def _atom_text(element: Element | None, block: bool = False) -> str | None:
    """Return an Atom text construct as HTML: text escaped, XHTML unwrapped."""
    if element is None:
        return None
    kind = (element.get("type") or "text").lower()
    mode = element.get("mode")  # Atom 0.3
    if kind in ("xhtml", "application/xhtml+xml") or mode == "xml":
        # The content is inside one XHTML div, which is not part of it (RFC 4287).
        children = list(element)
        alone = len(children) == 1 and not (element.text or "").strip()
        if alone and xmltree.local_name(children[0]) == "div":
            return xmltree.inner_html(children[0])
        return xmltree.inner_html(element)
    if kind in ("html", "text/html") or mode == "escaped":
        return xmltree.text(element)
    if kind in ("text", "text/plain"):
        value = xmltree.text(element)
        return record.paragraphs(value) if block else html.escape(value)
    return None  # another media type (an image, base64): nothing to read


def _atom_people(parent: Element, space: str) -> list[str]:
    return [
        _text(person.find(_tag(space, "name"))) or ""
        for person in parent.iterfind(_tag(space, "author"))
    ]


def _atom_categories(parent: Element, space: str) -> list[str]:
    return [
        category.get("label") or category.get("term") or ""
        for category in parent.iterfind(_tag(space, "category"))
    ]


def _alternate(parent: Element, space: str, base: str | None) -> str | None:
    """Return the address of the page an Atom feed or entry stands for."""
    links = [
        link
        for link in parent.iterfind(_tag(space, "link"))
        if link.get("rel", "alternate") == "alternate" and link.get("href")
    ]
    links.sort(key=lambda link: link.get("type", "text/html") != "text/html")
    for link in links:
        found = _url(link.get("href"), _base(link, base) or base)
        if found:
            return found
    return None


def _media_picture(item: Element, base: str | None) -> dict[str, str] | None:
    """Return the first image among an item's Media RSS contents (groups too)."""
    for space in MEDIA:
        for content in item.iter(f"{space}content"):
            if not _is_image(content.get("medium"), content.get("type"), content):
                continue
            url = _url(content.get("url"), base)
            if url:
                # A group's or the item's title, description and credit are the
                # content's too when it has none of its own (Media RSS, 2).
                scopes = [content, content.getparent(), item]
                return _picture(
                    url,
                    alt=_media_text(scopes, space, "title"),
                    caption=_media_text(scopes, space, "description"),
                    credit=_media_text(scopes, space, "credit"),
                )
    return None


def _media_text(scopes: list[Element | None], space: str, name: str) -> str | None:
    for scope in scopes:
        if scope is not None:
            found = scope.find(f"{space}{name}")
            if found is not None and _text(found):
                return record.plain(_text(found))
    return None


def _enclosure_picture(
    enclosures: Iterable[Element], attribute: str, base: str | None
) -> dict[str, str] | None:
    for enclosure in enclosures:
        url = _url(enclosure.get(attribute), base)
        if url and _is_image(None, enclosure.get("type"), enclosure, attribute):
            return _picture(url, alt=enclosure.get("title"))
    return None


def _thumbnail(item: Element, base: str | None) -> dict[str, str] | None:
    for space in MEDIA:
        for thumbnail in item.iter(f"{space}thumbnail"):
            url = _url(thumbnail.get("url"), base)
            if url:
                return _picture(url)
    return None


def _is_image(
    medium: str | None, kind: str | None, element: Element, attribute: str = "url"
) -> bool:
    if medium or kind:
        return medium == "image" or (kind or "").lower().startswith("image/")
    # Neither says: an image is what its address says it is.
    path = urlsplit(element.get(attribute) or "").path
    return bool(_IMAGE_PATH.search(path))


def _picture(url: str, **words: str | None) -> dict[str, str]:
    limits = {"alt": 500, "caption": 1000, "credit": NAME_MAX}
    picture = {"url": url}
    for name, value in words.items():
        text = " ".join((value or "").split())
        if text:
            picture[name] = record.clip(text, limits[name])
    return picture


def _first_date(zone: tzinfo, item: Element, *tags: str) -> datetime | None:
    """Return the first of an item's dates that reads as a date, in this order."""
    for tag in tags:
        for element in item.iterfind(tag):
            moment = dates.either(_text(element), zone)
            if moment:
                return moment
    return None


def _from_rss_author(value: str) -> str:
    """Return the name in RSS's "jo@example.com (Jo Bloggs)", else the value."""
    match = re.fullmatch(r"\s*\S+@\S+\s*\((.+)\)\s*", value)
    return match[1] if match else value


def _person(name: str) -> str | None:
    """Return a byline's name, dropping what is only an e-mail address."""
    text = " ".join(name.split())
    text = re.sub(r"\s*<[^<>@\s]+@[^<>\s]+>$", "", text)  # "Jo <jo@example.com>"
    return None if not text or _EMAIL.fullmatch(text) else text


def _identifier(value: str | None, headline: str, body_html: str) -> str:
    """Return an item's id as the import schema takes it.

    An id with spaces or over 300 characters, or none at all, becomes a digest:
    of the id when there is one, else of the words, so that importing the same
    feed again still finds the same story.
    """
    value = (value or "").strip()
    if _ID.match(value):
        return value
    seed = value or f"{headline}\n{body_html}"
    return "urn:sha256:" + hashlib.sha256(seed.encode("utf-8")).hexdigest()


def _absolute(body: str, base: str | None) -> str:
    """Resolve relative links and image sources in raw HTML against base."""
    if not base:
        return body

    def resolve(match: re.Match[str]) -> str:
        raw = next(g for g in match.groups()[1:] if g is not None)
        url = html.unescape(raw.strip())
        if not url or url.startswith("#") or urlsplit(url).scheme:
            return match[0]
        return f'{match[1]}"{html.escape(urljoin(base, url))}"'

    return _URL_ATTRIBUTE.sub(resolve, body)


def _url(value: str | None, base: str | None) -> str | None:
    """Return an http(s) address, resolved against base; None for anything else."""
    value = (value or "").strip()
    if not value:
        return None
    url = urljoin(base, value) if base else value
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return None if re.search(r"[\s\x00-\x1f\x7f]", url) else url


def _base(element: Element | None, fallback: str | None) -> str | None:
    """Return the xml:base in force at an element, made absolute; None if none."""
    declared = element.base if element is not None else None
    if not declared:
        return None
    return urljoin(fallback, declared) if fallback else declared


def _tag(space: str, name: str) -> str:
    return f"{{{space}}}{name}" if space else name


def _namespace(element: Element) -> str:
    return element.tag[1:].split("}", 1)[0] if element.tag.startswith("{") else ""


def _html(element: Element | None) -> str | None:
    """Return an element's HTML: its text, or its markup when it holds elements."""
    if element is not None and len(element):
        return xmltree.inner_html(element).strip() or None
    return _text(element)


def _text(element: Element | None) -> str | None:
    value = xmltree.text(element).strip() if element is not None else ""
    return value or None


def _texts(parent: Element, *tags: str) -> list[str]:
    return [
        value
        for tag in tags
        for value in map(_text, parent.iterfind(tag))
        if value is not None
    ]


def _string(value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # JSON Feed: an id given as a number is its string
    return (value.strip() or None) if isinstance(value, str) else None
