"""Pictures from import to page: fetched once, kept, served in sizes, reported."""

from __future__ import annotations

import http.server
import io
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from conftest import import_records, record

WIDE = (1600, 1000)


def jpeg(size: tuple[int, int] = WIDE, colour=(200, 60, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=85)
    return out.getvalue()


class PictureDesk:
    """A picture host on loopback: what it serves, how slowly, and who asked."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, bytes]] = {}
        self.slow: dict[str, float] = {}
        self.requests: list[str] = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.host = f"127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self):
        desk = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                desk.requests.append(self.path)
                time.sleep(desk.slow.get(self.path, 0))
                if self.path not in desk.files:
                    self.send_error(404)
                    return
                kind, body = desk.files[self.path]
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args) -> None:
                pass

        return Handler

    def serve(self, path: str, body: bytes, kind: str = "image/jpeg") -> str:
        self.files[path] = (kind, body)
        return self.base + path


@pytest.fixture
def desk() -> Iterator[PictureDesk]:
    served = PictureDesk()
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture
def pictured_app(make_app, tmp_path, desk):
    return make_app(
        tmp_path,
        FETCH_PICTURES=True,
        PICTURE_ALLOWED_HOSTS=[desk.host],
        PICTURE_TIMEOUT=1,
    )


def lead_figure(page: str) -> str:
    found = re.search(r'<figure class="story-picture">.*?</figure>', page, re.S)
    assert found, "no lead picture on the page"
    return found[0]


def pictures_report(app, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["pictures", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_lead_picture_is_fetched_kept_and_offered_in_sizes_and_formats(
    pictured_app, tmp_path, desk
):
    url = desk.serve("/bridge.jpg", jpeg())
    picture = {
        "url": url,
        "alt": "The new bridge",
        "caption": "Opening day",
        "credit": "City archive",
    }
    output = import_records(
        pictured_app,
        tmp_path / "a.jsonl",
        record("p-1", "New bridge", "It opened.", picture=picture),
    )
    assert "Pictures: 1 kept." in output
    client = pictured_app.test_client()
    figure = lead_figure(client.get("/news/desk/new-bridge").text)
    assert 'type="image/webp"' in figure
    img = re.search(r"<img [^>]*>", figure)[0]
    assert 'width="1600" height="1000"' in img
    assert 'alt="The new bridge"' in img
    assert 'fetchpriority="high"' in img and "loading=" not in img
    assert re.search(r'class="tint-\d+"', img)
    assert 'sizes="(min-width: 40rem) 38rem, calc(100vw - 2rem)"' in img
    widths = re.findall(r" (\d+)w", img)
    assert widths == ["160", "320", "480", "640", "800", "960", "1280", "1600"]
    assert "Opening day" in figure and "City archive" in figure
    assert url not in client.get("/news/desk/new-bridge").text  # nothing from elsewhere

    # Every URL the page offers answers with the picture at that width.
    for kind in ("webp", "jpeg"):
        offered = re.search(rf"(/media/[0-9a-f]+/480\.{kind})", figure)[1]
        answer = client.get(offered)
        assert answer.status_code == 200
        assert answer.content_type == f"image/{kind}"
        assert "immutable" in answer.headers["Cache-Control"]
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert Image.open(io.BytesIO(answer.data)).size == (480, 300)


def test_importing_the_same_story_twice_never_fetches_its_picture_twice(
    pictured_app, tmp_path, desk
):
    url = desk.serve("/one.jpg", jpeg())
    line = record("p-1", "New bridge", "It opened.", picture={"url": url})
    import_records(pictured_app, tmp_path / "a.jsonl", line)
    edited = {**line, "headline": "New bridge opens"}
    import_records(pictured_app, tmp_path / "b.jsonl", edited)
    other = record("p-2", "Same picture", "Again.", picture={"url": url})
    import_records(pictured_app, tmp_path / "c.jsonl", other)
    assert desk.requests == ["/one.jpg"]
    assert "Kept: 1 pictures" in pictures_report(pictured_app)


def test_a_slow_picture_host_delays_no_story_and_is_asked_again_next_run(
    pictured_app, tmp_path, desk
):
    url = desk.serve("/slow.jpg", jpeg())
    desk.slow["/slow.jpg"] = 3
    started = time.monotonic()
    output = import_records(
        pictured_app,
        tmp_path / "a.jsonl",
        record("p-1", "Storm", "Winds.", picture={"url": url}),
    )
    assert time.monotonic() - started < 2.5  # PICTURE_TIMEOUT is 1 s
    assert "1 failed" in output
    client = pictured_app.test_client()
    page = client.get("/news/desk/storm")
    assert page.status_code == 200 and "Winds." in page.text
    assert "story-picture" not in page.text
    assert "no answer within 1 s" in pictures_report(pictured_app)

    desk.slow.clear()
    output = import_records(
        pictured_app,
        tmp_path / "b.jsonl",
        record("p-2", "Calm", "After the storm."),
    )
    assert "Pictures: 1 kept." in output
    assert "story-picture" in client.get("/news/desk/storm").text
    assert "Missing: none." in pictures_report(pictured_app)


@pytest.mark.parametrize(
    ("body", "kind", "said"),
    [
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "image/svg+xml",
            "SVG",
        ),
        (b"<!doctype html><html><body>Not found</body></html>", "image/jpeg", "HTML"),
        (jpeg()[:2000], "image/jpeg", "truncated"),
    ],
)
def test_a_refused_picture_is_reported_not_served_and_not_asked_for_again(
    pictured_app, tmp_path, desk, body, kind, said
):
    url = desk.serve("/bad", body, kind)
    import_records(
        pictured_app,
        tmp_path / "a.jsonl",
        record("p-1", "Strange file", "Text first.", picture={"url": url}),
    )
    page = pictured_app.test_client().get("/news/desk/strange-file")
    assert page.status_code == 200 and "<picture" not in page.text
    report = pictures_report(pictured_app)
    assert said.lower() in report.lower() and "--retry" in report
    import_records(pictured_app, tmp_path / "b.jsonl", record("p-2", "Next", "Run."))
    assert desk.requests == ["/bad"]
    pictures_report(pictured_app, "--retry")
    assert desk.requests == ["/bad", "/bad"]


def test_pictures_on_private_addresses_are_not_fetched_unless_allowed(
    make_app, tmp_path, desk
):
    app = make_app(tmp_path, FETCH_PICTURES=True)  # the desk's address is private
    url = desk.serve("/inside.jpg", jpeg())
    output = import_records(
        app,
        tmp_path / "a.jsonl",
        record("p-1", "Inside job", "Text.", picture={"url": url}),
    )
    assert "1 failed" in output
    assert desk.requests == []
    assert "private" in pictures_report(app) or "loopback" in pictures_report(app)
    assert app.test_client().get("/news/desk/inside-job").status_code == 200


def test_a_picture_beside_an_import_file_is_read_and_paths_outside_refused(
    make_app, tmp_path
):
    app = make_app(tmp_path, FETCH_PICTURES=True)
    (tmp_path / "pictures").mkdir()
    (tmp_path / "pictures" / "harbour.jpg").write_bytes(jpeg((900, 600)))
    output = import_records(
        app,
        tmp_path / "a.jsonl",
        record("p-1", "Harbour", "Boats.", picture={"url": "pictures/harbour.jpg"}),
    )
    assert "Pictures: 1 kept." in output
    assert (
        'width="900" height="600"' in app.test_client().get("/news/desk/harbour").text
    )
    output = import_records(
        app,
        tmp_path / "b.jsonl",
        record("p-2", "Escape", "x", picture={"url": "../../etc/passwd"}),
    )
    assert "b.jsonl:1: 'picture.url' leads outside the import file's folder" in output


def test_body_pictures_are_served_from_the_site_and_missing_ones_left_out(
    pictured_app, tmp_path, desk
):
    kept = desk.serve("/body.jpg", jpeg((800, 800)))
    gone = desk.base + "/missing.jpg"
    body = (
        f'<p>First.</p><p><img src="{kept}" alt="A square"></p>'
        f'<p>Second.</p><p><img src="{gone}" alt="Lost"></p>'
    )
    import_records(
        pictured_app,
        tmp_path / "a.jsonl",
        record("p-1", "Squares", "x", body_html=body),
    )
    page = pictured_app.test_client().get("/news/desk/squares").text
    story = re.search(r'<div class="story-body">.*?</article>', page, re.S)[0]
    assert 'alt="A square"' in story and 'loading="lazy"' in story
    assert kept not in page and gone not in page and 'alt="Lost"' not in page


def test_a_story_without_a_lead_picture_leads_with_its_first_figure(
    pictured_app, tmp_path, desk
):
    url = desk.serve("/figure.jpg", jpeg())
    body = (
        f'<p>Opening.</p><figure><img src="{url}" alt="Crowd">'
        "<figcaption>The crowd at noon</figcaption></figure><p>More.</p>"
    )
    import_records(
        pictured_app,
        tmp_path / "a.jsonl",
        record("p-1", "Crowds", "x", body_html=body),
    )
    page = pictured_app.test_client().get("/news/desk/crowds").text
    figure = lead_figure(page)
    assert "The crowd at noon" in figure and 'alt="Crowd"' in figure
    assert page.count("The crowd at noon") == 1  # not shown twice


def test_previews_json_ld_and_feeds_name_the_kept_picture(pictured_app, tmp_path, desk):
    url = desk.serve("/share.jpg", jpeg())
    import_records(
        pictured_app,
        tmp_path / "a.jsonl",
        record("p-1", "Shared", "Text.", picture={"url": url, "alt": "Share me"}),
    )
    client = pictured_app.test_client()
    page = client.get("/news/desk/shared").text
    shared = re.search(r'<meta property="og:image" content="([^"]+)"', page)[1]
    assert re.fullmatch(r"http://localhost/media/[0-9a-f]{32}/1280\.jpeg", shared)
    assert f'<meta name="twitter:image" content="{shared}"' in page
    ld = json.loads(re.search(r'ld\+json">(.*?)</script>', page, re.S)[1])
    assert ld["image"] == [shared]
    assert client.get(shared.removeprefix("http://localhost")).status_code == 200
    assert f'<media:content url="{shared}"' in client.get("/feeds/rss.xml").text
    assert f'href="{shared}"' in client.get("/feeds/atom.xml").text
    assert (
        json.loads(client.get("/feeds/feed.json").text)["items"][0]["image"] == shared
    )


def test_readers_saving_data_get_the_width_that_fills_the_layout(
    pictured_app, tmp_path, desk
):
    url = desk.serve("/light.jpg", jpeg())
    import_records(
        pictured_app,
        tmp_path / "a.jsonl",
        record("p-1", "Light", "Text.", picture={"url": url}),
    )
    client = pictured_app.test_client()
    plain = client.get("/news/desk/light")
    assert "Save-Data" in plain.headers["Vary"]
    assert "min-resolution" not in plain.text
    for headers in ({"Save-Data": "on"}, {"ECT": "2g"}):
        light = client.get("/news/desk/light", headers=headers).text
        assert (
            'sizes="(min-width: 40rem) and (min-resolution: 3dppx) calc(38rem / 3),'
            in light
        )
    # The cache keeps both versions apart.
    assert "min-resolution" not in client.get("/news/desk/light").text


def test_unused_pictures_are_pruned_and_their_files_removed(
    pictured_app, tmp_path, desk
):
    url = desk.serve("/old.jpg", jpeg())
    line = record("p-1", "Old", "x", picture={"url": url})
    import_records(pictured_app, tmp_path / "a.jsonl", line)
    media = Path(pictured_app.config["MEDIA_DIR"])
    page = pictured_app.test_client().get("/news/desk/old").text
    pictured_app.test_client().get(re.search(r'<img src="([^"]+)"', page)[1])
    assert len(list(media.rglob("*.jpeg"))) == 1
    without = {k: v for k, v in line.items() if k != "picture"}
    import_records(pictured_app, tmp_path / "b.jsonl", without)
    assert "Shown by no story: 1" in pictures_report(pictured_app)
    assert "Removed 1 pictures" in pictures_report(pictured_app, "--prune")
    assert not [p for p in media.rglob("*") if p.is_file()]
    assert "Kept: 0 pictures" in pictures_report(pictured_app)


def test_media_urls_answer_only_for_what_is_kept(pictured_app, tmp_path, desk):
    url = desk.serve("/p.jpg", jpeg((700, 500)))
    import_records(
        pictured_app,
        tmp_path / "a.jsonl",
        record("p-1", "P", "x", picture={"url": url}),
    )
    client = pictured_app.test_client()
    page = client.get("/news/desk/p").text
    digest = re.search(r"/media/([0-9a-f]{32})/", page)[1]
    assert client.get(f"/media/{digest}/640.jpeg").status_code == 200
    assert client.get(f"/media/{digest}/700.jpeg").status_code == 200
    for path in (
        f"/media/{digest}/1280.jpeg",  # never larger than the original
        f"/media/{digest}/641.jpeg",  # only the widths offered
        f"/media/{digest}/640.gif",
        f"/media/{'0' * 32}/640.jpeg",
        "/media/../archive.sqlite3",
        f"/media/{digest}/../../originals",
    ):
        assert client.get(path).status_code == 404, path
    assert client.post(f"/media/{digest}/640.jpeg").status_code == 405
    assert client.head(f"/media/{digest}/640.jpeg").data == b""
    etag = client.get(f"/media/{digest}/640.jpeg").headers["ETag"]
    again = client.get(f"/media/{digest}/640.jpeg", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert (
        "Content-Length" not in again.headers or again.headers["Content-Length"] == "0"
    )


def test_an_archive_from_before_pictures_fetches_its_stories_pictures(
    make_app, tmp_path, desk, monkeypatch
):
    import sqlite3

    url = desk.serve("/before.jpg", jpeg())
    old = make_app(tmp_path)
    import_records(
        old, tmp_path / "a.jsonl", record("p-1", "Old", "x", picture={"url": url})
    )
    # Made as the release before pictures would have made it (migration 1).
    with sqlite3.connect(old.config["DATABASE"]) as db:
        db.executescript(
            "DROP TABLE article_picture; DROP TABLE picture_source;"
            " DROP TABLE picture; ALTER TABLE article DROP COLUMN shown_picture;"
            " PRAGMA user_version = 1;"
        )
    app = make_app(tmp_path, FETCH_PICTURES=True, PICTURE_ALLOWED_HOSTS=[desk.host])
    import_records(app, tmp_path / "b.jsonl", record("p-2", "New", "y"))
    assert desk.requests == ["/before.jpg"]
    assert "story-picture" in app.test_client().get("/news/desk/old").text


def test_the_placeholder_tints_are_in_the_stylesheet():
    from readerapp.pictures import TINTS

    css = (Path(__file__).parent.parent / "static" / "site.css").read_text()
    for number, colour in enumerate(TINTS):
        short = "#" + colour[1] + colour[3] + colour[5]
        assert f".tint-{number}{{background:{short}}}" in css


def test_reader_check_finds_lost_picture_files_and_repair_fetches_them_again(
    pictured_app, tmp_path, desk
):
    url = desk.serve("/checked.jpg", jpeg())
    import_records(
        pictured_app,
        tmp_path / "a.jsonl",
        record("p-1", "Checked", "x", picture={"url": url}),
    )
    runner = pictured_app.test_cli_runner()
    healthy = runner.invoke(args=["check"])
    assert healthy.exit_code == 0, healthy.output
    assert (
        "1 pictures" in healthy.output and "every kept picture's file" in healthy.output
    )
    media = Path(pictured_app.config["MEDIA_DIR"])
    [original] = (media / "originals").glob("??/*")
    original_bytes = original.read_bytes()
    original.write_bytes(original_bytes[:100])  # damaged on disk
    (media / "originals" / "ff").mkdir()
    (media / "originals" / "ff" / ("f" * 32)).write_bytes(b"stray")
    damaged = runner.invoke(args=["check"])
    assert damaged.exit_code == 1
    assert "1 kept picture missing or damaged on disk" in damaged.output
    assert "1 file no story names" in damaged.output
    # Until repaired, readers get no picture rather than a broken one.
    repaired = runner.invoke(args=["check", "--repair"])
    assert "the next import or pull fetches them again" in repaired.output
    assert repaired.exit_code == 0, repaired.output
    client = pictured_app.test_client()
    assert "story-picture" not in client.get("/news/desk/checked").text
    import_records(pictured_app, tmp_path / "b.jsonl", record("p-2", "Next", "y"))
    assert desk.requests == ["/checked.jpg", "/checked.jpg"]
    assert "story-picture" in client.get("/news/desk/checked").text
    assert original.read_bytes() == original_bytes
