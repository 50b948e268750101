"""The `reader` command: import articles, rebuild the search index, serve the site."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from .extensions import get_index, timezone
from .importer import ImportFailed, catch_up, import_file
from .locking import WriterBusy
from .locking import exclusive_writer as archive_lock
from .models import Article, SaveCounts
from .search import IndexBusy
from .store import Store, open_store

POOL_THRESHOLD = 1_000_000  # bytes of import files


def demo_files(app: Flask) -> list[Path]:
    """Return the bundled demo archive's files."""
    return sorted(Path(app.config["DEMO_DIR"]).glob("*.jsonl.gz"))


@contextmanager
def exclusive_writer(app: Flask) -> Iterator[None]:
    """Hold the archive's write lock: one import or reindex at a time.

    What a killed import or reindex left half-built goes first.
    """
    try:
        with archive_lock(app.config["DATABASE"]):
            app.extensions["readerapp.index"].remove_stale()
            yield
    except WriterBusy as busy:
        raise click.ClickException(str(busy)) from None


def run_import(paths: Iterable[Path]) -> tuple[SaveCounts, list[ImportFailed]]:
    """Import each file all-or-nothing, then bring the search index up to date."""
    paths = list(paths)
    total = SaveCounts()
    failures: list[ImportFailed] = []
    store = open_store(current_app.config["DATABASE"])
    workers = current_app.config["IMPORT_WORKERS"] or os.cpu_count() or 1
    big = sum(p.stat().st_size for p in paths if p.exists()) > POOL_THRESHOLD
    # Sanitising dominates an import; a small one is quicker without a pool.
    pool = ProcessPoolExecutor(workers) if workers > 1 and big else None
    try:
        for path in paths:
            size = path.stat().st_size if path.exists() else 0
            with click.progressbar(
                length=size, label=f"Importing {path.name}", file=sys.stderr
            ) as bar:
                try:
                    counts = import_file(store, path, timezone(), pool, bar.update)
                except ImportFailed as failure:
                    failures.append(failure)
                    continue
            total.added += counts.added
            total.updated += counts.updated
            total.unchanged += counts.unchanged
        if pool:
            pool.shutdown()
            pool = None
        _index_pending(store)
    finally:
        store.close()
        if pool:
            pool.shutdown(cancel_futures=True)
    return total, failures


def _index_pending(store: Store) -> None:
    started = time.perf_counter()
    try:
        indexed = catch_up(store, get_index())
    except IndexBusy as busy:
        raise click.ClickException(
            f"{busy}; the articles are saved and will be "
            "indexed by the next import or reindex"
        ) from None
    except Exception as error:
        # The articles are stored and stay marked pending: nothing is lost.
        click.secho(
            f"warning: search index not updated ({error}); {store.pending_count()}"
            " articles will be indexed by the next import or `reader reindex`",
            fg="yellow",
            err=True,
        )
    else:
        if indexed:
            seconds = time.perf_counter() - started
            message = f"Indexed {indexed} articles for search in {seconds:.1f} s."
            click.echo(message, err=True)


@click.command("import")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--demo", is_flag=True, help="Import the bundled demo archive.")
@with_appcontext
def import_command(files: tuple[Path, ...], demo: bool) -> None:
    """Import articles from JSON Lines files (plain or .gz)."""
    paths = [*files, *(demo_files(current_app) if demo else [])]
    if not paths:
        raise click.UsageError("name at least one FILE, or use --demo")
    with exclusive_writer(current_app):
        counts, failures = run_import(paths)
    for failure in failures:
        click.secho(f"error: {failure}", fg="red", err=True)
    click.echo(
        f"{counts.added} added, {counts.updated} updated, {counts.unchanged} unchanged,"
        f" {len(failures)} file{'s' if len(failures) != 1 else ''} rejected"
    )
    if failures:
        sys.exit(1)


@click.command("reindex")
@with_appcontext
def reindex_command() -> None:
    """Rebuild the search index from the archive and swap it in when complete."""
    with exclusive_writer(current_app):
        store = open_store(current_app.config["DATABASE"])
        archive_index = get_index()
        try:
            total = store.article_count()
            with click.progressbar(
                length=total, label="Indexing", file=sys.stderr
            ) as bar:

                def counted() -> Iterator[Article]:
                    for article in store.articles():
                        bar.update(1)
                        yield article

                count = archive_index.rebuild(counted(), expected=total)
            store.mark_indexed()
        except IndexBusy as busy:
            raise click.ClickException(str(busy)) from None
        finally:
            store.close()
    click.echo(f"Search index rebuilt: {count} articles.")


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
        store = open_store(app.config["DATABASE"])
        empty = store.article_count() == 0
        store.close()
        if empty:
            with exclusive_writer(app):
                counts, failures = run_import(demo_files(app))
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
    serve(
        app,
        host=host,
        port=port,
        threads=threads,
        connection_limit=connections,
        ident="readerapp",
    )


def serving_capacity(threads: int, connections: int) -> tuple[int, int]:
    """Return waitress threads and connection limit, choosing for the machine at 0.

    Pages are mostly Python work under one lock (the GIL), so threads beyond a few
    per core add queueing, not speed; they still cover waits on SQLite and slow
    clients. Idle keep-alive connections cost little, so a spike may queue many.
    """
    cores = os.cpu_count() or 1
    threads = threads or 4 * cores
    return threads, connections or max(100, 50 * threads)


def init_app(app: Flask) -> None:
    """Make the commands available under `flask --app app` too."""
    app.cli.add_command(import_command)
    app.cli.add_command(reindex_command)
    app.cli.add_command(serve_command)


def _create_app() -> Flask:
    from . import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False)
def main() -> None:
    """Run readerapp: import articles, rebuild the search index, serve the site."""
