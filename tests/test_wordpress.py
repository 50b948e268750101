"""WordPress exports (WXR) and REST API answers, read as a newsroom's real files are.

The fixtures in data/wordpress/ are shaped after the real samples in
../shared/ingest-samples (wordpress-importer, ghost-migrate, frontity, Block test
data). newsroom.xml is one site's export with a post of every kind; rest/ holds
the same site's REST API pages, as WordPress renders them, for three of its posts.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import DATA, described_picture
from readerapp.sources import Reading, SourceError, open_source, wordpress, wp_rest

WP = DATA / "wordpress"
LONDON = ZoneInfo("Europe/London")
SITE = "wp:news.example.org"

FERRY = {
    "id": f"{SITE}:101",
    "headline": "Ferry fares & timetables change",
    "body_html": (
        "<p>The harbour board voted on Tuesday to raise fares by a fifth.</p>\n"
        "<p>Commuters said the rise was steep.<br />\nSome will drive instead.</p>\n"
        '<figure><img src="https://news.example.org/wp-content/uploads/2024/03/'
        'ferry.jpg" alt="The morning ferry" width="640" height="427"'
        ' class="size-large wp-image-201" /><figcaption>The morning ferry leaves the'
        " quay.</figcaption></figure>\n"
        "<p>The new fares start in April.</p>"
    ),
    "categories": ["Harbour"],
    "tags": ["Ferries"],
    "published": "2024-03-05T09:30:00+00:00",
    "updated": "2024-03-06T08:15:00+00:00",
    "dek": "Fares rise by a fifth from April.",
    "author": "Jane Doe",
    "source_url": "https://news.example.org/2024/03/05/ferry-fares-change/",
    "slug": "ferry-fares-change",
    "language": "en-GB",
    # The attachment comes after the post in the file; its credit is in the
    # PHP-serialized attachment metadata, counted in bytes ("ë" is two).
    "picture": {
        "url": "https://news.example.org/wp-content/uploads/2024/03/ferry.jpg",
        "alt": "The morning ferry",
        "caption": "The morning ferry leaves the quay.",
        "credit": "Zoë Lens/Harbour Times",
    },
}
SEA_WALL = {
    "id": f"{SITE}:102",
    "headline": "Council backs new sea wall",
    # Block content: its comments and the embed (a bare URL) gone, no paragraphs
    # added, blank lines between blocks made one.
    "body_html": (
        "<p>The council voted to fund a new sea wall along the harbour front.</p>\n"
        '<h2 class="wp-block-heading">What happens next</h2>\n'
        "<ul>\n<li>Surveys in May</li>\n<li>Building from June</li>\n</ul>\n"
        "<p>The work should take two years.</p>"
    ),
    "categories": ["Politics"],
    "tags": ["Sea wall"],
    "published": "2024-03-04T12:00:00+00:00",
    "updated": "2024-03-04T12:00:00+00:00",
    "author": "Alice Smith and Bob Jones",
    "source_url": "https://news.example.org/2024/03/04/council-backs-new-sea-wall/",
    "slug": "council-backs-new-sea-wall",
    "language": "en-GB",
    "picture": {
        "url": "https://news.example.org/wp-content/uploads/2024/03/sea-wall.jpg",
        "alt": "Waves over the harbour wall",
        "caption": "The old wall at high tide.",
        "credit": "Harbour Times",
    },
}
FOG = {
    "id": f"{SITE}:117",
    "headline": (
        "Fog closed the harbour mouth for three hours on Friday morning while pilots"
        " and cargo ships waited…"
    ),
    "body_html": (
        "<p>Fog closed the harbour mouth for three hours on Friday morning while"
        " pilots and cargo ships waited offshore.</p>\n"
        "<p>Shipping resumed at noon.</p>"
    ),
    "categories": ["Harbour"],
    "published": "2024-03-08T07:00:00+00:00",
    "updated": "2024-03-08T07:00:00+00:00",
    "author": "Bob Jones",
    "source_url": "https://news.example.org/2024/03/08/117-2/",
    "slug": "117-2",
    "language": "en-GB",
}
TIMETABLE = {
    "id": f"{SITE}:118",
    "headline": "Summer timetable published",
    "body_html": "<p>Ferries will run every half hour from July.</p>",
    "categories": ["Harbour"],
    "tags": ["Ferries"],
    # Its GMT dates are unset (all zeros): the local ones, in the site's zone.
    "published": "2024-07-01T10:00:00+01:00",
    "updated": "2024-07-01T10:00:00+01:00",
    "author": "Jane Doe",
    "source_url": "https://news.example.org/2024/07/01/summer-timetable/",
    "slug": "summer-timetable",
    "language": "en-GB",
}

EXPECTED = {
    "newsroom.xml": [
        (1, FERRY),
        (2, SEA_WALL),
        (
            3,
            {
                "id": f"{SITE}:103",
                "headline": "Harbour master quits",
                # Shortcodes gone (gallery, audio, embed with its URL), pullquote
                # text kept; brackets that are no shortcode, code and backslashes
                # stay; [[gallery]], WordPress's escape, shows as [gallery].
                "body_html": (
                    "<p>The harbour master resigned on Thursday [sic] after ten"
                    " years.</p>\n"
                    "<p>It was time to go.</p>\n"
                    "<p>Files were kept in C:\\harbour\\records, he said. [Photo:"
                    " Harbour Times]</p>\n"
                    '<p>Write [gallery] to show a gallery, or <code>[gallery ids="1"]'
                    "</code>.</p>"
                ),
                # Yoast's primary category first, though WordPress lists it second.
                "categories": ["Politics", "Harbour"],
                "published": "2024-03-07T16:45:00+00:00",
                # A Co-Authors Plus guest author, named by an item further on.
                "author": "Sam Guest",
                "source_url": "https://news.example.org/2024/03/07/harbour-master-quits/",
                "slug": "harbour-master-quits",
                "language": "en-GB",
            },
        ),
        (4, "drafts"),
        (5, "pending posts"),
        (6, "scheduled posts"),
        (7, {"id": f"{SITE}:107", "removed": True}),
        (8, {"id": f"{SITE}:108", "removed": True}),
        (9, "password-protected posts"),
        (10, "pages"),
        (11, "revisions"),
        (12, "menu items"),
        (13, "navigation menus"),
        (14, "reusable blocks"),
        (15, "'event' posts"),
        (16, "empty items"),
        (17, FOG),
        (18, TIMETABLE),
        (
            19,
            {
                "id": f"{SITE}:119",
                "headline": "Lighthouse keeper remembered",
                "body_html": "<p>A plaque now marks the keeper's cottage.</p>",
                "categories": ["Harbour"],
                "undated": True,
                # No author: its login is an e-mail address, never a byline.
                "source_url": "https://news.example.org/lighthouse-keeper/",
                "slug": "lighthouse-keeper",
                "language": "en-GB",
            },
        ),
        (20, "attachments"),
        (21, "attachments"),
        (22, "guest authors"),
    ],
    "wxr-1.0.xml": [
        (
            1,
            {
                "id": "wp:gazette.example.com:7",
                "headline": "Quay lights restored",
                "body_html": (
                    "<p>Lamps along the quay were lit again on Friday.<br />\n"
                    "Engineers had worked all week.</p>\n"
                    "<pre>\nLamp 1   on\n\nLamp 2   on\n</pre>"
                ),
                # WXR 1.0 writes each term twice, with and without its domain.
                "categories": ["Local news"],
                "tags": ["Quay"],
                "published": "2009-11-20T18:30:00+00:00",
                "author": "editor",
                "source_url": "http://gazette.example.com/2009/11/20/quay-lights-restored/",
                "slug": "quay-lights-restored",
                "language": "en",
            },
        ),
        (2, "drafts"),
    ],
    "wxr-1.1.xml": [
        (
            1,
            {
                "id": "wp:cafe.example.net:1",
                "headline": "Le café rouvre",
                # Backslashes kept as written (wordpress-importer's slashes.xml);
                # "]]]]><![CDATA[>" rejoined by the parser.
                "body_html": (
                    '<p>Slashes aren\\\'t \\"cool\\" but they stay.</p>\n'
                    "<p>Nested <![CDATA[ tags ]]> are kept as text.</p>"
                ),
                "categories": ['a \\"great\\" category'],
                "published": "2011-01-18T07:40:14+00:00",
                "author": "Marie Dupont",
                "source_url": "https://cafe.example.net/caf%c3%a9-rouvre/",
                # No slug: "café-rouvre" is none of ours (ours is "cafe-rouvre").
                "language": "fr-FR",
            },
        )
    ],
    "missing-tags.xml": [
        (
            1,
            {
                # No site address anywhere in the file: the id names none.
                "id": "wp:5",
                "headline": "A post with little else",
                "body_html": "<p>Only a title, an id and this text.</p>",
                "categories": ["Uncategorized"],
                "undated": True,
            },
        )
    ],
    "newsroom-later.xml": [
        (
            1,
            {
                **FERRY,
                "headline": "Ferry fares rise by a fifth",
                "body_html": (
                    "<p>The harbour board voted on Tuesday to raise fares by a fifth,"
                    " the first rise in six years.</p>\n"
                    "<p>The new fares start in April.</p>"
                ),
                "updated": "2024-03-09T14:00:00+00:00",
                "slug": "ferry-fares-rise-by-a-fifth",
                "picture": None,
            },
        ),
        (2, {"id": f"{SITE}:102", "removed": True}),
    ],
    "rest/posts-page-1.json": [(1, SEA_WALL), (2, FOG)],
    "rest/posts-page-2.json": [
        (
            1,
            {
                **TIMETABLE,
                "published": "2024-07-01T09:00:00+00:00",
                "updated": "2024-07-01T09:00:00+00:00",
            },
        ),
    ],  # fmt: skip
    # context=edit: the stored content, read as the export's.
    "rest-edit-context.json": [(1, FERRY), (2, {"id": f"{SITE}:108", "removed": True})],
    "rest-single.json": [
        (
            1,
            {
                "id": "wp:wire.example.com:4821",
                "headline": "Port reopens – “at last” & early",
                # A shortcode the site no longer renders, left in the HTML: removed.
                "body_html": (
                    "<p>The port reopened on Thursday.</p>\n"
                    "<p>Crews [sic] worked overnight.</p>"
                ),
                # No _embed: no names of categories, tags or author.
                "categories": ["Uncategorized"],
                "published": "2024-05-02T15:10:00+00:00",
                "updated": "2024-05-02T15:10:00+00:00",
                "source_url": "https://wire.example.com/2024/05/02/port-reopens/",
                "slug": "港口-port-reopens",
                "picture": {
                    "url": "https://wire.example.com/wp-content/uploads/2024/05/port.jpg"
                },
            },
        )
    ],
    "rest-skips.json": [
        (1, "pages"),
        (2, "'mycpt' posts"),
        (3, "password-protected posts"),
        (4, "attachments"),
        (5, "empty items"),
        (6, {"id": "wp:wire.example.com:6", "removed": True}),
    ],
}


def entries(path: Path) -> list[tuple[int, object]]:
    """Return a file's entries as (position, record or why it is skipped)."""
    source = open_source(path, Reading(zone=LONDON))
    assert source.unit == "item"
    return [(e.position, e.skipped or e.record) for e in source.entries]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_fixture_reads_to_its_expected_records(name):
    expected = [
        (position, {k: v for k, v in want.items() if v is not None})
        if isinstance(want, dict)
        else (position, want)
        for position, want in EXPECTED[name]
    ]
    assert entries(WP / name) == expected


