"""Which format a file is in, from its first bytes: never from its name."""

from __future__ import annotations

import json
import re
from typing import Any

GZIP_MAGIC = b"\x1f\x8b"
# Where a story's required fields are, for each JSON shape we read.
_OURS = {"id", "section", "headline", "body_html", "published"}
_NINJS = {
    "uri", "versioncreated", "versionCreated", "headline", "headlines", "body_text",
    "body_html", "bodies", "byline", "by", "firstcreated", "firstCreated",
    # What an event, a picture or a planning item has instead of a headline.
    "type", "pubstatus", "pubStatus", "renditions", "associations", "eventDetails",
}  # fmt: skip
# How APIs say no, besides WordPress's {"code", "message", "data"}: {"error": …},
# {"errors": […]}, {"message": …, "status"/"statusCode": …}, RFC 9457 problems.
_ERROR_KEYS = ("error", "errors", "message", "detail", "title")
_STATUS = ("status", "statusCode", "status_code", "code")
_WITH_MESSAGE = {*_STATUS, "documentation_url"}  # GitHub's
_ROOT = re.compile(rb"<(?![?!])(?:[\w.-]+:)?([\w.-]+)")
_HTML = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<!doctype\s+html|^\s*<html[\s>]", re.I | re.S
)


class NotASource(ValueError):
    """The bytes are no format readerapp reads; the message says what they look like."""


def sniff(head: bytes) -> str:
    """Return the format of a document from its first bytes.

    "jsonl", "ninjs-lines", "json" (a document to read whole and look into),
    "wxr" or "feed".
    """
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        raise NotASource("is empty")
    if text[:1] in (b"{", b"["):
        first = text.split(b"\n", 1)[0]
        try:
            value = json.loads(first)
        except ValueError:
            return "json"
        if isinstance(value, dict):
            if is_ninjs(value) and not _OURS <= set(value):
                return "ninjs-lines"
            more = len(first.rstrip()) < len(text.rstrip())
            # A minified document is one line too: only ours are read as lines then.
            if more or not value or _OURS & set(value):
                return "jsonl"
        return "json"
    if _HTML.match(text):
        raise NotASource("is an HTML page, not a feed or an export (an error page?)")
    if text.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = text.decode("utf-16").encode("utf-8")
    root = _ROOT.search(text)
    if text.startswith(b"<") and root:
        name = root[1].decode("ascii", "replace").lower()
        if name == "rss" and b"http://wordpress.org/export/" in text:
            return "wxr"
        if name in ("rss", "rdf", "feed"):
            return "feed"
        if name == "html":
            raise NotASource(
                "is an HTML page, not a feed or an export (an error page?)"
            )
        raise NotASource(f"is XML with a <{name}> root, which is no format read here")
    raise NotASource(
        "is not JSON Lines, JSON, a WordPress export or a feed"
        " (the first bytes are neither '{', '[' nor '<')"
    )


def shape(value: Any) -> str:
    """Return what a whole JSON document is: "json-feed", "wp-rest", "ninjs"…"""
    sample = value[0] if isinstance(value, list) and value else value
    if isinstance(value, dict) and str(value.get("version", "")).startswith(
        "https://jsonfeed.org/version/"
    ):
        return "json-feed"
    if isinstance(sample, dict):
        if {"code", "message"} <= set(sample) and "id" not in sample:
            raise NotASource(
                f"is an API error, not stories: {sample.get('message')}"
                f" ({sample.get('code')}"
                + (
                    f", HTTP {sample['data']['status']})"
                    if isinstance(sample.get("data"), dict)
                    and "status" in sample["data"]
                    else ")"
                )
            )
        if _is_wordpress_post(sample):
            return "wp-rest"
        if is_ninjs(sample):
            return "ninjs"
        if _OURS <= set(sample):
            raise NotASource("is one JSON Lines record spread over lines: one a line")
    if isinstance(value, list) and not value:
        return "empty"
    if isinstance(value, dict) and (reason := _api_error(value)):
        raise NotASource(f"is an API error, not stories: {reason}")
    raise NotASource(
        "is JSON, but not a JSON Feed, WordPress REST answer or IPTC ninjs document"
    )


def _api_error(value: dict) -> str | None:
    """Return what an API's error answer says, if the object is one."""
    keys = set(value)
    said_why = {"message", "detail"} & keys
    if not ({"error", "errors"} & keys or (said_why and keys & _WITH_MESSAGE)):
        return None
    said: Any = value
    for _ in range(4):  # {"error": {"errors": [{"message": …}]}} and the like
        if isinstance(said, list):
            said = said[0] if said else None
        elif isinstance(said, dict):
            said = next((said[k] for k in _ERROR_KEYS if said.get(k)), None)
        else:
            break
    reason = said[:200] if isinstance(said, str) else "no reason given"
    status = next((k for k in map(str, map(value.get, _STATUS)) if k.isdigit()), None)
    return f"{reason} (status {status})" if status else reason


def _is_wordpress_post(value: dict) -> bool:
    rendered = any(
        isinstance(value.get(key), dict) and "rendered" in value[key]
        for key in ("title", "content")
    )
    return rendered or ("date_gmt" in value and "uri" not in value)


def is_ninjs(value: dict) -> bool:
    """Tell whether a JSON object looks like an IPTC ninjs item."""
    schema = str(value.get("$schema", "") or value.get("standard", ""))
    return "ninjs" in schema or ("uri" in value and len(_NINJS & set(value)) >= 2)
