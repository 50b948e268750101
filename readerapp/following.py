"""Following live sources: pull each, import what changed, remember where it stopped.

One source's stories are imported all together or not at all, as a file's are; a
pull that fails leaves the archive's stories as they were and records what went
wrong and when the source may be asked again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from .importer import ImportFailed, Rules, import_source
from .models import SaveCounts, SourceState
from .sources import Reading, SourceError
from .sources.fetch import Fetcher, FetchFailed
from .sources.pull import pull
from .store import ArchiveFull, Store

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.I)
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(slots=True)
class PullReport:
    """What pulling one source did, for `reader pull` to print."""

    url: str
    ok: bool
    said: str  # in words: what changed, or what failed and what happens next
    counts: SaveCounts | None = None
    requests: int = 0


def interval(text: str) -> float:
    """Return seconds from "90", "30s", "10m", "2h" or "1d"; raise ValueError."""
    found = _INTERVAL.match(text)
    if not found or float(found[1]) <= 0:
        raise ValueError(f"not an interval like 10m, 2h or 90s: {text!r}")
    return float(found[1]) * _SECONDS[found[2].lower()]


def pull_sources(
    store: Store,
    urls: Iterable[str],
    rules: Rules,
    reading: Reading,
    fetcher: Fetcher,
) -> list[PullReport]:
    """Pull each source in turn; one failing does not stop the others."""
    return [_pull_one(store, url, rules, reading, fetcher) for url in urls]


def _pull_one(
    store: Store, url: str, rules: Rules, reading: Reading, fetcher: Fetcher
) -> PullReport:
    known = store.source(url)
    now = datetime.now(UTC)
    if known and known.not_before and known.not_before > now:
        return PullReport(
            url,
            True,
            "skipped: the site asked to be left alone until"
            f" {known.not_before:%Y-%m-%d %H:%M} UTC",
        )
    kind, state = (known.kind, known.state) if known else (None, {})
    before = fetcher.requests
    try:
        pulled = pull(url, kind, state, fetcher, reading, store.ids_starting)
        counts = (
            import_source(store, url, pulled.source, rules)
            if pulled.source
            else SaveCounts()
        )
    except FetchFailed as failed:
        return _failed(
            store, known, url, str(failed), fetcher.requests - before, failed
        )
    except (SourceError, ImportFailed, ArchiveFull) as error:
        return _failed(store, known, url, str(error), fetcher.requests - before)
    requests = fetcher.requests - before
    said = _what_changed(counts, pulled.note)
    store.record_pull(url, pulled.kind, pulled.state, said, succeeded=True)
    return PullReport(url, True, said, counts, requests)


def _failed(
    store: Store,
    known: SourceState | None,
    url: str,
    reason: str,
    requests: int,
    fetch_failed: FetchFailed | None = None,
) -> PullReport:
    retry = fetch_failed.retry_after if fetch_failed else None
    if retry:
        then = f"will ask again after {retry:%Y-%m-%d %H:%M:%S} UTC, as it asked"
    elif fetch_failed and fetch_failed.transient:
        then = "will try again at the next pull"
    else:
        then = "will try again at the next pull; check the address"
    said = f"failed: {reason}; nothing was imported; {then}"
    if known is not None:
        store.record_pull(
            url, known.kind, known.state, said, succeeded=False, not_before=retry
        )
    return PullReport(url, False, said, None, requests)


def _what_changed(counts: SaveCounts, note: str) -> str:
    if not (counts.added or counts.updated or counts.removed):
        return note or "nothing new"
    parts = [f"{counts.added} added", f"{counts.updated} updated"]
    if counts.removed:
        parts.append(f"{counts.removed} taken off the site")
    if counts.skipped:
        parts.append(f"{sum(counts.skipped.values())} skipped")
    return ", ".join(parts)