@pytest.fixture
def site(make_app, tmp_path):
    """An empty site whose newsroom is in London (its WordPress's zone too)."""
    return make_app(tmp_path, TIMEZONE="Europe/London")


def imported(site, *paths: Path) -> str:
    result = site.test_cli_runner().invoke(args=["import", *map(str, paths)])
    return result.output


def rows(site, query: str) -> list[tuple]:
    with sqlite3.connect(site.config["DATABASE"]) as db:
        return db.execute(query).fetchall()


def test_an_export_imports_its_stories_and_counts_each_kind_it_skips(site):
    output = imported(site, WP / "newsroom.xml")
    assert "6 added, 0 updated, 0 unchanged, 0 files rejected" in output
    assert (
        "Skipped, not stories for readers: 1 'event' posts, 2 attachments, 1 drafts,"
        " 1 empty items, 1 guest authors, 1 menu items, 1 navigation menus,"
        " 2 no longer published, 1 pages, 1 password-protected posts,"
        " 1 pending posts, 1 reusable blocks, 1 revisions, 1 scheduled posts."
    ) in output
    assert "Dated when imported, having no date of their own: 1." in output


def test_a_reader_sees_headline_byline_section_update_and_picture_credit(site):
    imported(site, WP / "newsroom.xml")
    client = site.test_client()
    page = client.get("/news/harbour/ferry-fares-change")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<h1 class="story-headline">Ferry fares &amp; timetables change</h1>' in html
    assert '<p class="standfirst">Fares rise by a fifth from April.</p>' in html
    assert '<p class="byline">By Jane Doe</p>' in html
    assert 'class="section-link" href="/news/harbour/">Harbour</a>' in html
    assert 'Updated <time datetime="2024-03-06T08:15:00+00:00">6 March 2024' in html
    # Named, to be fetched; not shown until kept on the site (test_picture_pipeline).
    picture = described_picture(site, "ferry-fares-change")
    assert picture.url == FERRY["picture"]["url"]
    assert picture.credit == "Zoë Lens/Harbour Times"
    assert "story-picture" not in html
    assert 'lang="en-gb"' in html
    script = html.split('<script type="application/ld+json">')[1].split("</script>")[0]
    article = json.loads(script)
    assert article["@type"] == "NewsArticle"
    assert "image" not in article
    assert article["author"] == [{"@type": "Person", "name": "Jane Doe"}]
    sea_wall = client.get("/news/politics/council-backs-new-sea-wall")
    assert '<p class="byline">By Alice Smith and Bob Jones</p>' in sea_wall.get_data(
        as_text=True
    )
    # Yoast's primary category picks the section.
    assert client.get("/news/politics/harbour-master-quits").status_code == 200


