"""RSS, Atom and JSON Feed, as feed readers and validators see them."""

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser
import jsonschema
import pytest

from conftest import import_records, record

SCHEMAS = Path(__file__).parent / "schemas"
JSON_FEED_SCHEMA = json.loads((SCHEMAS / "jsonfeed-1.1.schema.json").read_text())
NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
}
FEEDS = {
    "/feeds/rss.xml": ("rss20", "application/rss+xml"),
    "/feeds/atom.xml": ("atom10", "application/atom+xml"),
    "/feeds/harbour-town/rss.xml": ("rss20", "application/rss+xml"),
    "/feeds/harbour-town/atom.xml": ("atom10", "application/atom+xml"),
}
JSON_FEEDS = ["/feeds/feed.json", "/feeds/harbour-town/feed.json"]
HOSTILE = "Quotes \"double\" 'single' & AT&T </script><script>alert(1)</script> <b>bold</b> 😀 ]]>"
RFC_822 = re.compile(
    r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$"
)
RFC_3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def parsed(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return response, feedparser.parse(response.data)


@pytest.mark.parametrize("url", FEEDS)
def test_each_xml_feed_parses_cleanly_as_its_format(client, url):
    version, media_type = FEEDS[url]
    response, feed = parsed(client, url)
    assert response.mimetype == media_type
    assert feed.bozo is False, feed.get("bozo_exception")
    assert feed.version == version
    expected = 11 if "harbour" not in url else 5
    assert len(feed.entries) == expected
    assert feed.feed.link.startswith("http://localhost/")


@pytest.mark.parametrize("url", JSON_FEEDS)
def test_each_json_feed_validates_against_the_json_feed_schema(client, url):
    response = client.get(url)
    assert response.mimetype == "application/feed+json"
    body = response.get_json()
    jsonschema.validate(body, JSON_FEED_SCHEMA)
    assert body["feed_url"] == f"http://localhost{url}"
    assert len(body["items"]) == (5 if "harbour" in url else 11)


def test_the_schema_rejects_what_the_specification_forbids():
    bad = {"version": "https://jsonfeed.org/version/1.1", "title": "x"}
    for broken in (
        bad,  # no items
        {**bad, "items": [{"id": "1"}]},  # no content
        {**bad, "items": [{"id": "1", "content_html": "", "date_published": "5 May"}]},
        {**bad, "items": [], "version": "1.1"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, JSON_FEED_SCHEMA)


def test_entries_are_newest_first_with_permalinks_authors_and_categories(client):
    _, feed = parsed(client, "/feeds/atom.xml")
    first = feed.entries[0]
    assert first.title == "Ferry operator reports record profits"
    assert first.link == (
        "http://localhost/news/economie-markets/ferry-operator-reports-record-profits"
    )
    assert first.id == first.link
    dates = [entry.published_parsed for entry in feed.entries]
    assert dates == sorted(dates, reverse=True)
    bison = next(e for e in feed.entries if e.title.startswith("Żubr"))
    assert bison.author == "Łukasz Żółć"
    assert [t.term for t in bison.tags] == ["Science", "wildlife", "Żubr"]
    assert "Wikinews, the free news source" in bison.rights


def test_dates_are_rfc_822_in_rss_and_rfc_3339_in_atom_and_json(client):
    rss = ET.fromstring(client.get("/feeds/harbour-town/rss.xml").data)
    atom = ET.fromstring(client.get("/feeds/harbour-town/atom.xml").data)
    items = client.get("/feeds/harbour-town/feed.json").get_json()["items"]
    keeper = "Lighthouse keeper retires after forty years"
    # Published 2024-01-15T09:30:00+01:00: every format says the same instant.
    instant = datetime(2024, 1, 15, 8, 30, tzinfo=UTC)
    [pub_date] = [
        i.findtext("pubDate") for i in rss.iter("item") if i.findtext("title") == keeper
    ]
    assert RFC_822.match(pub_date) and parsedate_to_datetime(pub_date) == instant
    [entry] = [
        e
        for e in atom.iterfind("atom:entry", NS)
        if e.findtext("atom:title", namespaces=NS) == keeper
    ]
    for name in ("published", "updated"):
        stamp = entry.findtext(f"atom:{name}", namespaces=NS)
        assert RFC_3339.match(stamp) and datetime.fromisoformat(stamp) == instant
    [item] = [i for i in items if i["title"] == keeper]
    assert datetime.fromisoformat(item["date_published"]) == instant
    for stamp in (
        rss.findtext("channel/lastBuildDate"),
        *(i.findtext("pubDate") for i in rss.iter("item")),
    ):
        assert RFC_822.match(stamp), stamp


def test_feeds_carry_the_full_sanitised_body_and_a_summary(client):
    story = client.get(
        "/news/harbour-town/storm-damage-hostile-markup-test"
    ).data.decode()
    rss = ET.fromstring(client.get("/feeds/rss.xml").data)
    [item] = [i for i in rss.iter("item") if "hostile" in i.findtext("title")]
    content = item.findtext("content:encoded", namespaces=NS)
    assert "<script" not in content and "steal()" not in content
    assert 'alt="A wave over the sea wall"' in content
    paragraphs = re.findall(r"<p>(.*?)</p>", content)
    assert len(paragraphs) >= 3
    # Every paragraph of the page's body is in the feed, not a teaser; only its
    # links are absolute there, and a picture not kept on the site is on the page
    # only once it is.
    for paragraph in paragraphs:
        if "<img" not in paragraph:
            assert paragraph.replace('href="http://localhost/', 'href="/') in story
    assert item.findtext("description")
    assert item.find("description").text == item.findtext("description")


def test_a_feed_holds_the_newest_fifty_stories(make_app, tmp_path):
    app = make_app(tmp_path)
    import_records(
        app,
        tmp_path / "many.jsonl",
        *(
            record(
                f"m-{n}",
                f"Story {n}",
                "Text.",
                published=f"2024-03-{n % 28 + 1:02}T{n % 24:02}:00:00Z",
            )
            for n in range(60)
        ),
    )
    client = app.test_client()
    _, rss = parsed(client, "/feeds/rss.xml")
    atom = client.get("/feeds/desk/atom.xml")
    items = client.get("/feeds/feed.json").get_json()["items"]
    assert len(rss.entries) == 50 and len(items) == 50
    assert len(feedparser.parse(atom.data).entries) == 50
    newest = sorted(
        (f"2024-03-{n % 28 + 1:02}T{n % 24:02}", f"Story {n}") for n in range(60)
    )[::-1][:50]
    assert [e.title for e in rss.entries] == [title for _, title in newest]


def test_hostile_headlines_survive_every_format_intact_and_inert(make_app, tmp_path):
    app = make_app(tmp_path)
    import_records(
        app,
        tmp_path / "hostile.jsonl",
        record(
            "h-1",
            HOSTILE,
            "Body with <a href='/news/desk/'>a relative link</a> and a <img src='pic.jpg' alt='A picture'> picture.",
            author=HOSTILE,
            tags=[HOSTILE],
            dek=HOSTILE,
        ),
    )
    client = app.test_client()
    rss = ET.fromstring(client.get("/feeds/rss.xml").data)
    atom = ET.fromstring(client.get("/feeds/atom.xml").data)
    item = rss.find("channel/item")
    entry = atom.find("atom:entry", NS)
    texts = [
        item.find("title"),
        item.find("dc:creator", NS),
        item.find("description"),
        entry.find("atom:title", NS),
        entry.find("atom:author/atom:name", NS),
        entry.find("atom:summary", NS),
    ]
    for element in texts:
        assert element.text == HOSTILE
        assert len(element) == 0  # text, not markup: no child elements
    assert [c.text for c in item.iter("category")] == ["Desk", HOSTILE]
    assert [c.get("term") for c in entry.iter(f"{{{NS['atom']}}}category")] == [
        "Desk",
        HOSTILE,
    ]
    for feed in (
        feedparser.parse(client.get(u).data) for u in FEEDS if "harbour" not in u
    ):
        assert feed.bozo is False
        assert feed.entries[0].title == HOSTILE
    [json_item] = client.get("/feeds/feed.json").get_json()["items"]
    assert json_item["title"] == json_item["summary"] == HOSTILE
    assert json_item["authors"] == [{"name": HOSTILE}]
    # Relative links and images resolve against the story's own address.
    url = "http://localhost/news/desk/" + json_item["url"].rsplit("/", 1)[1]
    assert (
        '<a href="http://localhost/news/desk/">a relative link</a>'
        in json_item["content_html"]
    )
    assert 'src="http://localhost/news/desk/pic.jpg"' in json_item["content_html"]
    assert json_item["url"] == url


def test_an_unknown_section_has_no_feed(client):
    for name in ("rss.xml", "atom.xml", "feed.json"):
        assert client.get(f"/feeds/no-such-section/{name}").status_code == 404


def test_feeds_answer_conditional_requests_and_are_cached(client):
    for url in [*FEEDS, *JSON_FEEDS]:
        first = client.get(url)
        assert first.headers["ETag"] and first.headers["Last-Modified"]
        assert "must-revalidate" in first.headers["Cache-Control"]
        again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and again.data == b""
        since = client.get(
            url, headers={"If-Modified-Since": first.headers["Last-Modified"]}
        )
        assert since.status_code == 304
        packed = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert packed.headers["Content-Encoding"] == "gzip"


def test_a_new_story_reaches_the_feeds_at_once(app, client, tmp_path):
    before = client.get("/feeds/harbour-town/rss.xml")
    import_records(
        app,
        tmp_path / "new.jsonl",
        record(
            "new-1",
            "Brand new harbour story",
            "Text.",
            section="Harbour Town",
            published="2025-01-01",
        ),
    )
    after = client.get(
        "/feeds/harbour-town/rss.xml", headers={"If-None-Match": before.headers["ETag"]}
    )
    assert after.status_code == 200
    assert feedparser.parse(after.data).entries[0].title == "Brand new harbour story"


def test_every_page_links_the_site_feeds_and_section_pages_their_own(client):
    home = client.get("/").data.decode()
    section = client.get("/news/science/").data.decode()
    article = client.get(
        "/news/science/comet-visible-to-the-naked-eye-this-week"
    ).data.decode()
    alternates = re.compile(
        r'<link rel="alternate" type="([^"]+)" title="([^"]+)" href="([^"]+)">'
    )
    site = [(t, h) for t, _, h in alternates.findall(home)]
    assert site == [
        ("application/rss+xml", "/feeds/rss.xml"),
        ("application/atom+xml", "/feeds/atom.xml"),
        ("application/feed+json", "/feeds/feed.json"),
    ]
    for page in (section, article):
        found = [(t, h) for t, _, h in alternates.findall(page)]
        assert found[:3] == [
            ("application/rss+xml", "/feeds/science/rss.xml"),
            ("application/atom+xml", "/feeds/science/atom.xml"),
            ("application/feed+json", "/feeds/science/feed.json"),
        ]
        assert found[3:] == site
    assert 'aria-label="RSS feed of Science">RSS</a>' in section
    for media_type, url in site:
        assert client.get(url).mimetype == media_type
