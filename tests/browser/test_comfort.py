"""Reading comfort on a phone: themes, text size and spacing, progress, big text, print."""

import pytest

from conftest import import_records, record

pytestmark = pytest.mark.browser

COMET = "/news/science/comet-visible-to-the-naked-eye-this-week"
LONG = "/news/science/a-long-read-about-the-tides"
PHONE = {"width": 360, "height": 740}
LIGHT_PAPER, DARK_PAPER = "rgb(255, 255, 255)", "rgb(17, 20, 23)"
# Set before any page script runs: was data-theme set while <body> did not exist yet?
# A MutationObserver hears the change at the microtask checkpoint that follows the
# script that made it, so a theme set in <head> is heard before the parser goes on.
WATCH_FIRST_PAINT = """
window.themeBeforeBody = null;
new MutationObserver(() => {
  if (window.themeBeforeBody === null) window.themeBeforeBody = document.body === null;
}).observe(document, {attributes: true, attributeFilter: ['data-theme'], subtree: true});
"""


@pytest.fixture
def long_read(app, tmp_path):
    paragraphs = "".join(
        f"<p>Paragraph {n} about the tides, the harbour wall and the moon. " * 3
        + "</p>"
        for n in range(120)
    )
    import_records(
        app,
        tmp_path / "long.jsonl",
        record(
            "long-1",
            "A long read about the tides",
            "x",
            section="Science",
            published="2024-03-20",
            body_html=paragraphs,
        ),
    )
    return LONG


