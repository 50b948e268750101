"""What search engines and link previews read: canonical URLs, descriptions, Open
Graph and Twitter tags, and schema.org JSON-LD."""

import json
from html.parser import HTMLParser

from conftest import import_records, record

HOSTILE = (
    "Quotes \"double\" 'single' & AT&T </script><script>alert(1)</script> <!-- 😀 ]]>"
)
STORM = "/news/harbour-town/storm-damage-hostile-markup-test"
COMET = "/news/science/comet-visible-to-the-naked-eye-this-week"


class HeadReader(HTMLParser):
    """Collect what a crawler reads from a page: meta tags, links, JSON-LD."""

    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, list[str]] = {}
        self.canonical: list[str] = []
        self.linked_data: list[dict] = []
        self._script: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "meta" and "content" in attrs:
            key = attrs.get("property") or attrs.get("name")
            self.meta.setdefault(key, []).append(attrs["content"])
        elif tag == "link" and attrs.get("rel") == "canonical":
            self.canonical.append(attrs["href"])
        elif tag == "script" and attrs.get("type") == "application/ld+json":
            self._script = []

    def handle_data(self, data):
        if self._script is not None:
            self._script.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.linked_data.append(json.loads("".join(self._script)))
            self._script = None


def read(client, url: str) -> HeadReader:
    response = client.get(url)
    assert response.status_code == 200, url
    reader = HeadReader()
    reader.feed(response.data.decode())
    return reader


def of_type(reader: HeadReader, kind: str) -> dict:
    [found] = [item for item in reader.linked_data if item["@type"] == kind]
    assert found["@context"] == "https://schema.org"
    return found


def test_an_article_has_a_canonical_url_and_a_description_from_its_standfirst(client):
    page = read(client, "/news/harbour-town/ferry-service-resumes-after-winter-storms")
    assert page.canonical == [
        "http://localhost/news/harbour-town/ferry-service-resumes-after-winter-storms"
    ]
    assert page.meta["description"] == [
        "Crossings restart on Monday with a reduced timetable."
    ]


def test_without_a_standfirst_the_description_is_the_first_paragraph(client):
    page = read(
        client, "/news/harbour-town/lighthouse-keeper-retires-after-forty-years"
    )
    assert page.meta["description"] == [
        "After forty years tending the light, the keeper hands over the keys this week."
    ]


def test_an_article_describes_itself_as_a_news_article(client):
    page = read(client, COMET)
    article = of_type(page, "NewsArticle")
    url = "http://localhost" + COMET
    assert article["headline"] == "Comet visible to the naked eye this week"
    assert article["url"] == article["@id"] == article["mainEntityOfPage"]["@id"] == url
    assert article["datePublished"] == article["dateModified"] == "2024-01-10T00:00:00Z"
    assert article["author"] == [{"@type": "Person", "name": "Ana Ortiz"}]
    assert article["articleSection"] == "Science"
    assert article["isAccessibleForFree"] is True
    publisher = article["publisher"]
    assert publisher["@type"] == "Organization" and publisher["name"] == "Reader"
    assert publisher["logo"]["url"].startswith(
        "http://localhost/static/icons/icon-512.png"
    )
    assert "image" not in article  # the story has no picture
    assert article["description"] == page.meta["description"][0]
    crumbs = of_type(page, "BreadcrumbList")["itemListElement"]
    assert [(c["position"], c["name"], c["item"]) for c in crumbs] == [
        (1, "Reader", "http://localhost/"),
        (2, "Science", "http://localhost/news/science/"),
        (3, "Comet visible to the naked eye this week", url),
    ]


def test_a_story_whose_picture_is_not_kept_shares_the_site_icon(client):
    # test_picture_pipeline shares a kept picture; one from elsewhere is not named.
    page = read(client, STORM)
    assert "image" not in of_type(page, "NewsArticle")
    assert "img.example.net" not in page.meta["og:image"][0]
    assert page.meta["twitter:card"] == ["summary"]


def test_a_story_credits_its_byline_else_its_source_else_the_site(
    app, client, tmp_path
):
    page = read(
        client,
        "/news/science/zubr-herd-grows-in-the-eastern-forest-naive-cafe-study-finds",
    )
    article = of_type(page, "NewsArticle")
    assert article["author"] == [{"@type": "Person", "name": "Łukasz Żółć"}]
    assert article["license"] == "https://creativecommons.org/licenses/by/2.5/"
    assert article["isBasedOn"] == "https://en.wikinews.org/wiki/Example_bison_story"
    import_records(
        app,
        tmp_path / "wikinews.jsonl",
        record(
            "w-1",
            "Unsigned story",
            "Text.",
            source_url="https://en.wikinews.org/wiki/X",
        ),
    )
    unsigned = of_type(read(client, "/news/desk/unsigned-story"), "NewsArticle")
    assert unsigned["author"] == [
        {"@type": "Organization", "name": "Wikinews, the free news source"}
    ]
    keeper = of_type(
        read(client, "/news/harbour-town/lighthouse-keeper-retires-after-forty-years"),
        "NewsArticle",
    )
    assert keeper["author"] == [{"@type": "Organization", "name": "Reader"}]


