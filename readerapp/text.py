"""Pure helpers on plain strings: slugs, reading time, excerpts, body splitting."""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

_HYPHENS = re.compile(r"-{2,}")
# Attribute values may hold ">", so a tag is matched with its quoted values; the
# patterns are written unrolled and possessive, which sre runs twice as fast (#16).
_TAG = re.compile(r"""<[^>"']*+(?:(?:"[^"]*+"|'[^']*+')[^>"']*+)*+>""")
_BLOCK_END = re.compile(
    r"</(?:p|h[1-6]|li|dt|dd|blockquote|figcaption|caption|tr|pre)>|<br\s*/?>",
    re.IGNORECASE,
)
_SPACES = re.compile(r"[ \t\r\f\v\xa0]+")
_BLANK_LINES = re.compile(r" ?\n[\s]*")
_ATTRIBUTES = r"""[^>"']*+(?:(?:"[^"]*+"|'[^']*+')[^>"']*+)*+"""
_TAG_NAME = re.compile(rf"<(/?)([a-zA-Z][a-zA-Z0-9]*+){_ATTRIBUTES}>")
# A whole paragraph or heading, tags and all: HTML never nests one in another of
# its kind, so it ends at the first closing tag of its name outside a tag.
_PLAIN_BLOCK = re.compile(
    rf"<(p|h[2-6])\b{_ATTRIBUTES}>(?:[^<]++|<(?!/\1\b){_ATTRIBUTES}>)*+</\1\b{_ATTRIBUTES}>",
    re.IGNORECASE,
)
_VOID = {"br", "hr", "img", "wbr"}
_BLOCKS = {
    "p",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "dl",
    "blockquote",
    "figure",
    "table",
    "pre",
}

SLUG_MAX = 80


def slugify(text: str) -> str:
    """Return a lowercase slug of text, at most SLUG_MAX characters.

    Latin letters lose their accents ("Café" is "cafe"); the letters of other
    scripts stay as they are ("Новости" is "новости"), as WordPress keeps them,
    rather than vanishing and leaving a story in Russian a slug of "article".
    """
    kept = []
    for char in unicodedata.normalize("NFKC", text).lower():
        base = unicodedata.normalize("NFKD", char)[0]
        if base.isascii():
            kept.append(base if base.isalnum() else "-")
        elif unicodedata.category(char).startswith("M"):
            continue  # vowel signs and other marks belong to the letter before
        else:
            kept.append(char if char.isalnum() else "-")
    slug = _HYPHENS.sub("-", "".join(kept)).strip("-")
    if len(slug) > SLUG_MAX:
        slug = slug[:SLUG_MAX].rsplit("-", 1)[0]
    return slug or "article"


def without_tags(markup: str) -> str:
    """Return markup with every tag taken out, its text and entities as they are."""
    return _TAG.sub("", markup)


def html_to_text(body_html: str) -> str:
    """Return the readable text of sanitised HTML, one line per block."""
    text = html.unescape(without_tags(_BLOCK_END.sub("\n", body_html)))
    text = _SPACES.sub(" ", text)
    return _BLANK_LINES.sub("\n", text).strip()


def word_count(text: str) -> int:
    """Return the number of whitespace-separated words in text."""
    return len(text.split())


def reading_minutes(words: int, words_per_minute: int) -> int:
    """Return whole minutes to read `words` at `words_per_minute`, at least one."""
    return max(1, math.ceil(words / words_per_minute))


