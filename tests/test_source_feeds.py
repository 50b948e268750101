"""RSS 2.0 and 0.9x, RSS 1.0 (RDF), Atom 1.0 and JSON Feed, read as real feeds are.

The fixtures in data/feeds/ are shaped after the real feeds in
../shared/ingest-samples (miniflux, netnewswire, feedjira): each is small and
made to show one thing, and EXPECTED says, record by record, what it must give
(Miniflux's parser tests, one table a format).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import DATA, described_picture
from readerapp.sources import Reading, SourceError, open_source, read_document

FEEDS = DATA / "feeds"
OSLO = ZoneInfo("Europe/Oslo")

FERRY = {
    "id": "gazette-2024-0001",
    # "&amp;#8216;" in the XML: an entity escaped once more, decoded once.
    "headline": "Ferry timetable ‘changes’ from May",
    "body_html": (
        "<p>The harbour board confirmed the new timetable on Monday.</p>\n"
        '<p>See <a href="https://gazette.example.org/timetables/may.pdf">the May'
        ' timetable</a> and <img src="https://gazette.example.org/2024/04/images/'
        'quay.jpg" alt="The north quay"></p>'
    ),
    "dek": "Evening sailings move to the north quay.",
    "author": "Ada Quist",
    "published": "2024-04-15T09:30:00+01:00",
    "categories": ["Transport", "Ferries & boats"],
    "tags": ["Transport", "Ferries & boats"],
    "source_url": "https://gazette.example.org/2024/04/ferry-timetable",
    "language": "en-GB",
    "picture": {
        "url": "https://gazette.example.org/images/ferry.jpg",
        "alt": "The morning ferry",
        "caption": "The morning ferry leaves the south quay.",
        "credit": "Bo Lind",
    },
}
STORM_TEXT = (
    "Storm warning for the outer islands tonight, with gusts of up to ninety"
    " kilometres an hour expected after dark and the last ferry cancelled."
)
STORM = {
    "id": "https://gazette.example.org/2024/04/storm-warning",
    "headline": (
        "Storm warning for the outer islands tonight, with gusts of up to ninety"
        " kilometres an hour expected…"
    ),
    "body_html": STORM_TEXT,
    "published": "2024-04-16T18:00:00+00:00",
    "categories": ["Weather"],
    "tags": ["Weather"],
    "source_url": "https://gazette.example.org/2024/04/storm-warning",
    "language": "en-GB",
    "picture": {"url": "https://gazette.example.org/images/storm.jpg"},
}
QUAY = {
    "id": "https://gazette.example.org/2024/04/quay-lights",
    "headline": "Quay lights repaired",
    "body_html": "All twelve lights on the south quay work again.",
    "undated": True,
    "categories": ["Harbour"],
    "tags": ["Harbour"],
    "source_url": "https://gazette.example.org/2024/04/quay-lights",
    "language": "en-GB",
}
PODCAST = {
    "id": "https://gazette.example.org/2024/04/podcast",
    "headline": "Podcast: the harbour at night",
    "body_html": "Sounds of the harbour after midnight.",
    "author": "Cai Berg",
    "published": "2024-04-18T20:00:00+00:00",
    "categories": ["Harbour"],
    "tags": ["Harbour"],
    "source_url": "https://gazette.example.org/2024/04/podcast",
    "language": "en-GB",
    # The enclosure is audio; the thumbnail is the picture.
    "picture": {"url": "https://gazette.example.org/images/night-thumb.jpg"},
}
EIDERS = {
    "id": "tag:notes.example.net,2024-03-10:/eiders",
    "headline": "Counting eiders on the skerries",
    "body_html": (
        "<p>We counted <em>two hundred</em> pairs this spring, <a href="
        '"https://notes.example.net/2023/eiders.html">up from last year</a>.</p>'
    ),
    "dek": "Two hundred pairs this spring.",
    "author": "Nils Ek",
    "published": "2024-03-10T17:15:00+01:00",
    "categories": ["Birds", "Surveys"],
    "tags": ["Birds", "Surveys"],
    "source_url": "https://notes.example.net/2024/eiders.html",
    "language": "en",
    "picture": {"url": "https://notes.example.net/img/eiders.png"},
}
ICE = {
    "id": "tag:notes.example.net,2024-03-08:/ice",
    "headline": "Ice out on the lake",
    "body_html": "<p>The ice went out on Friday, a week earlier than the average.</p>",
    "author": "Nils Ek",
    "published": "2024-03-08T21:30:00+01:00",
    "categories": ["Lakes"],
    "tags": ["Lakes"],
    "source_url": "https://notes.example.net/2024/ice.html",
    "language": "en",
}
EXPECTED = {
    "rss2.xml": (
        "RSS 2.0",
        [FERRY, STORM, "empty items", QUAY, PODCAST],
    ),
    "pair-rss.xml": ("RSS 2.0", [EIDERS, ICE]),
    "pair-atom.xml": ("Atom 1.0", [EIDERS, ICE]),
    "atom.xml": (
        "Atom 1.0",
        [
            {
                "id": "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
                # type="text": "&lt;" is a character of the title, not markup.
                "headline": "Why 3 < 4 in the council vote",
                # Relative to the entry's xml:base, itself relative to the feed's.
                "body_html": (
                    '<p>Read <a href="https://radio.example.com/news/2024/05/minutes'
                    '.html">the minutes</a> or <a href="https://radio.example.com/'
                    'archive/">the archive</a>.</p>'
                ),
                "author": "Eva Holm, Per Dahl",
                "published": "2024-05-01T18:00:00+02:00",
                "updated": "2024-05-02T09:00:00+02:00",
                "categories": ["Local politics"],
                "tags": ["Local politics"],
                "source_url": "https://radio.example.com/news/2024/05/council-vote",
                "language": "en",
                "picture": {
                    "url": "https://radio.example.com/news/2024/05/pictures/council.jpg"
                },
            },
            {
                "id": "urn:uuid:6d2b1a51-0b0c-4cbb-9d34-6a1fb0f6f0b1",
                "headline": "Färjan går igen",
                "body_html": (
                    "<p>Färjan mellan öarna går igen från i dag.</p>"
                    "<p>Tidtabellen är som förut.</p>"
                ),
                "author": "Radio North newsroom",  # the feed's author
                "published": "2024-05-02T07:15:00+00:00",  # only <updated> says
                "categories": ["Trafik"],
                "tags": ["Trafik"],
                "source_url": "https://radio.example.com/sv/farjan",
                "language": "sv",
            },
            {
                "id": "urn:uuid:0b0c6d2b-1a51-4cbb-9d34-f0b16a1fb0f6",
                "headline": "Summer schedule",
                "body_html": "<p>New programmes start on Monday.</p>",
                "author": "Radio North newsroom",
                "published": "2024-04-30T12:00:00+00:00",
                "categories": ["Radio"],
                "tags": ["Radio"],
                "source_url": "https://radio.example.com/schedule",
                "language": "en",
            },
        ],
    ),
    "rss1.rdf": (
        "RSS 1.0 (RDF)",
        [
            {
                "id": "https://lab.example.edu/news/algae",
                "headline": "Algenblüte früher als erwartet",
                "body_html": (
                    "<p>Die Blüte begann Mitte April, zwei Wochen früher als 2023.</p>"
                ),
                "author": "Jana Vogt",
                "published": "2024-04-20T08:00:00+02:00",
                "categories": ["Meeresbiologie"],
                "tags": ["Meeresbiologie"],
                "source_url": "https://lab.example.edu/news/algae",
                "language": "de",
            },
            {
                "id": "https://lab.example.edu/news/buoy",
                "headline": "Neue Messboje",
                "body_html": "Die Boje misst Temperatur und Salzgehalt.",
                "published": "2024-04-18T00:00:00+00:00",
                "categories": ["Technik"],
                "tags": ["Technik"],
                "source_url": "https://lab.example.edu/news/buoy",
                "language": "de",
            },
        ],
    ),
    "rss091.xml": (
        "RSS 0.91",
        [
            {
                "id": "http://cafe.example.org/rouvre.html",
                # &eacute; and &nbsp; come from the DTD the DOCTYPE names.
                "headline": "Le café rouvre ses portes",
                "body_html": "Après les travaux, le café rouvre lundi.",
                "undated": True,
                "source_url": "http://cafe.example.org/rouvre.html",
                "language": "fr",
            }
        ],
    ),
    "rss090.rdf": (
        "RSS 0.90 (RDF)",
        [
            {
                "id": "https://ticker.example.de/meldung/1",
                "headline": "Hafen wieder offen",
                "body_html": "",  # a headline and a link are all RSS 0.90 has
                "undated": True,
                "source_url": "https://ticker.example.de/meldung/1",
            }
        ],
    ),
    "atom03.xml": (
        "Atom 0.3",
        [
            {
                "id": "tag:old.example.com,2005:snow",
                "headline": "Snow closes the pass",
                "body_html": "<p>The pass closed at noon.</p>",  # mode="escaped"
                "author": "Old desk",
                "published": "2005-01-02T09:00:00+01:00",  # <issued>
                "updated": "2005-01-02T11:00:00+01:00",  # <modified>
                "source_url": "https://old.example.com/snow",
            }
        ],
    ),
    "feed.json": (
        "JSON Feed 1.1",
        [
            {
                "id": "https://post.example.com/2024/pass-open",
                "headline": "High pass opens a week early",
                "body_html": (
                    '<p>The pass opened on Wednesday. <a href="https://post.example'
                    '.com/roads/">Road reports</a>.</p>'
                ),
                "dek": "Snow ploughs finished on Tuesday.",
                "author": "Lee Park, Sam Roy",
                "published": "2024-05-08T06:00:00-06:00",
                "updated": "2024-05-08T09:30:00-06:00",
                "categories": ["Roads", "Weather"],
                "tags": ["Roads", "Weather"],
                "source_url": "https://post.example.com/2024/pass-open",
                "language": "en-US",
                "picture": {"url": "https://post.example.com/images/pass.jpg"},
            },
            {
                "id": "1002",
                "headline": (
                    "Avalanche risk is high above the tree line this weekend."
                    " Stay on marked trails."
                ),
                "body_html": (
                    "<p>Avalanche risk is high above the tree line this weekend.</p>"
                    "<p>Stay on marked trails.</p>"
                ),
                "author": "Mountain Post staff",
                "published": "2024-05-09T07:00:00+00:00",
                "categories": ["Safety"],
                "tags": ["Safety"],
                "source_url": "https://post.example.com/2024/avalanche",
                "language": "fr-CA",
            },
            "empty items",
        ],
    ),
    "feed-1.0.json": (
        "JSON Feed 1.0",
        [
            {
                "id": "valley-1",
                "headline": "Bridge repairs finished",
                "body_html": "<p>The bridge reopened to traffic.</p>",
                "author": "Valley desk",
                "published": "2024-05-01T12:00:00+02:00",
                "categories": ["Roads"],
                "tags": ["Roads"],
                "source_url": "https://valley.example.com/1",
            }
        ],
    ),
}


def read(path: Path, zone=UTC) -> tuple[str, list]:
    """Return a file's format and, item by item, its record or why it is skipped."""
    source = open_source(path, Reading(zone=zone))
    return source.format, [e.skipped or e.record for e in source.entries]


