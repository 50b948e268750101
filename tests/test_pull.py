"""`reader pull` against a newsroom on loopback: a WordPress site's REST API and
feeds that change between pulls, answer 304s, ask to be left alone, or hang (#14)."""

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

READER = Path(sys.executable).with_name("reader")


class Newsroom:
    """What the site serves, changed by the tests between pulls."""

    def __init__(self) -> None:
        self.posts: dict[int, dict] = {}
        self.feed_items: list[dict] = []
        self.feed_version = 1
        # path -> answers to give first, each (status, extra headers), then normal.
        self.scripted: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self.slow: dict[str, float] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()

    def publish(self, post_id: int, title: str, modified: datetime) -> None:
        self.posts[post_id] = {
            "id": post_id,
            "date_gmt": "2025-01-01T08:00:00",
            "modified_gmt": modified.strftime("%Y-%m-%dT%H:%M:%S"),
            "slug": f"post-{post_id}",
            "status": "publish",
            "type": "post",
            "link": f"{self.base}/2025/01/01/post-{post_id}/",
            "title": {"rendered": title},
            "content": {
                "rendered": f"<p>Body of post {post_id}: dispatch{post_id:04}.</p>",
                "protected": False,
            },
            "excerpt": {"rendered": "", "protected": False},
            "author": 1,
            "_embedded": {
                "author": [{"id": 1, "name": "Desk Editor"}],
                "wp:term": [
                    [{"id": 3, "name": "Harbour", "taxonomy": "category"}],
                    [],
                ],
            },
        }

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


