"""Pictures in pages: the `<picture>` markup that offers a kept picture's renditions.

The browser chooses: `srcset` lists every width the picture has, `sizes` says how
wide the layout shows it, and `<source>` elements offer AVIF and WebP before the
JPEG fallback. For readers who ask to save data (Save-Data, or a 2G-class
connection), `sizes` is divided by the screen's density, so the browser takes the
smallest width that fills the layout instead of one for every device pixel.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache

from flask import Flask, request
from markupsafe import Markup, escape

from .. import pictures, text
from ..caching import vary_on
from ..media import rendition_url, saving_data
from ..models import StoredPicture
from .templating import absolute_origin

# Where each kind of picture sits in the layout (site.css), as `sizes` entries:
# (media condition, or "" for the rest; the width it is shown at).
ARTICLE = (("(min-width: 40rem)", "38rem"), ("", "calc(100vw - 2rem)"))
LIGHT_HEADERS = ("Save-Data", "ECT")
Layout = Sequence[tuple[str, str]]
# One entry of a `sizes` attribute: an optional media condition, then a width.
_SIZES_ENTRY = re.compile(r"^\s*(\(.*\))?\s*(calc\(.*\)|[^\s()]+)\s*$")
_DENSITIES = (3, 2)
_FALLBACK = "jpeg"


def light() -> bool:
    """Tell whether the reader of this request saves data (see `saving_data`)."""
    environ = request.environ
    return saving_data(environ.get("HTTP_SAVE_DATA"), environ.get("HTTP_ECT"))


def layout_of(sizes: str | Layout) -> Layout:
    """Return a layout from a `sizes` attribute, as templates write it."""
    if not isinstance(sizes, str):
        return sizes
    layout = []
    for entry in re.split(r",(?![^()]*\))", sizes):
        found = _SIZES_ENTRY.match(entry)
        if not found:
            raise ValueError(f"not a sizes entry: {entry!r}")
        layout.append((found[1] or "", found[2]))
    return tuple(layout)


@cache
def _sizes(sizes: str | Layout, light: bool) -> str:
    """`sizes_attribute` of what a template wrote: every card asks the same."""
    return sizes_attribute(layout_of(sizes), light)


def sizes_attribute(layout: Layout, light: bool = False) -> str:
    """Return a `sizes` value for a layout; for light readers, at one pixel per
    CSS pixel whatever the screen's density."""
    entries = [f"{condition} {width}".strip() for condition, width in layout]
    if not light:
        return ", ".join(entries)
    dense = [
        " and ".join(filter(None, (condition, f"(min-resolution: {d}dppx)")))
        + f" calc({width} / {d})"
        for d in _DENSITIES
        for condition, width in layout
    ]
    return ", ".join(dense + entries)


def picture_element(
    picture: StoredPicture,
    sizes: str | Layout,
    *,
    alt: str = "",
    first: bool = False,
    offline: bool = True,
) -> Markup:
    """Return a `<picture>` offering every rendition of a kept picture.

    `first` marks the picture a reader sees first (the lead): fetched early, at
    high priority, never lazily; every other one loads as it nears the screen.
    `offline` marks a story's own pictures, which the service worker keeps with
    the story (a card's thumbnail is not).
    """
    widths = pictures.widths_for(picture.width)
    sizes = _sizes(sizes, light())
    sources = "".join(
        f'<source type="{pictures.content_type(kind)}"'
        f' srcset="{_srcset(picture.digest, widths, kind)}" sizes="{sizes}">'
        for kind in pictures.formats()
        if kind != _FALLBACK
    )
    middle = min(widths, key=lambda width: abs(width - 640))
    loading = ' fetchpriority="high"' if first else ' loading="lazy"'
    return Markup(
        f"<picture{' data-offline' if offline else ''}>{sources}"
        f'<img src="{rendition_url(picture.digest, middle, _FALLBACK)}"'
        f' srcset="{_srcset(picture.digest, widths, _FALLBACK)}" sizes="{sizes}"'
        f' width="{picture.width}" height="{picture.height}" alt="{escape(alt)}"'
        f' class="tint-{picture.tint}"{loading} decoding="async"></picture>'
    )


SHARED_WIDTH = 1280  # link previews ask for about 1200 px wide


def shared_picture(picture: StoredPicture) -> tuple[str, int, int]:
    """Return the absolute URL, width and height of the JPEG rendition that link
    previews, feeds and JSON-LD name: the widest up to SHARED_WIDTH."""
    width = max(w for w in pictures.widths_for(picture.width) if w <= SHARED_WIDTH)
    height = round(picture.height * width / picture.width)
    url = absolute_origin() + rendition_url(picture.digest, width, _FALLBACK)
    return url, width, height


def _srcset(digest: str, widths: Sequence[int], kind: str) -> str:
    return ", ".join(f"{rendition_url(digest, w, kind)} {w}w" for w in widths)


def body_with_pictures(
    body_html: str, kept: Mapping[str, StoredPicture], layout: Layout = ARTICLE
) -> Markup:
    """Return an article body with its pictures served from the site.

    A picture not kept (not fetched yet, or refused) is left out: the page may
    load nothing from elsewhere.
    """
    if "<img" not in body_html:
        return Markup(body_html)

    def replace(image: dict[str, str]) -> str:
        picture = kept.get(image.get("src", ""))
        if picture is None:
            return ""
        return picture_element(picture, layout, alt=image.get("alt", ""))

    return Markup(text.replace_images(body_html, replace))


def init_app(app: Flask) -> None:
    app.add_template_global(picture_element)
    app.add_template_global(shared_picture)
    app.add_template_global(ARTICLE, "ARTICLE_PICTURE")

    @app.after_request
    def vary_on_data_saving(response):  # noqa: ANN001, ANN202 - Flask's hook
        if response.mimetype == "text/html":
            # Pages differ for readers saving data (sizes); ECT is sent once asked.
            vary_on(response, *LIGHT_HEADERS)
            if not response.headers.getlist("Accept-CH"):  # no exception raised
                response.headers["Accept-CH"] = "ECT"
        return response
