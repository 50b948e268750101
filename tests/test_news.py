import re
from html import unescape

import pytest

from conftest import import_records, record

pytestmark = pytest.mark.both_engines
FISH = "/news/harbour-town/fish-market-moves-to-the-old-customs-house"
FIRST = "/news/harbour-town/ferry-service-resumes-after-winter-storms"
LAST = "/news/harbour-town/harbour-festival-returns-with-tall-ships"


def between(html: str, start: str, end: str) -> str:
    """Return the markup from the first `start` to the next `end` after it."""
    head = html.index(start)
    return html[head : html.index(end, head)]


def headlines(html: str) -> list[str]:
    return [
        unescape(h)
        for h in re.findall(r'<a href="/news/[^"]+/[^"/]+">([^<]+)</a>', html)
    ]


def test_article_page_shows_every_element(client):
    page = client.get(FISH)
    assert page.status_code == 200
    html = page.text
    header = between(html, '<header class="story-header">', "</header>")
    assert (
        '<a class="section-link" href="/news/harbour-town/">Harbour Town</a>' in header
    )
    assert '<time datetime="2024-02-03T00:00:00+00:00">3 February 2024</time>' in header
    assert "1 min read" in header
    assert (
        '<h1 class="story-headline">Fish market moves to the old customs house</h1>'
        in header
    )
    assert (
        '<p class="standfirst">Traders welcome a roof over their stalls.</p>' in header
    )
    assert '<p class="byline">By Tom Ashby</p>' in header
    assert "<strong>Opening day</strong> is set for March." in html
    assert "<title>Fish market moves to the old customs house · Reader</title>" in html

    neighbours = between(html, '<nav class="story-neighbours"', "</nav>")
    assert "Lighthouse keeper retires after forty years" in neighbours
    assert 'rel="prev"' in neighbours and 'rel="next"' in neighbours
    assert "Storm damage: hostile markup test" in neighbours

    latest = between(html, '<section class="latest-from"', "</section>")
    assert "Latest from Harbour Town" in latest
    assert "Harbour festival returns with tall ships" in latest
    assert 'class="article-card-excerpt"' in latest

    dont_miss = between(html, '<section class="dont-miss"', "</section>")
    assert "Don’t miss" in dont_miss
    assert "/news/harbour-town/" not in dont_miss.replace(
        'href="/news/harbour-town/"', ""
    )
    assert (
        len(re.findall(r'class="article-card"', dont_miss)) == 2
    )  # two other sections

    assert '<a class="back-to-top" href="#top">Back to top</a>' in html
    assert '<body id="top" data-page="news.article">' in html


def test_also_read_sits_inside_the_body_after_the_first_third(client):
    html = client.get(FISH).text
    body = between(html, '<div class="story-body">', '<footer class="site-footer">')
    before, after = body.split('<aside class="also-read"', 1)
    assert before.count("<p>") == 2, "five paragraphs: the link follows the second"
    assert "Traders had asked for shelter" in before
    assert "Opening day" in after
    also = between(after, "Also read", "</aside>")
    # The closest story sharing the rarest tag ("ferries"): not a neighbour.
    assert "Port tariffs cut to attract cargo lines" in also


def test_no_story_appears_twice_on_an_article_page(client):
    for url in (
        FISH,
        FIRST,
        LAST,
        "/news/science/comet-visible-to-the-naked-eye-this-week",
    ):
        html = client.get(url).text
        main = between(html, '<main id="content"', "</main>")
        linked = headlines(main)
        assert len(linked) == len(set(linked)), (url, linked)
        own = unescape(re.search(r'<h1 class="story-headline">([^<]+)</h1>', main)[1])
        assert own not in linked


def test_first_and_last_story_of_a_section_have_one_neighbour(client):
    first = between(client.get(FIRST).text, '<nav class="story-neighbours"', "</nav>")
    assert "Previous story" not in first
    assert "Next story" in first and "Lighthouse keeper retires" in first
    last = between(client.get(LAST).text, '<nav class="story-neighbours"', "</nav>")
    assert "Next story" not in last
    assert "Previous story" in last and "Storm damage" in last