@pytest.fixture
def newsroom():
    room = Newsroom()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            with room.lock:
                room.requests.append((self.path, dict(self.headers)))
                script = room.scripted.get(urlsplit(self.path).path)
                scripted = script.pop(0) if script else None
            time.sleep(room.slow.get(urlsplit(self.path).path, 0))
            if scripted:
                status, headers = scripted
                self.answer(status, b"busy", "text/plain", headers)
                return
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/":
                self.answer(
                    200,
                    b"<!doctype html><title>Harbour Gazette</title>",
                    "text/html; charset=utf-8",
                    {"Link": f'<{room.base}/wp-json/>; rel="https://api.w.org/"'},
                )
            elif parts.path == "/wp-json/wp/v2/posts":
                self.posts(query)
            elif parts.path.endswith(".xml"):
                self.feed()
            else:
                self.answer(404, b"{}", "application/json")

        def posts(self, query: dict[str, str]) -> None:
            live = [p for p in room.posts.values() if p["status"] == "publish"]
            if "include" in query:
                wanted = {int(i) for i in query["include"].split(",")}
                live = [p for p in live if p["id"] in wanted]
            live.sort(key=lambda p: p["modified_gmt"], reverse=True)
            size = int(query.get("per_page", 10))
            page = int(query.get("page", 1))
            chosen = live[(page - 1) * size : page * size]
            if "_fields" in query:
                fields = query["_fields"].split(",")
                chosen = [{f: p[f] for f in fields} for p in chosen]
            elif "_embed" not in query:
                chosen = [
                    {k: v for k, v in p.items() if k != "_embedded"} for p in chosen
                ]
            pages = max(1, -(-len(live) // size))
            self.answer(
                200,
                json.dumps(chosen).encode(),
                "application/json; charset=UTF-8",
                {"X-WP-Total": str(len(live)), "X-WP-TotalPages": str(pages)},
            )

        def feed(self) -> None:
            etag = f'"v{room.feed_version}"'
            if self.headers.get("If-None-Match") == etag:
                self.answer(304, b"", "application/rss+xml", {"ETag": etag})
                return
            items = "".join(
                f"<item><title>{item['title']}</title><link>{item['link']}</link>"
                f"<guid>{item['link']}</guid>"
                f"<pubDate>{item['date']}</pubDate><category>Port</category>"
                f"<description>{item['text']}</description></item>"
                for item in room.feed_items
            )
            body = (
                '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>Port news</title><link>{room.base}/</link>"
                f"<language>en</language>{items}</channel></rss>"
            ).encode()
            self.answer(200, body, "application/rss+xml", {"ETag": etag})

        def answer(self, status, body, content_type, headers=None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body and status != 304:
                self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address) -> None:
            # A reader that gave up waiting (the timeout test) hung up on us.
            if not isinstance(sys.exc_info()[1], ConnectionError):
                super().handle_error(request, client_address)

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    room.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield room
    server.shutdown()
    server.server_close()


def feed_item(room: Newsroom, n: int) -> dict:
    return {
        "title": f"Tide report {n}",
        "link": f"{room.base}/tides/{n}",
        "date": format_datetime(datetime(2025, 2, n, 6, tzinfo=UTC)),
        "text": f"High water at dawn, harbourmark{n:03}.",
    }


def pull(app, *urls: str):
    return app.test_cli_runner().invoke(args=["pull", *urls])


START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def site(newsroom):
    for n in range(1, 151):
        newsroom.publish(n, f"Harbour story {n}", START + timedelta(minutes=n))
    return newsroom


def test_a_wordpress_site_is_found_from_its_address_and_all_its_posts_imported(
    empty_app, site
):
    result = pull(empty_app, site.base + "/")
    assert result.exit_code == 0, result.output
    assert f"{site.base}/: 150 added, 0 updated" in result.output
    client = empty_app.test_client()
    page = client.get("/news/harbour/post-7")
    assert page.status_code == 200 and "Harbour story 7" in page.text
    assert "By Desk Editor" in page.text
    hits = client.get("/api/search?q=dispatch0042").get_json()["hits"]
    assert [h["headline"] for h in hits] == ["Harbour story 42"]
    listed = empty_app.test_cli_runner().invoke(args=["sources"])
    assert f"{site.base}/  (wordpress)" in listed.output
    assert "150 added" in listed.output


def test_an_unchanged_site_costs_one_request_and_imports_nothing(empty_app, site):
    assert pull(empty_app, site.base + "/").exit_code == 0
    site.requests.clear()
    result = pull(empty_app)  # every known source
    assert result.exit_code == 0, result.output
    assert f"{site.base}/: no posts changed (1 request)" in result.output
    assert len(site.requests) == 1


def test_an_edit_updates_the_post_in_place_and_a_trashed_post_is_taken_off(
    empty_app, site
):
    assert pull(empty_app, site.base + "/").exit_code == 0
    client = empty_app.test_client()
    assert client.get("/news/harbour/post-9").status_code == 200
    site.publish(7, "Harbour story 7, corrected", START + timedelta(days=1))
    site.posts[9]["status"] = "trash"
    result = pull(empty_app)
    assert result.exit_code == 0, result.output
    assert "0 added, 1 updated, 1 taken off the site" in result.output
    page = client.get("/news/harbour/post-7")
    assert "Harbour story 7, corrected" in page.text and "Updated" in page.text
    assert client.get("/news/harbour/post-9").status_code == 410
    assert client.get("/api/search?q=dispatch0009").get_json()["total"] == 0
    again = pull(empty_app)
    assert "no posts changed (1 request)" in again.output


def test_a_feed_is_asked_for_with_its_validators_and_a_304_imports_nothing(
    empty_app, newsroom
):
    newsroom.feed_items = [feed_item(newsroom, n) for n in (1, 2, 3)]
    url = newsroom.base + "/port.xml"
    result = pull(empty_app, url)
    assert result.exit_code == 0, result.output
    assert f"{url}: 3 added, 0 updated (1 request)" in result.output
    newsroom.requests.clear()
    result = pull(empty_app, url)
    assert f"{url}: not modified (1 request)" in result.output
    assert newsroom.requests[0][1]["If-None-Match"] == '"v1"'
    assert "readerapp/" in newsroom.requests[0][1]["User-Agent"]
    newsroom.feed_items.append(feed_item(newsroom, 4))
    newsroom.feed_version = 2
    result = pull(empty_app, url)
    assert f"{url}: 1 added, 0 updated (1 request)" in result.output
    hits = empty_app.test_client().get("/api/search?q=harbourmark004").get_json()
    assert [hit["headline"] for hit in hits["hits"]] == ["Tide report 4"]


def test_a_503_with_a_short_retry_after_is_waited_out_and_retried(empty_app, newsroom):
    newsroom.feed_items = [feed_item(newsroom, 1)]
    url = newsroom.base + "/busy.xml"
    newsroom.scripted["/busy.xml"] = [(503, {"Retry-After": "1"})]
    result = pull(empty_app, url)
    assert result.exit_code == 0, result.output
    assert f"{url}: 1 added, 0 updated (2 requests)" in result.output
    assert newsroom.paths() == ["/busy.xml", "/busy.xml"]


def test_a_site_that_asks_for_an_hour_is_left_alone_and_nothing_changes(
    empty_app, newsroom
):
    newsroom.feed_items = [feed_item(newsroom, 1)]
    url = newsroom.base + "/later.xml"
    assert pull(empty_app, url).exit_code == 0
    newsroom.feed_items.append(feed_item(newsroom, 2))
    newsroom.feed_version = 2
    newsroom.scripted["/later.xml"] = [(503, {"Retry-After": "3600"})]
    result = pull(empty_app, url)
    assert result.exit_code == 1
    assert f"{url}: failed: {url}: HTTP 503" in result.output
    assert "nothing was imported; will ask again after" in result.output
    assert "(1 request)" in result.output, "an hour is not waited for in the run"
    assert "Tide report 2" not in empty_app.test_client().get("/news/").text
    newsroom.requests.clear()
    result = pull(empty_app)
    assert "skipped: the site asked to be left alone until" in result.output
    assert newsroom.requests == []
    listed = empty_app.test_cli_runner().invoke(args=["sources"])
    assert "HTTP 503" in listed.output and "not before" in listed.output


def test_a_site_that_does_not_answer_in_time_fails_cleanly(
    make_app, tmp_path, newsroom
):
    app = make_app(tmp_path, PULL_TIMEOUT=0.5)
    newsroom.feed_items = [feed_item(newsroom, 1)]
    url = newsroom.base + "/slow.xml"
    newsroom.slow["/slow.xml"] = 2
    result = pull(app, url)
    assert result.exit_code == 1
    assert "no answer within 0.5 s" in result.output
    assert "nothing was imported; will try again at the next pull" in result.output
    assert "Traceback" not in result.output
    assert len(newsroom.requests) == 3, "tried three times"
    assert "Tide report" not in app.test_client().get("/news/").text


def test_an_address_that_is_neither_feed_nor_wordpress_is_named(empty_app, newsroom):
    result = pull(empty_app, newsroom.base + "/nothing")
    assert result.exit_code == 1
    assert "HTTP 404" in result.output


def wait_until(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    return {
        **os.environ,
        "READERAPP_DATABASE": str(tmp_path / "archive.sqlite3"),
        "READERAPP_INDEX_DIR": str(tmp_path / "index"),
        "READERAPP_FETCH_PICTURES": "false",
        **{f"READERAPP_{key}": value for key, value in settings.items()},
    }


def test_pull_every_keeps_pulling_until_stopped(tmp_path, newsroom):
    newsroom.feed_items = [feed_item(newsroom, 1)]
    url = newsroom.base + "/port.xml"
    process = subprocess.Popen(
        [READER, "pull", "--every", "1s", url],
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(lambda: len(newsroom.requests) >= 3)
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert f"{url}: 1 added" in output and f"{url}: not modified" in output
    assert "Next pull at" in output


def test_serve_can_follow_its_sources_in_the_background(tmp_path, newsroom, make_app):
    from test_cli import free_port, wait_for

    newsroom.feed_items = [feed_item(newsroom, 1)]
    url = newsroom.base + "/port.xml"
    app = make_app(tmp_path)
    assert pull(app, url).exit_code == 0
    newsroom.feed_items.append(feed_item(newsroom, 2))
    newsroom.feed_version = 2
    port = free_port()
    # A file, not a pipe, so the report can be read while the server runs: the
    # story is on the page as soon as it is stored, before the round reports.
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [READER, "serve", "--port", str(port), "--threads", "2"],
            env=environment(tmp_path, PULL_EVERY="1s"),
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/", process)
        import urllib.request

        def published() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/news/") as page:
                return "Tide report 2" in page.read().decode()

        wait_until(published)
        wait_until(lambda: f"pull: {url}: 1 added" in log.read_text())
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert "Pulling the live sources every 1s." in log.read_text()