def test_reimporting_an_export_changes_nothing(site):
    imported(site, WP / "newsroom.xml")
    assert "0 added, 0 updated, 6 unchanged" in imported(site, WP / "newsroom.xml")


def test_an_export_then_the_same_sites_rest_pages_change_nothing(site):
    imported(site, WP / "newsroom.xml")
    output = imported(site, WP / "rest")
    assert "0 added, 0 updated, 3 unchanged, 0 files rejected" in output


def test_a_folder_of_rest_pages_imports_each_page(site):
    output = imported(site, WP / "rest")
    assert "3 added, 0 updated, 0 unchanged, 0 files rejected" in output
    html = site.test_client().get("/news/harbour/117-2").get_data(as_text=True)
    assert '<h1 class="story-headline">Fog closed the harbour mouth' in html
    assert '<p class="byline">By Bob Jones</p>' in html


def test_an_edited_post_is_updated_in_place_and_a_trashed_one_taken_off(site):
    imported(site, WP / "newsroom.xml")
    output = imported(site, WP / "newsroom-later.xml")
    assert "0 added, 1 updated, 0 unchanged, 0 files rejected" in output
    assert "Taken off the site: 1" in output
    client = site.test_client()
    # The edit renamed the post in WordPress; its address here stays.
    html = client.get("/news/harbour/ferry-fares-change").get_data(as_text=True)
    assert '<h1 class="story-headline">Ferry fares rise by a fifth</h1>' in html
    assert 'datetime="2024-03-09T14:00:00+00:00">9 March 2024</time>' in html
    assert client.get("/news/harbour/ferry-fares-rise-by-a-fifth").status_code == 404
    assert rows(site, f"SELECT id FROM article WHERE id = '{SITE}:102'") == []
    assert rows(site, "SELECT id, slug FROM removed_article") == [
        (f"{SITE}:102", "council-backs-new-sea-wall")
    ]
    assert client.get("/news/politics/council-backs-new-sea-wall").status_code == 410