def rows(app, query: str) -> list[tuple]:
    with sqlite3.connect(app.config["DATABASE"]) as db:
        return db.execute(query).fetchall()


def imported(runner, *paths: Path):
    return runner.invoke(args=["import", *map(str, paths)])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_feed_gives_its_expected_records(name):
    assert read(FEEDS / name) == EXPECTED[name]


def test_the_same_posts_as_rss_and_as_atom_are_the_same_stories(runner, empty_app):
    assert read(FEEDS / "pair-rss.xml")[1] == read(FEEDS / "pair-atom.xml")[1]
    first = imported(runner, FEEDS / "pair-rss.xml")
    assert "2 added" in first.output, first.output
    again = imported(runner, FEEDS / "pair-atom.xml")
    assert "0 added, 0 updated, 2 unchanged, 0 files rejected" in again.output


def test_importing_the_same_feed_again_changes_nothing(runner):
    first = imported(runner, FEEDS / "rss2.xml")
    assert "4 added, 0 updated, 0 unchanged" in first.output, first.output
    again = imported(runner, FEEDS / "rss2.xml")
    assert "0 added, 0 updated, 4 unchanged, 0 files rejected" in again.output


def test_a_feed_import_counts_empty_and_undated_items(runner, empty_app):
    result = imported(runner, FEEDS / "rss2.xml")
    assert result.exit_code == 0, result.output
    assert "Skipped, not stories for readers: 1 empty items." in result.output
    assert "Dated when imported, having no date of their own: 1." in result.output
    assert rows(empty_app, "SELECT count(*) FROM article") == [(4,)]


