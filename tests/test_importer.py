import gzip
import json
from pathlib import Path

import pytest

from conftest import ARTICLES, DATA, query

BAD = DATA / "bad-line.jsonl"
pytestmark = pytest.mark.both_engines


def rows(app, sql, args=()):
    return query(app, sql, args)


def test_import_reports_a_summary(runner):
    result = runner.invoke(args=["import", str(ARTICLES)])
    assert result.exit_code == 0, result.output
    assert "11 added, 0 updated, 0 unchanged, 0 files rejected" in result.output


def test_malformed_line_names_file_and_line_and_keeps_nothing_of_that_file(
    runner, empty_app
):
    result = runner.invoke(args=["import", str(BAD)])
    assert result.exit_code == 1
    assert f"{BAD}:3: 'published' is not an ISO 8601 date" in result.output
    assert "1 file rejected" in result.output
    assert rows(empty_app, "SELECT count(*) FROM article") == [(0,)]


def test_a_bad_file_does_not_stop_the_good_ones(runner, empty_app):
    result = runner.invoke(args=["import", str(BAD), str(ARTICLES)])
    assert result.exit_code == 1
    assert "11 added" in result.output and "1 file rejected" in result.output
    assert rows(empty_app, "SELECT count(*) FROM article") == [(11,)]


