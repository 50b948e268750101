"""Take the README's phone screenshots from a running `reader serve`.

Usage: python docs/screenshots.py http://127.0.0.1:8000 /news/<section>/<article>
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(__file__).parent / "screenshots"
PHONE = {"width": 360, "height": 740}


def main(base: str, article_path: str) -> None:
    """Save article-360.png: the top of an article on a 360 px wide phone."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport=PHONE, device_scale_factor=2)
        page.goto(base + article_path)
        page.screenshot(path=OUT / "article-360.png")
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:3])
