"""Every setting the site reads, with its default, and the layers that override it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULTS: dict[str, Any] = {
    # SQLite file holding the archive; created on first use.
    "DATABASE": PROJECT_ROOT / "instance" / "archive.sqlite3",
    # The archive in PostgreSQL instead, shared by several nodes
    # ("postgresql://user:password@host:5432/readerapp"); empty: SQLite at DATABASE
    # (a path given here is taken as DATABASE).
    "DATABASE_URL": "",
    # Folder of the Whoosh full-text index.
    "INDEX_DIR": PROJECT_ROOT / "index",
    # Folder of the bundled demo archive (JSON Lines, gzip).
    "DEMO_DIR": PROJECT_ROOT / "demo",
    # Name shown in the header, the title bar and the app manifest.
    "SITE_NAME": "Reader",
    # Name under the home-screen icon.
    "SITE_SHORT_NAME": "Reader",
    # Colours of the installed app's title bar and splash screen (match site.css).
    "THEME_COLOR": "#1d3557",
    "BACKGROUND_COLOR": "#ffffff",
    # Public address of the site, scheme and host ("https://news.example.org"), for
    # the links in feeds, sitemaps, canonical URLs and shared cards; empty means
    # the address each request arrived at. Set it behind a proxy or CDN.
    "SITE_URL": "",
    # Language of the stories, for feeds, sitemaps and <html lang>.
    "SITE_LANGUAGE": "en",
    # One-line description for search engines and the app manifest.
    "SITE_DESCRIPTION": "The news archive, fast on any phone.",
    # IANA time zone for dates that arrive without one, and for showing dates.
    "TIMEZONE": "UTC",
    # Articles per page on section and latest listings.
    "PAGE_SIZE": 20,
    # Reading speed behind "N min read", in words per minute.
    "WORDS_PER_MINUTE": 230,
    # Credit and licence shown with articles, keyed by the host of their source URL.
    "SOURCE_CREDITS": {
        "en.wikinews.org": {
            "credit": "Wikinews, the free news source",
            "licence": "CC BY 2.5",
            "licence_url": "https://creativecommons.org/licenses/by/2.5/",
        },
        "en.wikipedia.org": {
            "credit": "Wikipedia contributors",
            "licence": "CC BY-SA 4.0",
            "licence_url": "https://creativecommons.org/licenses/by-sa/4.0/",
        },
    },
    # Processes that sanitise a large import, and choose "Also read" for many stories
    # at once (#16); 0 means one per CPU core.
    "IMPORT_WORKERS": 0,
    # TOML file naming the site's sections and the source categories each takes
    # (README "Sections"); empty: stories keep the section their source names.
    "SECTION_MAP": "",
    # Section for stories whose categories the map does not know; empty: such a
    # category becomes a section of its own.
    "SECTION_FALLBACK": "",
    # WordPress post types imported as stories besides "post" (custom types).
    "WORDPRESS_POST_TYPES": [],
    # How often `reader serve` pulls the live sources in the background ("10m",
    # "1h"); empty: it does not (run `reader pull --every 10m` beside it instead).
    "PULL_EVERY": "",
    # Seconds `reader pull` waits for a site to answer, each try.
    "PULL_TIMEOUT": 20,
    # Whether imports and pulls fetch the pictures stories show, to keep and serve
    # them; false: a text-only site (stories show no pictures).
    "FETCH_PICTURES": True,
    # Folder of the pictures kept on the site (originals and their renditions);
    # empty: a "media" folder beside the archive.
    "MEDIA_DIR": "",
    # Hosts (or host:port) whose pictures are fetched although their addresses are
    # private or loopback, e.g. a newsroom's intranet picture desk; no other
    # private address is ever fetched (picture URLs come from stories: untrusted).
    "PICTURE_ALLOWED_HOSTS": [],
    # Seconds an import waits for a picture host to answer; a picture that fails
    # is fetched on the next run, and its story is published meanwhile.
    "PICTURE_TIMEOUT": 10,
    # Largest picture file fetched, in bytes.
    "PICTURE_MAX_BYTES": 20 * 1024 * 1024,
    # Pages and images the service worker keeps on a reader's device (saved stories
    # are extra); about 60 x 30 KB pages and 60 pictures of up to 100 KB: 9 MB at most.
    "OFFLINE_PAGES": 60,
    "OFFLINE_IMAGES": 60,
    # Flask-Caching backend; "SimpleCache" works in one process with no services.
    "CACHE_TYPE": "SimpleCache",
    # Seconds a cached page lives at most; archive changes replace it sooner.
    "CACHE_DEFAULT_TIMEOUT": 300,
    # Pages SimpleCache keeps in memory, about 10 KB each.
    "CACHE_THRESHOLD": 2000,
    # Where `reader serve` listens.
    "SERVE_HOST": "127.0.0.1",
    "SERVE_PORT": 8000,
    # Waitress worker threads and open connections; 0 means chosen for the machine.
    "SERVE_THREADS": 0,
    "SERVE_CONNECTIONS": 0,
}

ENV_PREFIX = "READERAPP"
PATH_KEYS = ("DATABASE", "INDEX_DIR", "DEMO_DIR", "SECTION_MAP", "MEDIA_DIR")


def load(app: Flask, overrides: Mapping[str, Any] | None = None) -> None:
    """Fill app.config from defaults, instance/config.py, READERAPP_* env, overrides."""
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env(ENV_PREFIX)
    app.config.from_mapping(overrides or {})
    url = str(app.config["DATABASE_URL"] or "")
    if url and urlsplit(url).scheme not in ("postgresql", "postgres"):
        app.config["DATABASE"], url = url, ""
    app.config["DATABASE_URL"] = url
    for key in PATH_KEYS:
        if app.config[key] or key not in ("SECTION_MAP", "MEDIA_DIR"):
            app.config[key] = Path(app.config[key])
    app.config["MEDIA_DIR"] = app.config["MEDIA_DIR"] or (
        app.config["DATABASE"].parent / "media"
    )
    hosts = app.config["PICTURE_ALLOWED_HOSTS"]
    if isinstance(hosts, str):  # from the environment: "a.example, 10.0.0.5:8080"
        app.config["PICTURE_ALLOWED_HOSTS"] = hosts.replace(",", " ").split()
    app.config["SITE_URL"] = site_url(app.config["SITE_URL"])
    if app.config["CACHE_TYPE"].rsplit(".", 1)[-1] == "RedisCache":
        app.config["CACHE_OPTIONS"] = redis_options(app.config.get("CACHE_OPTIONS"))


def redis_options(given: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the Redis client's options for the page cache: ours, then the given.

    Asked by host and port, redis-py retries a refused connection three times,
    waiting 1, 2 and 4 s: each page would wait seven seconds for a Redis that is
    down. A cache slower than rendering is worse than none (pagecache.py renders
    when it cannot reach it), so: no retries (a pooled connection that a Redis
    restart closed is reopened before use anyway), and half a second at most to
    connect or to answer.
    """
    return {
        "socket_connect_timeout": 0.5,
        "socket_timeout": 0.5,
        "retry": None,
        **(given or {}),
    }


def site_url(value: str) -> str:
    """Return SITE_URL without its trailing slash; refuse anything but an origin."""
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    if value and (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or parts.path
        or parts.query
        or parts.fragment
    ):
        raise ValueError(
            f"SITE_URL must be a scheme and host like https://news.example.org,"
            f" not {value!r}"
        )
    return value


def changed_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Return the settings that differ from the defaults (Flask's and ours).

    The path settings are left out: they name places on one machine.
    """
    defaults = {**Flask(__name__).config, **DEFAULTS}
    return {
        key: value
        for key, value in sorted(settings.items())
        if key not in PATH_KEYS and (key not in defaults or value != defaults[key])
    }
