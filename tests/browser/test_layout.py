"""Layout on a phone and a desktop: search results on the first screen, listings in
columns, lines of readable length, and cards that keep their size while pages load."""

import re

import pytest
from PIL import Image

from conftest import import_records, record

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
PHONE_TURNED = {"width": 844, "height": 390}
DESKTOP = {"width": 1366, "height": 768}
FISH = "/news/harbour-town/fish-market-moves-to-the-old-customs-house"
# Enough sections for their filter links to fill a phone's screen, as on the demo.
SECTIONS = (
    "Armed conflicts and attacks", "Business and economy", "Disasters and accidents",
    "Law and crime", "International relations", "Arts and culture",
    "Health and environment", "Science and technology", "Religion and belief",
    "Sports", "Politics", "General",
)  # fmt: skip
# Text blocks, measured in widths of "0" in their own font (CSS's ch), as a line
# of about 75 characters is; a little over 75 for a font whose "0" is narrow.
WIDEST_LINE = """() => {
  const context = document.createElement('canvas').getContext('2d');
  const wide = [];
  for (const el of document.querySelectorAll('p, li, h1, h2, h3, figcaption, blockquote')) {
    if (!el.checkVisibility() || !el.textContent.trim()) continue;
    const style = getComputedStyle(el);
    context.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const ch = el.getBoundingClientRect().width / context.measureText('0').width;
    if (ch > 78) wide.push(`${el.outerHTML.slice(0, 70)}: ${Math.round(ch)}ch`);
  }
  return wide;
}"""
SHIFTS = """
window.__shifts = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (!entry.hadRecentInput) window.__shifts.push(entry.value);
  }
}).observe({type: 'layout-shift', buffered: true});
"""


@pytest.fixture
def many_sections(app, tmp_path):
    """A story about the lighthouse in each of a dozen more sections."""
    import_records(
        app,
        tmp_path / "sections.jsonl",
        *(
            record(
                f"light-{n}",
                f"The lighthouse, seen from {name.lower()}",
                "The lighthouse on the point is to be restored by the spring. " * 6,
                section=name,
                published=f"2024-04-{n + 1:02}",
            )
            for n, name in enumerate(SECTIONS)
        ),
    )


@pytest.fixture
def pictured(app, tmp_path):
    """Stories with a lead picture, kept by the import, beside stories without one."""
    app.config["FETCH_PICTURES"] = True  # from beside the import file: no network
    (tmp_path / "pictures").mkdir()
    shapes = {"wide": (1200, 800), "tall": (600, 900), "square": (700, 700)}
    for name, size in shapes.items():
        Image.new("RGB", size, (90, 120, 160)).save(tmp_path / f"pictures/{name}.jpg")
    output = import_records(
        app,
        tmp_path / "pictured.jsonl",
        *(
            record(
                f"pictured-{n}",
                f"Tall ships in the harbour, day {n}",
                "The tall ships stay in the harbour for the festival week. " * 5,
                section=("Harbour Town", "Science")[n % 2],
                published=f"2024-05-{n:02}",
                picture={"url": f"pictures/{list(shapes)[n % 3]}.jpg"},
            )
            for n in range(1, 7)
        ),
    )
    assert re.search(r"Pictures: \d+ kept", output), output


def test_on_a_phone_the_first_search_result_is_on_the_first_screen(
    open_page, many_sections
):
    page = open_page("/search?q=lighthouse", PHONE)
    assert page.locator(".search-hit").count() >= 10
    # All of it: headline, section and date, and the words found.
    first = page.locator(".search-hit").first.bounding_box()
    assert first["y"] + first["height"] <= PHONE["height"], first
    # One box to type in: the header's, holding the words searched for.
    boxes = page.locator('input[name="q"]:not([type="hidden"])')
    assert boxes.count() == 1
    assert boxes.input_value() == "lighthouse"