def test_an_article_has_open_graph_and_twitter_cards(client):
    page = read(client, COMET)
    meta = page.meta
    assert meta["og:type"] == ["article"]
    assert (
        meta["og:title"]
        == meta["twitter:title"]
        == ["Comet visible to the naked eye this week"]
    )
    assert meta["og:url"] == ["http://localhost" + COMET]
    assert meta["og:site_name"] == ["Reader"]
    assert meta["og:description"] == meta["twitter:description"] == meta["description"]
    assert meta["og:image"][0].startswith("http://localhost/static/icons/icon-512.png")
    assert meta["twitter:card"] == ["summary"]
    assert meta["article:published_time"] == ["2024-01-10T00:00:00Z"]
    assert meta["article:section"] == ["Science"]
    assert meta["article:tag"] == ["astronomy"]


def test_section_pages_are_collection_pages_of_their_stories(make_app, tmp_path):
    app = make_app(tmp_path, PAGE_SIZE=2)
    import_records(
        app,
        tmp_path / "five.jsonl",
        *(
            record(f"s-{n}", f"Story {n}", "Text.", published=f"2024-01-0{n}")
            for n in range(1, 6)
        ),
    )
    client = app.test_client()
    page = read(client, "/news/desk/?page=2")
    assert page.canonical == ["http://localhost/news/desk/?page=2"]
    collection = of_type(page, "CollectionPage")
    assert collection["name"] == "Desk"
    assert collection["url"] == "http://localhost/news/desk/?page=2"
    items = collection["mainEntity"]["itemListElement"]
    assert [(i["position"], i["url"]) for i in items] == [
        (3, "http://localhost/news/desk/story-3"),
        (4, "http://localhost/news/desk/story-2"),
    ]
    assert page.meta["og:type"] == ["website"]
    assert page.meta["og:url"] == ["http://localhost/news/desk/?page=2"]
    assert page.meta["description"] == [
        "The newest Desk stories from Reader, page 2 of 3."
    ]
    assert of_type(page, "BreadcrumbList")["itemListElement"][-1]["name"] == "Desk"
    assert read(client, "/news/desk/").canonical == ["http://localhost/news/desk/"]
    assert of_type(read(client, "/news/"), "CollectionPage")["name"] == "All stories"


def test_the_home_page_describes_the_site_and_its_search(client):
    page = read(client, "/")
    site = of_type(page, "WebSite")
    assert site["url"] == "http://localhost/" and site["name"] == "Reader"
    action = site["potentialAction"]
    assert (
        action["target"]["urlTemplate"]
        == "http://localhost/search?q={search_term_string}"
    )
    assert action["query-input"] == "required name=search_term_string"
    assert page.canonical == ["http://localhost/"]


def test_search_pages_have_no_canonical_and_stay_out_of_the_index(client):
    page = read(client, "/search?q=ferry")
    assert page.canonical == [] and page.linked_data == []
    assert page.meta["robots"] == ["noindex"]


def test_hostile_headlines_stay_intact_and_inert_in_every_tag(make_app, tmp_path):
    app = make_app(tmp_path)
    import_records(
        app,
        tmp_path / "hostile.jsonl",
        record("h-1", HOSTILE, "Text.", dek=HOSTILE, author=HOSTILE, tags=[HOSTILE]),
    )
    client = app.test_client()
    html = client.get("/news/desk/").data.decode()
    url = "/news/desk/" + html.split('href="/news/desk/', 2)[2].split('"', 1)[0]
    body = client.get(url).data.decode()
    # The only way out of a script element is "</script": article text never has it.
    scripts = body.split('<script type="application/ld+json">')[1:]
    assert len(scripts) == 2
    for script in scripts:
        content = script.split("</script>", 1)[0]
        assert "<" not in content and ">" not in content
    page = read(client, url)
    article = of_type(page, "NewsArticle")
    assert article["headline"] == article["description"] == HOSTILE
    assert article["author"] == [{"@type": "Person", "name": HOSTILE}]
    assert article["keywords"] == [HOSTILE]
    assert of_type(page, "BreadcrumbList")["itemListElement"][-1]["name"] == HOSTILE
    for key in (
        "og:title",
        "og:description",
        "twitter:title",
        "description",
        "article:tag",
    ):
        assert page.meta[key] == [HOSTILE], key
    # Nothing the headline holds became markup: the only scripts are the two JSON-LD
    # blocks, theme.js and app.js.
    assert body.count("<script") == 2 + 2