def paper(page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def choose(page, name: str, value: str) -> None:
    """Pick a display setting the way a reader does: open Display, tap the choice."""
    page.click(".display-settings summary")
    page.click(f'.display-form label:has(input[name="{name}"][value="{value}"])')
    page.click(".display-settings summary")


@pytest.mark.parametrize(
    "scheme, expected", [("light", LIGHT_PAPER), ("dark", DARK_PAPER)]
)
def test_the_theme_follows_the_system_until_the_reader_chooses(
    open_page, scheme, expected
):
    page = open_page(COMET, color_scheme=scheme)
    assert paper(page) == expected
    assert page.is_checked('input[name="theme"][value="system"]')


def test_a_chosen_theme_is_remembered_and_already_there_at_first_paint(open_page):
    page = open_page(COMET, color_scheme="light")
    page.context.add_init_script(WATCH_FIRST_PAINT)
    choose(page, "theme", "dark")
    assert paper(page) == DARK_PAPER
    for path in (COMET, "/", "/news/science/"):
        page.goto(page.url.split("/news/")[0].rstrip("/") + path)
        assert page.evaluate("window.themeBeforeBody") is True
        assert paper(page) == DARK_PAPER
        assert page.is_checked('input[name="theme"][value="dark"]')
    choose(page, "theme", "system")
    page.reload()
    assert paper(page) == LIGHT_PAPER


def test_light_wins_over_a_dark_system_when_chosen(open_page):
    page = open_page("/", color_scheme="dark")
    choose(page, "theme", "light")
    page.reload()
    assert paper(page) == LIGHT_PAPER
    assert (
        page.evaluate("getComputedStyle(document.documentElement).colorScheme")
        == "light"
    )


def body_text(page) -> tuple[float, float]:
    size, leading = page.evaluate(
        "(s => [s.fontSize, s.lineHeight])(getComputedStyle(document.querySelector('.story-body')))"
    )
    return float(size.removesuffix("px")), float(leading.removesuffix("px"))


def test_text_size_and_line_spacing_are_remembered_across_stories(
    open_page, live_server
):
    page = open_page(COMET)
    size, leading = body_text(page)
    assert size == 17 and leading == pytest.approx(17 * 1.6)
    choose(page, "text-size", "larger")
    choose(page, "line-spacing", "relaxed")
    assert body_text(page) == (pytest.approx(17 * 1.45), pytest.approx(17 * 1.45 * 1.9))
    page.goto(
        live_server + "/news/harbour-town/fish-market-moves-to-the-old-customs-house"
    )
    assert body_text(page) == (pytest.approx(17 * 1.45), pytest.approx(17 * 1.45 * 1.9))
    assert page.is_checked('input[name="text-size"][value="larger"]')
    assert page.is_checked('input[name="line-spacing"][value="relaxed"]')
    # Only story pages offer the story's text controls.
    page.goto(live_server + "/")
    assert page.locator('input[name="text-size"]').count() == 0


def test_story_text_follows_the_browsers_own_text_size(open_page, live_server):
    page = open_page(COMET)
    page.context.new_cdp_session(page).send(
        "Page.setFontSizes", {"fontSizes": {"standard": 32, "fixed": 26}}
    )
    page.reload()
    assert body_text(page)[0] == 34  # 1.0625rem of a 32 px default


def test_reading_progress_and_the_minutes_left_follow_the_reader(open_page, long_read):
    page = open_page(long_read)
    left = page.locator(".reading-left")
    minutes = int(page.text_content(".reading-time").split()[0])
    assert minutes >= 5
    assert left.is_hidden()  # not before the story starts
    bar = "new DOMMatrix(getComputedStyle(document.querySelector('.reading-progress')).transform).a"
    start = page.evaluate(bar)
    page.evaluate("scrollTo(0, document.querySelector('.story-body').offsetTop + 2000)")
    page.wait_for_function("!document.querySelector('.reading-left').hidden")
    middle = page.evaluate(bar)
    halfway = int(left.text_content().split()[0])
    assert 0 <= start < middle < 1
    assert 0 < halfway < minutes and left.text_content() == f"{halfway} min left"
    page.evaluate("scrollTo(0, document.body.scrollHeight)")
    page.wait_for_function(
        "document.querySelector('.reading-left').textContent === 'Finished'"
    )
    assert page.evaluate(bar) == pytest.approx(1)


def test_without_javascript_the_controls_that_need_it_are_not_shown(open_page):
    page = open_page(COMET, java_script_enabled=False)
    for control in (
        ".display-settings",
        ".reading-left",
        ".share-button",
        ".save-button",
    ):
        assert page.locator(control).is_hidden(), control
    assert page.text_content("h1") == "Comet visible to the naked eye this week"
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


PAGES = [
    "/",
    "/news/science/",
    COMET,
    "/search?q=ferry",
    "/saved",
    "/offline",
    "/about",
    "/nope",
]


@pytest.mark.parametrize("path", PAGES)
def test_nothing_scrolls_sideways_at_200_percent(open_page, path):
    # A 1280 px window zoomed to 200% lays out at 640 CSS px; the phone keeps 360 px
    # and gets twice the text from the browser's own text-size setting.
    desktop = open_page(path, viewport={"width": 640, "height": 400})
    assert desktop.evaluate("document.documentElement.scrollWidth") <= 640
    phone = open_page(path)
    phone.context.new_cdp_session(phone).send(
        "Page.setFontSizes", {"fontSizes": {"standard": 32, "fixed": 26}}
    )
    phone.reload()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360


SMALL_TARGETS = """() => {
  const small = [];
  for (const el of document.querySelectorAll('a[href], button, summary, input, select, label.choice')) {
    if (!el.checkVisibility() || el.closest('label.choice') && el.tagName === 'INPUT') continue;
    // WCAG's exception: a link inside a sentence is as tall as the line it sits in.
    const sentence = el.closest('p, li');
    if (el.tagName === 'A' && sentence && sentence.textContent.trim() !== el.textContent.trim()) continue;
    // A card's headline link covers its whole card (a stretched ::after).
    const card = el.closest('.article-card-headline, .lead-story-headline')
      ? el.closest('.article-card, .search-hit, .lead-story') : el;
    const box = card.getBoundingClientRect();
    if (box.width < 44 || box.height < 44) {
      small.push(`${el.outerHTML.slice(0, 90)}: ${Math.round(box.width)}x${Math.round(box.height)}`);
    }
  }
  return small;
}"""


@pytest.mark.parametrize("path", PAGES)
def test_touch_targets_are_at_least_44_px(open_page, path):
    page = open_page(path)
    page.click(".display-settings summary")  # its choices too
    assert page.evaluate(SMALL_TARGETS) == []


def test_focus_is_visible_and_smooth_scrolling_stops_for_reduced_motion(open_page):
    page = open_page(COMET)
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # past the skip link, onto the site name
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert page.evaluate("document.activeElement.className") == "site-name"
    assert outline == "solid"
    assert (
        page.evaluate("getComputedStyle(document.documentElement).scrollBehavior")
        == "smooth"
    )
    page.emulate_media(reduced_motion="reduce")
    assert (
        page.evaluate("getComputedStyle(document.documentElement).scrollBehavior")
        == "auto"
    )


def test_printing_gives_the_story_without_the_site_around_it(open_page):
    page = open_page(COMET, color_scheme="dark")
    page.emulate_media(media="print")
    for hidden in (
        ".site-header",
        ".site-footer",
        ".story-tools",
        ".story-neighbours",
        ".latest-from",
        ".dont-miss",
        ".reading-progress",
    ):
        assert page.locator(hidden).first.is_hidden(), hidden
    assert page.locator(".story-headline").is_visible()
    assert page.locator(".story-body").is_visible()
    assert paper(page) == LIGHT_PAPER  # ink on paper, whatever the screen's theme
    assert page.pdf()[:4] == b"%PDF"
