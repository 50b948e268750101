import fcntl
import re
import threading
from pathlib import Path

import pytest

from conftest import ARTICLES, import_records, record
from readerapp.search import ArchiveIndex

# Search reads its hits' stories from the store: on both engines (#17). The tests
# of the query parser alone stay on SQLite.
pytestmark = pytest.mark.both_engines


def result_headlines(html: str) -> list[str]:
    return re.findall(
        r'<h2 class="article-card-headline"><a href="[^"]+">([^<]+)</a>', html
    )


def total(client, query: str, **params) -> int:
    data = client.get("/api/search", query_string={"q": query, **params}).get_json()
    return data["total"]


@pytest.fixture
def ranked(make_app, tmp_path):
    app = make_app(tmp_path)
    import_records(
        app,
        tmp_path / "ranked.jsonl",
        record(
            "r-1",
            "Quiet day at the port",
            "A lighthouse stood over the bay.",
            published="2024-03-01",
        ),
        record(
            "r-2",
            "Lighthouse restored by volunteers",
            "The tower shines again.",
            published="2024-01-01",
        ),
        record(
            "r-3",
            "Market report",
            "Prices of cod rose.",
            section="Money",
            published="2024-02-01",
        ),
    )
    return app.test_client()


def test_a_headline_match_outranks_a_body_match(ranked):
    html = ranked.get("/search?q=lighthouse").text
    assert result_headlines(html) == [
        "Lighthouse restored by volunteers",
        "Quiet day at the port",
    ]
    assert "2 results" in html


def test_sorting_by_date_overrides_relevance(ranked):
    newest = result_headlines(ranked.get("/search?q=lighthouse&sort=newest").text)
    oldest = result_headlines(ranked.get("/search?q=lighthouse&sort=oldest").text)
    assert newest == ["Quiet day at the port", "Lighthouse restored by volunteers"]
    assert oldest == list(reversed(newest))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ferry", 2),
        ("ferries", 2),  # stemming
        ("ferry timetable", 1),  # all words must match
        ('"ferry operator"', 1),  # phrase
        ('"operator ferry"', 0),
        ("ferry -profits", 1),  # exclusion
        ("comet OR bakery", 2),
        ("headline:ferry", 2),
        ("section:science", 3),
        ("section:harbour ferry", 1),
        ("byline:quist", 2),
        ("tag:wildlife", 1),
        ("tag:ferries", 4),
        ("festiv*", 1),  # prefix wildcard
        ("ŻUBR", 1),  # case and accents
    ],
)
def test_query_forms(client, query, expected):
    assert total(client, query) == expected, query


def test_section_filter_and_facets(client):
    data = client.get("/api/search?q=ferry").get_json()
    assert {f["section"]: f["count"] for f in data["facets"]} == {
        "harbour-town": 1,
        "economie-markets": 1,
    }
    filtered = client.get("/api/search?q=ferry&section=harbour-town").get_json()
    assert filtered["total"] == 1
    assert all(h["section"] == "Harbour Town" for h in filtered["hits"])
    # Facets still count every section, so the reader can switch.
    assert len(filtered["facets"]) == 2
    html = client.get("/search?q=ferry&section=harbour-town").text
    assert 'aria-current="true">Harbour Town <span class="facet-count">1</span>' in html
    assert 'href="/search?q=ferry&amp;section=economie-markets"' in html


def test_date_and_byline_filters(client):
    assert total(client, "tag:ferries", **{"from": "2024-02-01"}) == 2
    assert total(client, "tag:ferries", **{"to": "2024-01-20"}) == 2
    assert (
        total(client, "tag:ferries", **{"from": "2024-01-20", "to": "2024-01-20"}) == 1
    )
    assert total(client, "tag:ferries", byline="Tom Ashby") == 1
    assert total(client, "tag:ferries", byline="Nobody") == 0
    html = client.get("/search?q=tag:ferries&from=yesterday").text
    assert "is not a date like 2024-01-31" in html
    assert "4 results" in html


@pytest.mark.parametrize(
    ("zone", "limit", "day"),
    [("Etc/GMT-14", "from", "0001-01-01"), ("Etc/GMT+12", "to", "9999-12-31")],
)
def test_date_limits_past_the_ends_of_the_calendar_limit_nothing(
    make_app, tmp_path, zone, limit, day
):
    app = make_app(tmp_path, TIMEZONE=zone)
    app.test_cli_runner().invoke(args=["import", str(ARTICLES)])
    client = app.test_client()
    assert total(client, "tag:ferries", **{limit: day}) == 4
    page = client.get("/search", query_string={"q": "tag:ferries", limit: day})
    assert "4 results" in page.text


