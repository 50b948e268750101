"""axe-core finds nothing to fix at WCAG 2.1 AA on any kind of page, in either theme."""

from pathlib import Path

import axe_playwright_python
import pytest

pytestmark = pytest.mark.browser

AXE = Path(axe_playwright_python.__file__).with_name("axe.min.js")
RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
FISH = "/news/harbour-town/fish-market-moves-to-the-old-customs-house"
PAGES = {
    "home": "/",
    "section": "/news/harbour-town/",
    "article": FISH,
    "hostile article": "/news/harbour-town/storm-damage-hostile-markup-test",
    "search": "/search?q=ferry",
    "saved": "/saved",
    "offline": "/offline",
}


def violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "rules => axe.run(document, {runOnly: {type: 'tag', values: rules}})", RULES
    )
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
    ]


@pytest.fixture(scope="module")
def axe_checks_itself(browser):
    """axe reports a page that breaks the rules, so a clean run means something."""
    context = browser.new_context()
    page = context.new_page()
    page.set_content(
        '<html><body><img src="x.png"><p style="color:#eee">faint</p></body></html>'
    )
    assert len(violations(page)) >= 3  # no lang, no alt, low contrast
    context.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_page_type_has_no_axe_violations(
    browser, live_server, theme, axe_checks_itself
):
    # bypass_csp only to inject axe; the theme is the reader's saved choice.
    context = browser.new_context(
        bypass_csp=True, viewport={"width": 360, "height": 740}
    )
    context.add_init_script(f"localStorage.setItem('readerapp-theme', '{theme}')")
    page = context.new_page()
    page.goto(live_server + FISH)
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    page.click(".save-button")
    page.wait_for_selector("text=Remove from saved")
    found = {}
    for name, path in PAGES.items():
        page.goto(live_server + path)
        page.wait_for_function(f"document.documentElement.dataset.theme === '{theme}'")
        if name in ("saved", "offline"):
            page.wait_for_selector(".device-stories li")  # the lists are checked too
        if name == "article":
            page.click(".display-settings summary")  # and the open Display settings
        found[name] = violations(page)
    context.close()
    assert found == {name: [] for name in PAGES}
