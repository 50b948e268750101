"""Backups (#13): `reader backup` while the site serves and an import runs, and
`reader restore` of it into a fresh folder, with every story back and findable."""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import Result
from flask import Flask
from markupsafe import escape

from conftest import import_records, record
from readerapp.store import Store, open_copy, open_store

# `reader backup` copies a SQLite file; on PostgreSQL it says to use pg_dump
# (test_store_engines.py).
pytestmark = pytest.mark.sqlite_only
READER = Path(sys.executable).with_name("reader")
STOP_AT = Path(__file__).with_name("stop_at.py")
FISH = "/news/harbour-town/fish-market-moves-to-the-old-customs-house"
LARGE = 1_000  # stories in the file imported while backups are taken


def environment(folder: Path, **settings: str) -> dict[str, str]:
    return {
        **os.environ,
        "READERAPP_DATABASE": str(folder / "archive.sqlite3"),
        "READERAPP_FETCH_PICTURES": "false",
        "READERAPP_INDEX_DIR": str(folder / "index"),
        "READERAPP_IMPORT_WORKERS": "2",
        **{f"READERAPP_{name}": value for name, value in settings.items()},
    }


def reader(folder: Path, *args: str, **settings: str) -> subprocess.CompletedProcess:
    """Run the `reader` console script on the archive in folder."""
    return subprocess.run(
        [READER, *args],
        env=environment(folder, **settings),
        capture_output=True,
        text=True,
        timeout=300,
    )


def run(app: Flask, *args: str) -> Result:
    """Run a `reader` command in this process, on app's archive."""
    return app.test_cli_runner().invoke(args=list(args))


def archive_ids(folder: Path) -> set[str]:
    store = open_store(folder / "archive.sqlite3")
    try:
        return store.ids()
    finally:
        store.close()


def backed_up(folder: Path) -> set[str]:
    """Return the ids of the articles a backup holds, having checked it whole."""
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    copy = folder / "archive.sqlite3"
    assert manifest["sha256"] == hashlib.sha256(copy.read_bytes()).hexdigest()
    store = open_copy(copy)
    try:
        assert store.problems() == []
        ids = store.ids()
    finally:
        store.close()
    assert manifest["articles"] == len(ids)
    return ids


class Reading(threading.Thread):
    """Ask the site for pages, one round after another, until told to stop."""

    PATHS = ("/", "/news/harbour-town/", FISH, "/search?q=ferry")

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.stopping = threading.Event()
        self.answers: list[int | str] = []

    def run(self) -> None:
        while True:
            for path in self.PATHS:
                try:
                    with urllib.request.urlopen(self.base + path, timeout=60) as page:
                        self.answers.append(page.status)
                except urllib.error.HTTPError as error:
                    self.answers.append(error.code)
                except OSError as error:
                    self.answers.append(str(error))
            if self.stopping.is_set():
                return

    def stop(self) -> list[int | str]:
        self.stopping.set()
        self.join(timeout=120)
        return self.answers