def test_section_with_a_single_story_has_no_neighbour_links(tmp_path, make_app):
    app = make_app(tmp_path)
    import_records(
        app,
        tmp_path / "one.jsonl",
        record("solo", "Only one", "Alone.", section="Solo"),
    )
    html = app.test_client().get("/news/solo/only-one").text
    assert "story-neighbours" not in html
    assert "also-read" not in html and "latest-from" not in html
    assert "Alone." in html


def test_updated_date_shows_only_when_it_differs(client):
    assert "Updated" not in client.get(FISH).text


def test_reading_time_follows_the_words_per_minute_setting(tmp_path, make_app):
    from conftest import ARTICLES

    app = make_app(tmp_path, WORDS_PER_MINUTE=50)
    app.test_cli_runner().invoke(args=["import", str(ARTICLES)])
    html = app.test_client().get(LAST).text
    # 12 paragraphs of 14 words: 168 words at 50 a minute.
    assert "4 min read" in html


def test_updated_article_at_an_old_section_address_redirects(client):
    page = client.get("/news/science/fish-market-moves-to-the-old-customs-house")
    assert page.status_code == 301
    assert page.headers["Location"].endswith(FISH)


def test_headlines_and_bylines_are_escaped(client):
    html = client.get("/news/science/").text
    assert (
        "&lt;b&gt;Quoted&lt;/b&gt; &#34;headline&#34; &amp; &lt;/script&gt; test"
        in html
    )
    article = client.get(
        re.search(r'href="(/news/science/b-quoted[^"]*)"', html)[1]
    ).text
    assert "<b>Quoted</b>" not in article and "</script> test" not in article
    assert "By A &lt;Byline&gt; &amp; Co" in article
    assert "Plain text only: &lt;em&gt;not emphasis&lt;/em&gt;." in article


def test_hostile_article_renders_inert(client):
    html = client.get("/news/harbour-town/storm-damage-hostile-markup-test").text
    body = between(html, '<div class="story-body">', "</article>")
    assert "<script" not in body and "onclick" not in body and "onerror" not in body
    assert "javascript:" not in body and "<style" not in body and "<iframe" not in body
    # Its picture is not kept on the site (no test fetches from elsewhere), so
    # the page shows none rather than load it from another site.
    assert "img.example.net" not in body


def test_unicode_survives_from_import_to_page(client):
    html = client.get("/news/science/").text
    url = re.search(r'href="(/news/science/zubr-herd[^"]*)"', html)[1]
    page = client.get(url).text
    assert "Żubr herd grows in the eastern forest — naïve café study finds 🦬" in page
    assert "By Łukasz Żółć" in page and "東京" in page


def test_source_credit_and_licence_shown_for_known_sources(client):
    html = client.get("/news/science/").text
    page = client.get(re.search(r'href="(/news/science/zubr-herd[^"]*)"', html)[1]).text
    credit = between(page, '<footer class="story-source">', "</footer>")
    assert "Wikinews, the free news source" in credit
    assert 'href="https://en.wikinews.org/wiki/Example_bison_story"' in credit
    assert "CC BY 2.5" in credit


def test_section_listing_is_newest_first_with_excerpts(client):
    page = client.get("/news/harbour-town/")
    assert page.status_code == 200
    listing = between(
        page.text, '<div class="listing">', '<footer class="site-footer">'
    )
    assert headlines(listing) == [
        "Harbour festival returns with tall ships",
        "Storm damage: hostile markup test",
        "Fish market moves to the old customs house",
        "Lighthouse keeper retires after forty years",
        "Ferry service resumes after winter storms",
    ]
    assert "Traders welcome a roof over their stalls." in listing
    assert "5 stories" in page.text
    assert 'aria-current="page">Harbour Town</a>' in page.text


@pytest.fixture
def paged_client(client, app):
    app.config["PAGE_SIZE"] = 2
    return client