def test_a_reader_sees_a_feed_story_with_its_links_made_whole_and_its_picture(
    runner, empty_app
):
    imported(runner, FEEDS / "rss2.xml")
    client = empty_app.test_client()
    hit = client.get("/api/search?q=timetable").get_json()["hits"][0]
    assert hit["headline"] == "Ferry timetable ‘changes’ from May"
    assert hit["byline"] == "Ada Quist"
    page = client.get(hit["url"]).text
    assert 'href="https://gazette.example.org/timetables/may.pdf"' in page
    picture = described_picture(empty_app, hit["url"].rsplit("/", 1)[1])
    assert picture.credit == "Bo Lind"
    assert picture.caption == "The morning ferry leaves the south quay."
    assert picture.url == "https://gazette.example.org/images/ferry.jpg"


def test_an_untitled_item_is_headed_by_the_start_of_its_text(runner, empty_app):
    imported(runner, FEEDS / "rss2.xml")
    hits = empty_app.test_client().get("/api/search?q=gusts").get_json()["hits"]
    assert [h["headline"] for h in hits] == [STORM["headline"]]


ENCODED = {
    "encoding-windows-1251.xml": (
        "Съешь же ещё этих мягких французских булок",
        "Да выпей чаю: паром «Ёлка» ходит по расписанию №5.",
    ),
    "encoding-koi8-r.xml": (
        "Съешь же ещё этих мягких французских булок",
        'Да выпей чаю: паром "Ёлка" ходит по расписанию.',
    ),
    # 𠮷 is outside GBK: only GB18030 itself has it.
    "encoding-gb18030.xml": (
        "港口渡轮时刻表更改",
        "新时刻表五月生效，𠮷野家门前的码头也有船。",
    ),
    # Declared GB2312, written with a GBK character (镕), as real feeds are.
    "encoding-gb2312-with-gbk.xml": ("朱镕基访问港口", "港口渡轮时刻表更改"),
    # No declaration, not UTF-8: windows-1252, whose ’ and € Latin-1 lacks.
    "encoding-latin-1-undeclared.xml": (
        "Smørrebrød at the café’s new quay",
        "Señor Müller’s «menu» costs 12 €.",
    ),
    # Says windows-1252, is UTF-8: the bytes win, no "â‚¬".
    "encoding-1252-declared-utf-8-bytes.xml": (
        "Euro € and café",
        "Prices in € from Zoë’s stall.",
    ),
    "encoding-bom.xml": ("A byte order mark first", "Déjà vu at the quay."),
    "encoding-whitespace-before-declaration.xml": (
        "Whitespace first",
        "Blank lines before the declaration.",
    ),
    "encoding-utf-16.xml": ("Sixteen bits", "Ωμέγα in UTF-16."),
}


