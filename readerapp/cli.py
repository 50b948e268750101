"""The `reader` command: import articles, rebuild the search index, serve the site."""

from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from . import backup, collecting, curation, following, integrity, sections
from .changes import IndexFollower
from .extensions import cache, get_archive, get_index, timezone
from .importer import ImportFailed, Rules, catch_up, import_file, index_behind
from .locking import WriterBusy
from .locking import exclusive_writer as archive_lock
from .models import Article, SaveCounts
from .search import IndexBusy, IndexFull, IndexUnavailable
from .sources import Reading
from .sources.fetch import Fetcher, user_agent
from .store import (
    ArchiveDamaged,
    ArchiveFull,
    ArchiveUnreachable,
    Store,
    migrate,
    open_store,
)

POOL_THRESHOLD = 1_000_000  # bytes of import files


def demo_files(app: Flask) -> list[Path]:
    """Return the bundled demo archive's files."""
    return sorted(Path(app.config["DEMO_DIR"]).glob("*.jsonl.gz"))


@contextmanager
def exclusive_writer(app: Flask, tidy: bool = True) -> Iterator[None]:
    """Hold the archive's write lock: one import or reindex at a time.

    With `tidy`, what a killed import or reindex left half-built goes first.
    """
    try:
        with archive_lock(app.extensions["readerapp.archive"]):
            if tidy:
                app.extensions["readerapp.index"].remove_stale()
            yield
    except WriterBusy as busy:
        raise click.ClickException(str(busy)) from None


def open_archive(app: Flask) -> Store:
    """Open the archive, or stop with what to do if its file is damaged or its
    server cannot be reached."""
    try:
        return open_store(app.extensions["readerapp.archive"])
    except ArchiveDamaged as damaged:
        raise click.ClickException(
            f"{damaged}. Restore the latest backup (`reader restore`)."
        ) from None
    except ArchiveUnreachable as unreachable:
        raise click.ClickException(
            f"cannot reach the archive's database: {unreachable}"
        ) from None


def import_rules(app: Flask, demo: bool = False) -> Rules:
    """Return how stories are dated and put in sections here (the demo's own map)."""
    demo_map = Path(app.config["DEMO_DIR"], "sections.toml")
    try:
        section_map = sections.load(
            demo_map if demo and demo_map.exists() else app.config["SECTION_MAP"],
            app.config["SECTION_FALLBACK"],
        )
    except sections.SectionMapInvalid as invalid:
        raise click.ClickException(str(invalid)) from None
    return Rules(zone=timezone(), sections=section_map)


def source_reading(app: Flask) -> Reading:
    """Return what the formats need to know: the zone, WordPress's story types."""
    return Reading(
        zone=timezone(),
        post_types=frozenset({"post", *app.config["WORDPRESS_POST_TYPES"]}),
    )


