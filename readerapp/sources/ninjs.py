"""IPTC ninjs ("news in JSON") 1.x, 2.x and 3.x: agency copy, one record a story.

The three versions name the same things three ways: 1.x `headline`, `body_html`,
`byline`, `subject`; 2.x `headlines`, `bodies`, `by`, `subjects`; 3.x the 2.x
names in camelCase (`versionCreated`). Every spelling is read, whatever version
a document says it is. Only text is a story: pictures, video, audio, graphics,
events, planning items and the collections of them are skipped by their type.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, tzinfo
from typing import IO, Any
from urllib.parse import urlsplit

from . import Entry, Reading, Source, SourceError, dates, record
from .jsonl import MAX_LINE_BYTES

STORIES = {"text", "composite"}
# What the summary calls the items that are no stories, by their ninjs type.
NOT_STORIES = {
    "picture": "pictures",
    "graphic": "graphics",
    "video": "videos",
    "audio": "audio items",
    "event": "events",
    "planning": "planning items",
    "component": "components",
    "collection": "collections",
}
HEADLINE_MAX, DEK_MAX, BYLINE_MAX, NAME_MAX = 300, 1000, 200, 300
# Picture renditions wider than this are print or archive masters, too big for a
# phone; the widest one up to it is the one to show.
PICTURE_WIDTH = 2048
_MARKUP = re.compile(r"<[A-Za-z][^>]*>")
_WHOLE_PAGE = re.compile(r"<body\b[^>]*>(.*)</body>", re.I | re.S)


def read(kind: str, stream: Callable[[], IO[bytes]], reading: Reading) -> Source:
    """Return the stories of a ninjs JSON Lines file, one item a line."""
    with stream() as opened:
        first = next((line for line in opened if line.strip()), b"{}")
    try:
        version = _version(json.loads(first))
    except ValueError:
        version = ""  # the line is reported, with its number, when it is read
    name = f"IPTC ninjs{version} (JSON Lines)"
    return Source(name, "line", _lines(stream, reading))


def read_document(kind: str, document: Any, reading: Reading) -> Source:
    """Return the stories of a ninjs document: one item, or an array of them."""
    items = document if isinstance(document, list) else [document]
    first = next((item for item in items if isinstance(item, dict)), {})
    name = f"IPTC ninjs{_version(first)}"
    return Source(name, "item", _items(enumerate(items, start=1), reading))


def _lines(stream: Callable[[], IO[bytes]], reading: Reading) -> Iterator[Entry]:
    try:
        with stream() as opened:
            numbered = (
                (number, _decoded(number, line))
                for number, line in enumerate(opened, start=1)
                if line.strip()
            )
            yield from _items(numbered, reading)
    except (OSError, EOFError) as error:
        raise SourceError(f"cannot read the file: {error}") from None


def _decoded(number: int, line: bytes) -> Any:
    if len(line) > MAX_LINE_BYTES:
        raise SourceError("line is longer than 5 MB", number)
    try:
        return json.loads(line)
    except UnicodeDecodeError:
        raise SourceError("not UTF-8 text", number) from None
    except json.JSONDecodeError as error:
        raise SourceError(f"not valid JSON: {error.msg}", number) from None


def _items(numbered: Iterable[tuple[int, Any]], reading: Reading) -> Iterator[Entry]:
    now = datetime.now(UTC)
    for position, item in numbered:
        if not isinstance(item, dict):
            raise SourceError("is not a JSON object (a ninjs item)", position)
        yield _entry(position, item, reading.zone, now)


def _entry(position: int, item: dict[str, Any], zone: tzinfo, now: datetime) -> Entry:
    """Return an item's record, its removal, or why it is no story."""
    kind = (_string(item.get("type")) or "text").lower()
    if kind not in STORIES:
        return record.skipped(position, NOT_STORIES.get(kind, f"{kind} items"))
    uri = _string(item.get("uri"))
    if not uri:
        raise SourceError("has no 'uri', which every ninjs item has", position)
    status = (_string(_get(item, "pubstatus", "pubStatus")) or "usable").lower()
    if status in ("canceled", "cancelled", "withheld"):
        # The agency takes the story back: so does the site (410 Gone).
        return record.entry(position, {"id": uri, "removed": True})
    embargo = dates.iso8601(_string(_get(item, "embargoed", "embargoedUntil")), zone)
    if embargo and embargo > now:
        return record.skipped(position, "stories under embargo")
    body_html = _body(item)
    body_text = record.plain(body_html)
    if kind == "composite" and not body_text:
        return record.skipped(position, "packages without text")
    headline = record.headline(_headline(item), body_text)
    if not headline:
        return record.skipped(position, "empty items")
    published = _first_date(
        zone, item, "firstcreated", "firstCreated", "versioncreated", "versionCreated"
    )
    version = _first_date(zone, item, "versioncreated", "versionCreated")
    names = _categories(item)
    byline = _string(_get(item, "by", "byline"))
    language = (_string(item.get("language")) or "").replace("_", "-")
    return record.entry(
        position,
        {
            "id": uri,
            "headline": record.clip(headline, HEADLINE_MAX),
            "body_html": body_html or "",
            "dek": record.clip(
                record.standfirst(_description(item), body_text), DEK_MAX
            ),
            "author": record.clip(" ".join(byline.split()), BYLINE_MAX)
            if byline
            else None,
            "published": dates.stamp(published),
            "undated": True if published is None else None,
            "updated": dates.stamp(
                version if published and version and version > published else None
            ),
            "categories": names,
            "tags": names,
            "language": record.language(language),
            "picture": _picture(item),
        },
    )


