"""What the search page and the search API share: reading parameters, pairing hits."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from flask import abort, request
from markupsafe import Markup

from ..extensions import timezone
from ..models import ArticleSummary
from ..search import SORTS, SearchRequest, SearchResults
from ..store import Store

SEARCH_ARGS = ("q", "section", "from", "to", "byline", "sort")


def page_number() -> int:
    """Return ?page=N as a positive int; anything else is a 404."""
    value = request.args.get("page", "1")
    if not value.isascii() or not value.isdigit() or len(value) > 6 or not int(value):
        abort(404)
    return int(value)


def search_request() -> tuple[SearchRequest, list[str]]:
    """Return the search the query string asks for, and notes on what was ignored."""
    args = request.args
    notes = []
    dates = {}
    for name, end_of_day in (("from", False), ("to", True)):
        value = args.get(name, "").strip()
        if not value:
            continue
        try:
            day = date.fromisoformat(value)
        except ValueError:
            notes.append(
                f"“{value[:20]}” is not a date like 2024-01-31, so it was ignored."
            )
            continue
        moment = datetime.combine(day, time(), timezone())
        if end_of_day:
            moment += timedelta(days=1, microseconds=-1)
        try:
            moment.astimezone(UTC)
        except OverflowError:
            # From 0001-01-01 east of UTC, or to 9999-12-31 west of it: a limit
            # beyond every story, so none at all.
            continue
        dates[name] = moment
    sort = args.get("sort", "relevance")
    return (
        SearchRequest(
            text=args.get("q", ""),
            section=args.get("section") or None,
            date_from=dates.get("from"),
            date_to=dates.get("to"),
            byline=args.get("byline") or None,
            sort=sort if sort in SORTS else "relevance",
            page=page_number(),
        ),
        notes,
    )


def search_args() -> dict[str, str]:
    """Return the search parameters present in this request, for building links."""
    return {name: request.args[name] for name in SEARCH_ARGS if request.args.get(name)}


def found_articles(
    results: SearchResults, store: Store
) -> list[tuple[ArticleSummary, Markup | None]]:
    """Pair each hit, in rank order, with its article and its snippet."""
    summaries = {s.id: s for s in store.summaries(hit.id for hit in results.hits)}
    return [(summaries[h.id], h.snippet) for h in results.hits if h.id in summaries]
