"""`reader pull`: fetch a live source, read what is new or changed, hand it on.

A source is a feed (RSS, Atom, JSON Feed) or a WordPress site. A feed is asked for
with its validators, so an unchanged one costs one 304. A WordPress site's REST API
is found from its address (the `Link: rel="https://api.w.org/"` header or tag, else
`/wp-json/`); each pull asks for one light page of post ids and modification times,
newest first, and stops at the first post it has seen: an unchanged site costs one
request. Posts that changed are then fetched whole, a hundred a request. When the
site's count of posts says some have gone (trashed, made private), one sweep of ids
finds which, and they are taken off the site.

Nothing here writes stories: the caller imports the entries it returns, all of a
source or none of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from . import Entry, Reading, Source, SourceError, detect, read_document
from .fetch import Answer, Fetcher, FetchFailed

PER_PAGE = 100
_API_LINK = re.compile(r'<([^>]+)>\s*;[^,]*rel="?https://api\.w\.org/"?', re.I)
_API_TAG = re.compile(
    r"""<link\b[^>]*rel=["']https://api\.w\.org/["'][^>]*href=["']([^"']+)["']"""
    r"""|<link\b[^>]*href=["']([^"']+)["'][^>]*rel=["']https://api\.w\.org/["']""",
    re.I,
)


@dataclass(slots=True)
class Pulled:
    """What one pull of a source found: what to import, and what to remember."""

    url: str
    kind: str
    source: Source | None  # None: nothing changed (a 304, no new posts)
    state: dict[str, Any] = field(default_factory=dict)
    note: str = ""  # said in the report: "not modified", "3 posts changed"


def pull(
    url: str,
    kind: str | None,
    state: dict[str, Any],
    fetcher: Fetcher,
    reading: Reading,
    known_ids: Callable[[str], set[str]],
) -> Pulled:
    """Fetch a source and return its new and changed entries.

    `kind` and `state` are what the last pull recorded (None and {} for a new
    source); `known_ids(prefix)` returns the ids already stored under a prefix.
    Raises FetchFailed or SourceError; the archive is never touched here.
    """
    if kind == "wordpress":
        return _wordpress(url, state["api"], state, fetcher, reading, known_ids)
    validators = state if kind == "feed" else {}
    answer = fetcher.get(url, validators)
    if answer.not_modified:
        return Pulled(url, "feed", None, state, "not modified")
    try:
        detect.sniff(answer.body[:4096])
        is_document = True
    except detect.NotASource:
        is_document = False
    if is_document and not _is_html(answer):
        source = read_document(
            answer.body,
            Reading(
                zone=reading.zone,
                post_types=reading.post_types,
                charset=answer.charset,
                origin=answer.url,
            ),
        )
        validators = {
            "etag": answer.headers.get("ETag"),
            "last_modified": answer.headers.get("Last-Modified"),
        }
        return Pulled(url, "feed", source, {k: v for k, v in validators.items() if v})
    api = _wordpress_api(url, answer, fetcher)
    return _wordpress(url, api, {"api": api}, fetcher, reading, known_ids)


def _is_html(answer: Answer) -> bool:
    return answer.headers.get_content_type() == "text/html"


def _wordpress_api(url: str, answer: Answer, fetcher: Fetcher) -> str:
    """Return a WordPress site's REST API root, found the ways WordPress says."""
    for header in answer.headers.get_all("Link") or []:
        found = _API_LINK.search(header)
        if found:
            return found[1]
    text = answer.body[:200_000].decode("utf-8", "replace")
    found = _API_TAG.search(text)
    if found:
        return urljoin(answer.url, found[1] or found[2])
    guess = urljoin(url.rstrip("/") + "/", "wp-json/")
    try:
        root = _json(fetcher.get(guess, accept="application/json"))
    except (FetchFailed, SourceError):
        root = None
    if isinstance(root, dict) and "wp/v2" in root.get("namespaces", []):
        return guess
    raise SourceError(
        "is neither a feed nor a WordPress site (no REST API link, and nothing at"
        f" {guess})"
    )


def _wordpress(
    url: str,
    api: str,
    state: dict[str, Any],
    fetcher: Fetcher,
    reading: Reading,
    known_ids: Callable[[str], set[str]],
) -> Pulled:
    from . import wordpress, wp_rest

    posts = urljoin(api if api.endswith("/") else api + "/", "wp/v2/posts")
    prefix = wordpress.story_id(wordpress.site_host(url), "")
    cursor = state.get("modified")
    changed, newest, total = _changed_posts(posts, cursor, fetcher)
    stored = known_ids(prefix)
    new = {f"{prefix}{post}" for post in changed} - stored
    gone: set[str] = set()
    if total != len(stored) + len(new):
        # Posts trashed or made private leave the public API without a trace but
        # the count: one sweep of every id finds which.
        live = {f"{prefix}{post}" for post in _all_ids(posts, fetcher)}
        gone = stored - live
    state = {**state, "api": api, "modified": newest or cursor}
    if not changed and not gone:
        return Pulled(url, "wordpress", None, state, "no posts changed")
    site = Reading(zone=reading.zone, post_types=reading.post_types, origin=url)

    def entries() -> Iterator[Entry]:
        position = 0
        for start in range(0, len(changed), PER_PAGE):
            chunk = ",".join(str(post) for post in changed[start : start + PER_PAGE])
            answer = fetcher.get(
                f"{posts}?include={chunk}&per_page={PER_PAGE}&_embed=1",
                accept="application/json",
            )
            for post in _posts(answer):
                position += 1
                yield wp_rest.post_entry(position, post, site)
        for article_id in sorted(gone):
            position += 1
            yield Entry(position, {"id": article_id, "removed": True}, "removed")

    note = f"{len(changed)} posts changed" + (f", {len(gone)} gone" if gone else "")
    return Pulled(
        url, "wordpress", Source("WordPress REST API", "item", entries()), state, note
    )


def _changed_posts(
    posts: str, cursor: str | None, fetcher: Fetcher
) -> tuple[list[int], str | None, int]:
    """Return ids of posts modified after cursor, the newest time, and the count."""
    changed: list[int] = []
    newest: str | None = None
    page, pages, total = 1, 1, 0
    while page <= pages:
        answer = fetcher.get(
            f"{posts}?per_page={PER_PAGE}&page={page}&orderby=modified&order=desc"
            "&_fields=id,modified_gmt",
            accept="application/json",
        )
        items = _posts(answer)
        total = int(answer.headers.get("X-WP-Total") or len(items))
        pages = int(answer.headers.get("X-WP-TotalPages") or 1)
        for item in items:
            modified = str(item.get("modified_gmt") or "")
            newest = max(newest or modified, modified)
            if cursor is not None and modified <= cursor:
                return changed, newest, total
            changed.append(int(item["id"]))
        page += 1
    return changed, newest, total


def _all_ids(posts: str, fetcher: Fetcher) -> list[int]:
    ids: list[int] = []
    page, pages = 1, 1
    while page <= pages:
        answer = fetcher.get(
            f"{posts}?per_page={PER_PAGE}&page={page}&_fields=id",
            accept="application/json",
        )
        ids.extend(int(item["id"]) for item in _posts(answer))
        pages = int(answer.headers.get("X-WP-TotalPages") or 1)
        page += 1
    return ids


def _posts(answer: Answer) -> list[dict[str, Any]]:
    value = _json(answer)
    if isinstance(value, dict) and "code" in value:
        raise SourceError(f"the API answered an error: {value.get('message')}")
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise SourceError(f"{answer.url} did not answer a list of posts")
    return value


def _json(answer: Answer) -> Any:
    try:
        return json.loads(answer.body)
    except ValueError:
        raise SourceError(f"{answer.url} did not answer JSON") from None