@pytest.mark.parametrize(
    "url", ["/search?q=ferry&page=00", "/api/search?q=ferry&page=000"]
)
def test_a_page_number_of_zeros_is_a_404(client, url):
    assert client.get(url).status_code == 404


def test_did_you_mean_offers_a_link_when_the_correction_finds_more(client):
    html = client.get("/search?q=harbuor").text
    assert "0 results" in html
    assert 'Did you mean <a href="/search?q=harbour">harbour</a>?' in html
    assert client.get("/api/search?q=harbuor").get_json()["suggestion"] == "harbour"
    assert "Did you mean" not in client.get("/search?q=harbour").text


def test_did_you_mean_counts_within_the_section_searched(client):
    in_science = client.get("/api/search?q=harbuor&section=science").get_json()
    assert in_science["total"] == 0 and in_science["suggestion"] is None
    in_harbour = client.get("/api/search?q=harbuor&section=harbour-town").get_json()
    assert in_harbour["suggestion"] == "harbour"


def test_no_results_suggests_what_to_try(client):
    html = client.get("/search?q=zeppelin").text
    assert "No stories found" in html and "Check the spelling" in html
    assert "Did you mean" not in html


def test_snippets_mark_matches_and_escape_article_text(make_app, tmp_path):
    app = make_app(tmp_path)
    import_records(
        app,
        tmp_path / "markup.jsonl",
        record(
            "m-1",
            "Tags in text",
            "Writers type &lt;script&gt;alert(1)&lt;/script&gt;"
            " and &lt;mark&gt; as words near the ferry.",
        ),
    )
    client = app.test_client()
    html = client.get("/search?q=ferry").text
    snippet = re.search(r'<p class="search-snippet">(.*?)</p>', html, re.S)[1]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in snippet
    assert "&lt;mark&gt;" in snippet and "<mark>ferry</mark>" in snippet
    assert "<script>" not in html
    hit = client.get("/api/search?q=ferry").get_json()["hits"][0]
    assert "&lt;script&gt;" in hit["snippet"] and "<mark>ferry</mark>" in hit["snippet"]


def test_query_text_is_escaped_on_the_page(client):
    html = client.get('/search?q=<script>alert("x")</script>').text
    assert '<script>alert("x")</script>' not in html
    assert "&lt;script&gt;" in html


def test_search_pages_walk_and_end(make_app, tmp_path):
    app = make_app(tmp_path)
    import_records(
        app,
        tmp_path / "many.jsonl",
        *[
            record(
                f"p-{n:02}",
                f"Tide report {n}",
                "The tide came in.",
                published=f"2024-01-{n:02}",
            )
            for n in range(1, 24)
        ],
    )
    client = app.test_client()
    first = client.get("/search?q=tide&sort=newest")
    assert len(result_headlines(first.text)) == 10 and "23 results" in first.text
    next_link = re.search(r'rel="next" href="([^"]+)"', first.text)[1]
    assert sorted(next_link.split("?")[1].split("&amp;")) == [
        "page=2",
        "q=tide",
        "sort=newest",
    ]
    last = client.get("/search?q=tide&sort=newest&page=3")
    assert result_headlines(last.text) == [
        "Tide report 3",
        "Tide report 2",
        "Tide report 1",
    ]
    assert 'rel="next"' not in last.text
    assert client.get("/search?q=tide&page=4").status_code == 404
    assert client.get("/search?q=tide&page=0").status_code == 404


HOSTILE = [
    '"',
    '""',
    '"unbalanced quote',
    "((",
    "(ferry",
    "ferry)",
    ")(",
    "*",
    "?",
    "**ferry",
    "AND",
    "OR",
    "NOT",
    "ferry AND",
    "OR ferry",
    "AND OR NOT",
    "-",
    "--ferry",
    "+",
    "title:",
    "nosuchfield:ferry",
    "published:tomorrow",
    "id:fx-harbour-1",
    "section:",
    "headline:",
    ":",
    "::",
    "tag:",
    "byline:(",
    "the",
    "the of and a",
    "\x00",
    "ferry\x00",
    "\x1b[31mred",
    "ferry\u202e",
    "\ud7ff",
    "🦬",
    "東京",
    "a" * 10_000,
    "ferry " * 2_000,
    "%",
    "%%",
    "{{ 7*7 }}",
    "<mark>",
    "ferry^2",
    "ferry~",
    "ferry~2",
    "[a TO z]",
    "published:[2024 TO]",
    "/regex/",
    "\\",
    "' OR 1=1 --",
    "ferry\nharbour",
    "\t",
]


