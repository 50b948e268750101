import gzip
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ARTICLES
from readerapp.config import PROJECT_ROOT

READER = Path(sys.executable).with_name("reader")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stdout.read())
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {seconds} s")


def test_import_demo_loads_the_bundled_archive(runner, empty_app, tmp_path):
    demo = Path(empty_app.config["DEMO_DIR"])
    demo.mkdir()
    (demo / "fixture.jsonl.gz").write_bytes(gzip.compress(ARTICLES.read_bytes()))
    result = runner.invoke(args=["import", "--demo"])
    assert result.exit_code == 0, result.output
    assert "11 added" in result.output


def test_import_without_files_is_a_usage_error(runner):
    result = runner.invoke(args=["import"])
    assert result.exit_code == 2
    assert "name at least one FILE, or use --demo" in result.output


def test_serve_demo_loads_an_empty_archive_then_serves_it(tmp_path):
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "fixture.jsonl.gz").write_bytes(gzip.compress(ARTICLES.read_bytes()))
    port = free_port()
    env = {
        **os.environ,
        "READERAPP_DATABASE": str(tmp_path / "archive.sqlite3"),
        "READERAPP_FETCH_PICTURES": "false",
        "READERAPP_INDEX_DIR": str(tmp_path / "index"),
        "READERAPP_DEMO_DIR": str(demo),
    }
    process = subprocess.Popen(
        [READER, "serve", "--demo", "--port", str(port), "--threads", "2"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        home = wait_for(f"http://127.0.0.1:{port}/", process)
        assert "Ferry operator reports record profits" in home
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert "Demo archive loaded: 11 articles." in output
    assert (
        f"Serving on http://127.0.0.1:{port} with 2 threads and up to 100 connections"
        in output
    )


@pytest.mark.skipif(
    not (PROJECT_ROOT / "demo").is_dir(), reason="the demo archive is not checked out"
)
def test_bundled_demo_archive_imports_cleanly(tmp_path, make_app):
    # Its pictures are files beside it: nothing is fetched from elsewhere.
    app = make_app(
        tmp_path,
        DEMO_DIR=PROJECT_ROOT / "demo",
        IMPORT_WORKERS=0,
        FETCH_PICTURES=True,
    )
    result = app.test_cli_runner().invoke(args=["import", "--demo"])
    assert result.exit_code == 0, result.output
    assert "15421 added, 0 updated, 0 unchanged, 0 files rejected" in result.output
    assert "Pictures: 8 kept." in result.output
    client = app.test_client()
    hit = client.get("/api/search?q=Crew+Dragon+docks").get_json()["hits"][0]
    page = client.get(hit["url"]).text
    assert re.search(r'<figure class="story-picture">\s*<picture data-offline>', page)
    html = app.test_client().get("/").text
    assert "Armed conflicts and attacks" in html and ">Politics<" in html
    # demo/sections.toml makes the two collections' names of a section one section.
    assert "Business and economy" in html and "Economy and business" not in html
    assert "Politics and conflicts" not in html


def test_reader_command_is_installed():
    assert READER.exists() or shutil.which("reader")


def test_serving_capacity_follows_the_machine(monkeypatch):
    from readerapp.cli import serving_capacity

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert serving_capacity(0, 0) == (2, 100)
    assert serving_capacity(3, 0) == (3, 150)
    assert serving_capacity(0, 77) == (2, 77)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert serving_capacity(0, 0) == (8, 400)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert serving_capacity(0, 0) == (2, 100)  # one slow request may not hold all
