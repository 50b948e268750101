"""IPTC ninjs 1.x, 2.x and 3.x, one item a file, an array, or one a line.

The fixtures in data/ninjs/ are shaped after IPTC's own examples and TT's agency
items in ../shared/ingest-samples/iptc-ninjs; EXPECTED says, item by item, what
each must give.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC
from pathlib import Path

import pytest

from conftest import DATA, described_picture
from readerapp.sources import Reading, SourceError, open_source

NINJS = DATA / "ninjs"

EXPECTED = {
    "text-1.x.json": (
        "IPTC ninjs 1.x",
        [
            {
                "id": "urn:newsml:agency.example.com:20240502:harbour-strike",
                "headline": "Harbour workers call off strike",
                "body_html": (
                    "<p>Harbour workers called off Thursday's strike after overnight"
                    " talks.</p><p>Ferries will run as normal.</p>"
                ),
                "dek": "Talks end with a new shift pattern.",
                "author": "Mia Strand",
                "published": "2024-05-02T08:00:00+00:00",  # firstcreated
                "updated": "2024-05-02T09:15:00+00:00",  # versioncreated
                # A subject with a code and no name is known by its code.
                "categories": ["04000000", "Labour", "Current"],
                "tags": ["04000000", "Labour", "Current"],
                "language": "en",
                "picture": {
                    # The widest rendition a phone needs, not the 6000 px master.
                    "url": "https://img.example.com/harbour-1600.jpg",
                    "alt": "Dock workers at the gate",
                    "caption": "Dock workers gather at the harbour gate on Wednesday.",
                    "credit": "Ola Ness",
                },
            }
        ],
    ),
    "text-2.x.json": (
        "IPTC ninjs 2.x",
        [
            {
                "id": "http://agency.example.com/text/2024-05-03-bridge",
                "headline": "Bron stängs i tre veckor",  # role "main", not "short"
                # The HTML body over the plain one; a whole page's <body> only.
                "body_html": (
                    "<p>Bron stängs i tre veckor från måndag.</p>"
                    "<p>Omvägen går via hamnen.</p>"
                ),
                "dek": "Omvägen tar tjugo minuter längre.",
                "author": "Karin Lund/TT",
                "published": "2024-05-03T12:30:00+02:00",
                # Subjects by relevance, then genres; names, not codes.
                "categories": ["Vägar", "Transport", "Inrikes"],
                "tags": ["Vägar", "Transport", "Inrikes"],
                "language": "sv",
                "picture": {
                    "url": "https://img.example.com/bridge-1024.jpg",
                    "alt": "Bron sedd från norra stranden.",
                    "caption": "Bron sedd från norra stranden.",
                    "credit": "Erik Berg/TT",
                },
            }
        ],
    ),
    "text-3.x.json": (
        "IPTC ninjs 3.x",
        [
            {
                "id": "urn:agency.example.com:text:2024-05-04-lighthouse",
                "headline": "Lighthouse keeper retires after 40 years",
                "body_html": (
                    "<p>The last keeper of the north light retired on Friday.</p>"
                    "<p>The light has been automatic since 2019.</p>"
                ),
                "author": "Tom Wade",
                "published": "2024-05-04T06:00:00+00:00",
                "categories": ["People"],
                "tags": ["People"],
                "language": "en-GB",
                # The picture, not the logo graphic before it.
                "picture": {
                    "url": "https://img.example.com/keeper.jpg",
                    "alt": "The keeper at the lamp",
                    "caption": "The keeper at the lamp",
                    "credit": "© Agency 2024",
                },
            }
        ],
    ),
    "canceled.json": (
        "IPTC ninjs 3.x",
        [{"id": "urn:agency.example.com:text:2024-05-04-lighthouse", "removed": True}],
    ),
    "package.json": (
        "IPTC ninjs 2.x",
        [
            {
                "id": "urn:agency.example.com:text:2024-05-05-regatta",
                "headline": "Regatta won by the island crew",
                "body_html": "<p>The island crew won by two lengths.</p>",
                "published": "2024-05-05T15:00:00+00:00",
                "categories": ["Sport"],
                "tags": ["Sport"],
            },
            "pictures",
            "events",
            "planning items",
            "packages without text",
            "stories under embargo",
        ],
    ),
    "lines.jsonl": (
        "IPTC ninjs 1.x (JSON Lines)",
        [
            {
                "id": "urn:agency.example.com:text:lines-1",
                "headline": "Fish market moves indoors",
                "body_html": "<p>The fish market moves into the old ferry terminal.</p>",
                "published": "2024-05-07T08:00:00+00:00",
                "categories": ["Business"],
                "tags": ["Business"],
            },
            "videos",
            {
                "id": "urn:agency.example.com:text:lines-3",
                "headline": (
                    "Prices at the new market fell on the first morning, traders"
                    " said, as more boats landed their catch…"
                ),
                "body_html": (
                    "<p>Prices at the new market fell on the first morning, traders"
                    " said, as more boats landed their catch than expected.</p>"
                ),
                "published": "2024-05-07T09:00:00+00:00",
                "categories": ["Business"],
                "tags": ["Business"],
            },
            "empty items",
            {
                "id": "urn:agency.example.com:text:lines-6",
                "headline": "Date nobody can read",
                "body_html": "<p>The agency wrote the date in words.</p>",
                "undated": True,
                "categories": ["Business"],
                "tags": ["Business"],
            },
        ],
    ),
}


def read(path: Path) -> tuple[str, list]:
    source = open_source(path, Reading(zone=UTC))
    return source.format, [e.skipped or e.record for e in source.entries]


def count(app) -> int:
    with sqlite3.connect(app.config["DATABASE"]) as db:
        return db.execute("SELECT count(*) FROM article").fetchone()[0]


def imported(runner, *paths: Path):
    return runner.invoke(args=["import", *map(str, paths)])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_ninjs_file_gives_its_expected_records(name):
    assert read(NINJS / name) == EXPECTED[name]


def test_lines_are_numbered_by_line_blank_lines_too():
    source = open_source(NINJS / "lines.jsonl", Reading(zone=UTC))
    assert [e.position for e in source.entries] == [1, 2, 3, 4, 6]


def test_an_array_imports_its_stories_and_counts_what_is_no_story(runner, empty_app):
    result = imported(runner, NINJS / "package.json")
    assert result.exit_code == 0, result.output
    assert "1 added, 0 updated, 0 unchanged, 0 files rejected" in result.output
    assert (
        "Skipped, not stories for readers: 1 events, 1 packages without text,"
        " 1 pictures, 1 planning items, 1 stories under embargo." in result.output
    )
    assert count(empty_app) == 1


def test_json_lines_import_with_their_undated_story_counted(runner, empty_app):
    result = imported(runner, NINJS / "lines.jsonl")
    assert "3 added" in result.output, result.output
    assert "Skipped, not stories for readers: 1 empty items, 1 videos." in result.output
    assert "Dated when imported, having no date of their own: 1." in result.output
    again = imported(runner, NINJS / "lines.jsonl")
    assert "0 added, 0 updated, 3 unchanged" in again.output


def test_each_version_imports_and_reads_in_its_language(runner, empty_app):
    result = imported(
        runner, *(NINJS / f"text-{v}.x.json" for v in (1, 2, 3)), NINJS / "lines.jsonl"
    )
    assert "6 added" in result.output, result.output
    client = empty_app.test_client()
    hit = client.get("/api/search?q=Omvägen").get_json()["hits"][0]
    assert hit["headline"] == "Bron stängs i tre veckor"
    page = client.get(hit["url"]).text
    assert 'lang="sv"' in page
    picture = described_picture(empty_app, hit["url"].rsplit("/", 1)[1])
    assert picture.caption == "Bron sedd från norra stranden."
    assert picture.credit == "Erik Berg/TT"


def test_a_canceled_item_takes_the_story_it_names_off_the_site(runner, empty_app):
    imported(runner, NINJS / "text-3.x.json")
    client = empty_app.test_client()
    url = client.get("/api/search?q=keeper").get_json()["hits"][0]["url"]
    assert client.get(url).status_code == 200
    result = imported(runner, NINJS / "canceled.json")
    assert "Taken off the site: 1" in result.output, result.output
    assert client.get(url).status_code == 410
    assert client.get("/api/search?q=keeper").get_json()["total"] == 0


def test_an_item_without_a_uri_is_refused_naming_the_item(tmp_path, runner, empty_app):
    path = tmp_path / "no-uri.json"
    path.write_text(
        '[{"uri": "a", "type": "text", "headline": "Fine", "body_text": "Yes."},'
        ' {"type": "text", "headline": "No uri", "body_text": "None.", "uri": ""}]',
        encoding="utf-8",
    )
    with pytest.raises(SourceError) as refused:
        read(path)
    assert refused.value.position == 2
    result = imported(runner, path)
    assert f"{path}: item 2: has no 'uri', which every ninjs item has" in result.output
    assert count(empty_app) == 0


def test_a_bad_line_of_ninjs_lines_is_named(tmp_path, runner):
    path = tmp_path / "bad.jsonl"
    first = (NINJS / "lines.jsonl").read_text(encoding="utf-8").splitlines()[0]
    path.write_text(f"{first}\n{{oops\n", encoding="utf-8")
    result = imported(runner, path)
    assert f"{path}:2: not valid JSON" in result.output, result.output
