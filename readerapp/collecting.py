"""Collecting the pictures stories show: fetch what is not kept yet, keep it, show it.

Runs after an import or a pull has stored its stories, so stories are published
first and their pictures follow: a slow or failing picture host delays no story,
and what failed is asked for again on the next run. Each address is fetched once
(the archive remembers what it gave); the same picture under two addresses is
kept once (its digest names it).
"""

from __future__ import annotations

import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from . import pictures
from .media import MediaFolder
from .sources.fetch import Fetcher, FetchFailed
from .store import Store

ACCEPT = "image/avif,image/webp,image/jpeg,image/png,image/gif,image/*;q=0.8"
# Fetching is waiting on the network; reading a picture mostly runs outside the GIL.
WORKERS = 4


@dataclass(slots=True)
class Collected:
    """What one run of collecting did, for the commands to report."""

    kept: int = 0
    shown_on: int = 0  # stories that show a newly kept picture
    failed: list[tuple[str, str]] = field(default_factory=list)  # (address, why)


@dataclass(frozen=True, slots=True)
class _Kept:
    digest: str
    found: pictures.Original
    size: int


@dataclass(frozen=True, slots=True)
class _Failed:
    problem: str
    permanent: bool  # the picture itself is refused: do not ask again by itself


def collect_pictures(
    store: Store,
    folder: MediaFolder,
    fetcher: Fetcher,
    max_bytes: int,
    retry_refused: bool = False,
) -> Collected:
    """Fetch and keep every picture stories show that is not kept yet."""
    collected = Collected()
    wanted = store.pictures_wanted(retry_refused)
    if not wanted:
        return collected
    with ThreadPoolExecutor(min(WORKERS, len(wanted))) as pool:
        outcomes = pool.map(lambda url: _fetch(url, folder, fetcher, max_bytes), wanted)
        # The archive is written from this thread only: one connection, in order.
        for url, outcome in zip(wanted, outcomes, strict=True):
            if isinstance(outcome, _Failed):
                store.picture_failed(url, outcome.problem, outcome.permanent)
                collected.failed.append((url, outcome.problem))
                continue
            found = outcome.found
            collected.shown_on += store.keep_picture(
                url,
                outcome.digest,
                found.kind,
                found.width,
                found.height,
                found.tint,
                outcome.size,
            )
            collected.kept += 1
    return collected


def _fetch(
    url: str, folder: MediaFolder, fetcher: Fetcher, max_bytes: int
) -> _Kept | _Failed:
    try:
        data = _read(url, fetcher, max_bytes)
    except FetchFailed as failed:
        return _Failed(failed.said, permanent=not failed.transient)
    except OSError as error:
        return _Failed(f"cannot read {_path(url)}: {error.strerror}", permanent=False)
    try:
        found = pictures.inspect(data)
    except pictures.PictureRefused as refused:
        return _Failed(f"refused: {refused}", permanent=True)
    return _Kept(folder.keep(data), found, len(data))


def _read(url: str, fetcher: Fetcher, max_bytes: int) -> bytes:
    if urlsplit(url).scheme == "file":
        # Only the importer writes file: addresses, for pictures beside an import
        # file; no story from elsewhere can name one (it would not be an http URL).
        path = _path(url)
        if path.stat().st_size > max_bytes:
            raise OSError(0, f"larger than {max_bytes >> 20} MB")
        return path.read_bytes()
    answer = fetcher.get(url, accept=ACCEPT, max_bytes=max_bytes)
    return answer.body


def _path(url: str) -> Path:
    return Path(urllib.request.url2pathname(urlsplit(url).path))
