import gzip
import re
from pathlib import Path

import brotli
import pytest

from conftest import import_records, record

PAGES = [
    "/",
    "/news/",
    "/news/harbour-town/",
    "/news/harbour-town/fish-market-moves-to-the-old-customs-house",
    "/search?q=ferry",
    "/about",
    "/saved",
    "/offline",
    "/api/search?q=ferry",
    "/manifest.webmanifest",
]


@pytest.mark.parametrize("url", PAGES)
def test_pages_carry_validators_and_a_short_revalidated_lifetime(client, url):
    response = client.get(url)
    assert response.status_code == 200
    etag, weak = response.get_etag()
    assert etag and not weak, "a strong ETag"
    assert response.last_modified is not None
    assert response.headers["Cache-Control"] == (
        "public, max-age=0, must-revalidate, s-maxage=60, stale-while-revalidate=300"
    )


# A search page shows how long the search took, so its body (and ETag) varies.
@pytest.mark.parametrize("url", [u for u in PAGES if not u.startswith("/search")])
def test_both_validators_get_304_with_no_body(client, url):
    first = client.get(url)
    by_etag = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert by_etag.status_code == 304 and by_etag.data == b""
    by_date = client.get(
        url, headers={"If-Modified-Since": first.headers["Last-Modified"]}
    )
    assert by_date.status_code == 304 and by_date.data == b""
    assert by_date.headers["Content-Security-Policy"], "304s keep the security headers"


def test_worker_is_revalidated_every_time_and_static_files_kept_a_year(client):
    worker = client.get("/sw.js")
    assert worker.headers["Cache-Control"] == "no-cache"
    assert (
        client.get(
            "/sw.js", headers={"If-None-Match": worker.headers["ETag"]}
        ).status_code
        == 304
    )
    stylesheet = worker.text.split('"/static/site.css?v=', 1)[1].split('"', 1)[0]
    with client.get(f"/static/site.css?v={stylesheet}") as response:
        assert (
            response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        )


def test_errors_are_not_given_validators(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and "ETag" not in response.headers


def test_an_import_shows_at_once_and_old_validators_stop_matching(
    app, client, tmp_path
):
    before = {url: client.get(url) for url in ("/", "/news/harbour-town/")}
    import_records(
        app,
        tmp_path / "new.jsonl",
        record(
            "fresh-1",
            "Breaking: harbour bridge opens",
            "Traffic flows.",
            section="Harbour Town",
            published="2030-01-01",
        ),
    )
    for url, old in before.items():
        fresh = client.get(url, headers={"If-None-Match": old.headers["ETag"]})
        assert fresh.status_code == 200
        assert "Breaking: harbour bridge opens" in fresh.text
        assert fresh.last_modified >= old.last_modified


@pytest.mark.parametrize("url", PAGES + ["/sw.js"])
@pytest.mark.parametrize("encoding", ["br", "gzip"])
def test_compressed_bodies_decode_to_the_plain_one(client, url, encoding):
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    packed = client.get(url, headers={"Accept-Encoding": f"{encoding}, deflate"})
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in packed.headers["Vary"]
    unpack = brotli.decompress if encoding == "br" else gzip.decompress
    body = unpack(packed.data)
    if url.startswith("/search"):  # the page says how long the search took
        body, expected = (re.sub(rb"\(\d+ ms\)", b"", b) for b in (body, plain.data))
    else:
        expected = plain.data
        assert packed.get_etag()[0] == f"{plain.get_etag()[0]}-{encoding}"
    assert body == expected


def test_a_compressed_page_revalidates_with_its_own_etag(client):
    url = "/news/harbour-town/"
    packed = client.get(url, headers={"Accept-Encoding": "br"})
    again = client.get(
        url, headers={"Accept-Encoding": "br", "If-None-Match": packed.headers["ETag"]}
    )
    assert again.status_code == 304
    plain = client.get(url, headers={"If-None-Match": packed.headers["ETag"]})
    assert plain.status_code == 200, "the plain body is a different representation"


@pytest.mark.parametrize("name", ["site.css", "app.js", "sw.js"])
def test_static_files_are_compressed_once_and_decode_intact(client, name):
    path = Path("static") / name
    with client.get(f"/static/{name}", headers={"Accept-Encoding": "br"}) as packed:
        assert packed.headers["Content-Encoding"] == "br"
        assert brotli.decompress(packed.data) == path.read_bytes()
    with client.get(f"/static/{name}", headers={"Accept-Encoding": "gzip"}) as packed:
        assert gzip.decompress(packed.data) == path.read_bytes()
