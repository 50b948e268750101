"""robots.txt and sitemaps, checked against the sitemaps.org and Google News schemas."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import xmlschema

from conftest import import_records, record
from readerapp.views import sitemaps

SCHEMAS = Path(__file__).parent.joinpath("schemas").resolve()
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
SITEMAP = xmlschema.XMLSchema(
    str(SCHEMAS / "sitemap.xsd"),
    locations=[(NEWS_NS, str(SCHEMAS / "sitemap-news.xsd"))],
)
SITEINDEX = xmlschema.XMLSchema(str(SCHEMAS / "siteindex.xsd"))
NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9", "news": NEWS_NS}


def valid(schema: xmlschema.XMLSchema, body: bytes, root: str) -> ET.Element:
    errors = [f"{e.reason} at {e.path}" for e in schema.iter_errors(body.decode())]
    assert errors == []
    tree = ET.fromstring(body)
    assert tree.tag == f"{{{NS['s']}}}{root}"
    return tree


def locs(tree: ET.Element) -> list[str]:
    return [loc.text for loc in tree.iterfind(".//s:loc", NS)]


def test_the_schemas_reject_broken_sitemaps():
    assert not SITEMAP.is_valid(
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<url><loc>http://localhost/a</loc><lastmod>27/11/2026</lastmod></url></urlset>"
    )
    assert not SITEINDEX.is_valid(
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<sitemap><lastmod>2024-01-01</lastmod></sitemap></sitemapindex>"
    )
    news_without_title = (
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
        f' xmlns:news="{NEWS_NS}"><url><loc>http://localhost/a</loc><news:news>'
        "<news:publication><news:name>R</news:name><news:language>en</news:language>"
        "</news:publication><news:publication_date>2026-01-01</news:publication_date>"
        "</news:news></url></urlset>"
    )
    assert not SITEMAP.is_valid(news_without_title)


def test_robots_txt_names_the_sitemap_and_keeps_crawlers_out_of_search(client):
    response = client.get("/robots.txt")
    assert response.mimetype == "text/plain"
    lines = response.data.decode().splitlines()
    assert "User-agent: *" in lines
    assert "Disallow: /search" in lines and "Disallow: /api/" in lines
    assert "Sitemap: http://localhost/sitemap.xml" in lines
    assert "Disallow: /news/" not in lines and "Disallow: /" not in lines


def test_the_sitemap_index_points_at_one_valid_sitemap_per_month(client):
    index = valid(SITEINDEX, client.get("/sitemap.xml").data, "sitemapindex")
    assert locs(index) == [
        "http://localhost/sitemaps/pages.xml",
        "http://localhost/sitemaps/2024-01.xml",
        "http://localhost/sitemaps/2024-02.xml",
        "http://localhost/sitemaps/2024-03.xml",
    ]
    listed = []
    for url in locs(index):
        response = client.get(url.removeprefix("http://localhost"))
        assert response.mimetype == "application/xml"
        listed += locs(valid(SITEMAP, response.data, "urlset"))
    articles = [u for u in listed if u.count("/") == 5 and not u.endswith("/")]
    assert len(articles) == len(set(articles)) == 11
    for url in listed:
        assert client.get(url.removeprefix("http://localhost")).status_code == 200, url
    assert "http://localhost/news/science/" in listed and "http://localhost/" in listed


def test_a_month_sitemap_gives_each_story_its_last_change(client):
    tree = valid(SITEMAP, client.get("/sitemaps/2024-01.xml").data, "urlset")
    stamps = {
        url.findtext("s:loc", namespaces=NS): url.findtext("s:lastmod", namespaces=NS)
        for url in tree.iterfind("s:url", NS)
    }
    # Published 2024-01-15T09:30:00+01:00.
    keeper = (
        "http://localhost/news/harbour-town/lighthouse-keeper-retires-after-forty-years"
    )
    assert stamps[keeper] == "2024-01-15T08:30:00Z"
    assert len(stamps) == 4


@pytest.mark.parametrize(
    "url",
    [
        "/sitemaps/2023-01.xml",
        "/sitemaps/2024-13.xml",
        "/sitemaps/x.xml",
        "/sitemaps/2024-01.xml?page=2",
        "/sitemaps/2024-01.xml?page=00",
        "/sitemaps/0000-01.xml",
        "/sitemaps/9999-12.xml",
    ],
)
def test_sitemaps_for_months_without_stories_are_404s(client, url):
    assert client.get(url).status_code == 404


def test_a_month_over_the_limit_is_split_into_parts(client, monkeypatch):
    monkeypatch.setattr(sitemaps, "SITEMAP_URLS", 3)
    index = valid(SITEINDEX, client.get("/sitemap.xml").data, "sitemapindex")
    january = [u for u in locs(index) if "2024-01" in u]
    assert january == [
        "http://localhost/sitemaps/2024-01.xml",
        "http://localhost/sitemaps/2024-01.xml?page=2",
    ]
    first = locs(valid(SITEMAP, client.get("/sitemaps/2024-01.xml").data, "urlset"))
    second = locs(
        valid(SITEMAP, client.get("/sitemaps/2024-01.xml?page=2").data, "urlset")
    )
    assert len(first) == 3 and len(second) == 1 and not set(first) & set(second)


def test_the_news_sitemap_lists_the_last_48_hours(app, client, tmp_path):
    now = datetime.now(UTC)
    stamp = lambda hours: (now - timedelta(hours=hours)).isoformat(timespec="seconds")  # noqa: E731
    index = valid(SITEINDEX, client.get("/sitemap.xml").data, "sitemapindex")
    assert "http://localhost/sitemaps/news.xml" not in locs(index)
    import_records(
        app,
        tmp_path / "fresh.jsonl",
        record("n-1", 'An hour old & "quoted" </script>', "Text.", published=stamp(1)),
        record("n-2", "Nearly two days old", "Text.", published=stamp(47)),
        record("n-3", "Three days old", "Text.", published=stamp(72)),
    )
    index = valid(SITEINDEX, client.get("/sitemap.xml").data, "sitemapindex")
    assert "http://localhost/sitemaps/news.xml" in locs(index)
    news = valid(SITEMAP, client.get("/sitemaps/news.xml").data, "urlset")
    titles = [t.text for t in news.iterfind(".//news:title", NS)]
    assert titles == ['An hour old & "quoted" </script>', "Nearly two days old"]
    assert {n.text for n in news.iterfind(".//news:name", NS)} == {"Reader"}
    assert {n.text for n in news.iterfind(".//news:language", NS)} == {"en"}
    dates = [d.text for d in news.iterfind(".//news:publication_date", NS)]
    assert datetime.fromisoformat(dates[0]) == datetime.fromisoformat(stamp(1))


def test_sitemaps_are_cached_and_answer_conditional_requests(client):
    for url in ("/sitemap.xml", "/sitemaps/2024-02.xml", "/robots.txt"):
        first = client.get(url)
        again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304


def test_sitemaps_use_site_url(make_app, tmp_path):
    app = make_app(tmp_path, SITE_URL="https://news.example.org")
    import_records(app, tmp_path / "a.jsonl", record("a-1", "One", "Text."))
    client = app.test_client()
    index = valid(SITEINDEX, client.get("/sitemap.xml").data, "sitemapindex")
    assert all(u.startswith("https://news.example.org/") for u in locs(index))
    assert (
        b"Sitemap: https://news.example.org/sitemap.xml"
        in client.get("/robots.txt").data
    )