def test_all_three_wxr_versions_import(site):
    output = imported(site, WP / "wxr-1.0.xml", WP / "wxr-1.1.xml", WP / "newsroom.xml")
    assert "8 added, 0 updated, 0 unchanged, 0 files rejected" in output


def test_an_export_with_only_title_id_and_text_imports(site):
    assert "1 added" in imported(site, WP / "missing-tags.xml")
    html = site.test_client().get("/news/uncategorized/").get_data(as_text=True)
    assert "A post with little else" in html


def test_a_gzipped_export_imports_as_the_plain_one(site, tmp_path):
    packed = tmp_path / "export.bin"
    packed.write_bytes(gzip.compress((WP / "newsroom.xml").read_bytes()))
    assert "6 added, 0 updated, 0 unchanged" in imported(site, packed)


@pytest.mark.parametrize(
    ("name", "error"),
    [
        (
            "truncated.xml",
            "truncated.xml: item 2: is not well-formed XML: Premature end of data",
        ),
        # Items 1 and 2 are good: the file is all or nothing.
        ("malformed.xml", "malformed.xml: item 3: is not well-formed XML: EntityRef"),
    ],
)
def test_a_broken_export_names_file_and_item_and_keeps_nothing(site, name, error):
    output = imported(site, WP / name)
    assert error in output
    assert "0 added, 0 updated, 0 unchanged, 1 file rejected" in output
    assert rows(site, "SELECT count(*) FROM article") == [(0,)]


