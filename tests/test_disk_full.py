"""Out of space: an import or reindex that fills the disk stops with a clear message,
loses nothing, and leaves the archive and the index as they were (#13).

Each test runs `reader` in a user and mount namespace of its own (`unshare`) with a
small tmpfs mounted over the folder that holds the archive or the index, filled
until only a little room is left: a real ENOSPC, from the kernel, for SQLite and
Whoosh alike.
"""

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ARTICLES, record

# A full disk under a SQLite file (a PostgreSQL server's disk is its own).
pytestmark = [pytest.mark.smalldisk, pytest.mark.sqlite_only]

READER = Path(sys.executable).with_name("reader")
SCRIPT = r"""
set -eu
saved=$(mktemp -d)
cp -a "$SMALL"/. "$saved"/
mount -t tmpfs -o size=64m tmpfs "$SMALL"
cp -a "$saved"/. "$SMALL"/
rm -rf "$saved"
free=$(df --output=avail -B1 "$SMALL" | tail -1)
if [ "$free" -gt "$ROOM" ]; then head -c $((free - ROOM)) /dev/zero > "$SMALL/.filler"; fi
set +e
"$@" > "$OUTPUT" 2>&1
echo $? > "$STATUS"
rm -f "$SMALL/.filler"
cp -a "$SMALL"/. "$AFTER"/
"""


def on_small_disk(
    tmp_path: Path, small: Path, room: int, *args: str, **settings: Path
) -> tuple[int, str]:
    """Run `reader ARGS` with `small` on a full disk but `room` bytes; return its
    exit status and output. What `small` holds afterwards replaces its contents."""
    after = tmp_path / "after"
    shutil.rmtree(after, ignore_errors=True)
    after.mkdir()
    output, status = tmp_path / "output.txt", tmp_path / "status.txt"
    env = {
        "PATH": "/usr/bin:/bin",
        "SMALL": str(small),
        "ROOM": str(room),
        "AFTER": str(after),
        "OUTPUT": str(output),
        "STATUS": str(status),
        **{f"READERAPP_{key}": str(value) for key, value in settings.items()},
    }
    subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "bash", "-c", SCRIPT,
         "small-disk", READER, *args],
        env=env,
        check=True,
        timeout=300,
    )  # fmt: skip
    shutil.rmtree(small)
    shutil.copytree(after, small)
    return int(status.read_text()), output.read_text()


def write_batch(path: Path) -> None:
    stories = [
        record(
            f"full-{n}",
            f"Cargo manifest {n}",
            f"Containers listed as manifest{n:04} arrive on the morning tide. " * 40,
            published=f"2025-03-{n % 28 + 1:02}",
        )
        for n in range(120)
    ]
    path.write_text("".join(json.dumps(s) + "\n" for s in stories), encoding="utf-8")


def state(make_app, tmp_path: Path, **settings: Path) -> dict:
    """What readers see: the stories kept and what the index finds."""
    app = make_app(tmp_path / "look", **settings)
    client = app.test_client()
    with sqlite3.connect(settings["DATABASE"]) as db:
        stories = db.execute("SELECT count(*) FROM article").fetchone()[0]
    found = client.get("/api/search?q=harbour").get_json()["total"]
    manifest = client.get("/api/search?q=manifest0007").get_json()["total"]
    check = app.test_cli_runner().invoke(args=["check"])
    return {
        "stories": stories,
        "harbour": found,
        "manifest": manifest,
        "check": check.exit_code,
        "pending": "waiting to be indexed" in check.output,
    }


def test_an_import_that_fills_the_archive_disk_stores_nothing_of_the_file(
    tmp_path, make_app
):
    small = tmp_path / "small"
    settings = {"DATABASE": small / "archive.sqlite3", "INDEX_DIR": tmp_path / "index"}
    app = make_app(tmp_path, **settings)
    assert app.test_cli_runner().invoke(args=["import", str(ARTICLES)]).exit_code == 0
    before = state(make_app, tmp_path, **settings)
    batch = tmp_path / "batch.jsonl"
    write_batch(batch)

    status, output = on_small_disk(
        tmp_path, small, 48_000, "import", str(batch), **settings
    )
    assert status == 1
    assert "is full; nothing of this file was stored" in output
    assert "Free some space, then import it again." in output
    assert "Traceback" not in output
    assert (
        state(make_app, tmp_path, **settings)
        == before
        == {
            "stories": 11,
            "harbour": before["harbour"],
            "manifest": 0,
            "check": 0,
            "pending": False,
        }
    )

    status, output = on_small_disk(
        tmp_path, small, 20_000_000, "import", str(batch), **settings
    )
    assert status == 0, output
    assert "120 added" in output
    assert state(make_app, tmp_path, **settings)["manifest"] == 1


def test_an_import_that_fills_the_index_disk_keeps_the_index_as_it_was(
    tmp_path, make_app
):
    small = tmp_path / "small"
    settings = {"DATABASE": tmp_path / "archive.sqlite3", "INDEX_DIR": small / "index"}
    app = make_app(tmp_path, **settings)
    assert app.test_cli_runner().invoke(args=["import", str(ARTICLES)]).exit_code == 0
    before = state(make_app, tmp_path, **settings)
    batch = tmp_path / "batch.jsonl"
    write_batch(batch)

    status, output = on_small_disk(
        tmp_path, small, 24_000, "import", str(batch), **settings
    )
    assert status == 1
    assert "the disk holding the search index" in output
    assert "the search index is as it was, and the 120 stories it lacks" in output
    assert "Traceback" not in output
    after = state(make_app, tmp_path, **settings)
    assert after["harbour"] == before["harbour"] and after["manifest"] == 0
    assert after["pending"], "the stories are kept, waiting for the index"
    generation = next((small / "index").glob("gen-*"))
    assert not [p for p in generation.iterdir() if p.name.endswith(".tmp")]

    status, output = on_small_disk(
        tmp_path, small, 20_000_000, "import", str(batch), **settings
    )
    assert status == 0, output
    assert "120 unchanged" in output and "Indexed 120 articles" in output
    assert state(make_app, tmp_path, **settings) == {
        **before,
        "stories": 131,
        "manifest": 1,
    }


def test_a_reindex_that_fills_the_disk_leaves_the_index_in_use(tmp_path, make_app):
    small = tmp_path / "small"
    settings = {"DATABASE": tmp_path / "archive.sqlite3", "INDEX_DIR": small / "index"}
    app = make_app(tmp_path, **settings)
    batch = tmp_path / "batch.jsonl"
    write_batch(batch)
    imported = app.test_cli_runner().invoke(args=["import", str(ARTICLES), str(batch)])
    assert imported.exit_code == 0
    before = state(make_app, tmp_path, **settings)

    status, output = on_small_disk(tmp_path, small, 24_000, "reindex", **settings)
    assert status == 1
    assert "is full; the index in use is as it was" in output
    assert "Traceback" not in output
    assert state(make_app, tmp_path, **settings) == before
    assert len(list((small / "index").glob("gen-*"))) == 1
