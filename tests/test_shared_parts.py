"""Article pages are assembled from parts many pages share (the header, each
section's newest stories, cards, addresses), made once per process (#16). A page
rendered for the first time after an import must still show the archive as it is."""

import re
from urllib.parse import quote

import pytest

from conftest import import_records, record

pytestmark = pytest.mark.both_engines
HARBOUR = "/news/harbour-town/"
FERRY = HARBOUR + "ferry-service-resumes-after-winter-storms"
LIGHTHOUSE = HARBOUR + "lighthouse-keeper-retires-after-forty-years"
FESTIVAL = HARBOUR + "harbour-festival-returns-with-tall-ships"
COMET = "/news/science/comet-visible-to-the-naked-eye-this-week"


def import_harbour_story(app, tmp_path, id_: str, headline: str, published: str):
    """Import one Harbour Town story with `reader import`."""
    story = record(id_, headline, "Text.", section="Harbour Town", published=published)
    import_records(app, tmp_path / f"{id_}.jsonl", story)


def section_html(page: str, css_class: str) -> str:
    start = page.index(f'<section class="{css_class}"')
    return page[start : page.index("</section>", start)]


def test_a_new_story_is_in_latest_from_on_pages_first_rendered_after_it(
    app, client, tmp_path
):
    assert "Tug race" not in client.get(FERRY).text
    import_harbour_story(
        app, tmp_path, "fx-harbour-9", "Tug race draws a crowd", "2030-01-01"
    )
    # Never rendered before, so only the shared reads could be stale.
    latest = section_html(client.get(LIGHTHOUSE).text, "latest-from")
    assert "Tug race draws a crowd" in latest


def test_a_corrected_headline_shows_in_every_card_rendered_after_it(
    app, client, tmp_path
):
    old = "Harbour festival returns with tall ships"
    assert old in client.get(FERRY).text  # its card is made and kept
    import_harbour_story(
        app,
        tmp_path,
        "fx-harbour-5",
        "Harbour festival returns with twelve tall ships",
        "2024-03-01",
    )
    page = client.get(LIGHTHOUSE).text
    assert "Harbour festival returns with twelve tall ships" in page
    assert old not in page


def test_a_new_section_joins_the_navigation_of_pages_rendered_after_it(
    app, client, tmp_path
):
    assert "/news/weather/" not in client.get(FERRY).text
    import_records(
        app,
        tmp_path / "weather.jsonl",
        record("fx-weather-1", "Fog all week", "Fog.", section="Weather"),
    )
    navigation = client.get(COMET).text.split('class="section-nav"')[1]
    assert '<a href="/news/weather/"' in navigation.split("</nav>")[0]


def test_a_site_mounted_under_a_path_links_under_it_and_at_the_root_does_not(
    client,
):
    mounted = client.get(LIGHTHOUSE, environ_overrides={"SCRIPT_NAME": "/reader"})
    links = re.findall(r'(?:href|src)="(/[^"]*)"', mounted.text)
    assert links and all(link.startswith("/reader/") for link in links), links
    at_root = client.get(FESTIVAL).text  # the parts above are not reused here
    assert "/reader/" not in at_root
    for link in re.findall(r'href="(/news/[^"]*)"', at_root):
        assert client.get(link).status_code == 200, link


def test_a_story_whose_address_needs_escaping_is_linked_from_its_neighbours(
    app, client, tmp_path
):
    import_harbour_story(app, tmp_path, "fx-harbour-ru", "Новости гавани", "2024-01-09")
    # Published the day after the ferry story: its next story in the section.
    ferry = client.get(FERRY).text
    found = re.search(r'<a class="story-next" rel="next" href="([^"]+)"', ferry)
    assert found and found[1] == HARBOUR + quote("новости-гавани")
    assert "Новости гавани" in client.get(found[1]).text
