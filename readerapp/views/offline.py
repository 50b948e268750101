"""The installable app: web app manifest, service worker, offline and saved pages."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from flask import Blueprint, Response, current_app, render_template, url_for

from ..assets import digest
from ..extensions import get_store

bp = Blueprint("offline", __name__)

# The app shell: everything base.html and the offline pages load, kept at install.
SHELL_STATIC = (
    "site.css",
    "app.js",
    "theme.js",
    "icons/icon.svg",
    "icons/apple-touch-icon.png",
)
SHELL_PAGES = {"offline.page": "offline.html", "offline.saved": "saved.html"}
SHORTCUT_SECTIONS = 2
# What a line of the worker may end with for the line break after it to go: each
# either ends a statement with no help from a line break or cannot end one.
JOINED_AFTER = (";", "{", "}", ",", "(", "[", "=>", "&&", "||", "?")


def precache() -> tuple[str, list[str]]:
    """Return the worker's version and the URLs it precaches.

    The version is a digest of the bytes of every precached file and page, so any
    change to the shell installs a new worker; nobody bumps a number by hand.
    """
    urls = [url_for("static", filename=name) for name in SHELL_STATIC]
    content = hashlib.sha256()
    for name in SHELL_STATIC:
        content.update((digest(current_app.static_folder, name) or name).encode())
    for endpoint, template in SHELL_PAGES.items():
        urls.append(url_for(endpoint))
        content.update(render_template(template).encode())
    return content.hexdigest()[:16], urls


@bp.get("/sw.js")
def service_worker() -> Response:
    version, urls = precache()
    constants = (
        f"const VERSION = {json.dumps(version)};\n"
        f"const PRECACHE = {json.dumps(urls, separators=(',', ':'))};\n"
        f"const OFFLINE_URL = {json.dumps(url_for('offline.page'))};\n"
        f"const LATEST_URL = {json.dumps(url_for('api.latest'))};\n"
        f"const PAGE_LIMIT = {int(current_app.config['OFFLINE_PAGES'])};\n"
        f"const IMAGE_LIMIT = {int(current_app.config['OFFLINE_IMAGES'])};\n"
    )
    source = Path(current_app.static_folder, "sw.js").read_text("utf-8")
    response = Response(constants + _minified(source), mimetype="text/javascript")
    # The browser must always ask: a stale worker would pin readers to old code.
    response.cache_control.no_cache = True
    return response


def _minified(source: str) -> str:
    """Return the worker without its comments, indentation and most line breaks.

    They are for us: phones get the worker without them (a 20 KB budget holds every
    script a reader downloads, the worker included; #4, #16). A line break after
    JOINED_AFTER's tokens goes without changing what the code means: where one had
    ended a statement by automatic semicolon insertion, the joined code fails to
    parse instead (the browser tests run the served worker), and none of them is a
    `return`, `throw` or `+` whose next line would read differently. A line with
    `//` after its code keeps its line break. The worker has no template literal
    spanning lines, whose line breaks and spaces would count.
    """
    code = []
    for line in source.splitlines():
        line = line.strip()
        if line and not line.startswith("//"):
            joined = line.endswith(JOINED_AFTER) and "//" not in line
            code.append(line if joined else line + "\n")
    return "".join(code)


@bp.get("/manifest.webmanifest")
def manifest() -> Response:
    config = current_app.config
    sections = get_store().sections()[:SHORTCUT_SECTIONS]
    body = {
        "id": "/",
        "name": config["SITE_NAME"],
        "short_name": config["SITE_SHORT_NAME"],
        "description": config["SITE_DESCRIPTION"],
        "lang": "en",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "theme_color": config["THEME_COLOR"],
        "background_color": config["BACKGROUND_COLOR"],
        "categories": ["news"],
        "icons": [
            _icon("icon-192.png", 192),
            _icon("icon-512.png", 512),
            _icon("icon-maskable-512.png", 512, "maskable"),
        ],
        "shortcuts": [
            {"name": "Search", "url": url_for("news.search")},
            {"name": "Saved stories", "url": url_for("offline.saved")},
            *(
                {"name": s.name, "url": url_for("news.section", section_slug=s.slug)}
                for s in sections
            ),
        ],
    }
    return Response(json.dumps(body, indent=1), mimetype="application/manifest+json")


def _icon(name: str, size: int, purpose: str = "any") -> dict[str, str]:
    return {
        "src": url_for("static", filename=f"icons/{name}"),
        "sizes": f"{size}x{size}",
        "type": "image/png",
        "purpose": purpose,
    }


@bp.get("/offline")
def page() -> str:
    return render_template("offline.html")


@bp.get("/saved")
def saved() -> str:
    return render_template("saved.html")
