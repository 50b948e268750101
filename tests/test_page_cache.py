"""Rendered pages are kept by flask-caching until something they read changes."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask, template_rendered

from conftest import import_records, record

pytestmark = pytest.mark.both_engines
HARBOUR_STORY = "/news/harbour-town/fish-market-moves-to-the-old-customs-house"


@contextmanager
def renders(app: Flask) -> Iterator[list[str]]:
    """Collect the names of the templates rendered inside the block."""
    names: list[str] = []

    def note(sender, template, context, **extra):
        names.append(template.name)

    template_rendered.connect(note, app)
    try:
        yield names
    finally:
        template_rendered.disconnect(note, app)


def rendered(app: Flask, client, url: str) -> bool:
    """GET url; return whether the page had to be rendered (not served from cache)."""
    with renders(app) as names:
        response = client.get(url)
    assert response.status_code == 200, url
    return bool(names)


CACHED = ["/", "/news/", "/news/science/", HARBOUR_STORY, "/about", "/search?q=ferry"]
# A correction to a harbour story, and which pages it renders again (True) or leaves cached.
HARBOUR_CORRECTION = record(
    "fx-harbour-3",
    "Fish market stays in the old customs house after all",
    "The council changed its mind.",
    section="Harbour Town",
    published="2024-02-03",
)
RERENDERED_BY_A_HARBOUR_CORRECTION = {
    "/": True,  # the home page lists the harbour's newest stories
    "/news/": True,
    "/news/science/": False,  # nothing it shows changed
    "/news/economie-markets/": False,
    HARBOUR_STORY: True,
    "/about": True,  # it counts the stories
    "/search?q=ferry": True,  # the index changed
}


@pytest.mark.parametrize("url", CACHED + ["/api/search?q=ferry", "/api/latest"])
def test_a_page_is_rendered_once_then_served_from_the_cache(app, client, url):
    first = client.get(url)
    with renders(app) as names:
        again = client.get(url)
    assert names == []
    assert again.data == first.data
    assert again.headers["ETag"] == first.headers["ETag"]


def test_a_cached_page_still_answers_conditional_and_compressed_requests(client):
    first = client.get(HARBOUR_STORY)
    cached = client.get(HARBOUR_STORY, headers={"If-None-Match": first.headers["ETag"]})
    assert cached.status_code == 304 and cached.data == b""
    packed = client.get(HARBOUR_STORY, headers={"Accept-Encoding": "br"})
    assert packed.headers["Content-Encoding"] == "br"
    assert packed.headers["ETag"] == first.headers["ETag"][:-1] + '-br"'
    assert "Content-Security-Policy" in packed.headers


def test_an_update_rerenders_exactly_the_pages_that_read_what_changed(
    app, client, tmp_path
):
    urls = [*CACHED, "/news/economie-markets/"]
    for url in urls:
        client.get(url)
    import_records(
        app,
        tmp_path / "update.jsonl",
        HARBOUR_CORRECTION,
    )
    again = {url: rendered(app, client, url) for url in urls}
    assert again == RERENDERED_BY_A_HARBOUR_CORRECTION
    assert "stays in the old customs house" in client.get(HARBOUR_STORY).text


def test_a_new_story_shows_at_once_on_its_section_and_the_home_page(
    app, client, tmp_path
):
    for url in ("/", "/news/science/", "/search?q=zeppelin"):
        assert "Zeppelin" not in client.get(url).text
    import_records(
        app,
        tmp_path / "new.jsonl",
        record(
            "fresh-zeppelin",
            "Zeppelin lands in the town square",
            "A zeppelin came down gently.",
            section="Science",
            published="2030-01-01",
        ),
    )
    for url in ("/", "/news/science/", "/search?q=zeppelin"):
        assert "Zeppelin lands in the town square" in client.get(url).text, url


def test_a_reindex_refreshes_search_pages_but_not_listings(app, client):
    for url in ("/search?q=ferry", "/news/science/"):
        client.get(url)
    assert app.test_cli_runner().invoke(args=["reindex"]).exit_code == 0
    assert rendered(app, client, "/search?q=ferry")
    assert not rendered(app, client, "/news/science/")


def test_query_order_does_not_split_the_cache_but_each_query_is_its_own(app, client):
    client.get("/search?q=ferry&sort=newest")
    assert not rendered(app, client, "/search?sort=newest&q=ferry")
    assert rendered(app, client, "/search?q=ferry&sort=oldest")


def test_error_pages_are_not_cached(app, client):
    client.get("/news/science/no-such-story")
    with renders(app) as names:
        assert client.get("/news/science/no-such-story").status_code == 404
    assert names == ["error.html"]


def test_processes_sharing_a_cache_stay_exact(make_app, tmp_path):
    """Two serving processes with one shared cache (as with Redis or memcached)."""
    shared = {"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": str(tmp_path / "cache")}
    first = make_app(tmp_path, **shared)
    second = make_app(tmp_path, **shared)
    import_records(
        first,
        tmp_path / "one.jsonl",
        record("one", "First story", "One.", section="Science"),
    )
    assert rendered(first, first.test_client(), "/news/science/")
    assert not rendered(second, second.test_client(), "/news/science/")
    import_records(
        second,
        tmp_path / "two.jsonl",
        record(
            "two", "Second story", "Two.", section="Science", published="2024-02-01"
        ),
    )
    for app in (first, second):
        assert "Second story" in app.test_client().get("/news/science/").text


def test_pages_asked_for_at_another_address_are_not_served_from_its_cache(client):
    first = client.get(HARBOUR_STORY, base_url="http://news.example.org")
    other = client.get(HARBOUR_STORY, base_url="https://mirror.example.net")
    assert b'href="http://news.example.org/news/harbour-town/' in first.data
    assert b'href="https://mirror.example.net/news/harbour-town/' in other.data


def test_with_site_url_every_address_gets_the_public_links(make_app, tmp_path):
    app = make_app(tmp_path, SITE_URL="https://news.example.org/")
    import_records(app, tmp_path / "one.jsonl", record("a-1", "Only story", "Text."))
    client = app.test_client()
    page = client.get("/news/desk/only-story", base_url="http://10.0.0.5:8000")
    assert (
        b'<link rel="canonical" href="https://news.example.org/news/desk/only-story">'
        in page.data
    )
