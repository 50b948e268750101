"""Hostile XML is refused, never expanded, and never makes readerapp fetch anything.

Each file in data/feeds/hostile/ is a feed that attacks its reader: an external
entity that reads a local file, one that fetches a URL, a billion-laughs bomb, a
parameter entity that pulls in a remote DTD, a DOCTYPE whose DTD would define the
entities the feed uses. SERVER in a file is replaced by a server on loopback that
records every request, and SECRET_FILE by a file only an attack would read.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import DATA
from readerapp.sources import Reading, SourceError, read_document

HOSTILE = DATA / "feeds" / "hostile"
SECRET = "the-launch-codes-are-0000"
# What a served DTD or entity would put into the feed, were it ever fetched.
SERVED = b'<!ENTITY exfiltrated "SERVED"><!ENTITY defined_in_the_dtd "SERVED">'


class Recorder:
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.address = ""


@pytest.fixture
def server() -> Iterator[Recorder]:
    """A web server on loopback that answers everything, and says what it was asked."""
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            recorder.requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(SERVED)))
            self.end_headers()
            self.wfile.write(SERVED)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder.address = f"http://127.0.0.1:{httpd.server_address[1]}"
    # A short poll, so that shutting down takes a moment, not half a second.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield recorder
    httpd.shutdown()
    httpd.server_close()


def armed(name: str, tmp_path: Path, server: Recorder) -> Path:
    """Write a hostile fixture with its placeholders pointing at real targets."""
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    text = (HOSTILE / name).read_text(encoding="utf-8")
    text = text.replace("SECRET_FILE", str(secret)).replace("SERVER", server.address)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def stored(app) -> list[tuple]:
    with sqlite3.connect(app.config["DATABASE"]) as db:
        return db.execute("SELECT headline, body_html FROM article").fetchall()


REFUSED = {
    "external-entity-file.xml": "declares entities in its DOCTYPE",
    "external-entity-url.xml": "declares entities in its DOCTYPE",
    # libxml2 sees the bomb for what it is before anything is expanded.
    "billion-laughs.xml": "expands entities without end (an XML bomb); refused",
    "parameter-entity.xml": "declares entities in its DOCTYPE",
    "external-dtd.xml": (
        "uses the entity &defined_in_the_dtd;, which only its DTD could define;"
        " DTDs are never fetched, so it is refused"
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_hostile_xml_is_refused_with_a_reason_and_nothing_is_stored_or_fetched(
    name, tmp_path, server, runner, empty_app
):
    path = armed(name, tmp_path, server)
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 1
    assert f"error: {path}: {REFUSED[name]}" in result.output
    assert "0 added, 0 updated, 0 unchanged, 1 file rejected" in result.output
    assert stored(empty_app) == []
    assert server.requests == []
    assert SECRET not in result.output


def test_a_fetched_bomb_is_refused_as_a_file_is(tmp_path, server):
    data = armed("billion-laughs.xml", tmp_path, server).read_bytes()
    with pytest.raises(SourceError, match=r"\(an XML bomb\); refused"):
        read_document(data, Reading(zone=UTC, origin=server.address + "/feed"))


def test_a_doctype_that_only_names_a_dtd_is_read_without_fetching_it(
    tmp_path, server, runner, empty_app
):
    path = armed("doctype-only.xml", tmp_path, server)
    result = runner.invoke(args=["import", str(path)])
    assert "1 added" in result.output, result.output
    assert stored(empty_app) == [("Café reopens", "The café reopens on Monday.")]
    assert server.requests == []


def test_xinclude_is_never_followed(tmp_path, server, runner, empty_app):
    path = armed("xinclude.xml", tmp_path, server)
    result = runner.invoke(args=["import", str(path)])
    assert "1 added" in result.output, result.output
    [(headline, body)] = stored(empty_app)
    assert headline == "Include this" and SECRET not in body
    assert "Nothing to see" in body