@pytest.mark.parametrize("name", sorted(ENCODED))
def test_a_feed_is_read_in_the_encoding_it_really_uses(name):
    _, [story] = read(FEEDS / name)
    assert (story["headline"], story["body_html"]) == ENCODED[name]


def test_cyrillic_from_a_windows_1251_feed_reaches_the_page_intact(runner, empty_app):
    result = imported(runner, FEEDS / "encoding-windows-1251.xml")
    assert "1 added" in result.output, result.output
    client = empty_app.test_client()
    hit = client.get("/api/search?q=Ёлка").get_json()["hits"][0]
    assert hit["headline"] == "Съешь же ещё этих мягких французских булок"
    assert "паром «Ёлка» ходит по расписанию №5." in client.get(hit["url"]).text


def test_a_fetched_document_without_a_declaration_is_read_in_its_http_charset():
    text = "Паромы ходят по расписанию"
    data = (
        '<rss version="2.0"><channel><item><title>'
        f"{text}</title><guid>koi</guid></item></channel></rss>"
    ).encode("koi8_r")
    source = read_document(data, Reading(zone=UTC, charset="koi8-r"))
    assert next(source.entries).record["headline"] == text


def test_a_stray_bad_byte_costs_one_character_not_the_whole_text():
    good = "港口渡轮时刻表".encode("gb18030")
    data = (
        b'<?xml version="1.0" encoding="GB18030"?><rss version="2.0"><channel><item>'
        b"<title>" + good + b"\x81 " + good + b"</title><guid>gb</guid>"
        b"</item></channel></rss>"
    )
    story = next(read_document(data, Reading(zone=UTC)).entries).record
    assert story["headline"] == "港口渡轮时刻表\ufffd 港口渡轮时刻表"