def excerpt(text: str, limit: int = 180) -> str:
    """Return text cut at a word boundary to at most `limit` characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:.-–— ")
    return cut + "…"


_HEADING = re.compile(r"<(/?)h([1-6])\b", re.IGNORECASE)


def demote_headings(body_html: str, top: int = 2) -> str:
    """Renumber a story's own headings to run from <h{top}> without gaps.

    The page's headline is the <h1>; a body that starts at <h3>, or uses <h1>,
    would break the heading outline screen readers navigate by.
    """
    if "<h" not in body_html and "<H" not in body_html:
        return body_html  # most stories have no headings of their own
    levels = sorted({int(level) for _, level in _HEADING.findall(body_html)})
    renumber = {old: min(top + rank, 6) for rank, old in enumerate(levels)}
    if all(old == new for old, new in renumber.items()):
        return body_html
    renumbered = _HEADING.sub(
        lambda m: f"<{m.group(1)}h{renumber[int(m.group(2))]}", body_html
    )
    return type(body_html)(renumbered)  # sanitised Markup stays Markup


def split_at_third(body_html: str) -> tuple[str, str]:
    """Split sanitised HTML after the top-level block that ends its first third.

    The second part is empty when the body has fewer than two top-level blocks.
    """
    # Worked on as a plain string: Markup's own slicing and stripping are Python.
    html = str(body_html)
    boundaries = []
    depth = 0
    position = 0
    while match := _TAG_NAME.search(html, position):
        position = match.end()
        closing, name = match.group(1, 2)
        if depth == 0 and not closing:
            # Most top-level blocks are paragraphs: one match each, rather than
            # a turn of this loop for each link and emphasis inside (#16).
            block = _PLAIN_BLOCK.match(html, match.start())
            if block:
                position = block.end()
                boundaries.append(position)
                continue
        name = name.lower()
        if name in _VOID:
            continue
        depth += -1 if closing else 1
        if depth == 0 and name in _BLOCKS:
            boundaries.append(position)
    # The last boundary is the end of the body: a cut there would split nothing.
    content_end = len(html.rstrip())
    inner = [end for end in boundaries if end < content_end]
    if not inner:
        return body_html, ""
    cut = inner[math.ceil(len(boundaries) / 3) - 1]
    markup = type(body_html)  # sanitised Markup stays Markup
    return markup(html[:cut]), markup(html[cut:])


# Sanitised HTML always double-quotes its attribute values (bleach's serializer).
_LINK_ATTRIBUTE = re.compile(r'(\s(?:href|src)=")([^"]*)"')
_IMAGE = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r'\s([a-z-]+)="([^"]*)"')


def absolute_urls(body_html: str, base: str) -> str:
    """Resolve the relative links and image sources of sanitised HTML against base.

    Feed readers show a story away from its page, where "/photo.jpg" means nothing.
    """

    def resolve(match: re.Match[str]) -> str:
        url = html.unescape(match.group(2))
        if urlsplit(url).scheme:
            return match.group(0)
        return f'{match.group(1)}{html.escape(urljoin(base, url))}"'

    return type(body_html)(_LINK_ATTRIBUTE.sub(resolve, body_html))


def image_attributes(tag: str) -> dict[str, str]:
    """Return the attributes of one `<img>` tag of sanitised HTML, unescaped."""
    return {name: html.unescape(value) for name, value in _ATTRIBUTE.findall(tag)}


def replace_images(body_html: str, replace: Callable[[dict[str, str]], str]) -> str:
    """Return sanitised HTML with each `<img>` tag replaced by what `replace` makes
    of its attributes."""
    return _IMAGE.sub(lambda tag: replace(image_attributes(tag.group(0))), body_html)


def first_image(body_html: str) -> tuple[str, str] | None:
    """Return the source and alt text of the first image in sanitised HTML."""
    match = _IMAGE.search(body_html)
    if match is None:
        return None
    attributes = image_attributes(match.group(0))
    if not attributes.get("src"):
        return None
    return attributes["src"], attributes.get("alt", "")


def picture_urls(body_html: str, lead: str | None = None) -> list[str]:
    """Return the addresses of the pictures a story shows, each once: its lead
    picture's first, then those of the images its sanitised body shows."""
    found = (image_attributes(tag).get("src", "") for tag in _IMAGE.findall(body_html))
    shown = [url for url in found if urlsplit(url).scheme]
    return list(dict.fromkeys(([lead] if lead else []) + shown))


_FIGURE = re.compile(r"<figure\b[^>]*>(.*?)</figure>", re.IGNORECASE | re.DOTALL)
_CAPTION = re.compile(r"<figcaption\b[^>]*>(.*?)</figcaption>", re.I | re.DOTALL)


@dataclass(frozen=True, slots=True)
class Figure:
    """A figure of an article body: where its picture is, and what it says."""

    source: str
    alt: str
    caption: str
    span: tuple[int, int]  # where it is in the body's HTML


def first_figure(body_html: str) -> Figure | None:
    """Return the first figure with a picture in sanitised HTML: the story's lead
    picture when the source names none."""
    for figure in _FIGURE.finditer(body_html):
        image = first_image(figure.group(1))
        if image:
            caption = _CAPTION.search(figure.group(1))
            text = html_to_text(caption.group(1)) if caption else ""
            return Figure(image[0], image[1], " ".join(text.split()), figure.span())
    return None


def description(standfirst: str | None, body_text: str, limit: int = 160) -> str:
    """Return a one-line summary: the standfirst, else the opening paragraph."""
    if standfirst:
        return standfirst
    return excerpt(body_text.split("\n", 1)[0], limit)


# Languages written right to left (primary subtags), and scripts that are.
_RTL_LANGUAGES = frozenset(
    {"ar", "arc", "ckb", "dv", "fa", "he", "iw", "ks", "ku", "nqo", "ps", "sd",
     "syr", "ug", "ur", "yi"}
)  # fmt: skip
_RTL_SCRIPTS = frozenset({"arab", "hebr", "syrc", "thaa", "nkoo", "adlm", "rohg"})


@lru_cache(maxsize=256)
def is_right_to_left(language: str) -> bool:
    """Tell whether a language tag names a language (or script) written right to left.

    A script subtag decides when there is one: "ku-Latn" is Kurdish in Latin letters.
    """
    parts = language.lower().split("-")
    scripts = [part for part in parts[1:] if len(part) == 4 and part.isalpha()]
    if scripts:
        return scripts[0] in _RTL_SCRIPTS
    return parts[0] in _RTL_LANGUAGES
