"""Backups (#13): a folder holding a checked copy of the archive, the settings to
serve it again, a manifest and instructions; and putting such a copy back in place."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import pprint
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from .config import PATH_KEYS, changed_settings
from .store import CopyFailed, Store, connect, open_copy, open_elsewhere, sqlite_version

ARCHIVE = "archive.sqlite3"
SETTINGS = "config.py"
MANIFEST = "manifest.json"
INSTRUCTIONS = "RESTORE.txt"
FORMAT = 1


class BackupFailed(Exception):
    """A backup could not be written, or its copy failed its check; none was kept."""


class BackupDamaged(Exception):
    """A backup folder is incomplete, or its archive copy fails its checks."""


class ArchiveInUse(Exception):
    """Another process (a served site) has the archive open."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a backup holds, as its manifest.json says."""

    created: str  # the moment the copy shows, ISO 8601 UTC
    articles: int
    readerapp_version: str
    sqlite_version: str
    archive: str  # the copy's file name in the folder
    size_bytes: int
    sha256: str
    format: int = FORMAT


@dataclass(frozen=True, slots=True)
class Written:
    """A backup just written: its manifest, files and how long the work took."""

    manifest: Manifest
    files: list[Path]
    copy_seconds: float
    check_seconds: float


def write(database: Path, dest: Path, settings: Mapping[str, Any]) -> Written:
    """Write a backup of the archive and these settings into the new folder dest."""
    if not Path(database).is_file():
        raise BackupFailed(f"there is no archive at {database}")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupFailed(
            f"{dest} already exists and is not an empty folder; name a new folder"
            " (a backup never writes over anything)"
        )
    # Built beside dest and renamed into place whole, so that a backup interrupted
    # or failed never leaves a folder that looks like a good one.
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{dest.name}.partial-"
        partial = Path(tempfile.mkdtemp(prefix=prefix, dir=dest.parent))
    except OSError as error:
        raise BackupFailed(f"cannot write beside {dest}: {error}") from None
    try:
        started = time.perf_counter()
        created = datetime.now(UTC).isoformat(timespec="seconds")
        source = Store(connect(database))
        try:
            source.backup(partial / ARCHIVE)
        finally:
            source.close()
        copied = time.perf_counter()
        articles = _checked(partial / ARCHIVE, BackupFailed)
        manifest = Manifest(
            created=created,
            articles=articles,
            readerapp_version=_version(),
            sqlite_version=sqlite_version(),
            archive=ARCHIVE,
            size_bytes=(partial / ARCHIVE).stat().st_size,
            sha256=_digest(partial / ARCHIVE),
        )
        checked = time.perf_counter()
        (partial / SETTINGS).write_text(settings_file(settings), "utf-8")
        (partial / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2) + "\n")
        (partial / INSTRUCTIONS).write_text(instructions(manifest), "utf-8")
        files = [partial / name for name in (ARCHIVE, SETTINGS, MANIFEST, INSTRUCTIONS)]
        for path in files:
            _sync(path)
        _sync(partial)
        os.replace(partial, dest)
        _sync(dest.parent)
    except (BackupFailed, CopyFailed, OSError) as failed:
        shutil.rmtree(partial, ignore_errors=True)
        raise BackupFailed(f"{failed}; no backup was written") from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return Written(
        manifest=manifest,
        files=[dest / path.name for path in files],
        copy_seconds=copied - started,
        check_seconds=checked - copied,
    )


def verify(folder: Path) -> Manifest:
    """Check a backup's manifest, checksum and SQLite integrity; return its manifest."""
    try:
        manifest = Manifest(**json.loads((folder / MANIFEST).read_text("utf-8")))
    except FileNotFoundError:
        raise BackupDamaged(f"{folder} is not a backup: it has no {MANIFEST}") from None
    except (OSError, ValueError, TypeError) as error:
        raise BackupDamaged(f"{folder / MANIFEST} cannot be read ({error})") from None
    copy = folder / manifest.archive
    if manifest.format != FORMAT or Path(manifest.archive).name != manifest.archive:
        raise BackupDamaged(f"{folder / MANIFEST} is not a manifest this version reads")
    if not copy.is_file():
        raise BackupDamaged(f"the archive copy {copy} is missing")
    if _digest(copy) != manifest.sha256:
        raise BackupDamaged(
            f"{copy} does not match the checksum in {MANIFEST}: it was damaged or"
            " changed after the backup"
        )
    articles = _checked(copy, BackupDamaged)
    if articles != manifest.articles:
        raise BackupDamaged(
            f"{copy} holds {articles} articles, its manifest says {manifest.articles}"
        )
    return manifest