def _version(item: dict[str, Any]) -> str:
    """Return " 2.x" for a ninjs 2 item: from what it says, else from its names."""
    standard = item.get("standard") or item.get("$standard")
    said = standard.get("version") if isinstance(standard, dict) else None
    schema = re.search(r"ninjs-schema_(\d)", str(item.get("$schema", "")))
    major = str(said or "")[:1] or (schema[1] if schema else "")
    if not major.isdigit():
        if {"versionCreated", "firstCreated", "pubStatus", "altIds"} & set(item):
            major = "3"
        elif {"headlines", "bodies", "descriptions", "subjects", "by"} & set(item):
            major = "2"
        elif item:
            major = "1"
    return f" {major}.x" if major else ""


def _headline(item: dict[str, Any]) -> str | None:
    """Return the main headline as HTML (a plain-text one escaped)."""
    headlines = item.get("headlines")
    if isinstance(headlines, list):
        chosen = _by_role(headlines, "main")
        return _as_html(chosen) if chosen else None
    for key in ("headline", *_keys(item, "headline_")):
        value = _string(item.get(key))
        if value:
            return html.escape(value)
    return None


def _body(item: dict[str, Any]) -> str | None:
    """Return the body as HTML: an HTML body first, else plain text in paragraphs."""
    bodies = item.get("bodies")
    if isinstance(bodies, list):
        readable = [
            b for b in bodies if isinstance(b, dict) and _string(b.get("value"))
        ]
        for markup in (True, False):
            for body in readable:
                if _is_html(body) is markup:
                    return _as_html(body, block=True)
        return None
    # 1.x: body_html, body_xhtml, any other body_* (read as HTML if it is), body_text.
    keys = ["body_html", "body_xhtml", *_keys(item, "body_"), "body_text"]
    for key in dict.fromkeys(keys):
        value = _string(item.get(key))
        if value:
            return (
                _whole_page(value)
                if _MARKUP.search(value)
                else record.paragraphs(value)
            )
    return None


def _description(item: dict[str, Any]) -> str | None:
    descriptions = item.get("descriptions")
    if isinstance(descriptions, list):
        chosen = _by_role(descriptions, "summary")
        return _as_html(chosen) if chosen else None
    for key in ("description_html", "description_text", *_keys(item, "description_")):
        value = _string(item.get(key))
        if value:
            return value if key == "description_html" else html.escape(value)
    return None