def test_the_folded_filters_work_by_keyboard_and_without_javascript(
    open_page, many_sections
):
    page = open_page("/search?q=lighthouse", PHONE, java_script_enabled=False)
    sports = page.get_by_role("link", name="Sports 1")
    assert not sports.is_visible()
    summary = page.locator("summary", has_text="Sort and filter")
    summary.focus()
    page.keyboard.press("Enter")
    assert sports.is_visible()
    sports.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**section=sports**")
    hits = page.locator(".search-hit")
    assert hits.count() == 1
    assert hits.first.locator(".section-link").inner_text().lower() == "sports"
    # The folded summary says which filter is on; the dates and byline keep it.
    assert "Sports" in page.locator(".search-refine summary").inner_text()
    page.locator(".search-refine summary").click()
    page.get_by_role("link", name="Newest").click()
    page.wait_for_url("**sort=newest**")
    page.locator(".search-refine summary").click()
    page.get_by_label("Byline").fill("Nobody")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**byline=Nobody**")
    for wanted in ("q=lighthouse", "section=sports", "sort=newest"):
        assert wanted in page.url
    assert page.locator(".empty-state").is_visible()


@pytest.mark.parametrize("path", ["/", "/news/harbour-town/", "/news/"])
def test_on_a_desktop_listings_put_stories_side_by_side(open_page, path):
    page = open_page(path, DESKTOP)
    boxes = [
        box
        for card in page.locator(".article-card").all()
        if (box := card.bounding_box())
    ]
    rows: dict[int, set[int]] = {}
    for box in boxes:
        rows.setdefault(round(box["y"]), set()).add(round(box["x"]))
    assert max(len(lefts) for lefts in rows.values()) >= 2, rows


@pytest.mark.parametrize(
    "viewport", [PHONE, PHONE_TURNED, DESKTOP], ids=["phone", "turned", "desktop"]
)
def test_no_line_of_text_is_longer_than_about_75_characters(
    open_page, live_server, viewport
):
    page = open_page("/", viewport)
    found = {}
    for path in ("/", "/news/harbour-town/", FISH, "/search?q=ferry", "/about"):
        page.goto(live_server + path)
        # Folded text counts too.
        page.evaluate(
            "document.querySelectorAll('main details').forEach(d => d.open = true)"
        )
        found[path] = page.evaluate(WIDEST_LINE)
    assert found == dict.fromkeys(found, [])


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize("path", ["/", "/news/harbour-town/"])
def test_cards_keep_their_size_while_pictures_load(
    app, browser, live_server, slow_paths, pictured, path, viewport
):
    # Pictures arrive late, as on a slow network; the cards must not move when they do.
    for url in re.findall(r"/media/[^\s\"]+", app.test_client().get(path).text):
        slow_paths[url] = 0.3
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.add_init_script(SHIFTS)
    page.goto(live_server + path)
    page.wait_for_load_state("networkidle")
    page.mouse.wheel(0, 4000)  # past the lazy pictures too
    page.wait_for_load_state("networkidle")
    shifts = page.evaluate("window.__shifts")
    thumbnails = page.locator(".article-card-picture img")
    loaded = thumbnails.evaluate_all("all => all.filter(img => img.complete).length")
    with_text_only = page.locator(".article-card:not(:has(img))").count()
    context.close()
    assert loaded >= 2 and with_text_only >= 2, (loaded, with_text_only)
    assert sum(shifts) < 0.01, shifts


@pytest.mark.parametrize("width", [320, 360, 1366])
def test_the_install_button_appearing_moves_nothing(open_page, width):
    # Chromium shows it when it fires beforeinstallprompt, after the page is drawn;
    # it takes the room between the saved-stories link and the settings.
    page = open_page(FISH, {"width": width, "height": 740})

    def boxes() -> list:
        return page.evaluate(
            "[...document.querySelectorAll('.app-bar > :not(.install-button), main')]"
            ".map(e => JSON.stringify(e.getBoundingClientRect()))"
        )

    before = boxes()
    page.evaluate("document.querySelector('.install-button').hidden = false")
    assert page.is_visible(".install-button")
    assert boxes() == before