def _size(path: Path) -> int:
    """Return the bytes of a file, or of the files in a folder (0 if missing)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size if path.exists() else 0


def run_import(
    paths: Iterable[Path], rules: Rules | None = None
) -> tuple[SaveCounts, list[ImportFailed]]:
    """Import each file all-or-nothing, then bring the search index up to date."""
    paths = list(paths)
    rules = rules or import_rules(current_app)
    reading = source_reading(current_app)
    total = SaveCounts()
    failures: list[ImportFailed] = []
    store = open_archive(current_app)
    stored_after = store.latest_article_change()
    workers = _workers(current_app)
    big = sum(_size(path) for path in paths) > POOL_THRESHOLD
    # Sanitising dominates an import; a small one is quicker without a pool.
    pool = ProcessPoolExecutor(workers) if workers > 1 and big else None
    try:
        for path in paths:
            size = _size(path)
            with click.progressbar(
                length=size, label=f"Importing {path.name}", file=sys.stderr
            ) as bar:
                try:
                    counts = import_file(store, path, rules, pool, bar.update, reading)
                except ImportFailed as failure:
                    failures.append(failure)
                    continue
                except ArchiveFull as full:
                    earlier = total.added + total.updated
                    raise click.ClickException(
                        f"{path}: {full}; nothing of this file was stored."
                        + (
                            f" The {earlier} stories of the files before it are,"
                            " and the next import or `reader reindex` indexes them."
                            if earlier
                            else ""
                        )
                        + " Free some space, then import it again."
                    ) from None
            total.add(counts)
        if pool:
            pool.shutdown()
            pool = None
        _index_pending(store, stored_after)
        collect_pictures(current_app, store)
    finally:
        store.close()
        if pool:
            pool.shutdown(cancel_futures=True)
    return total, failures


def _workers(app: Flask) -> int:
    """Return how many processes an import or reindex may share its work among."""
    return app.config["IMPORT_WORKERS"] or os.cpu_count() or 1


def _index_pending(store: Store, stored_after: int | None = None) -> None:
    """Index what the archive has and this node's index lacks; choose "Also read"
    for that, and for every change after `stored_after` (the log's number before
    the caller stored anything)."""
    started = time.perf_counter()
    try:
        indexed = catch_up(
            store, get_index(), _workers(current_app), chosen_since=stored_after
        )
    except IndexBusy as busy:
        raise click.ClickException(
            f"{busy}; the articles are saved and will be "
            "indexed by the next import or reindex"
        ) from None
    except IndexFull as full:
        raise click.ClickException(
            f"{full}; the search index is as it was, and the {_lacking(store)}"
            " stories it lacks are stored. Free some space, then run `reader import`"
            " or `reader reindex` to index them."
        ) from None
    except IndexUnavailable as damaged:
        raise click.ClickException(
            f"the search index cannot be read ({damaged}); the stories are stored."
            " Run `reader reindex` to rebuild it from the archive."
        ) from None
    except Exception as error:
        # The changes are logged and the index records where it stopped: the next
        # catch-up (an import, a reindex, a serving node's follower) applies them.
        click.secho(
            f"warning: search index not updated ({error}); {_lacking(store)}"
            " articles will be indexed by the next import or `reader reindex`",
            fg="yellow",
            err=True,
        )
    else:
        if indexed:
            seconds = time.perf_counter() - started
            message = f"Indexed {indexed} articles for search in {seconds:.1f} s."
            click.echo(message, err=True)


def _lacking(store: Store) -> int:
    """Return how many stories changed after the last change this node's index
    holds (what its next catch-up adds, replaces or takes out)."""
    return len(store.article_changes_since(get_index().last_change() or 0)[0])


@click.command("import")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--demo", is_flag=True, help="Import the bundled demo archive.")
@with_appcontext
def import_command(files: tuple[Path, ...], demo: bool) -> None:
    """Import stories from files: JSON Lines, WordPress exports and REST answers,
    RSS, Atom and JSON feeds, IPTC ninjs (plain or gzipped; a folder's files)."""
    paths = [*files, *(demo_files(current_app) if demo else [])]
    if not paths:
        raise click.UsageError("name at least one FILE, or use --demo")
    with exclusive_writer(current_app):
        counts, failures = run_import(paths, import_rules(current_app, demo))
    for failure in failures:
        click.secho(f"error: {failure}", fg="red", err=True)
    click.echo(summary(counts, len(failures)))
    if failures:
        sys.exit(1)


def summary(counts: SaveCounts, rejected: int) -> str:
    """Return what an import did, in the words `reader import` prints."""
    lines = [
        f"{counts.added} added, {counts.updated} updated, {counts.unchanged} unchanged,"
        f" {rejected} file{'s' if rejected != 1 else ''} rejected"
    ]
    if counts.removed:
        lines.append(
            f"Taken off the site: {counts.removed} (no longer published at their"
            " source; their addresses answer 410 Gone)."
        )
    if counts.skipped:
        skipped = ", ".join(
            f"{n} {reason}" for reason, n in sorted(counts.skipped.items())
        )
        lines.append(f"Skipped, not stories for readers: {skipped}.")
    if counts.undated:
        lines.append(
            f"Dated when imported, having no date of their own: {counts.undated}."
        )
    return "\n".join(lines)


def collect_pictures(
    app: Flask, store: Store, retry_refused: bool = False
) -> collecting.Collected:
    """Fetch and keep the pictures stories show that are not kept yet; say how it
    went. The stories are published already: a failure here loses none of them."""
    if not app.config["FETCH_PICTURES"]:
        return collecting.Collected()
    hosts = frozenset(app.config["PICTURE_ALLOWED_HOSTS"])
    fetcher = Fetcher(
        timeout=float(app.config["PICTURE_TIMEOUT"]),
        attempts=1,
        agent=_agent(app),
        public_only=True,
        allowed_hosts=hosts,
    )
    try:
        collected = collecting.collect_pictures(
            store,
            app.extensions["media"],
            fetcher,
            int(app.config["PICTURE_MAX_BYTES"]),
            retry_refused,
        )
    except OSError as error:
        click.secho(
            f"warning: pictures not kept ({error}); the stories are published, and"
            " the next run fetches their pictures",
            fg="yellow",
            err=True,
        )
        return collecting.Collected()
    if collected.kept or collected.failed:
        line = f"Pictures: {collected.kept} kept"
        if collected.failed:
            line += (
                f", {len(collected.failed)} failed (their stories are published;"
                " `reader pictures` says why)"
            )
        click.echo(line + ".", err=True)
    return collected


def _agent(app: Flask) -> str:
    contact = f"; {app.config['SITE_URL']}" if app.config["SITE_URL"] else ""
    return user_agent(contact)


@click.command("pictures")
@click.option(
    "--retry",
    is_flag=True,
    help="Fetch again every missing picture, those refused before included.",
)
@click.option(
    "--prune", is_flag=True, help="Remove the pictures no story shows any more."
)
@with_appcontext
def pictures_command(retry: bool, prune: bool) -> None:
    """Report the pictures kept on the site and those missing, and why."""
    app = current_app._get_current_object()
    folder = app.extensions["media"]
    if retry or prune:
        with exclusive_writer(app):
            store = open_archive(app)
            try:
                if retry:
                    collect_pictures(app, store, retry_refused=True)
                if prune:
                    unused = store.unused_pictures()
                    store.forget_pictures(unused)
                    for digest in unused:
                        folder.remove(digest)
                    click.echo(f"Removed {len(unused)} pictures no story shows.")
            finally:
                store.close()
    store = open_archive(app)
    try:
        report = store.picture_report()
    finally:
        store.close()
    originals, renditions = folder.usage()
    click.echo(
        f"Kept: {report.kept:,} pictures in {folder.root}"
        f" ({originals / 2**20:,.1f} MB of originals,"
        f" {renditions / 2**20:,.1f} MB of renditions made for readers)"
    )
    if report.unused:
        click.echo(
            f"Shown by no story: {report.unused:,} (`reader pictures --prune`"
            " removes them)"
        )
    if not report.missing:
        click.echo("Missing: none.")
        return
    click.echo(f"Missing: {len(report.missing):,}")
    for missing in report.missing:
        if missing.problem is None:
            why = "not fetched yet: the next import or pull fetches it"
        elif missing.refused:
            why = f"{missing.problem} (not asked for again; --retry does)"
        else:
            why = f"{missing.problem} (asked for again on the next run)"
        click.echo(f"  {missing.url}\n      {why}")


@click.command("reindex")
@with_appcontext
def reindex_command() -> None:
    """Rebuild the search index from the archive and swap it in when complete."""
    with exclusive_writer(current_app):
        store = open_archive(current_app)
        try:
            count = rebuild_index(store)
        except IndexBusy as busy:
            raise click.ClickException(str(busy)) from None
        except IndexFull as full:
            raise click.ClickException(
                f"{full}; the index in use is as it was."
                " Free some space, then run `reader reindex` again."
            ) from None
        finally:
            store.close()
    click.echo(f"Search index rebuilt: {count} articles.")


def rebuild_index(store: Store) -> int:
    """Index every article into a new generation, swap it in; return how many."""
    # Read first: changes made while the articles are read are applied again later.
    last = store.latest_article_change()
    total = store.article_count()
    with click.progressbar(length=total, label="Indexing", file=sys.stderr) as bar:

        def counted() -> Iterator[Article]:
            for article in store.articles():
                bar.update(1)
                yield article

        count = get_index().rebuild(counted(), expected=total, last_change=last)
    store.mark_indexed()
    curation.choose_also_read(store, get_index(), workers=_workers(current_app))
    return count


@click.command("check")
@click.option(
    "--repair", is_flag=True, help="First fix what can be fixed without losing stories."
)
@click.option(
    "--quick", is_flag=True, help="Only open the index: skip reading all of it."
)
@with_appcontext
def check_command(repair: bool, quick: bool) -> None:
    """Check the archive and its search index; exit 1 if something is wrong."""
    database = get_archive().where
    media = current_app.extensions["media"]
    # A check during an import would take the import's work in progress for damage.
    with exclusive_writer(current_app, tidy=False):
        store = open_archive(current_app)
        try:
            if repair:
                index = get_index()
                repairs = integrity.repair(
                    store,
                    index,
                    rebuild=lambda: rebuild_index(store),
                    catch_up=lambda: catch_up(store, index),
                ) + integrity.repair_media(store, media)
                for done in repairs or ["nothing needed repairing"]:
                    click.echo(f"Repaired: {done}.")
            checkup = integrity.check(store, get_index(), not quick, media)
        finally:
            store.close()
    click.echo(f"Archive  {database}: {checkup.articles:,} stories")
    _show(checkup, "archive")
    where = checkup.generation or "none"
    click.echo(f"Index    {where}: {checkup.documents:,} documents")
    _show(checkup, "index")
    click.echo(f"Media    {media.root}: {checkup.pictures:,} pictures")
    _show(checkup, "media")
    if checkup.problems:
        advice = (
            "the archive file is damaged: restore the latest backup (`reader restore`)"
            if any(p.part == "archive" for p in checkup.problems) and repair
            else "`reader check --repair` fixes what it can"
        )
        raise click.ClickException(
            f"{len(checkup.problems)} problem{'s' * (len(checkup.problems) > 1)}"
            f" found in {checkup.seconds:.1f} s; {advice}."
        )
    click.echo(f"No problems found in {checkup.seconds:.1f} s.")


def _show(checkup: integrity.Checkup, part: str) -> None:
    for finding in checkup.findings:
        if finding.part == part:
            mark = "ok     " if finding.ok else click.style("PROBLEM", fg="red")
            click.echo(f"  {mark}  {finding.text}")


@click.command("backup")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
def backup_command(dest: Path) -> None:
    """Back up the archive and its settings into the new folder DEST."""
    # No write lock: the copy is one read transaction, so imports go on meanwhile.
    _refuse_postgresql("backup")
    started = time.perf_counter()
    try:
        written = backup.write(current_app.config["DATABASE"], dest, current_app.config)
    except backup.BackupFailed as failed:
        raise click.ClickException(str(failed)) from None
    manifest = written.manifest
    click.echo(
        f"Backed up {manifest.articles:,} articles to {dest} in"
        f" {time.perf_counter() - started:.1f} s (copy {written.copy_seconds:.1f} s,"
        f" integrity check and checksum {written.check_seconds:.1f} s):"
    )
    for path in written.files:
        click.echo(f"  {path.name:<16} {path.stat().st_size:>14,} bytes")


@click.command("restore")
@click.argument(
    "folder",
    metavar="BACKUP",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option("--force", is_flag=True, help="Replace an archive that holds articles.")
@with_appcontext
def restore_command(folder: Path, force: bool) -> None:
    """Restore a checked backup, then rebuild the search index."""
    _refuse_postgresql("restore")
    started = time.perf_counter()
    database = current_app.config["DATABASE"]
    try:
        manifest = backup.verify(folder)
    except backup.BackupDamaged as damaged:
        raise click.ClickException(f"{damaged}; nothing was restored.") from None
    with exclusive_writer(current_app):
        try:
            store = open_store(database)
            try:
                held = store.article_count()
            finally:
                store.close()
            what = f"holds {held:,} articles"
        except ArchiveDamaged as damaged:
            held, what = 1, f"is damaged ({damaged})"
        if held and not force:
            raise click.ClickException(
                f"{database} {what}; the restore would replace it, so nothing was"
                " restored. Run it again with --force to replace it."
            )
        try:
            backup.restore(folder, manifest, database)
        except (backup.BackupDamaged, backup.ArchiveInUse, OSError) as refused:
            raise click.ClickException(f"{refused}; nothing was restored.") from None
        click.echo(
            f"Restored {manifest.articles:,} articles, backed up {manifest.created},"
            f" to {database}."
        )
        try:
            # A page cache shared with other processes holds the replaced archive.
            cache.clear()
        except Exception as error:
            click.secho(f"warning: page cache not cleared ({error})", fg="yellow")
        store = open_archive(current_app)
        try:
            count = rebuild_index(store)
        except (IndexBusy, IndexFull) as error:
            raise click.ClickException(
                f"{error}; the archive is restored, its search index is not: run"
                " `reader reindex`."
            ) from None
        finally:
            store.close()
    click.echo(
        f"Search index rebuilt: {count:,} articles;"
        f" done in {time.perf_counter() - started:.1f} s."
    )
    _advise_settings(folder)


def _refuse_postgresql(command: str) -> None:
    """Stop a backup or restore of an archive that is not a SQLite file."""
    archive = get_archive()
    if not archive.dialect.file_backups:
        raise click.ClickException(
            f"`reader {command}` copies SQLite archives; {archive.where} is a"
            " PostgreSQL database: back it up and restore it with PostgreSQL's own"
            " tools (pg_dump and pg_restore, or the server's base backups), then run"
            " `reader reindex` on each node."
        )


@click.command("migrate")
@with_appcontext
def migrate_command() -> None:
    """Bring the archive's tables to this version of readerapp (also done on start)."""
    archive = get_archive()
    # Starting the app migrated already (as `reader serve` does); this says what it
    # did, and finds nothing left to do.
    before, after = current_app.extensions["readerapp.schema"]
    try:
        migrate(archive)
    except (ArchiveDamaged, ArchiveUnreachable) as error:
        raise click.ClickException(str(error)) from None
    if before == after:
        click.echo(f"{archive.where}: schema version {after}, up to date.")
    else:
        was = "a new archive" if before < 0 else f"was {before}"
        click.echo(f"{archive.where}: migrated to schema version {after} ({was}).")


def _advise_settings(folder: Path) -> None:
    saved = backup.saved_settings(folder)
    here = current_app.config
    differ = [key for key, value in saved.items() if here.get(key) != value]
    where = Path(current_app.instance_path) / "config.py"
    if differ:
        click.echo(
            f"Settings: {folder / backup.SETTINGS} holds the backed-up site's settings;"
            f" these differ here: {', '.join(differ)}. Copy those the site needs into"
            f" {where}, then start the site."
        )
    else:
        click.echo(
            f"Settings: this site's match the backup's ({folder / backup.SETTINGS});"
            " the site can start."
        )


@click.command("pull")
@click.argument("urls", nargs=-1)
@click.option(
    "--every",
    metavar="INTERVAL",
    help="Keep pulling every INTERVAL (10m, 1h, 90s) until stopped.",
)
@with_appcontext
def pull_command(urls: tuple[str, ...], every: str | None) -> None:
    """Fetch feeds and WordPress sites and import what is new or changed.

    With no URL, pulls every source pulled before (`reader sources` lists them).
    """
    app = current_app._get_current_object()
    wait = _interval(every) if every else None
    while True:
        reports = pull_round(app, list(urls))
        if not reports:
            click.echo("No sources yet: name a feed or a WordPress site to pull.")
        for report in reports:
            click.echo(_said(report))
        if wait is None:
            break
        next_round = datetime.now() + timedelta(seconds=wait)
        click.echo(f"Next pull at {next_round:%H:%M:%S} (Ctrl+C stops).", err=True)
        time.sleep(wait)
    if not all(report.ok for report in reports):
        sys.exit(1)


def _said(report: following.PullReport) -> str:
    asked = f" ({report.requests} request{'s' * (report.requests != 1)})"
    return f"{report.url}: {report.said}" + (asked if report.requests else "")


def _interval(text: str) -> float:
    try:
        return following.interval(text)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--every") from None


def pull_round(app: Flask, urls: list[str]) -> list[following.PullReport]:
    """Pull the sources (all known ones when none are named), then index."""
    with exclusive_writer(app):
        store = open_archive(app)
        try:
            urls = urls or [source.url for source in store.sources()]
            stored_after = store.latest_article_change()
            fetcher = Fetcher(
                timeout=float(app.config["PULL_TIMEOUT"]), agent=_agent(app)
            )
            reports = following.pull_sources(
                store, urls, import_rules(app), source_reading(app), fetcher
            )
            if any(report.counts for report in reports):
                _index_pending(store, stored_after)
            collect_pictures(app, store)
        finally:
            store.close()
    return reports


@click.command("sources")
@click.option("--forget", metavar="URL", help="Stop following this source.")
@with_appcontext
def sources_command(forget: str | None) -> None:
    """List the live sources `reader pull` follows, and how their last pull went."""
    store = open_archive(current_app)
    try:
        if forget:
            if not store.forget_source(forget):
                raise click.ClickException(f"{forget} is not a source followed here")
            click.echo(f"No longer following {forget}; its stories stay.")
            return
        sources = store.sources()
    finally:
        store.close()
    if not sources:
        click.echo(
            "No sources yet: `reader pull URL` follows a feed or a WordPress site."
        )
        return
    for source in sources:
        last = f"{source.attempted:%Y-%m-%d %H:%M} UTC" if source.attempted else "never"
        click.echo(f"{source.url}  ({source.kind})")
        click.echo(f"    last pulled {last}: {source.outcome or ''}")
        if source.not_before:
            click.echo(f"    not before {source.not_before:%Y-%m-%d %H:%M} UTC")


@click.command("serve")
@click.option("--host", help="Interface to listen on.  [default: SERVE_HOST]")
@click.option("--port", type=int, help="Port to listen on.  [default: SERVE_PORT]")
@click.option("--threads", type=int, help="Worker threads.  [default: SERVE_THREADS]")
@click.option("--demo", is_flag=True, help="Load the demo archive first if empty.")
@with_appcontext
def serve_command(host: str | None, port: int | None, threads: int | None, demo: bool):
    """Serve the site with waitress."""
    from waitress import serve

    app = current_app._get_current_object()
    if demo:
        store = open_archive(app)
        empty = store.article_count() == 0
        store.close()
        if empty:
            with exclusive_writer(app):
                counts, failures = run_import(
                    demo_files(app), import_rules(app, demo=True)
                )
            if failures:
                raise click.ClickException(str(failures[0]))
            click.echo(f"Demo archive loaded: {counts.added} articles.")
    host = host or app.config["SERVE_HOST"]
    port = port or app.config["SERVE_PORT"]
    threads, connections = serving_capacity(
        threads or app.config["SERVE_THREADS"], app.config["SERVE_CONNECTIONS"]
    )
    click.echo(
        f"Serving on http://{host}:{port} with {threads} threads and up to"
        f" {connections} connections on {os.cpu_count()} cores (Ctrl+C stops)"
    )
    _follow_changes(app)
    if app.config["PULL_EVERY"]:
        wait = _interval(app.config["PULL_EVERY"])
        threading.Thread(
            target=_follow, args=(app, wait), name="reader-pull", daemon=True
        ).start()
        click.echo(f"Pulling the live sources every {app.config['PULL_EVERY']}.")
    # Deprecated, but the only way to keep waitress's main loop from spinning (#16).
    warnings.filterwarnings("ignore", "send_bytes will be removed", DeprecationWarning)
    serve(
        app,
        host=host,
        port=port,
        threads=threads,
        connection_limit=connections,
        send_bytes=SEND_BYTES,
        ident="readerapp",
    )


def _follow_changes(app: Flask) -> None:
    """Keep this node's search index following the archive's changes, whichever
    node wrote them (changes.IndexFollower): caught up now, then within a second."""
    index = get_index()
    follower = IndexFollower(
        get_archive(),
        # Not waiting: an import on this node catching up leaves nothing to take.
        catch_up=lambda store: catch_up(store, index, choose=False, wait=False),
        behind=lambda store: index_behind(store, index),
        say=lambda line: click.echo(
            f"{datetime.now():%H:%M:%S} index: {line}", err=True
        ),
    )
    follower.start()


def _follow(app: Flask, wait: float) -> None:
    """Pull the live sources every `wait` seconds, beside the site, until it stops."""
    while True:
        with app.app_context():
            try:
                lines = [_said(report) for report in pull_round(app, [])]
            except click.ClickException as problem:
                # Another import or reindex is running: the next round comes soon.
                lines = [problem.format_message()]
        for line in lines:
            click.echo(f"{datetime.now():%H:%M:%S} pull: {line}", err=True)
        time.sleep(wait)


# Bytes of a response a waitress worker thread holds before sending them itself;
# smaller responses are sent by the main loop once they are complete. Waitress 3
# sends from the worker at once (1 byte): while a worker sends, the main loop finds
# the socket writable but the buffer locked, and spins, taking the GIL back from
# the worker each time it lets go of it. Measured on two cores (#16,
# docs/benchmarks.md): 100-250 turns of the loop and about 0.5 ms of CPU an
# uncached article, 3 turns with the pages sent whole. Larger than any page.
SEND_BYTES = 256 * 1024


def serving_capacity(threads: int, connections: int) -> tuple[int, int]:
    """Return waitress threads and connection limit, choosing for the machine at 0.

    Pages are mostly Python work under one lock (the GIL), so threads beyond one
    per core add queueing and lock handovers, not speed. Measured side by side on
    two cores (#16, docs/benchmarks.md): with 2 threads instead of 4, uncached
    articles served 7% more pages and cached ones a third lower p99; with 1,
    more still, but one slow request (a search, a new picture size) would hold
    up every other, so never fewer than 2.
    Waitress writes to slow clients itself. Idle keep-alive connections cost
    little, so a spike may queue many.
    """
    cores = os.cpu_count() or 1
    threads = threads or max(2, cores)
    return threads, connections or max(100, 50 * threads)


def init_app(app: Flask) -> None:
    """Make the commands available under `flask --app app` too."""
    app.cli.add_command(import_command)
    app.cli.add_command(reindex_command)
    app.cli.add_command(check_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
    app.cli.add_command(pull_command)
    app.cli.add_command(sources_command)
    app.cli.add_command(pictures_command)
    app.cli.add_command(serve_command)
    app.cli.add_command(migrate_command)


def _create_app() -> Flask:
    from . import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False)
def main() -> None:
    """Run readerapp: import articles, rebuild the search index, serve the site."""