@pytest.mark.sqlite_only
@pytest.mark.parametrize("query", HOSTILE)
def test_strange_queries_never_fail(client, query):
    page = client.get("/search", query_string={"q": query})
    assert page.status_code == 200
    assert "Traceback" not in page.text
    api = client.get("/api/search", query_string={"q": query})
    assert api.status_code == 200 and "total" in api.get_json()
    assert client.get("/api/suggest", query_string={"q": query}).status_code == 200


def test_long_queries_are_shortened_with_a_message(client):
    html = client.get("/search", query_string={"q": "ferry " * 2_000}).text
    assert "only its first 32 words were used" in html


def test_only_stop_words_gets_a_clear_message(client):
    html = client.get("/search?q=the+of+and").text
    assert "only very common words" in html


def test_empty_search_points_to_the_search_box(client):
    html = client.get("/search").text
    assert "the search box at the top of the page" in html and "results" not in html
    assert html.count('name="q"') == 1  # the header's box, the only one


def test_search_box_is_in_every_page_header(client):
    for url in ("/", "/news/", "/about", "/nope", "/news/science/"):
        assert 'role="search" action="/search"' in client.get(url).text


def test_suggest_completes_headlines(client):
    data = client.get("/api/suggest?q=ferry+ser").get_json()
    assert data["suggestions"] == [
        {
            "headline": "Ferry service resumes after winter storms",
            "url": "/news/harbour-town/ferry-service-resumes-after-winter-storms",
        }
    ]
    assert client.get("/api/suggest?q=f").get_json()["suggestions"] == []


def test_suggest_completes_a_finished_word_whose_stem_differs(client):
    # Indexed stemmed, "ferry" is "ferri" and "storms" is "storm".
    for typed in ("ferry", "ferr", "winter storms"):
        headlines = [
            s["headline"]
            for s in client.get(f"/api/suggest?q={typed}").get_json()["suggestions"]
        ]
        assert "Ferry service resumes after winter storms" in headlines, typed


def test_api_search_returns_the_results_page_as_json(client):
    data = client.get("/api/search?q=comet").get_json()
    assert data["query"] == "comet" and data["total"] == 1 and data["page"] == 1
    [hit] = data["hits"]
    assert hit["url"] == "/news/science/comet-visible-to-the-naked-eye-this-week"
    assert hit["headline"] == "Comet visible to the naked eye this week"
    assert hit["section"] == "Science"
    assert hit["published"].startswith("2024-01-10")
    assert "<mark>comet</mark>" in hit["snippet"].lower()


def test_index_is_current_after_an_import_and_an_update(app, tmp_path):
    client = app.test_client()
    assert total(client, "zeppelin") == 0
    import_records(
        app,
        tmp_path / "new.jsonl",
        record("z-1", "Zeppelin lands in the harbour", "Crowds gathered."),
    )
    assert total(client, "zeppelin") == 1
    import_records(
        app,
        tmp_path / "new.jsonl",
        record("z-1", "Airship lands in the harbour", "Crowds gathered."),
    )
    assert total(client, "zeppelin") == 0 and total(client, "airship") == 1


def test_failed_index_update_leaves_articles_pending_then_catches_up(
    app, tmp_path, monkeypatch
):
    client = app.test_client()

    def broken(self, articles, expected=0):
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(ArchiveIndex, "add", broken)
        output = import_records(
            app,
            tmp_path / "late.jsonl",
            record("late-1", "Walrus visits the quay", "A walrus rested."),
        )
    assert "1 added" in output
    assert "search index not updated (disk full); 1 articles will be indexed" in output
    assert client.get("/news/desk/walrus-visits-the-quay").status_code == 200
    assert total(client, "walrus") == 0
    output = import_records(
        app,
        tmp_path / "next.jsonl",
        record("late-2", "Seal joins walrus", "Two visitors."),
    )
    assert "1 added" in output and "warning" not in output
    assert total(client, "walrus") == 2


