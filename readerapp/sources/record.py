"""The one record every format builds: a dict in the import schema (README "Import
format"), and the plain-text rules they share for headlines and standfirsts."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from ..text import without_tags
from . import Entry
from .jsonl import checksum

_BLOCK = re.compile(r"</?(?:p|div|br|li|h[1-6]|blockquote|tr)\b[^>]*>", re.I)
# What excerpts end with when they are only the start of the body.
_TRAILER = re.compile(
    r"\s*(?:\[?(?:…|\.\.\.|&hellip;)\]?|read more|continue reading|more)\W*$", re.I
)
HEADLINE_FROM_TEXT = 100  # characters of the text that name an untitled story


def plain(markup: str | None) -> str | None:
    """Return text without markup, its entities decoded once, its spaces collapsed."""
    if markup is None:
        return None
    # Blocks part words; inline tags do not ("<a>Blackmon</a>, for").
    text = html.unescape(without_tags(_BLOCK.sub(" ", markup)))
    return " ".join(text.split()) or None


def headline(title: str | None, text: str | None) -> str | None:
    """Return the headline, or the start of the text for an untitled story."""
    found = plain(title)
    if found or not text:
        return found
    words = " ".join(text.split())
    if len(words) <= HEADLINE_FROM_TEXT:
        return words or None
    return words[:HEADLINE_FROM_TEXT].rsplit(" ", 1)[0].rstrip(",;:-–— ") + "…"


def standfirst(summary: str | None, body_text: str | None) -> str | None:
    """Return the summary as a standfirst, unless it is only the start of the body."""
    found = plain(summary)
    if not found:
        return None
    start = _TRAILER.sub("", found).rstrip(" .,;:")
    body = " ".join((body_text or "").split())
    if start and body.startswith(start):
        return None
    return found


_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")


def paragraphs(text: str) -> str:
    """Return plain text as HTML paragraphs: between blank lines, else a line each."""
    parts = _BLANK_LINE.split(text) if _BLANK_LINE.search(text) else text.splitlines()
    words = (" ".join(part.split()) for part in parts)
    return "".join(f"<p>{html.escape(part)}</p>" for part in words if part)


def clip(text: str | None, limit: int) -> str | None:
    """Return text cut at a word to at most `limit` characters, "…" marking the cut.

    Sources overrun our limits now and then; one long field must not reject a file.
    """
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:-–— ") + "…"


def language(value: str | None) -> str | None:
    """Return a language tag from a source's language or locale (`en_US` → `en-US`)."""
    tag = (value or "").strip().replace("_", "-")
    return tag if _LANGUAGE.match(tag) else None


def entry(position: int, record: dict[str, Any]) -> Entry:
    """Return an entry for a record, with the checksum of what it says."""
    record = {key: value for key, value in record.items() if value not in (None, [])}
    canonical = json.dumps(record, sort_keys=True, ensure_ascii=False)
    return Entry(position, record, checksum(canonical.encode("utf-8")))


def skipped(position: int, reason: str) -> Entry:
    """Return an entry for an item that is no story for readers, and why."""
    return Entry(position, skipped=reason)
