"""What every format's record can say (#14): sections through the section map, the
story's language and direction, its lead picture, that it was taken off, that it
came with no date; and archives made before these fields migrate."""

import json
import re
import sqlite3
from pathlib import Path

import pytest

from conftest import ARTICLES, described_picture, import_records, record
from readerapp import sections


def test_section_names_match_whatever_their_case_punctuation_and_word_order():
    assert sections.key("Economy and business") == sections.key("Business & Economy")
    assert sections.key("Arts, Culture") == sections.key("culture and arts")
    assert sections.key("Science") != sections.key("Science and technology")


def write_map(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_section_map_puts_source_categories_in_the_site_sections(
    make_app, tmp_path
):
    section_map = write_map(
        tmp_path / "sections.toml",
        '[sections]\n"Business" = ["Economy and business", "Markets"]\n',
    )
    app = make_app(tmp_path, SECTION_MAP=section_map, SECTION_FALLBACK="Other news")
    bonds = record("m-2", "Bonds fall", "Down.", categories=["MARKETS", "Bonds"])
    del bonds["section"]
    output = import_records(
        app,
        tmp_path / "mapped.jsonl",
        record("m-1", "Shares rise", "Up.", section="Business and economy"),
        bonds,
        record("m-3", "Choir sings", "La.", section="Music"),
    )
    assert "3 added" in output
    client = app.test_client()
    business = client.get("/news/business/").text
    assert "Shares rise" in business and "Bonds fall" in business
    assert "Choir sings" in client.get("/news/other-news/").text


def test_without_a_map_names_that_differ_only_in_order_are_one_section(
    make_app, tmp_path
):
    app = make_app(tmp_path)
    import_records(
        app,
        tmp_path / "two.jsonl",
        record("o-1", "Shares rise", "Up.", section="Economy and business"),
        record("o-2", "Bonds fall", "Down.", section="Business and economy"),
    )
    client = app.test_client()
    one = client.get("/news/economy-and-business/").text
    assert "Shares rise" in one and "Bonds fall" in one
    assert client.get("/news/business-and-economy/").status_code == 404


@pytest.mark.parametrize(
    "text, said",
    [
        ('[sections]\n"A" = "not a list"\n', "must be a list of source names"),
        ('[sections]\n"A" = ["x"]\n"B" = ["X"]\n', "is given to both"),
        ("[sections\n", "sections.toml"),
    ],
)
def test_a_broken_section_map_is_named_before_anything_is_imported(
    make_app, tmp_path, text, said
):
    app = make_app(tmp_path, SECTION_MAP=write_map(tmp_path / "sections.toml", text))
    result = app.test_cli_runner().invoke(args=["import", str(ARTICLES)])
    assert result.exit_code == 1 and said in result.output
    assert "Traceback" not in result.output


def test_a_story_in_another_language_says_so_and_reads_right_to_left(
    make_app, tmp_path
):
    app = make_app(tmp_path)
    import_records(
        app,
        tmp_path / "languages.jsonl",
        record(
            "ur-1",
            "بندرگاہ پر نیا پل",
            "شہر کی بندرگاہ پر نیا پل کھل گیا۔",
            language="ur",
            slug="bandargah",
        ),
        record("ru-1", "Новый мост", "В порту открылся новый мост.", language="ru"),
        record("el-1", "Νέα γέφυρα", "Άνοιξε νέα γέφυρα στο λιμάνι.", language="el"),
        record("en-1", "New bridge", "A new bridge opened."),
    )
    client = app.test_client()
    urdu = client.get("/news/desk/bandargah").text
    assert '<article class="story" data-section="Desk" lang="ur" dir="rtl">' in urdu
    russian = client.get("/news/desk/новый-мост").text
    assert 'lang="ru"' in russian and 'dir="rtl"' not in russian
    listing = client.get("/news/desk/").text
    assert '<article class="article-card" lang="ur" dir="rtl">' in listing
    assert '<article class="article-card">' in listing  # English: the site's own
    ld = re.search(r'"inLanguage": "(\w+)"', client.get("/news/desk/bandargah").text)
    assert ld[1] == "ur"
    for word, headline in (
        ("мост", "Новый мост"),
        ("γέφυρα", "Νέα γέφυρα"),
        ("بندرگاہ", "بندرگاہ پر نیا پل"),
    ):
        hits = client.get("/api/search", query_string={"q": word}).get_json()["hits"]
        assert [hit["headline"] for hit in hits] == [headline], word


def test_a_story_slug_keeps_the_letters_of_its_script():
    from readerapp.text import slugify

    assert slugify("Новый мост открыт") == "новый-мост-открыт"
    assert slugify("Café crème") == "cafe-creme"
    assert slugify("中文 新闻") == "中文-新闻"


def test_a_lead_picture_is_shown_and_named_only_once_kept_on_the_site(
    make_app, tmp_path
):
    app = make_app(tmp_path)
    picture = {
        "url": "https://images.example.org/bridge.jpg",
        "alt": "The new bridge at dusk",
        "caption": "The bridge opened on Monday.",
        "credit": "Photo: A. Lens",
    }
    import_records(
        app,
        tmp_path / "picture.jsonl",
        record("p-1", "New bridge", "It opened.", picture=picture),
    )
    assert described_picture(app, "new-bridge").credit == "Photo: A. Lens"
    # Not fetched (this test's app fetches no pictures): nothing names it yet, and
    # nothing is loaded from another site.
    client = app.test_client()
    page = client.get("/news/desk/new-bridge").text
    assert "story-picture" not in page and "images.example.org" not in page
    assert "images.example.org" not in client.get("/feeds/rss.xml").text
    assert "image" not in client.get("/feeds/feed.json").get_json()["items"][0]


def test_a_removed_story_answers_410_and_leaves_search_and_listings(app, tmp_path):
    fish = "/news/harbour-town/fish-market-moves-to-the-old-customs-house"
    client = app.test_client()
    assert client.get(fish).status_code == 200
    output = import_records(
        app, tmp_path / "gone.jsonl", {"id": "fx-harbour-3", "removed": True}
    )
    assert "Taken off the site: 1" in output
    gone = client.get(fish)
    assert gone.status_code == 410 and "This story was removed" in gone.text
    assert "Fish market" not in client.get("/news/harbour-town/").text
    assert client.get("/api/search?q=customs").get_json()["total"] == 0
    assert fish not in client.get("/sitemap.xml").text
    assert app.test_cli_runner().invoke(args=["check"]).exit_code == 0
    line = json.loads(ARTICLES.read_text().splitlines()[2])
    assert line["id"] == "fx-harbour-3"
    import_records(app, tmp_path / "back.jsonl", line)
    assert client.get(fish).status_code == 200


def test_removing_a_story_never_imported_is_counted_as_skipped(app, tmp_path):
    output = import_records(app, tmp_path / "gone.jsonl", {"id": "x", "removed": True})
    assert "Skipped, not stories for readers: 1 no longer published." in output


def test_an_undated_story_is_dated_when_first_imported_and_keeps_that_date(
    make_app, tmp_path
):
    app = make_app(tmp_path)
    story = {**record("u-1", "Notice", "Closed today."), "undated": True}
    del story["published"]
    first = import_records(app, tmp_path / "undated.jsonl", story)
    assert "Dated when imported, having no date of their own: 1." in first
    page = app.test_client().get("/news/desk/notice").text
    dated = re.search(r'<time datetime="([^"]+)"', page)[1]
    story["body_html"] = "<p>Closed today and tomorrow.</p>"
    import_records(app, tmp_path / "undated-again.jsonl", story)
    page = app.test_client().get("/news/desk/notice").text
    assert "tomorrow" in page
    assert re.search(r'<time datetime="([^"]+)"', page)[1] == dated


def test_an_archive_made_before_these_fields_is_migrated_and_keeps_its_stories(
    make_app, tmp_path
):
    database = tmp_path / "old.sqlite3"
    schema = Path("readerapp/schema.sql").read_text()
    with sqlite3.connect(database) as db:
        db.executescript(schema)
        db.execute("INSERT INTO section (slug, name) VALUES ('desk', 'Desk')")
        db.execute(
            "INSERT INTO article (id, slug, section_id, headline, body_html,"
            " body_text, excerpt, published, word_count, checksum)"
            " VALUES ('old-1', 'old-story', 1, 'Old story', '<p>Kept.</p>', 'Kept.',"
            " 'Kept.', '2020-01-01T00:00:00+00:00', 1, 'c')"
        )
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    app = make_app(tmp_path, DATABASE=database)
    assert app.test_cli_runner().invoke(args=["reindex"]).exit_code == 0
    assert "Old story" in app.test_client().get("/news/desk/old-story").text
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] >= 1
        assert db.execute("SELECT language FROM article").fetchone() == ("",)
