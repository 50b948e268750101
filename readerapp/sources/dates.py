"""Dates as sources write them, read right or refused: never guessed.

Feeds write RFC 822 dates ("Tue, 10 Jun 2003 04:00:00 GMT"), Atom, JSON Feed,
WordPress and ninjs ISO 8601 ones. A date that is neither, or that names a zone no
standard defines ("CET" is not in RFC 822), is refused (None): the format then
uses another date the item has, or none. So are bare numbers ("1518478934": Unix
seconds, or milliseconds?) and W3C-DTF's year or year and month alone ("2003-12"),
whose day would be a guess.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, tzinfo
from email.utils import parsedate_to_datetime

# An RFC 822 date ends with its zone: an offset or one of the names RFC 822 defines,
# or "UTC", which names one zone only. Other names ("CET", "IST", "AST") are refused:
# several mean more than one zone. Military letters but "Z" are refused too (RFC
# 2822, 4.3: RFC 822 gave them the wrong sign, so writers meant either). The zone
# is a whole word: "AEST" (Australia, +10:00) is not "EST".
_RFC822_ZONE = re.compile(
    r"(?<![A-Za-z])(?:[+-]\d{2}:?\d{2}|UTC?|GMT|Z|[ECMP][SD]T)\s*$", re.IGNORECASE
)
# "+01:00" is an ISO offset written where RFC 822 wants "+0100": it means one thing.
_COLON_OFFSET = re.compile(r"([+-]\d{2}):(\d{2})\s*$")
_COMMENT = re.compile(r"\s*\([^()]*\)\s*$")  # "+0100 (CET)": the offset says it
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")


def rfc822(value: str | None) -> datetime | None:
    """Return an RFC 822 / RFC 2822 date-time, or None if it is not one."""
    text = _COMMENT.sub("", value or "")
    if not _RFC822_ZONE.search(text):
        return None
    try:
        moment = parsedate_to_datetime(_COLON_OFFSET.sub(r"\1\2", text.strip()))
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        # "-0000": UTC, its writer's own zone unknown (RFC 2822, 3.3).
        return moment.replace(tzinfo=UTC)
    return moment


def iso8601(value: str | None, zone: tzinfo) -> datetime | None:
    """Return an ISO 8601 date or date-time; one with no zone is in `zone`."""
    if not value or not _ISO.match(value.strip()):
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), zone)
        moment = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def either(value: str | None, zone: tzinfo) -> datetime | None:
    """Return a date in either form (feeds mix them), or None."""
    return iso8601(value, zone) or rfc822(value)


def stamp(moment: datetime | None) -> str | None:
    """Return a date-time as the import schema writes it (ISO 8601, with zone)."""
    return moment.isoformat() if moment else None
