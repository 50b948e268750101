"""What an uncached page costs a long-running server besides rendering it (#16)."""

import warnings

import waitress
from flask_caching.backends import SimpleCache as FlaskSimpleCache
from waitress.adjustments import Adjustments

from readerapp import cli
from readerapp.caching import SimpleCache
from readerapp.extensions import cache
from readerapp.views.fragments import macros

STORY = "/news/harbour-town/fish-market-moves-to-the-old-customs-house"


def test_the_page_cache_makes_room_by_dropping_the_page_kept_longest(
    make_app, tmp_path
):
    app = make_app(tmp_path, CACHE_THRESHOLD=3, CACHE_DEFAULT_TIMEOUT=300)
    kept = app.extensions["cache"][cache]
    assert type(kept) is SimpleCache  # replaces Flask-Caching's, same settings
    assert isinstance(kept, FlaskSimpleCache)
    assert (kept._threshold, kept.default_timeout) == (3, 300)
    assert app.extensions["readerapp.page_cache"].backend is kept

    for number in range(5):
        kept.set(f"page{number}", number)
    # As before: one more than the threshold is kept, the first set goes first.
    assert [kept.get(f"page{n}") for n in range(5)] == [None, 1, 2, 3, 4]

    kept.set("page1", "again")  # set again: it expires last, so it goes last
    kept.set("page5", 5)
    assert kept.get("page1") == "again"
    assert kept.get("page2") is None
    assert [kept.get(f"page{n}") for n in (3, 4, 5)] == [3, 4, 5]


def test_pages_are_kept_as_they_are_not_copied(make_app, tmp_path):
    # In one process a pickled copy only costs a copy on every miss and every hit.
    kept = make_app(tmp_path).extensions["cache"][cache]
    page = {"body": b"<p>kept</p>", "encoded": {}}
    kept.set("page", page)
    assert kept.get("page") is page


def test_macro_modules_are_looked_up_once_per_process(app, client, monkeypatch):
    assert client.get(STORY).status_code == 200
    looked_up: list[str] = []
    lookup = app.jinja_env.get_template

    def counted(name, *args, **kwargs):
        looked_up.append(name)
        return lookup(name, *args, **kwargs)

    monkeypatch.setattr(app.jinja_env, "get_template", counted)
    with app.test_request_context():
        assert macros("macros/chrome.html") is macros("macros/chrome.html")
    assert "macros/chrome.html" not in looked_up
    app.jinja_env.auto_reload = True  # debug: templates change under the server
    with app.test_request_context():
        macros("macros/chrome.html")
    assert "macros/chrome.html" in looked_up


def test_another_cache_type_is_left_as_configured(make_app, tmp_path):
    app = make_app(tmp_path, CACHE_TYPE="NullCache", CACHE_NO_NULL_WARNING=True)
    assert type(app.extensions["cache"][cache]).__name__ == "NullCache"


def test_reader_serve_has_waitress_send_whole_pages_from_its_main_loop(
    app, client, monkeypatch
):
    asked: dict = {}
    monkeypatch.setattr(
        waitress, "serve", lambda wsgi, **options: asked.update(options)
    )
    monkeypatch.setattr(cli, "_follow_changes", lambda app: None)
    result = app.test_cli_runner().invoke(args=["serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert asked["send_bytes"] == cli.SEND_BYTES
    # Larger than the pages, so that no worker thread sends one itself.
    for url in (
        "/",
        "/news/",
        "/news/harbour-town/fish-market-moves-to-the-old-customs-house",
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert len(response.get_data()) * 4 < cli.SEND_BYTES


def test_the_waitress_installed_still_takes_send_bytes():
    # Deprecated in waitress 3: a release without it fails here, not in production.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "send_bytes will be removed", DeprecationWarning
        )
        adjusted = Adjustments(send_bytes=cli.SEND_BYTES)
    assert adjusted.send_bytes == cli.SEND_BYTES