def test_reindex_rebuilds_and_a_crash_leaves_the_old_index(app, monkeypatch):
    client = app.test_client()
    result = app.test_cli_runner().invoke(args=["reindex"])
    assert (
        result.exit_code == 0 and "Search index rebuilt: 11 articles." in result.output
    )
    before = ArchiveIndex(app.config["INDEX_DIR"]).current()

    import readerapp.search as search

    def exploding(article):
        if article.id == "fx-science-2":
            raise RuntimeError("power cut")
        return original(article)

    original = search._fields
    monkeypatch.setattr(search, "_fields", exploding)
    result = app.test_cli_runner().invoke(args=["reindex"])
    assert result.exit_code != 0
    assert ArchiveIndex(app.config["INDEX_DIR"]).current() == before
    assert [p.name for p in Path(app.config["INDEX_DIR"]).glob("gen-*")] == [
        before.name
    ]
    assert total(client, "tag:ferries") == 4


def test_site_keeps_serving_searches_while_the_index_is_rebuilt(app):
    client = app.test_client()
    runner = app.test_cli_runner()
    failures = []
    done = threading.Event()

    def rebuild():
        for _ in range(3):
            if runner.invoke(args=["reindex"]).exit_code:
                failures.append("reindex failed")
        done.set()

    worker = threading.Thread(target=rebuild)
    worker.start()
    searches = 0
    while not done.is_set() or searches < 5:
        searches += 1
        if total(client, "tag:ferries") != 4:
            failures.append("wrong total")
    worker.join()
    assert failures == []


@pytest.mark.sqlite_only  # PostgreSQL's advisory lock: test_store_engines.py
def test_a_second_writer_gets_a_clear_message(app):
    lock = Path(app.config["DATABASE"]).with_suffix(".lock")
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        for args in (["import", str(ARTICLES)], ["reindex"]):
            result = app.test_cli_runner().invoke(args=args)
            assert result.exit_code == 1
            assert "another import or reindex is running" in result.output
            assert "Traceback" not in result.output


def test_also_read_never_names_a_story_with_the_same_headline(make_app, tmp_path):
    # Current-events briefs share one title per topic; a link with the headline
    # being read looks to a reader like a link to this very page (#13).
    app = make_app(tmp_path)
    brief = "Armed conflicts and attacks"
    import_records(
        app,
        tmp_path / "briefs.jsonl",
        record(
            "b-1",
            brief,
            "Rebels shell the border town; the army answers with artillery fire.",
            published="2025-03-01",
        ),
        record("b-2", brief, "A convoy is ambushed.", published="2025-03-02"),
        record("b-3", "Bakery wins prize", "Bread and cakes.", published="2025-03-03"),
        record(
            "b-4",
            brief,
            "Rebels shell the border town again; artillery fire answers at dawn.",
            published="2025-03-04",
        ),
        record(
            "b-5",
            "Ceasefire talks on the border",
            "Envoys meet after rebels shell the border town; artillery falls quiet.",
            section="World",
            published="2025-03-05",
        ),
    )
    client = app.test_client()
    for slug in (
        "armed-conflicts-and-attacks",
        "armed-conflicts-and-attacks-2025-03-04",
    ):
        html = client.get(f"/news/desk/{slug}").text
        also = re.search(r'<aside class="also-read".*?</aside>', html, re.S)[0]
        assert brief not in also, slug
        assert "Ceasefire talks on the border" in also, slug


def test_also_read_falls_back_to_the_nearest_story_with_another_headline(
    make_app, tmp_path
):
    app = make_app(tmp_path)
    import_records(
        app,
        tmp_path / "briefs.jsonl",
        record("n-1", "Daily brief", "Alpha bravo charlie.", published="2025-03-01"),
        record("n-2", "Daily brief", "Delta echo foxtrot.", published="2025-03-02"),
        record("n-3", "Daily brief", "Golf hotel india.", published="2025-03-03"),
        record("n-4", "Harbour reopens", "Juliet kilo lima.", published="2025-03-04"),
    )
    html = app.test_client().get("/news/desk/daily-brief").text
    also = re.search(r'<aside class="also-read".*?</aside>', html, re.S)[0]
    assert "Harbour reopens" in also
