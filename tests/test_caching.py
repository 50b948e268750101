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