def test_an_export_broken_before_its_first_item_names_the_file(site, tmp_path):
    broken = tmp_path / "broken.xml"
    text = (WP / "newsroom.xml").read_text(encoding="utf-8")
    broken.write_text(
        text.replace("<title>The Harbour Times", "<title>A & B"), encoding="utf-8"
    )
    output = imported(site, broken)
    assert f"{broken}: is not well-formed XML: xmlParseEntityRef" in output
    assert rows(site, "SELECT count(*) FROM article") == [(0,)]


def test_custom_post_types_are_stories_when_a_setting_names_them(make_app, tmp_path):
    site = make_app(tmp_path, TIMEZONE="Europe/London", WORDPRESS_POST_TYPES=["event"])
    output = imported(site, WP / "newsroom.xml")
    assert "7 added" in output and "'event' posts" not in output


def test_what_a_rest_answer_skips_is_counted_by_kind(site):
    output = imported(site, WP / "rest-skips.json")
    assert (
        "Skipped, not stories for readers: 1 'mycpt' posts, 1 attachments,"
        " 1 empty items, 1 no longer published, 1 pages,"
        " 1 password-protected posts."
    ) in output


def test_a_pulled_post_is_named_by_the_address_it_was_pulled_from():
    post = json.loads((WP / "rest-single.json").read_text(encoding="utf-8"))
    reading = Reading(zone=LONDON, origin="http://127.0.0.1:8123/")
    assert wp_rest.post_entry(1, post, reading).record["id"] == "wp:127.0.0.1:4821"


def test_a_rest_post_without_an_id_is_refused_with_its_position():
    with pytest.raises(SourceError) as refused:
        wp_rest.post_entry(4, {"title": {"rendered": "x"}}, Reading(zone=LONDON))
    assert (refused.value.position, refused.value.reason) == (4, "the post has no 'id'")


@pytest.mark.parametrize(
    ("stored", "html"),
    [
        ("", ""),
        ("one\n\ntwo", "<p>one</p>\n<p>two</p>\n"),
        ("one\ntwo", "<p>one<br />\ntwo</p>\n"),
        ("one<br /><br />two", "<p>one</p>\n<p>two</p>\n"),
        ("one  \ntwo", "<p>one<br />\ntwo</p>\n"),
        ("<pre>a\n\nb</pre>\n\nafter", "<pre>a\n\nb</pre>\n<p>after</p>\n"),
        ("<blockquote>said</blockquote>", "<blockquote><p>said</p></blockquote>\n"),
        (
            "<ul>\n<li>a</li>\n<li>b</li>\n</ul>",
            "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n",
        ),
        ('a <a\nhref="x">link</a>', '<p>a <a\nhref="x">link</a></p>\n'),
        ("<h2>Head</h2>\ntext", "<h2>Head</h2>\n<p>text</p>\n"),
        # PHP's \s is ASCII: a no-break space is text, so no paragraph break.
        ("a\n\xa0\nb", "<p>a<br />\n\xa0<br />\nb</p>\n"),
    ],
)
def test_classic_content_gets_paragraphs_as_wpautop_makes_them(stored, html):
    assert wordpress.autop(stored) == html


