import json
import re
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote

import pytest

from conftest import import_records, record

pytestmark = pytest.mark.browser

FISH = "/news/harbour-town/fish-market-moves-to-the-old-customs-house"
COMET = "/news/science/comet-visible-to-the-naked-eye-this-week"
UNVISITED = "/news/harbour-town/lighthouse-keeper-retires-after-forty-years"


@pytest.fixture
def browser_context_args(browser_context_args: dict) -> dict:
    # Playwright's waiting helpers evaluate strings, which our strict CSP forbids.
    return {**browser_context_args, "bypass_csp": True}


def wait_until(page, expression: str, seconds: float = 15) -> None:
    """Poll a JavaScript expression (which may return a promise) until it is true."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(100)


def in_cache(path: str, name: str | None = None) -> str:
    """Tell whether the device keeps a copy of path (in one named cache, or any)."""
    where = (
        f"caches.open('{name}').then(c => c.match('{path}'))"
        if name
        else (f"caches.match('{path}')")
    )
    return f"{where}.then(Boolean)"


def controlled(page) -> None:
    """Wait until the service worker controls the page and has kept it."""
    wait_until(page, "navigator.serviceWorker.controller !== null")
    wait_until(page, in_cache(page.evaluate("location.pathname"), "readerapp-pages"))


def cached_paths(page, name: str) -> list[str]:
    return page.evaluate(
        f"caches.open('{name}').then(c => c.keys())"
        ".then(keys => keys.map(k => new URL(k.url).pathname))"
    )


def test_site_is_installable(playwright, browser_type_launch_args, live_server):
    context = playwright.chromium.launch_persistent_context(
        tempfile.mkdtemp(), **browser_type_launch_args
    )
    page = context.pages[0]
    page.goto(live_server + "/")
    cdp = context.new_cdp_session(page)
    assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["errors"] == []
    context.close()


def test_after_one_visit_visited_and_latest_stories_read_offline(
    page, context, live_server
):
    page.goto(live_server + FISH)
    controlled(page)
    wait_until(page, in_cache(COMET))
    context.set_offline(True)
    response = page.goto(live_server + FISH)
    assert response.from_service_worker
    assert page.text_content("h1") == "Fish market moves to the old customs house"
    assert "Offline: saved copy from" in page.text_content(".notice-text")
    page.goto(live_server + COMET)  # never opened: one of the latest stories
    assert page.text_content("h1") == "Comet visible to the naked eye this week"


def test_an_unvisited_story_offline_gives_the_offline_page(
    page, context, live_server, app, tmp_path
):
    newer = [
        record(f"new-{n}", f"Newer story {n}", "Text.", published=f"2025-01-{n:02}")
        for n in range(1, 21)
    ]
    # Twenty newer stories push the unvisited one out of the latest kept offline.
    import_records(app, tmp_path / "newer.jsonl", *newer)
    page.goto(live_server + FISH)
    controlled(page)
    context.set_offline(True)
    page.goto(live_server + UNVISITED)
    assert page.text_content("h1") == "You are offline"
    page.wait_for_function("document.querySelectorAll('.device-stories li').length > 0")
    listed = page.eval_on_selector_all(
        ".device-stories a", "as => as.map(a => a.pathname)"
    )
    assert FISH in listed and UNVISITED not in listed


def test_saved_story_survives_cleared_caches_and_reads_from_saved(
    page, context, live_server
):
    page.goto(live_server + FISH)
    controlled(page)
    page.click("text=Save for offline")
    page.wait_for_selector("text=Remove from saved")
    page.evaluate("caches.delete('readerapp-pages')")
    context.set_offline(True)
    page.goto(live_server + "/saved")
    link = page.wait_for_selector(f".device-stories a[href='{FISH}']")
    assert "saved" in page.text_content(".device-stories .article-meta")
    assert "of the" in page.text_content(".storage-estimate")
    link.click()
    page.wait_for_load_state()
    assert page.text_content("h1") == "Fish market moves to the old customs house"
    page.click("text=Remove from saved")
    page.wait_for_selector("text=Save for offline")


def test_offline_search_finds_a_saved_story_by_a_word_from_its_body(
    page, context, live_server
):
    page.goto(live_server + FISH)
    controlled(page)
    page.click("text=Save for offline")
    page.wait_for_selector("text=Remove from saved")
    page.goto(live_server + "/search?q=shelter")  # online results are never kept
    assert "1 result" in page.text_content(".search-summary")
    context.set_offline(True)
    page.fill("#site-search-q", "shelter")
    page.press("#site-search-q", "Enter")
    page.wait_for_selector(".device-stories li")
    status = page.text_content(".offline-status")
    assert (
        status.startswith("Searching ") and "stories on this device: 1 result" in status
    )
    assert (
        page.inner_html(".device-stories .search-snippet").count("<mark>shelter</mark>")
        == 1
    )
    assert page.get_attribute(".device-stories a", "href") == FISH


def test_reader_is_told_when_a_fresher_copy_arrives(
    page, app, live_server, slow_paths, tmp_path
):
    page.goto(live_server + COMET)
    controlled(page)
    page.reload()
    import_records(
        app,
        tmp_path / "update.jsonl",
        record(
            "fx-science-1",
            "Comet visible to the naked eye this week",
            "Update: the comet is brighter than expected.",
            section="Science",
            published="2024-01-10",
            dek="Look north-west after sunset.",
            author="Ana Ortiz",
            tags=["astronomy"],
        ),
    )
    slow_paths[COMET] = 4  # past the worker's 3 s wait for the network
    page.reload()
    assert "Offline: saved copy from" in page.text_content(".notice-text")
    page.wait_for_selector("text=An updated version of this story is available")
    slow_paths.clear()
    page.click(".notice-action")
    page.wait_for_selector("text=Update: the comet is brighter than expected.")


def test_a_new_version_waits_for_the_reader_then_takes_over(page, app, live_server):
    page.goto(live_server + "/")
    controlled(page)
    page.reload()  # now the page was loaded under the worker
    before = page.evaluate("caches.keys()")
    app.config["SITE_NAME"] = "Reader Next"  # changes the precached offline page
    page.evaluate("navigator.serviceWorker.ready.then(r => r.update())")
    page.wait_for_selector("text=A new version of this site is ready.")
    both = page.evaluate("caches.keys()")
    assert set(before) < set(both), "the old shell stays while the old page is open"
    with page.expect_navigation():
        page.click("text=Reload")
    wait_until(
        page,
        "caches.keys().then(k => k.filter(n => n.startsWith('readerapp-static-')).length === 1)",
    )
    after = page.evaluate("caches.keys()")
    assert not set(before) & {n for n in after if n.startswith("readerapp-static-")}


def test_cache_bounds_hold_after_visiting_more_pages_than_the_bound(
    page, app, live_server
):
    app.config["OFFLINE_PAGES"] = 5
    page.goto(live_server + "/")
    controlled(page)
    for path in (
        "/news/",
        "/news/science/",
        "/news/harbour-town/",
        "/about",
        FISH,
        COMET,
        UNVISITED,
        "/news/economie-markets/",
    ):
        page.goto(live_server + path)
        wait_until(page, in_cache(path, "readerapp-pages"))
    assert len(cached_paths(page, "readerapp-pages")) <= 5


def latest_kept(page) -> None:
    """Wait until the worker has kept the newest stories in the background."""
    wait_until(page, in_cache("/api/latest", "readerapp-latest"), seconds=30)


def test_a_first_visit_to_the_home_page_keeps_the_newest_stories_offline(
    page, context, live_server
):
    # The installed app opens on the home page: its first visit alone must do (#13).
    page.goto(live_server + "/")
    controlled(page)
    listed = page.eval_on_selector_all(
        "main a[href^='/news/']", "links => links.map(a => a.pathname)"
    )
    assert COMET in listed
    latest_kept(page)
    context.set_offline(True)
    page.goto(live_server + COMET)
    assert page.text_content("h1") == "Comet visible to the naked eye this week"
    page.goto(live_server + "/")
    assert "Offline: saved copy from" in page.text_content(".notice-text")


def test_the_newest_stories_are_fetched_only_after_the_page_has_loaded(
    page, live_server, served
):
    page.goto(live_server + "/")
    controlled(page)
    latest_kept(page)
    loaded = page.evaluate(
        "performance.timeOrigin"
        " + performance.getEntriesByType('navigation')[0].loadEventEnd"
    )
    asked = [when for when, path in served if path == "/api/latest"]
    assert asked and min(asked) * 1000 >= loaded
    stories = [p for _, p in served if p.startswith("/news/") and p.count("/") == 3]
    assert len(stories) == len(set(stories)), "no story downloaded twice"
    # What the device lacks comes in one answer, once.
    assert len([p for _, p in served if p.startswith("/api/latest?pages=")]) == 1


SLOW_2G = {  # what Chromium then reports as navigator.connection.effectiveType "2g"
    "offline": False,
    "latency": 1500,
    "downloadThroughput": 200_000,
    "uploadThroughput": 200_000,
    "connectionType": "cellular2g",
}


@pytest.mark.parametrize("network", ["save-data", "2g"])
def test_nothing_is_kept_in_the_background_under_save_data_or_on_2g(
    page, context, live_server, served, network
):
    cdp = context.new_cdp_session(page)
    if network == "save-data":
        cdp.send("Emulation.setDataSaverOverride", {"dataSaverEnabled": True})
    else:
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", SLOW_2G)
    page.goto(live_server + FISH)
    controlled(page)
    assert page.evaluate(
        "navigator.connection.saveData || navigator.connection.effectiveType === '2g'"
    )
    # The page asks for the newest stories, if at all, once it is loaded and idle.
    page.evaluate("new Promise((done) => requestIdleCallback(done))")
    page.evaluate("navigator.serviceWorker.ready")
    page.wait_for_timeout(2000)
    assert not [path for _, path in served if path.startswith("/api/latest")]
    assert cached_paths(page, "readerapp-latest") == []


def test_pages_the_reader_opens_stay_kept_while_the_newest_are_downloaded(
    page, app, live_server
):
    app.config["OFFLINE_PAGES"] = 3
    page.goto(live_server + "/")
    controlled(page)
    opened = [FISH, UNVISITED]
    for path in opened:
        page.goto(live_server + path)
        wait_until(page, in_cache(path, "readerapp-pages"))
    latest_kept(page)
    kept = cached_paths(page, "readerapp-pages")
    assert set(opened) <= set(kept) and len(kept) <= 3
    assert COMET in cached_paths(page, "readerapp-latest")


def test_manifest_and_worker_are_served_for_installation(client):
    manifest = client.get("/manifest.webmanifest")
    assert manifest.mimetype == "application/manifest+json"
    body = json.loads(manifest.data)
    for key in (
        "name",
        "short_name",
        "description",
        "id",
        "start_url",
        "scope",
        "theme_color",
        "background_color",
        "categories",
        "shortcuts",
    ):
        assert body[key]
    assert body["display"] == "standalone"
    sizes = {(i["sizes"], i["purpose"]) for i in body["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    assert [s["url"] for s in body["shortcuts"]][:2] == ["/search", "/saved"]
    for icon in body["icons"]:
        with client.get(icon["src"]) as response:
            assert response.status_code == 200 and response.mimetype == "image/png"


def test_worker_is_not_cached_and_names_everything_it_precaches(client):
    worker = client.get("/sw.js")
    assert worker.mimetype == "text/javascript"
    assert worker.headers["Cache-Control"] == "no-cache"
    precache = json.loads(
        worker.text.split("const PRECACHE = ", 1)[1].split(";\n", 1)[0]
    )
    for url in precache:
        with client.get(url) as response:
            assert response.status_code == 200, url
    # Everything base.html loads is precached, so the offline page renders whole.
    offline = client.get("/offline").text
    loaded = set(re.findall(r'(?:href|src)="(/static/[^"]+)"', offline))
    # noscript.css loads only with scripts off, and then no service worker runs.
    loaded = {url for url in loaded if "/noscript.css" not in url}
    assert loaded and loaded <= set(precache)


def test_worker_version_follows_the_content_of_what_it_precaches(app, client):
    def version() -> str:
        lines = client.get("/sw.js").text.splitlines()
        return next(line for line in lines if line.startswith("const VERSION"))

    first = version()
    assert version() == first
    app.config["SITE_NAME"] = "Renamed"
    assert version() != first


def test_all_javascript_stays_under_20_kb(client):
    total = len(client.get("/sw.js").data)
    for name in Path("static").glob("*.js"):
        if name.name != "sw.js":
            total += name.stat().st_size
    assert total < 20_000, total


def test_a_later_visit_asks_only_for_what_is_not_on_the_device(
    page, context, live_server, served, app, tmp_path
):
    page.goto(live_server + FISH)
    controlled(page)
    latest_kept(page)
    urls = page.evaluate("fetch('/api/latest').then(r => r.json())")["urls"]
    first = [path for _, path in served if path.startswith("/api/latest?pages=")]
    # One answer for every page missing: the home page and the newest stories but
    # the one being read.
    assert len(first) == 1
    kept = cached_paths(page, "readerapp-latest")
    assert sorted(kept) == sorted({"/", "/api/latest", *urls} - {FISH})
    # Last-Modified counts whole seconds: the import must come in a later one than
    # the archive's first, or the kept home page would pass for current.
    page.wait_for_timeout(1100)
    import_records(
        app,
        tmp_path / "new.jsonl",
        record("brand-new", "A brand new story", "Text.", published="2031-01-01"),
    )
    new = "/news/desk/a-brand-new-story"
    page.goto(live_server + COMET)
    wait_until(page, in_cache(new, "readerapp-latest"), seconds=30)
    later = [path for _, path in served if path.startswith("/api/latest?pages=")][1:]
    # The new story, and the home page because the archive changed after its copy.
    assert [set(unquote(p.split("=", 1)[1]).split(",")) for p in later] == [{"/", new}]
    context.set_offline(True)
    page.goto(live_server + new)
    assert page.text_content("h1") == "A brand new story"
    page.goto(live_server + "/")
    assert "A brand new story" in page.text_content("main")