def write_lines(path: Path, *records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


GOOD = {
    "id": "x-1",
    "section": "Test",
    "headline": "Good",
    "body_html": "<p>Body</p>",
    "published": "2024-01-01",
}


def test_each_kind_of_bad_line_is_named(runner, tmp_path):
    cases = {
        "not json": ("{oops", "not valid JSON"),
        "array": ([1, 2], "expected a JSON object"),
        "missing id": (
            {k: v for k, v in GOOD.items() if k != "id"},
            "missing required field 'id'",
        ),
        "number headline": ({**GOOD, "headline": 5}, "'headline' must be a string"),
        "blank headline": ({**GOOD, "headline": "  "}, "must not be blank"),
        "tags not list": ({**GOOD, "tags": "a,b"}, "'tags' must be a list"),
        "tag not string": (
            {**GOOD, "tags": ["a", 3]},
            "'tags' must be a list of strings",
        ),
        "bad date": (
            {**GOOD, "published": "yesterday"},
            "'published' is not an ISO 8601",
        ),
        "bad url": (
            {**GOOD, "source_url": "javascript:alert(1)"},
            "'source_url' is not",
        ),
        "bad id": ({**GOOD, "id": "two words"}, "'id' must be"),
        "long id": ({**GOOD, "id": "x" * 301}, "'id' must be"),
        "bad slug": ({**GOOD, "slug": "Not A Slug"}, "'slug' must be"),
    }
    for name, (record, reason) in cases.items():
        path = tmp_path / f"{name.replace(' ', '-')}.jsonl"
        line = record if isinstance(record, str) else json.dumps(record)
        path.write_text(json.dumps(GOOD) + "\n\n" + line + "\n", encoding="utf-8")
        result = runner.invoke(args=["import", str(path)])
        assert result.exit_code == 1, name
        assert f"{path}:3: " in result.output, name
        assert reason in result.output, (name, result.output)


def test_reimport_is_idempotent(runner, empty_app):
    runner.invoke(args=["import", str(ARTICLES)])
    before = rows(
        empty_app, "SELECT id, slug, updated, checksum FROM article ORDER BY id"
    )
    result = runner.invoke(args=["import", str(ARTICLES)])
    assert "0 added, 0 updated, 11 unchanged" in result.output
    assert (
        rows(empty_app, "SELECT id, slug, updated, checksum FROM article ORDER BY id")
        == before
    )


def test_reformatted_but_identical_lines_are_unchanged(runner, empty_app, tmp_path):
    runner.invoke(args=["import", str(ARTICLES)])
    lines = ARTICLES.read_text(encoding="utf-8").splitlines()
    spaced = tmp_path / "spaced.jsonl"
    spaced.write_text(
        "".join(
            json.dumps(json.loads(line), indent=None, separators=(" ,", " : ")) + "\n"
            for line in lines
        ),
        encoding="utf-8",
    )
    result = runner.invoke(args=["import", str(spaced)])
    assert "0 added, 0 updated, 11 unchanged" in result.output


def test_changed_article_is_updated_keeps_its_url_and_gets_an_updated_time(
    runner, app, tmp_path
):
    client = app.test_client()
    url = "/news/harbour-town/ferry-service-resumes-after-winter-storms"
    assert client.get(url).status_code == 200
    record = json.loads(ARTICLES.read_text(encoding="utf-8").splitlines()[0])
    record["headline"] = "Ferry service resumes after the storms"
    record["body_html"] = "<p>Corrected: the ferry runs from Tuesday.</p>"
    path = write_lines(tmp_path / "update.jsonl", record)
    result = app.test_cli_runner().invoke(args=["import", str(path)])
    assert "0 added, 1 updated, 0 unchanged" in result.output
    page = client.get(url)
    assert page.status_code == 200
    assert "Ferry service resumes after the storms" in page.text
    assert "Corrected: the ferry runs from Tuesday." in page.text
    assert "Updated <time" in page.text


def test_gzip_files_import(runner, empty_app, tmp_path):
    path = tmp_path / "articles.jsonl.gz"
    path.write_bytes(gzip.compress(ARTICLES.read_bytes()))
    result = runner.invoke(args=["import", str(path)])
    assert "11 added" in result.output
    assert rows(empty_app, "SELECT count(*) FROM article") == [(11,)]


def test_missing_file_is_a_clear_error(runner, tmp_path):
    result = runner.invoke(args=["import", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 1
    assert "nope.jsonl: cannot read the file" in result.output


def test_corrupt_gzip_is_rejected_whole(runner, empty_app, tmp_path):
    data = gzip.compress(ARTICLES.read_bytes())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 1
    assert rows(empty_app, "SELECT count(*) FROM article") == [(0,)]


def test_dates_without_zone_use_the_newsroom_zone(tmp_path, make_app):
    app = make_app(tmp_path, TIMEZONE="America/New_York")
    path = write_lines(
        tmp_path / "zones.jsonl",
        {**GOOD, "id": "z-1", "published": "1987-03-25T13:49:32"},
        {**GOOD, "id": "z-2", "headline": "Two", "published": "2024-06-01"},
        {
            **GOOD,
            "id": "z-3",
            "headline": "Three",
            "published": "2024-06-01T12:00:00+02:00",
        },
    )
    app.test_cli_runner().invoke(args=["import", str(path)])
    assert rows(app, "SELECT id, published FROM article ORDER BY id") == [
        ("z-1", "1987-03-25T18:49:32+00:00"),
        ("z-2", "2024-06-01T04:00:00+00:00"),
        ("z-3", "2024-06-01T10:00:00+00:00"),
    ]


def test_slugs_are_unique_and_derived_from_headlines(runner, empty_app, tmp_path):
    path = write_lines(
        tmp_path / "slugs.jsonl",
        {**GOOD, "id": "s-1", "headline": "Same headline", "published": "2024-01-01"},
        {**GOOD, "id": "s-2", "headline": "Same headline", "published": "2024-01-02"},
        {**GOOD, "id": "s-3", "headline": "Same headline", "published": "2024-01-02"},
        {**GOOD, "id": "s-4", "headline": "Given", "slug": "chosen-slug"},
    )
    runner.invoke(args=["import", str(path)])
    assert rows(empty_app, "SELECT id, slug FROM article ORDER BY id") == [
        ("s-1", "same-headline"),
        ("s-2", "same-headline-2024-01-02"),
        ("s-3", "same-headline-2024-01-02-2"),
        ("s-4", "chosen-slug"),
    ]


def test_plain_text_fields_are_stored_as_text(app):
    [(headline, standfirst, byline)] = rows(
        app,
        "SELECT headline, standfirst, byline FROM article WHERE id = 'fx-science-3'",
    )
    assert headline == '<b>Quoted</b> "headline" & </script> test'
    assert standfirst == "Plain text only: <em>not emphasis</em>."
    assert byline == "A <Byline> & Co"


def test_hostile_body_is_stored_sanitised(app):
    [(body,)] = rows(app, "SELECT body_html FROM article WHERE id = 'fx-harbour-4'")
    for danger in (
        "<script",
        "alert",
        "onclick",
        "onerror",
        "<style",
        "display:none",
        "javascript:",
        "<iframe",
        "fallback text",
        'src="/x.png"',
    ):
        assert danger not in body
    assert 'rel="noopener nofollow"' in body
    assert 'alt="A wave over the sea wall"' in body


def test_characters_xml_cannot_carry_are_dropped_on_the_way_in(
    runner, empty_app, tmp_path
):
    # A lone surrogate is valid JSON ("\ud800") but not storable UTF-8; form feeds
    # and U+FFFE would make every feed and sitemap holding the story invalid XML.
    line = json.dumps(
        {
            **GOOD,
            "headline": "Odd\ud800 \ufffeheadline\x0c",
            "body_html": "<p>Form\x0cfeed, \ud800surrogate and \uffffnon-character.</p>",
            "author": "Ann\x0bOther",
        }
    )
    path = tmp_path / "odd.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 0, result.output
    [(headline, body, byline)] = rows(
        empty_app, "SELECT headline, body_html, byline FROM article"
    )
    assert headline == "Odd headline"
    assert body == "<p>Formfeed, surrogate and non-character.</p>"
    assert byline == "Ann Other"
    page = empty_app.test_client().get("/news/test/odd-headline")
    assert page.status_code == 200


def test_source_url_with_spaces_or_controls_is_rejected(runner, tmp_path):
    path = write_lines(
        tmp_path / "url.jsonl", {**GOOD, "source_url": "https://a.example/x y"}
    )
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 1
    assert f"{path}:1: 'source_url' is not an http(s) URL" in result.output


def test_a_story_taken_off_and_published_again_in_one_file_is_back(
    runner, empty_app, tmp_path
):
    path = write_lines(tmp_path / "first.jsonl", GOOD)
    assert runner.invoke(args=["import", str(path)]).exit_code == 0
    again = write_lines(
        tmp_path / "again.jsonl",
        {"id": "x-1", "removed": True},
        {**GOOD, "id": "x-2", "headline": "Other"},
        {**GOOD, "body_html": "<p>Body, corrected</p>"},
    )
    result = runner.invoke(args=["import", str(again)])
    assert result.exit_code == 0, result.output
    assert rows(empty_app, "SELECT id FROM removed_article") == []
    page = empty_app.test_client().get("/news/test/good")
    assert page.status_code == 200 and "corrected" in page.text


def test_a_new_story_shows_a_lead_picture_another_story_brought(
    runner, empty_app, tmp_path
):
    picture = {"url": "https://pictures.example/p.jpg", "alt": "A harbour"}
    path = write_lines(tmp_path / "first.jsonl", {**GOOD, "picture": picture})
    assert runner.invoke(args=["import", str(path)]).exit_code == 0
    query(
        empty_app,
        "INSERT INTO picture (digest, kind, width, height, tint, bytes, stored)"
        " VALUES ('d1', 'jpeg', 800, 600, 0, 1000, '2024-01-01')",
    )
    query(empty_app, "UPDATE picture_source SET digest = 'd1'")
    later = {**GOOD, "id": "x-2", "headline": "Later", "picture": picture}
    plain = {**GOOD, "id": "x-3", "headline": "Plain"}
    path = write_lines(tmp_path / "later.jsonl", later, plain)
    assert runner.invoke(args=["import", str(path)]).exit_code == 0
    shown = dict(rows(empty_app, "SELECT id, shown_picture FROM article"))
    assert shown["x-2"] is not None and shown["x-3"] is None
    assert rows(empty_app, "SELECT url FROM article_picture WHERE article_id = 'x-2'")