@pytest.mark.parametrize(
    ("stored", "html"),
    [
        ("Crews [sic] and [1] and [Photo: AP]", "Crews [sic] and [1] and [Photo: AP]"),
        ("[Update 5 pm: x=y]", "[Update 5 pm: x=y]"),
        ('a[gallery ids="1,2"]b[gallery]c', "abc"),
        ('[audio mp3="x.mp3"][/audio]', ""),
        ("[embed]https://youtu.be/x[/embed]", ""),
        ('[contact-form-7 id="4" title="Contact"]', ""),
        ("[toc /]x", "x"),
        ("[pullquote]Said it[/pullquote]", "Said it"),
        ("[[gallery]]", "[gallery]"),
        (
            "<code>[gallery]</code> <pre>[x id=1]</pre>",
            "<code>[gallery]</code> <pre>[x id=1]</pre>",
        ),
        (
            '[caption id="a" width="300"]<img src="p.jpg" alt="P" /> A <b>pier</b>[/caption]',
            '<figure><img src="p.jpg" alt="P" /><figcaption>A <b>pier</b></figcaption></figure>',
        ),
        (
            '[caption caption="Old style"]<a href="big.jpg"><img src="p.jpg" alt="P"></a>[/caption]',
            '<figure><a href="big.jpg"><img src="p.jpg" alt="P"></a><figcaption>Old style</figcaption></figure>',
        ),
        ('[caption]<img src="p.jpg" alt="P">[/caption]', '<img src="p.jpg" alt="P">'),
    ],
)
def test_captions_become_figures_and_other_shortcodes_go(stored, html):
    assert wordpress.strip_shortcodes(stored) == html


def test_rendered_content_loses_embeds_and_comments_but_gets_no_paragraphs():
    rendered = (
        "<p>a</p>\n<!--more-->\n"
        '<figure class="wp-block-embed is-provider-youtube"><div>'
        "<iframe src=x></iframe></div></figure>\n\n\n<p>b\nc</p>\n"
    )
    assert wordpress.body_html(rendered, rendered=True) == "<p>a</p>\n<p>b\nc</p>"


def test_blank_lines_between_tags_become_one_except_in_pre():
    stored = "<!-- wp:x -->\n<p>a</p>\n\n\n<pre><b>1</b>\n\n<b>2</b></pre>\n\n<p>b</p>"
    assert wordpress.body_html(stored) == (
        "<p>a</p>\n<pre><b>1</b>\n\n<b>2</b></pre>\n<p>b</p>"
    )


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://News.Example.org:8443/wp/", "news.example.org"),
        ("https://🚀-science.com/science", "xn---science-7f85g.com"),
        ("https://xn---science-7f85g.com/", "xn---science-7f85g.com"),
        ("/relative/only", None),
        (None, None),
    ],
)
def test_a_site_is_named_by_its_host_however_its_address_is_written(url, host):
    assert wordpress.site_host(url) == host


def test_bylines_join_co_authors_as_a_sentence():
    assert wordpress.byline([]) is None
    assert wordpress.byline(["A", None, "A"]) == "A"
    assert wordpress.byline(["A", "B"]) == "A and B"
    assert wordpress.byline(["A", "B", "C"]) == "A, B and C"


def test_a_folder_is_one_source_and_a_bad_page_keeps_all_of_it_out(site, tmp_path):
    folder = tmp_path / "rest"
    shutil.copytree(WP / "rest", folder)
    page = folder / "posts-page-2.json"
    page.write_text(page.read_text(encoding="utf-8")[:-40], encoding="utf-8")
    output = imported(site, folder)
    assert f"{folder}: posts-page-2.json: is not valid JSON" in output
    assert rows(site, "SELECT count(*) FROM article") == [(0,)]
