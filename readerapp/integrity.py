"""Whether the archive, its search index and its pictures are whole, and repairs
that lose nothing.

`reader check` prints what `check` finds; `reader check --repair` runs `repair`,
which fixes what can be fixed from the archive (the index can always be rebuilt
from it) and says what it cannot (a damaged archive file wants its backup).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .media import MediaFolder, digest_of
from .search import ArchiveIndex, IndexReport
from .store import Store


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing checked: fine, or a problem, in words an operator can act on."""

    part: str  # "archive", "index" or "media"
    ok: bool
    text: str


@dataclass(slots=True)
class Checkup:
    """Everything `check` found, and the figures behind it."""

    findings: list[Finding] = field(default_factory=list)
    articles: int = 0
    documents: int = 0
    pictures: int = 0
    generation: str | None = None
    seconds: float = 0.0

    @property
    def problems(self) -> list[Finding]:
        return [finding for finding in self.findings if not finding.ok]

    def note(self, part: str, ok: bool, text: str) -> None:
        self.findings.append(Finding(part, ok, text))


def check(
    store: Store,
    archive_index: ArchiveIndex,
    thorough: bool = True,
    media: MediaFolder | None = None,
) -> Checkup:
    """Check the archive file, then the index and the media folder against it."""
    started = time.perf_counter()
    checkup = Checkup()
    archive_problems = store.problems()
    for problem in archive_problems:
        checkup.note("archive", False, problem)
    if not archive_problems:
        checkup.note("archive", True, f"{store.dialect.checks}, section counts")
    try:
        ids = store.ids()
        # Stories changed after the last change the index holds: it applies them
        # on its next catch-up (none is waiting for an index not made yet).
        held = archive_index.last_change()
        waiting = (
            set(store.article_changes_since(held or 0)[0])
            if archive_index.current() is not None
            else set()
        )
    except Exception as error:  # noqa: BLE001 - a damaged file says so here too
        checkup.note("archive", False, f"cannot read the articles: {error}")
        return checkup
    checkup.articles = len(ids)
    report = archive_index.inspect(thorough)
    checkup.generation = report.generation
    checkup.documents = sum(report.ids.values())
    _check_index(checkup, report, ids, waiting, thorough)
    if media is not None:
        _check_media(checkup, store, media, thorough)
    checkup.seconds = time.perf_counter() - started
    return checkup


@dataclass(frozen=True, slots=True)
class MediaReport:
    kept: set[str]  # digests the archive says are kept
    missing: set[str]  # kept, but no file (or, read whole, not the bytes kept)
    strays: set[str]  # files the archive does not name


def inspect_media(store: Store, media: MediaFolder, thorough: bool) -> MediaReport:
    """Compare the pictures the archive keeps with the files of the media folder;
    read whole, every original must still be the bytes its name was made from."""
    kept = {digest for digest, _ in store.kept_pictures()}
    on_disk = set(media.digests())
    missing = kept - on_disk
    if thorough:
        missing |= {
            d for d in kept & on_disk if digest_of(media.original(d).read_bytes()) != d
        }
    return MediaReport(kept, missing, on_disk - kept)


def _check_media(
    checkup: Checkup, store: Store, media: MediaFolder, thorough: bool
) -> None:
    report = inspect_media(store, media, thorough)
    checkup.pictures = len(report.kept)
    if report.missing:
        checkup.note(
            "media",
            False,
            f"{_count(len(report.missing), 'kept picture')} missing or damaged on disk",
        )
    if report.strays:
        checkup.note(
            "media", False, f"{_count(len(report.strays), 'file')} no story names"
        )
    if not (report.missing or report.strays):
        checkup.note(
            "media",
            True,
            "every kept picture's file is there"
            + (" and whole" if thorough else "")
            + ", and nothing else",
        )


def _check_index(
    checkup: Checkup,
    report: IndexReport,
    ids: set[str],
    waiting: set[str],
    thorough: bool,
) -> None:
    note = checkup.note
    if report.stale:
        note("index", False, f"{_count(len(report.stale), 'stale generation')} on disk")
    if report.generation is None:
        if ids:
            note("index", False, "no index for an archive of stories")
        return
    if report.damage:
        note("index", False, f"cannot be read: {report.damage}")
        return
    note("index", True, "every file of it reads" if thorough else "it opens")
    if report.unfinished:
        note("index", False, _count(len(report.unfinished), "unfinished file"))
    twice = [i for i, n in report.ids.items() if n > 1]
    extra = set(report.ids) - ids - waiting
    missing = ids - set(report.ids) - waiting
    if twice:
        note("index", False, f"{_count(len(twice), 'story')} indexed more than once")
    if extra:
        note("index", False, f"{_count(len(extra), 'story')} in it, not in the archive")
    if missing:
        note("index", False, f"{_count(len(missing), 'story')} missing from it")
    if waiting:
        note("index", False, f"{_count(len(waiting), 'story')} waiting to be indexed")
    if not (twice or extra or missing or waiting):
        note("index", True, "every story indexed once, and nothing else")


def repair(
    store: Store,
    archive_index: ArchiveIndex,
    rebuild: Callable[[], int],
    catch_up: Callable[[], int],
) -> list[str]:
    """Repair what `check` finds without losing a story; return what was done.

    `rebuild` builds a whole new index from the archive; `catch_up` applies the
    archive's changes the index does not hold yet. The caller holds the
    archive's write lock.
    """
    done: list[str] = []
    if store.problems():
        store.repair()
        done.append("rebuilt the archive's SQLite indexes and section counts")
    report = archive_index.inspect(thorough=True)
    if report.stale:
        archive_index.remove_stale()
        done.append(f"removed {_count(len(report.stale), 'stale generation')}")
    if report.generation is None or report.damage:
        count = rebuild()
        return [*done, f"rebuilt the search index from the archive: {count:,} stories"]
    if report.unfinished:
        archive_index.discard_unfinished()
        done.append(f"removed {_count(len(report.unfinished), 'unfinished file')}")
    ids = store.ids()
    twice = {i for i, n in report.ids.items() if n > 1}
    extra = set(report.ids) - ids
    missing = ids - set(report.ids)
    if twice or extra:
        archive_index.delete(twice | extra)
        done.append(f"removed {_count(len(twice | extra), 'wrong index entry')}")
    if twice or missing:
        # Stories indexed twice were just removed whole: they go back in once
        # (logged as changes, which catch_up applies).
        store.mark_pending(twice | missing)
    indexed = catch_up()
    if indexed:
        done.append(f"indexed {_count(indexed, 'story')} that it lacked")
    return done


def repair_media(store: Store, media: MediaFolder) -> list[str]:
    """Forget kept pictures whose files are gone or damaged, so that the next run
    fetches them again, and remove files no story names."""
    report = inspect_media(store, media, thorough=True)
    done = []
    if report.missing:
        store.forget_pictures(sorted(report.missing))
        for digest in report.missing:
            media.remove(digest)
        done.append(
            f"forgot {_count(len(report.missing), 'picture')} whose file was lost:"
            " the next import or pull fetches them again"
        )
    for digest in report.strays:
        media.remove(digest)
    if report.strays:
        done.append(f"removed {_count(len(report.strays), 'file')} no story names")
    return done


def _count(n: int, noun: str) -> str:
    plural = "stories" if noun == "story" else f"{noun}s"
    return f"{n:,} {noun if n == 1 else plural}"
