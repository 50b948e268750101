import pytest

pytestmark = pytest.mark.browser

FISH = "/news/harbour-town/fish-market-moves-to-the-old-customs-house"


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 360, "height": 740})
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("path", ["/", "/news/harbour-town/", FISH, "/about", "/nope"])
def test_pages_fit_a_360px_phone_without_sideways_scrolling(phone, live_server, path):
    phone.goto(live_server + path)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 360


def test_back_to_top_returns_to_the_top_of_a_long_article(phone, live_server):
    phone.emulate_media(reduced_motion="reduce")
    phone.goto(live_server + FISH)
    phone.click("text=Back to top")
    phone.wait_for_function("window.scrollY === 0")
    assert phone.evaluate("location.hash") == "#top"


def test_skip_link_appears_on_focus_and_moves_to_the_content(phone, live_server):
    phone.goto(live_server + FISH)
    phone.keyboard.press("Tab")
    focused = phone.evaluate("document.activeElement.textContent")
    assert focused == "Skip to content"
    assert phone.locator(".skip-link").is_visible()
    phone.keyboard.press("Enter")
    assert phone.evaluate("location.hash") == "#content"


def test_stylesheet_loads_under_the_content_security_policy(phone, live_server):
    errors = []
    phone.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    phone.goto(live_server + FISH)
    color = phone.evaluate(
        "getComputedStyle(document.querySelector('.site-header')).backgroundColor"
    )
    assert color == "rgb(29, 53, 87)"
    assert errors == []


def test_the_search_box_offers_headlines_as_you_type(phone, live_server):
    phone.goto(live_server + "/")
    box = phone.locator("#site-search-q")
    box.fill("fer")
    options = phone.locator("#site-search-suggestions a")
    options.first.wait_for()
    headlines = options.all_text_contents()
    assert "Ferry service resumes after winter storms" in headlines
    assert all("ferr" in h.lower() for h in headlines)
    assert phone.locator("#site-search-suggestions").is_visible()
    box.press("ArrowDown")
    assert phone.evaluate("document.activeElement.textContent") == headlines[0]
    phone.keyboard.press("Escape")
    assert phone.locator("#site-search-suggestions").is_hidden()
    assert phone.evaluate("document.activeElement.id") == "site-search-q"
    box.fill("ferry service")
    options.first.wait_for()
    options.first.click()
    phone.wait_for_url("**/ferry-service-resumes-after-winter-storms")
