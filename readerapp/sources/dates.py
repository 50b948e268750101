"""Dates as sources write them, read right or refused: never guessed.

Feeds write RFC 822 dates ("Tue, 10 Jun 2003 04:00:00 GMT"), Atom, JSON Feed,
WordPress and ninjs ISO 8601 ones. A date that is neither, or that names a zone no
standard defines ("CET" is not in RFC 822), is refused (None): the format then
uses another date the item has, or none.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, tzinfo
from email.utils import parsedate_to_datetime

# An RFC 822 date ends with its zone: an offset or one of the names RFC 822 defines.
_RFC822_ZONE = re.compile(
    r"(?:[+-]\d{4}|UT|GMT|Z|EST|EDT|CST|CDT|MST|MDT|PST|PDT)\s*$", re.IGNORECASE
)
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")


def rfc822(value: str | None) -> datetime | None:
    """Return an RFC 822 / RFC 2822 date-time, or None if it is not one."""
    if not value or not _RFC822_ZONE.search(value.strip()):
        return None
    try:
        moment = parsedate_to_datetime(value.strip())
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
