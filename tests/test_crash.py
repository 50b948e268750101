"""Crash safety: `kill -9` of `reader import` or `reader reindex` at any point loses
nothing, holds nothing, and leaves the site serving its last good state (#13)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ARTICLES, record

# Crashes of a SQLite archive's writers, found whole by the file's journal.
pytestmark = pytest.mark.sqlite_only
READER = Path(sys.executable).with_name("reader")
STOP_AT = Path(__file__).with_name("stop_at.py")
FISH = "/news/harbour-town/fish-market-moves-to-the-old-customs-house"
NEW_STORIES = 120


def environment(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "READERAPP_DATABASE": str(tmp_path / "archive.sqlite3"),
        "READERAPP_FETCH_PICTURES": "false",
        "READERAPP_INDEX_DIR": str(tmp_path / "index"),
        "READERAPP_IMPORT_WORKERS": "2",
    }


def reader(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [READER, *args],
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )


def new_stories(path: Path) -> list[dict]:
    """Write an import file of stories each findable by a word of its own."""
    stories = [
        record(
            f"crash-{n}",
            f"Night shift report {n}",
            f"The quay crew logged shipment{n:04} before dawn.",
            section=("Harbour Town", "Science", "Port")[n % 3],
            published=f"2025-02-{n % 28 + 1:02}T{n % 24:02}:00:00+00:00",
        )
        for n in range(NEW_STORIES)
    ]
    path.write_text("".join(json.dumps(s) + "\n" for s in stories), encoding="utf-8")
    return stories


def stop_at(tmp_path: Path, point: str, nth: int, *args: str) -> subprocess.Popen:
    """Start `reader` and wait until it has stopped itself at point."""
    process = subprocess.Popen(
        [sys.executable, STOP_AT, point, str(nth), *args],
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    while state(process.pid) != "T":
        if process.poll() is not None:
            raise AssertionError(f"ended before {point}: {process.stdout.read()}")
        assert time.monotonic() < deadline, f"never reached {point}"
        time.sleep(0.05)
    return process


def state(pid: int) -> str | None:
    """Return a process's state letter (R, S, T, Z…), or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(c) for c in (task / "children").read_text().split())
    return found


def kill(process: subprocess.Popen) -> set[int]:
    """SIGKILL a stopped process; return its children, which should die with it."""
    workers = children(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    process.stdout.close()
    return workers


def wait_gone(pids: set[int]) -> None:
    """Wait until every process is dead (gone, or a zombie no one has reaped)."""
    deadline = time.monotonic() + 5
    while alive := {pid for pid in pids if state(pid) not in (None, "Z")}:
        assert time.monotonic() < deadline, f"still running: {alive}"
        time.sleep(0.05)


def generations(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "index").glob("gen-*"))


def serves_last_good_state(client, stories_visible: bool) -> None:
    """The site answers from what was committed: nothing half-done shows."""
    for path in ("/", "/news/", "/news/harbour-town/", FISH, "/about"):
        assert client.get(path).status_code == 200, path
    found = client.get("/api/search?q=customs").get_json()
    assert FISH in [hit["url"] for hit in found["hits"]]
    listing = client.get("/news/").text
    assert ("Night shift report" in listing) == stories_visible


def everything_is_kept(client, stories: list[dict]) -> None:
    html = client.get("/news/?page=1").text
    assert "Night shift report" in html
    for story in stories:
        word = story["body_html"].split("shipment")[1][:4]
        hits = client.get(f"/api/search?q=shipment{word}").get_json()["hits"]
        assert [h["headline"] for h in hits] == [story["headline"]], word
    assert client.get("/about").status_code == 200


@pytest.mark.parametrize(
    "point, nth, stored, sanitising",
    [
        ("storing", 40, False, True),
        ("indexing", 40, True, False),
        ("marking", 1, True, False),
    ],
)
def test_a_killed_import_loses_nothing_and_the_next_starts_at_once(
    tmp_path, make_app, point, nth, stored, sanitising
):
    assert reader(tmp_path, "import", str(ARTICLES)).returncode == 0
    batch = tmp_path / "batch.jsonl"
    stories = new_stories(batch)
    client = make_app(tmp_path).test_client()

    process = stop_at(tmp_path, point, nth, "import", str(batch))
    serves_last_good_state(client, stories_visible=stored)
    workers = kill(process)
    # Sanitising workers live while articles are stored, not while they are indexed.
    assert bool(workers) == sanitising
    wait_gone(workers)
    serves_last_good_state(client, stories_visible=stored)

    again = reader(tmp_path, "import", str(batch))
    assert again.returncode == 0, again.stderr
    everything_is_kept(client, stories)
    assert len(generations(tmp_path)) == 1


def test_a_first_import_killed_while_indexing_is_indexed_by_the_next(
    tmp_path, make_app
):
    batch = tmp_path / "batch.jsonl"
    stories = new_stories(batch)
    process = stop_at(tmp_path, "indexing", 110, "import", str(batch))
    workers = kill(process)
    assert workers, "the first index is built by several processes"
    wait_gone(workers)

    again = reader(tmp_path, "import", str(batch))
    assert again.returncode == 0, again.stderr
    assert "120 unchanged" in again.stdout
    everything_is_kept(make_app(tmp_path).test_client(), stories)
    assert len(generations(tmp_path)) == 1


@pytest.mark.parametrize(
    "point, nth", [("indexing", 110), ("swapping", 1), ("cleaning", 2)]
)
def test_a_killed_reindex_leaves_the_old_index_serving_and_one_generation(
    tmp_path, make_app, point, nth
):
    batch = tmp_path / "batch.jsonl"
    stories = new_stories(batch)
    assert reader(tmp_path, "import", str(ARTICLES), str(batch)).returncode == 0
    client = make_app(tmp_path).test_client()

    process = stop_at(tmp_path, point, nth, "reindex")
    serves_last_good_state(client, stories_visible=True)
    workers = kill(process)
    if point == "indexing":
        assert workers, "the build runs in several processes"
    wait_gone(workers)
    serves_last_good_state(client, stories_visible=True)
    everything_is_kept(client, stories)

    # Any writer that comes next clears what the killed one left half-built.
    imported = reader(tmp_path, "import", str(batch))
    assert imported.returncode == 0, imported.stderr
    assert len(generations(tmp_path)) == 1
    again = reader(tmp_path, "reindex")
    assert again.returncode == 0, again.stderr
    everything_is_kept(client, stories)
    assert len(generations(tmp_path)) == 1