def test_a_pulled_feeds_relative_links_resolve_against_where_it_came_from():
    data = (
        b'<rss version="2.0"><channel><link>/</link><item><title>Quay</title>'
        b"<link>/2024/quay</link><category>Harbour</category><description>"
        b'&lt;img src="quay.jpg" alt="The quay"&gt;</description></item></channel></rss>'
    )
    reading = Reading(zone=UTC, origin="https://port.example.org/feeds/rss.xml")
    story = next(read_document(data, reading).entries).record
    assert story["source_url"] == "https://port.example.org/2024/quay"
    # A body that is only a picture is still the body.
    assert story["body_html"] == (
        '<img src="https://port.example.org/2024/quay.jpg" alt="The quay">'
    )


DATED = {
    "d1": "2024-05-01T10:00:00+05:30",
    "d2": "2024-05-01T10:00:00-04:00",  # EDT, as RFC 822 defines it
    "d3": "2024-05-01T10:00:00+00:00",  # "-0000": UTC, the writer's zone unknown
    "d4": "2024-05-01T10:00:00+02:00",  # ISO 8601 where RFC 822 belongs
    "d5": "2024-05-01T10:00:00+02:00",  # no zone: TIMEZONE's (Oslo, summer)
    "d6": None,  # a Unix timestamp: refused
    "d7": None,  # "CET": no standard's zone name
    "d8": "2024-05-01T10:00:00+02:00",  # "CEST" refused, dc:date read instead
    "d9": None,  # "AEST" is not "EST" with an "A" in front
    "d10": None,
    "d11": "2024-05-01T10:00:00+02:00",  # the offset says it; "(CEST)" comments
    "d12": "2024-05-01T10:00:00+00:00",
    "d13": "2024-05-01T10:00:00+05:30",  # "+05:30" where RFC 822 wants "+0530"
    "d14": None,  # the day would be a guess
}


def test_dates_are_read_right_or_refused_never_guessed():
    _, stories = read(FEEDS / "dates.xml", zone=OSLO)
    got = {s["id"]: s.get("published") for s in stories}
    assert got == DATED
    assert all(s.get("undated") is (None if DATED[s["id"]] else True) for s in stories)


def test_undated_items_are_dated_when_imported_and_the_summary_says_how_many(
    make_app, tmp_path
):
    app = make_app(tmp_path, TIMEZONE="Europe/Oslo")
    result = imported(app.test_cli_runner(), FEEDS / "dates.xml")
    assert result.exit_code == 0, result.output
    assert "Dated when imported, having no date of their own: 5." in result.output
    hits = app.test_client().get("/api/search?q=timestamp").get_json()["hits"]
    assert hits and hits[0]["published"] > "2024-06"  # today, not 1970 or 2024-05


