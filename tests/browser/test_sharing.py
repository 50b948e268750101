"""The Share button: the device's share sheet, else the link copied, never a third party."""

import pytest

pytestmark = pytest.mark.browser

COMET = "/news/science/comet-visible-to-the-naked-eye-this-week"
HEADLINE = "Comet visible to the naked eye this week"
# Headless Chromium on Linux has no share sheet; these stand in for a phone's.
WITH_SHARE_SHEET = """
Object.defineProperty(Navigator.prototype, 'share', {configurable: true,
  value(data) { window.shared = data; return Promise.resolve(); }});
"""
WITHOUT_SHARE_SHEET = "delete Navigator.prototype.share;"
CLIPBOARD_REFUSED = """
Object.defineProperty(Navigator.prototype, 'clipboard', {configurable: true,
  get() { return {writeText: () => Promise.reject(new DOMException('no', 'NotAllowedError'))}; }});
"""


@pytest.fixture
def reader(browser, live_server):
    """Open pages in a fresh context; record every host they talk to."""
    contexts, hosts = [], set()

    def open_page(script: str = "", **options):
        context = browser.new_context(**options)
        contexts.append(context)
        if script:
            context.add_init_script(script)
        page = context.new_page()
        page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
        page.goto(live_server + COMET)
        return page

    yield open_page, hosts
    for context in contexts:
        context.close()


def test_share_uses_the_devices_share_sheet(reader, live_server):
    open_page, hosts = reader
    page = open_page(WITH_SHARE_SHEET)
    page.click(".share-button")
    page.wait_for_function("window.shared !== undefined")
    assert page.evaluate("window.shared") == {
        "title": HEADLINE,
        "url": live_server + COMET,
    }
    assert page.locator(".notice").is_hidden()
    assert hosts == {live_server.split("/")[2]}


def test_without_a_share_sheet_the_link_is_copied_and_the_reader_told(
    reader, live_server
):
    open_page, hosts = reader
    page = open_page(
        WITHOUT_SHARE_SHEET, permissions=["clipboard-read", "clipboard-write"]
    )
    page.click(".share-button")
    notice = page.locator(".notice-text")
    notice.wait_for()
    assert notice.text_content() == f"Link copied: {live_server}{COMET}"
    assert page.evaluate("navigator.clipboard.readText()") == live_server + COMET
    assert hosts == {live_server.split("/")[2]}


def test_when_copying_is_refused_the_link_is_shown_to_copy_by_hand(reader, live_server):
    open_page, _ = reader
    page = open_page(WITHOUT_SHARE_SHEET + CLIPBOARD_REFUSED)
    page.click(".share-button")
    notice = page.locator(".notice-text")
    notice.wait_for()
    assert notice.text_content() == f"Copy this link: {live_server}{COMET}"


def test_without_javascript_there_is_no_dead_share_button(reader):
    open_page, _ = reader
    page = open_page(java_script_enabled=False)
    assert page.locator(".share-button").is_hidden()
    assert page.locator("h1").text_content() == HEADLINE