def test_backups_taken_while_an_import_runs_and_the_site_serves_are_consistent(
    app, live_server, tmp_path
):
    large = [
        record(
            f"large-{n}",
            f"Tide table {n}",
            f"The pilots logged berth{n:04} at noon.",
            section=("Harbour Town", "Science", "Port")[n % 3],
            published=f"2025-03-{n % 28 + 1:02}T{n % 24:02}:00:00+00:00",
        )
        for n in range(LARGE)
    ]
    path = tmp_path / "large.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in large), encoding="utf-8")
    before = archive_ids(tmp_path)
    site = Reading(live_server)
    site.start()
    # The import stops itself halfway through storing the file, inside its one
    # transaction, holding the archive's write lock.
    importing = subprocess.Popen(
        [sys.executable, STOP_AT, "storing", str(LARGE // 2), "import", str(path)],
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _, status = os.waitpid(importing.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), importing.stdout.read()
        middle = reader(tmp_path, "backup", str(tmp_path / "middle"))
        assert middle.returncode == 0, middle.stderr
        importing.send_signal(signal.SIGCONT)
        racing = reader(tmp_path, "backup", str(tmp_path / "racing"))
        assert racing.returncode == 0, racing.stderr
        output = importing.communicate(timeout=300)[0]
    finally:
        if importing.poll() is None:
            importing.kill()
            importing.communicate()
    assert importing.returncode == 0, output
    after = reader(tmp_path, "backup", str(tmp_path / "after"))
    assert after.returncode == 0, after.stderr
    answers = site.stop()

    assert answers and set(answers) == {200}
    imported = {story["id"] for story in large}
    assert before and imported.isdisjoint(before)
    assert backed_up(tmp_path / "middle") == before
    # An import is all-or-nothing per file: a copy holds all of it or none of it.
    assert backed_up(tmp_path / "racing") in (before, before | imported)
    assert backed_up(tmp_path / "after") == before | imported


def test_a_restore_into_a_fresh_folder_brings_every_story_back_at_its_url_and_in_search(
    app, make_app, tmp_path
):
    backup = tmp_path / "backups" / "monday"
    taken = reader(tmp_path, "backup", str(backup), SITE_NAME="Harbour Gazette")
    assert taken.returncode == 0, taken.stderr
    assert f"Backed up 11 articles to {backup}" in taken.stdout
    for name in ("archive.sqlite3", "config.py", "manifest.json", "RESTORE.txt"):
        assert name in taken.stdout and (backup / name).is_file()
    settings = (backup / "config.py").read_text("utf-8")
    assert "SITE_NAME = 'Harbour Gazette'" in settings
    assert "DATABASE =" not in settings and "INDEX_DIR =" not in settings
    assert "reader restore" in (backup / "RESTORE.txt").read_text("utf-8")

    fresh = tmp_path / "fresh"
    restored = reader(fresh, "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert "Restored 11 articles" in restored.stdout
    assert "Search index rebuilt: 11 articles" in restored.stdout
    assert "these differ here: SITE_NAME" in restored.stdout
    (fresh / "instance").mkdir()
    shutil.copy(backup / "config.py", fresh / "instance" / "config.py")
    again = make_app(fresh)
    assert again.config["SITE_NAME"] == "Harbour Gazette"

    store = open_store(tmp_path / "archive.sqlite3")
    articles = list(store.articles())
    store.close()
    original, client = app.test_client(), again.test_client()
    assert len(articles) == 11
    for article in articles:
        url = f"/news/{article.section.slug}/{article.slug}"
        assert original.get(url).status_code == 200
        page = client.get(url)
        assert page.status_code == 200
        assert f">{escape(article.headline)}</h1>" in page.text
        word = max(re.findall(r"[^\W\d_]{4,}", article.headline), key=len)
        found = client.get(f"/api/search?q={quote(word)}").json
        assert url in [hit["url"] for hit in found["hits"]], word


def test_backup_refuses_a_folder_that_is_not_empty(app, tmp_path):
    dest = tmp_path / "backups"
    dest.mkdir()
    (dest / "notes.txt").write_text("keep me")
    result = run(app, "backup", str(dest))
    assert result.exit_code == 1
    assert f"{dest} already exists and is not an empty folder" in result.output
    assert [p.name for p in dest.iterdir()] == ["notes.txt"]
    assert not list(tmp_path.glob(".backups*"))


def test_a_backup_whose_copy_fails_its_check_leaves_no_folder(
    app, tmp_path, monkeypatch
):
    monkeypatch.setattr(Store, "problems", lambda self: ["page 7 is never used"])
    result = run(app, "backup", str(tmp_path / "monday"))
    assert result.exit_code == 1
    assert "fails SQLite's integrity check: page 7 is never used" in result.output
    assert "no backup was written" in result.output
    assert not list(tmp_path.glob("*monday*"))


@pytest.fixture
def other_backup(make_app, tmp_path) -> Path:
    """A backup of another archive, of one story."""
    other = make_app(tmp_path / "other")
    story = record("other-1", "Lifeboat crew honoured", "The crew saved nine.")
    import_records(other, tmp_path / "other" / "one.jsonl", story)
    result = run(other, "backup", str(tmp_path / "backup"))
    assert result.exit_code == 0, result.output
    return tmp_path / "backup"


def test_restore_over_an_archive_that_holds_articles_needs_force(
    app, other_backup, tmp_path
):
    before = archive_ids(tmp_path)
    refused = run(app, "restore", str(other_backup))
    assert refused.exit_code == 1
    assert "holds 11 articles" in refused.output
    assert "nothing was restored. Run it again with --force" in refused.output
    assert archive_ids(tmp_path) == before

    forced = run(app, "restore", "--force", str(other_backup))
    assert forced.exit_code == 0, forced.output
    client = app.test_client()
    assert client.get(FISH).status_code == 404
    assert client.get("/news/desk/lifeboat-crew-honoured").status_code == 200
    hits = client.get("/api/search?q=lifeboat").json["hits"]
    assert [hit["url"] for hit in hits] == ["/news/desk/lifeboat-crew-honoured"]


def _flip(backup: Path) -> None:
    copy = backup / "archive.sqlite3"
    data = bytearray(copy.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    copy.write_bytes(data)


def _break_and_rehash(backup: Path) -> None:
    # Garbles the schema's page past the file header, then makes the manifest agree.
    copy = backup / "archive.sqlite3"
    data = bytearray(copy.read_bytes())
    data[100:400] = b"\xa5" * 300
    copy.write_bytes(data)
    manifest = json.loads((backup / "manifest.json").read_text())
    manifest["sha256"] = hashlib.sha256(data).hexdigest()
    (backup / "manifest.json").write_text(json.dumps(manifest))


def _drop_manifest(backup: Path) -> None:
    (backup / "manifest.json").unlink()


@pytest.mark.parametrize(
    "damage, message",
    [
        (_flip, "does not match the checksum in manifest.json"),
        (_break_and_rehash, "fails SQLite's integrity check"),
        (_drop_manifest, "is not a backup: it has no manifest.json"),
    ],
)
def test_restore_refuses_a_damaged_backup_and_changes_nothing(
    app, other_backup, tmp_path, damage, message
):
    damage(other_backup)
    archive = tmp_path / "archive.sqlite3"
    before = archive.read_bytes()
    result = run(app, "restore", "--force", str(other_backup))
    assert result.exit_code == 1
    assert message in result.output and "nothing was restored" in result.output
    assert archive.read_bytes() == before
    assert not list(tmp_path.glob("*.restoring"))
    assert app.test_client().get(FISH).status_code == 200


def test_restore_refuses_while_the_site_serves_the_archive(
    app, live_server, other_backup, tmp_path
):
    with urllib.request.urlopen(live_server + FISH) as page:
        assert page.status == 200
    result = run(app, "restore", "--force", str(other_backup))
    assert result.exit_code == 1
    assert "is open in another process" in result.output
    assert "stop it, restore, then start it again" in result.output
    with urllib.request.urlopen(live_server + FISH) as page:
        assert page.status == 200
    assert not list(tmp_path.glob("*.restoring"))