def test_a_title_longer_than_a_headline_can_be_is_cut_at_a_word(tmp_path, runner):
    words = " ".join(["harbour"] * 60)  # 479 characters
    path = tmp_path / "long.xml"
    path.write_text(
        f'<rss version="2.0"><channel><item><title>{words}</title><guid>long</guid>'
        "<category>Tests</category><description>Body.</description>"
        "</item></channel></rss>",
        encoding="utf-8",
    )
    _, [story] = read(path)
    assert len(story["headline"]) <= 300 and story["headline"].endswith("harbour…")
    assert "1 added" in imported(runner, path).output


def test_an_item_listed_twice_is_one_story_the_first_copy(tmp_path):
    path = tmp_path / "twice.xml"
    item = "<item><title>{}</title><guid>same</guid><category>T</category></item>"
    path.write_text(
        f'<rss version="2.0"><channel>{item.format("New")}{item.format("Old")}'
        "</channel></rss>",
        encoding="utf-8",
    )
    _, [first, second] = read(path)
    assert first["headline"] == "New" and second == "repeated items"


def test_an_id_with_spaces_becomes_a_digest_that_stays_the_same(tmp_path):
    path = tmp_path / "spaces.xml"
    path.write_text(
        '<rss version="2.0"><channel><item><title>A</title><guid>post 12 at home'
        "</guid><category>T</category></item></channel></rss>",
        encoding="utf-8",
    )
    (_, [story]), (_, [again]) = read(path), read(path)
    assert story["id"].startswith("urn:sha256:") and story["id"] == again["id"]


def test_an_item_without_categories_goes_to_the_fallback_section(make_app, tmp_path):
    app = make_app(tmp_path, SECTION_FALLBACK="Wire")
    result = imported(app.test_cli_runner(), FEEDS / "rss091.xml")
    assert "1 added" in result.output, result.output
    assert "Le café rouvre" in app.test_client().get("/news/wire/").text


def test_an_html_error_page_is_named_as_such_and_nothing_is_stored(runner, empty_app):
    path = FEEDS / "html-error-page.xml"
    result = imported(runner, path)
    assert result.exit_code == 1
    assert f"{path}: is an HTML page, not a feed or an export" in result.output
    assert rows(empty_app, "SELECT count(*) FROM article") == [(0,)]


def test_a_json_api_error_is_named_as_such_and_nothing_is_stored(runner, empty_app):
    path = FEEDS / "api-error.json"
    result = imported(runner, path)
    assert result.exit_code == 1
    assert (
        f"{path}: is an API error, not stories:"
        " Rate limit exceeded: try again in 60 seconds" in result.output
    )
    assert rows(empty_app, "SELECT count(*) FROM article") == [(0,)]


def test_a_truncated_feed_is_refused_whole_naming_where_it_stops(runner, empty_app):
    path = FEEDS / "not-well-formed.xml"
    result = imported(runner, path)
    assert result.exit_code == 1
    assert f"{path}: is not well-formed XML" in result.output
    assert "Premature end of data in tag description line 8" in result.output
    assert rows(empty_app, "SELECT count(*) FROM article") == [(0,)]


def test_a_json_feed_item_that_is_not_an_object_names_the_item(tmp_path):
    path = tmp_path / "odd.json"
    path.write_text(
        '{"version": "https://jsonfeed.org/version/1.1", "title": "T",'
        ' "items": [{"id": "1", "title": "Fine", "content_text": "x"}, 7]}',
        encoding="utf-8",
    )
    with pytest.raises(SourceError) as refused:
        read(path)
    assert (refused.value.position, refused.value.reason) == (
        2,
        "is not a JSON object",
    )


def test_stories_in_cyrillic_greek_and_arabic_are_found_by_a_word_of_their_body(
    runner, empty_app
):
    result = imported(runner, FEEDS / "scripts.xml")
    assert "3 added" in result.output, result.output
    client = empty_app.test_client()
    for word, headline in (
        ("Паромщики", "Паромная переправа открыта"),
        ("ψαράδες", "Νέο δρομολόγιο για τα νησιά"),
        ("الصيادون", "افتتاح ميناء جديد"),
    ):
        hits = client.get("/api/search", query_string={"q": word}).get_json()["hits"]
        assert [h["headline"] for h in hits] == [headline], word
    arabic = client.get(hits[0]["url"]).text
    assert 'lang="ar" dir="rtl"' in arabic