def restore(folder: Path, manifest: Manifest, database: Path) -> None:
    """Put a verified backup's archive in place of the archive at database, whole."""
    # Written beside the archive and renamed over it: a restore that fails or is
    # interrupted leaves the archive as it was.
    beside = database.with_name(f"{database.name}.restoring")
    try:
        shutil.copyfile(folder / manifest.archive, beside)
        if _digest(beside) != manifest.sha256:
            raise BackupDamaged(f"{beside} differs from {folder / manifest.archive}")
        _sync(beside)
        # A served site keeps its connections on the file it opened, and shares
        # the -wal and -shm files by name: replacing the file under it would mix
        # the two archives.
        if open_elsewhere(database):
            raise ArchiveInUse(
                f"the archive {database} is open in another process, most likely"
                " the site (`reader serve`): stop it, restore, then start it again"
            )
        os.replace(beside, database)
        _sync(database.parent)
    finally:
        beside.unlink(missing_ok=True)


def settings_file(settings: Mapping[str, Any]) -> str:
    """Return instance/config.py text holding the settings that differ from defaults."""
    lines = [
        "# Settings of the site this backup was taken from, those that differ from",
        "# readerapp's defaults (readerapp.config.DEFAULTS), as instance/config.py",
        f"# is written. Left out on purpose: {', '.join(PATH_KEYS)}, which name",
        "# places on that machine. Copy what the restored site needs into its",
        "# instance/config.py.",
    ]
    for key, value in changed_settings(settings).items():
        text = pprint.pformat(value, width=80, sort_dicts=False)
        try:
            written = ast.literal_eval(text) == value
        except (ValueError, SyntaxError):
            written = False
        if written:
            lines.append(f"{key} = {text}")
        else:
            kind = type(value).__name__
            lines.append(f"# {key}: a {kind}, not written here; set it by hand")
    return "\n".join(lines) + "\n"


def saved_settings(folder: Path) -> dict[str, Any]:
    """Return the settings a backup's config.py holds (read, never run)."""
    try:
        tree = ast.parse((folder / SETTINGS).read_text("utf-8"))
    except (OSError, SyntaxError, ValueError):
        return {}
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id.isupper():
                try:
                    found[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    continue
    return found


def instructions(manifest: Manifest) -> str:
    """Return RESTORE.txt: what the folder holds and how to restore it."""
    return f"""\
readerapp backup of {manifest.created}: {manifest.articles:,} articles, \
{manifest.size_bytes:,} bytes (readerapp {manifest.readerapp_version}, \
SQLite {manifest.sqlite_version}).

  {ARCHIVE:<16} the archive, a consistent copy that passed SQLite's integrity check
  {SETTINGS:<16} the site's settings that differ from the defaults, paths left out;
  {"":<16} it may hold passwords (a cache's): keep this folder as safe as those
  {MANIFEST:<16} when, how many articles, versions, size, the copy's SHA-256

To restore, on the machine that is to serve it:

  1. Stop the site (`reader serve`) if it runs.
  2. reader restore THIS-FOLDER
     It checks the copy, puts it in place as the archive (the DATABASE setting)
     and rebuilds the search index. An archive that holds articles is replaced
     only with --force.
  3. Copy into that site's instance/config.py what it needs from {SETTINGS}.
  4. Start the site again: reader serve

By hand: check `sha256sum {ARCHIVE}` against {MANIFEST}, copy {ARCHIVE}
to the DATABASE path while the site is stopped, then run `reader reindex`.
"""


def _checked(copy: Path, failure: type[Exception]) -> int:
    """Return how many articles a copy holds; raise failure if it fails its check."""
    store = open_copy(copy)
    try:
        problems = store.problems()
        if problems:
            raise failure(f"{copy} fails SQLite's integrity check: {problems[0]}")
        return store.article_count()
    finally:
        store.close()


def _digest(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _sync(path: Path) -> None:
    """Make a file or folder's contents durable before anyone relies on them."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _version() -> str:
    try:
        return metadata.version("readerapp")
    except metadata.PackageNotFoundError:
        return "unknown"
