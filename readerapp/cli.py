"""The `reader` command: import articles, serve the site."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from .extensions import timezone
from .importer import ImportFailed, import_file
from .models import SaveCounts
from .store import open_store

POOL_THRESHOLD = 1_000_000  # bytes of import files


def demo_files(app: Flask) -> list[Path]:
    """Return the bundled demo archive's files."""
    return sorted(Path(app.config["DEMO_DIR"]).glob("*.jsonl.gz"))


def run_import(paths: Iterable[Path]) -> tuple[SaveCounts, list[ImportFailed]]:
    """Import each file in turn, each all-or-nothing, and report as it goes."""
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
    finally:
        store.close()
        if pool:
            pool.shutdown(cancel_futures=True)
    return total, failures


@click.command("import")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--demo", is_flag=True, help="Import the bundled demo archive.")
@with_appcontext
def import_command(files: tuple[Path, ...], demo: bool) -> None:
    """Import articles from JSON Lines files (plain or .gz)."""
    paths = [*files, *(demo_files(current_app) if demo else [])]
    if not paths:
        raise click.UsageError("name at least one FILE, or use --demo")
    counts, failures = run_import(paths)
    for failure in failures:
        click.secho(f"error: {failure}", fg="red", err=True)
    click.echo(
        f"{counts.added} added, {counts.updated} updated, {counts.unchanged} unchanged,"
        f" {len(failures)} file{'s' if len(failures) != 1 else ''} rejected"
    )
    if failures:
        sys.exit(1)


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
            counts, failures = run_import(demo_files(app))
            if failures:
                raise click.ClickException(str(failures[0]))
            click.echo(f"Demo archive loaded: {counts.added} articles.")
    host = host or app.config["SERVE_HOST"]
    port = port or app.config["SERVE_PORT"]
    threads = threads or app.config["SERVE_THREADS"]
    click.echo(f"Serving on http://{host}:{port} with {threads} threads (Ctrl+C stops)")
    serve(app, host=host, port=port, threads=threads, ident="readerapp")


def init_app(app: Flask) -> None:
    """Make the commands available under `flask --app app` too."""
    app.cli.add_command(import_command)
    app.cli.add_command(serve_command)


def _create_app() -> Flask:
    from . import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False)
def main() -> None:
    """Run readerapp: import articles and serve the site."""