def _categories(item: dict[str, Any]) -> list[str]:
    """Return subject names, most relevant first, then genres: codes if no name."""
    subjects = _objects(_get(item, "subjects", "subject"))
    subjects.sort(key=lambda s: -s["relevance"] if _number(s.get("relevance")) else 0)
    genres = _objects(_get(item, "genres", "genre"))
    names = (
        _string(concept.get("name"))
        or _string(concept.get("literal"))
        or _string(concept.get("code"))
        for concept in subjects + genres
    )
    found = (" ".join(name.split()) for name in names if name)
    return [name for name in dict.fromkeys(found) if len(name) <= NAME_MAX]


def _picture(item: dict[str, Any]) -> dict[str, str] | None:
    """Return the first associated picture that has a rendition to show."""
    associations = item.get("associations")
    if isinstance(associations, dict):  # 1.x: keyed by name
        associations = list(associations.values())
    for association in _objects(associations):
        if _string(association.get("type")) != "picture":
            continue
        url = _rendition(association.get("renditions"))
        if not url:
            continue
        description = _description(association)
        headline = _headline(association)
        credit = _string(
            _get(association, "by", "byline")
            or _get(association, "copyrightnotice", "copyrightNotice")
            or _get(association, "copyrightholder", "copyrightHolder")
        )
        words = {
            "alt": (record.clip(record.plain(headline or description), 500)),
            "caption": record.clip(record.plain(description or headline), 1000),
            "credit": record.clip(" ".join(credit.split()), NAME_MAX)
            if credit
            else None,
        }
        return {"url": url, **{k: v for k, v in words.items() if v}}
    return None


def _rendition(renditions: Any) -> str | None:
    """Return the widest rendition up to PICTURE_WIDTH, else the first one."""
    if isinstance(renditions, dict):  # 1.x: keyed by name
        renditions = list(renditions.values())
    usable = [
        (r, url)
        for r in _objects(renditions)
        if (url := _http(_string(r.get("href"))))
        and str(_get(r, "mimetype", "contenttype", "contentType") or "image/")
        .lower()
        .startswith("image/")
    ]
    fitting = [
        (r["width"], url)
        for r, url in usable
        if _number(r.get("width")) and r["width"] <= PICTURE_WIDTH
    ]
    if fitting:
        return max(fitting, key=lambda pair: pair[0])[1]
    return usable[0][1] if usable else None


def _by_role(values: list[Any], preferred: str) -> dict[str, Any] | None:
    """Return the value with the preferred role, else the first with a value."""
    usable = [v for v in _objects(values) if _string(v.get("value"))]
    for value in usable:
        if _string(value.get("role")) == preferred:
            return value
    return usable[0] if usable else None


def _is_html(value: dict[str, Any]) -> bool | None:
    """Tell whether a 2.x/3.x text is HTML, plain text (False) or neither (None)."""
    kind = (_string(_get(value, "contenttype", "contentType")) or "").lower()
    if "html" in kind:  # text/html, application/xhtml+xml, "body_xhtml"
        return True
    if kind in ("", "text/plain"):
        return kind == "" and bool(_MARKUP.search(value["value"]))
    return None  # NITF and other XML: not for readers as it is


def _as_html(value: dict[str, Any], block: bool = False) -> str:
    """Return a headline's, description's or body's value as HTML."""
    text = value["value"]
    if _is_html(value):
        return _whole_page(text)
    return record.paragraphs(text) if block else html.escape(text)


def _whole_page(markup: str) -> str:
    """Return the body of an HTML page sent as a body (TT sends whole pages)."""
    page = _WHOLE_PAGE.search(markup)
    return page[1] if page else markup


def _first_date(zone: tzinfo, item: dict[str, Any], *keys: str) -> datetime | None:
    for key in keys:
        moment = dates.iso8601(_string(item.get(key)), zone)
        if moment:
            return moment
    return None


def _http(url: str | None) -> str | None:
    parts = urlsplit(url or "")
    ok = parts.scheme in ("http", "https") and parts.netloc and " " not in url
    return url if ok else None


def _get(item: dict[str, Any], *keys: str) -> Any:
    """Return the value of the first of a name's spellings that the item has."""
    return next((item[key] for key in keys if item.get(key) is not None), None)


def _keys(item: dict[str, Any], prefix: str) -> list[str]:
    return sorted(key for key in item if key.startswith(prefix))


def _objects(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _string(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None
