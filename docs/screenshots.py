"""Take the README's phone screenshots from a running `reader serve`.

Usage: python docs/screenshots.py http://127.0.0.1:8000 /news/<section>/<article>

Each is the top of the article on a 360 x 740 phone: the light theme, the dark theme
(both chosen in the page's own Display settings, as a reader would), and the light
theme with the browser's text size at 200%.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

OUT = Path(__file__).parent / "screenshots"
PHONE = {"width": 360, "height": 740}
SHOTS = {
    "article-light-360.png": {"theme": "light"},
    "article-dark-360.png": {"theme": "dark"},
    "article-200-360.png": {"theme": "light"},
}


def choose(page: Page, settings: dict[str, str]) -> None:
    page.click(".display-settings summary")
    for name, value in settings.items():
        page.check(f'.display-form input[name="{name}"][value="{value}"]')
    page.click(".display-settings summary")


def main(base: str, article_path: str) -> None:
    """Save one screenshot for each entry of SHOTS."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        for name, settings in SHOTS.items():
            context = browser.new_context(viewport=PHONE, device_scale_factor=2)
            page = context.new_page()
            page.goto(base + article_path)
            choose(page, settings)
            if name == "article-200-360.png":
                # The browser's own text-size setting, at twice its default of 16 px.
                fonts = {"fontSizes": {"standard": 32, "fixed": 26}}
                context.new_cdp_session(page).send("Page.setFontSizes", fonts)
            page.reload()
            if name == "article-200-360.png":
                page.locator(".story-header").scroll_into_view_if_needed()
            page.screenshot(path=OUT / name)
            context.close()
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:3])
