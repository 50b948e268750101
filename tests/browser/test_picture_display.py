"""Pictures as a phone's browser gets them: the right size and format, no shift,
smaller when saving data, and on the device for stories read offline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image
from test_offline import wait_until

from conftest import import_records, record

pytestmark = pytest.mark.browser

PICTURED = "/news/desk/harbour-at-dawn"
PLAIN = "/news/desk/quiet-day"
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


@pytest.fixture
def app(make_app, tmp_path: Path):
    app = make_app(tmp_path, FETCH_PICTURES=True)
    (tmp_path / "pictures").mkdir()
    photo = Image.radial_gradient("L").resize((1600, 1000)).convert("RGB")
    photo.save(tmp_path / "pictures" / "dawn.jpg", quality=85)
    paragraphs = "".join(
        f"<p>Paragraph {n} of the harbour story.</p>" for n in range(30)
    )
    output = import_records(
        app,
        tmp_path / "stories.jsonl",
        record(
            "pic-1",
            "Harbour at dawn",
            "x",
            body_html=paragraphs,
            published="2024-05-02",
            picture={
                "url": "pictures/dawn.jpg",
                "alt": "Boats in the harbour at dawn",
                "caption": "The first boats go out.",
                "credit": "Test desk",
            },
        ),
        record("plain-1", "Quiet day", "Nothing happened.", published="2024-05-01"),
    )
    assert "Pictures: 1 kept." in output, output
    return app


@pytest.fixture
def browser_context_args(browser_context_args: dict) -> dict:
    # Playwright's waiting helpers evaluate strings, which our strict CSP forbids.
    return {**browser_context_args, "bypass_csp": True}


LEAD = ".story-picture img"
LAYOUT_SHIFT = """new Promise((resolve) => {
  let total = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) if (!entry.hadRecentInput) total += entry.value;
  }).observe({type: 'layout-shift', buffered: true});
  setTimeout(() => resolve(total), 500);
})"""


def chosen(page) -> tuple[str, int]:
    """Return the format and width of the rendition the browser chose for the lead."""
    wait_until(page, f"document.querySelector('{LEAD}').complete")
    source = page.eval_on_selector(LEAD, "img => img.currentSrc")
    width, kind = re.search(r"/media/[0-9a-f]{32}/(\d+)\.(\w+)$", source).groups()
    return kind, int(width)


def test_a_phone_gets_a_modern_format_at_its_density_and_nothing_shifts(
    browser, live_server
):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(live_server + PICTURED)
    kind, width = chosen(page)
    assert kind == "avif"
    # Shown 328 CSS px wide at 2 device pixels each: at least 656 pixels, not 1600.
    assert 640 <= width <= 960
    box = page.eval_on_selector(LEAD, "img => img.getBoundingClientRect().toJSON()")
    assert round(box["width"]) == 328 and round(box["height"]) == 205
    assert page.evaluate(LAYOUT_SHIFT) < 0.01
    context.close()


def test_a_reader_saving_data_gets_the_width_that_fills_the_layout(
    browser, live_server
):
    context = browser.new_context(**PHONE, extra_http_headers={"Save-Data": "on"})
    page = context.new_page()
    page.goto(live_server + PICTURED)
    kind, width = chosen(page)
    # 328 CSS px at one pixel each: the 480 rendition, not the 960 above.
    assert width == 480
    context.close()


def test_the_picture_of_a_story_read_online_shows_offline(browser, live_server):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(live_server + PICTURED)
    wait_until(page, "navigator.serviceWorker.controller !== null")
    page.reload()  # now through the worker, which keeps the picture as it passes
    chosen(page)
    shown = page.eval_on_selector(LEAD, "img => [img.currentSrc, img.naturalWidth]")
    wait_until(
        page,
        "caches.match(document.querySelector('.story-picture img')"
        ".currentSrc.match(/\\/media\\/\\w+\\//)[0]).then(Boolean)",
    )
    context.set_offline(True)
    page.goto(live_server + PICTURED)
    assert page.text_content("h1") == "Harbour at dawn"
    wait_until(page, f"document.querySelector('{LEAD}').complete")
    assert (
        page.eval_on_selector(LEAD, "img => [img.currentSrc, img.naturalWidth]")
        == shown
    )
    context.close()


def test_a_saved_story_keeps_its_picture_in_one_size(browser, live_server):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(live_server + PICTURED)
    wait_until(page, "navigator.serviceWorker.controller !== null")
    page.reload()
    chosen(page)
    page.click(".save-button")
    wait_until(
        page,
        "caches.open('readerapp-saved').then(c => c.keys())"
        ".then(keys => keys.some(k => k.url.includes('/media/')))",
    )
    saved = page.evaluate(
        "caches.open('readerapp-saved').then(c => c.keys())"
        ".then(keys => keys.map(k => new URL(k.url).pathname))"
    )
    pictures = [path for path in saved if path.startswith("/media/")]
    assert len(pictures) == 1 and re.fullmatch(r"/media/[0-9a-f]{32}/", pictures[0])
    # Pushed out of the other caches, the saved copy still shows it offline.
    page.evaluate("caches.delete('readerapp-images')")
    context.set_offline(True)
    page.goto(live_server + PICTURED)
    wait_until(page, f"document.querySelector('{LEAD}').complete")
    assert page.eval_on_selector(LEAD, "img => img.naturalWidth") > 0
    context.close()


MEDIA_KEYS = (
    "caches.open('readerapp-images').then(c => c.keys()).then(keys => keys"
    ".filter(k => k.url.includes('/media/')).map(k => k.url))"
)
WIDEST_KEPT = (
    "caches.open('readerapp-images').then(c => c.keys()).then(keys => Promise.all("
    "keys.map(k => caches.match(k).then(r => r.headers.get('x-from')))))"
)


def test_background_stories_bring_their_pictures_from_the_second_visit(
    browser, live_server
):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(live_server + PLAIN)  # its cards show the pictured story's thumbnail
    wait_until(page, "navigator.serviceWorker.controller !== null")
    wait_until(
        page,
        f"caches.open('readerapp-latest').then(c => c.match('{PICTURED}'))"
        ".then(Boolean)",
    )
    page.wait_for_timeout(500)
    # A first visit keeps the text of the newest stories, not their pictures: only
    # what the page itself showed (the thumbnail) is on the device.
    kept = page.evaluate(WIDEST_KEPT)
    assert all(int(re.search(r"/(\d+)\.\w+$", url)[1]) <= 320 for url in kept if url)
    page.reload()  # a second visit: the kept stories' pictures, at this phone's width
    wait_until(
        page,
        WIDEST_KEPT
        + ".then(froms => froms.some(u => u && +u.match(/(\\d+)\\.\\w+$/)[1] >= 640))",
    )
    assert len(page.evaluate(MEDIA_KEYS)) == 1  # one copy of the picture
    context.set_offline(True)
    page.goto(live_server + PICTURED)
    wait_until(page, f"document.querySelector('{LEAD}').complete")
    assert page.eval_on_selector(LEAD, "img => img.naturalWidth") > 0
    context.close()