def test_pagination_walks_the_section(paged_client):
    first = paged_client.get("/news/harbour-town/")
    assert 'rel="next" href="/news/harbour-town/?page=2"' in first.text
    assert 'rel="prev"' not in first.text
    assert "Page 1 of 3" in first.text
    middle = paged_client.get("/news/harbour-town/?page=2")
    assert 'rel="prev" href="/news/harbour-town/?page=1"' in middle.text
    assert 'rel="next" href="/news/harbour-town/?page=3"' in middle.text
    assert headlines(between(middle.text, '<div class="listing">', "</main>"))[:2] == [
        "Fish market moves to the old customs house",
        "Lighthouse keeper retires after forty years",
    ]
    last = paged_client.get("/news/harbour-town/?page=3")
    assert 'rel="next"' not in last.text
    assert headlines(between(last.text, '<div class="listing">', "</main>"))[:1] == [
        "Ferry service resumes after winter storms"
    ]


@pytest.mark.parametrize("page", ["0", "4", "-1", "two", "1.5", "", "9" * 40, "１"])
def test_out_of_range_or_malformed_pages_are_404(paged_client, page):
    assert paged_client.get(f"/news/harbour-town/?page={page}").status_code == 404


def test_all_stories_listing_covers_every_section(client):
    page = client.get("/news/")
    assert page.status_code == 200
    assert "11 stories" in page.text
    assert headlines(between(page.text, '<div class="listing">', "</main>"))[0] == (
        "Ferry operator reports record profits"
    )


def test_home_page_has_a_lead_and_each_section(client):
    html = client.get("/").text
    lead = between(html, '<article class="lead-story">', "</article>")
    assert "Ferry operator reports record profits" in lead
    for name in ("Harbour Town", "Science", "Économie &amp; Markets"):
        assert f">{name}</a>\n  </h2>" in html
    assert html.count("Ferry operator reports record profits") == 1
    assert 'href="/news/"' in html


def test_empty_archive_home_page_says_how_to_import(empty_app):
    html = empty_app.test_client().get("/").text
    assert "The archive is empty" in html and "reader import --demo" in html


@pytest.mark.parametrize(
    "url",
    [
        "/news/nowhere/",
        "/news/harbour-town/no-such-story",
        "/missing",
        "/news/%00/",
        "/news/harbour-town/..%2F..%2Fetc%2Fpasswd",
    ],
)
def test_unknown_pages_are_friendly_404s(client, url):
    page = client.get(url)
    assert page.status_code == 404
    assert "Page not found" in page.text
    assert 'href="/news/harbour-town/"' in page.text, "the 404 page lists sections"


@pytest.mark.parametrize("host", ["..", "x" * 300])
def test_a_host_no_url_can_be_built_for_is_a_plain_400(client, host):
    page = client.get("/", headers={"Host": host})
    assert page.status_code == 400
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_about_page_credits_the_demo_sources(client):
    html = client.get("/about").text
    assert "Creative Commons Attribution 2.5" in html
    assert "Attribution-ShareAlike 4.0" in html
    assert "11 stories" in html
    assert 'href="/about"' in client.get("/").text


def test_pages_use_one_hashed_stylesheet_and_no_script(client):
    html = client.get(FISH).text
    without_script = re.findall(r"<noscript>(.*?)</noscript>", html, re.S)
    html = re.sub(r"<noscript>.*?</noscript>", "", html, flags=re.S)
    sheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert len(sheets) == 1 and re.fullmatch(
        r"/static/site\.css\?v=[0-9a-f]{10}", sheets[0]
    )
    assert re.fullmatch(
        r'<link rel="stylesheet" href="/static/noscript\.css\?v=[0-9a-f]{10}">',
        "".join(without_script),
    ), "a second sheet only for readers without JavaScript"
    assert "style=" not in html and "<style" not in html
    with client.get(sheets[0]) as static:
        assert static.status_code == 200
        assert static.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_a_storys_own_headings_sit_under_its_headline_without_gaps(
    app, client, tmp_path
):
    import_records(
        app,
        tmp_path / "headed.jsonl",
        record(
            "headed",
            "Council meets",
            "Opening.</p><h3>Issues</h3><p>Many.</p><h5>Roads</h5><p>Potholes.",
            section="Harbour Town",
        ),
    )
    html = client.get("/news/harbour-town/council-meets").text
    levels = [int(n) for n in re.findall(r"<h([1-6])\b", html.split("<main", 1)[1])]
    assert levels[:3] == [1, 2, 3], "h1 headline, then the story's h3 and h5"
    assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), levels
    assert "<h2>Issues</h2>" in html and "<h3>Roads</h3>" in html
