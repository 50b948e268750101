"""What WordPress exports and its REST API share: which posts are stories, how a
post is named, and how its stored content becomes the HTML WordPress would show.

WordPress keeps a post as its author wrote it and renders it on every view: classic
content gets its paragraphs from `wpautop` and its figures from shortcodes; block
content carries its markup between `<!-- wp:… -->` comments. Exports and the REST
API's `content.raw` hold the stored form, so it is rendered here the same way, less
what readerapp never shows (galleries, players, embeds).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from urllib.parse import unquote, urljoin, urlsplit

from ..text import slugify
from . import Reading, dates

# A post WordPress files under no category is in its default one, "Uncategorized"
# unless renamed; the section map can send it anywhere.
DEFAULT_CATEGORY = "Uncategorized"
# skip_reason() answer for a post that was perhaps published and no longer is.
TAKE_DOWN = "take down"

_TYPES = {
    "page": "pages",
    "attachment": "attachments",
    "revision": "revisions",
    "nav_menu_item": "menu items",
    "wp_navigation": "navigation menus",
    "wp_block": "reusable blocks",
    "wp_template": "templates",
    "wp_template_part": "templates",
    "wp_global_styles": "site styles",
    "wp_font_family": "site styles",
    "wp_font_face": "site styles",
    "custom_css": "site styles",
    "customize_changeset": "customizer drafts",
    "oembed_cache": "embed caches",
    "user_request": "privacy requests",
    "guest-author": "guest authors",  # Co-Authors Plus: people, not stories
}
_STATUSES = {
    "draft": "drafts",
    "auto-draft": "drafts",
    "pending": "pending posts",
    "future": "scheduled posts",
}
_UNSAFE_URL = re.compile(r"[\s\x00-\x1f\x7f]")


def skip_reason(
    post_type: str, status: str, protected: bool, reading: Reading
) -> str | None:
    """Return why a post is no story for readers, TAKE_DOWN, or None for a story."""
    if post_type not in reading.post_types:
        return _TYPES.get(post_type, f"'{post_type}' posts")
    if status in ("trash", "private"):
        return TAKE_DOWN
    if protected:
        return "password-protected posts"
    if status == "publish":
        return None
    # Editorial plugins add statuses of their own ("pitch", "assigned"): unpublished.
    return _STATUSES.get(status, "unpublished posts")


def site_host(url: str | None) -> str | None:
    """Return the host that names a site in ids: lowercase, IDNA, without port."""
    if not url or not isinstance(url, str):
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.rstrip(".")
    try:
        # One site, one id, whether its address was written in Unicode or punycode.
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def story_id(host: str | None, post_id: object) -> str:
    """Return a post's id: `wp:<site host>:<post id>`, or `wp:<post id>` unsited."""
    return f"wp:{host}:{post_id}" if host else f"wp:{post_id}"


def moment(gmt: str | None, local: str | None, zone: tzinfo) -> datetime | None:
    """Return a post's date: its GMT field, else its local one read in `zone`."""
    for value, where in ((gmt, UTC), (local, zone)):
        # WordPress writes a date it never set (a draft's GMT date) as all zeros:
        # no date, which iso8601() refuses.
        found = dates.iso8601(value, where)
        if found:
            return found
    return None


def slug(post_name: str | None) -> str | None:
    """Return a post's slug (percent-decoded), or None when it is none of ours."""
    decoded = unquote((post_name or "").strip())
    return decoded if decoded and decoded == slugify(decoded) else None


def http_url(value: str | None, base: str | None = None) -> str | None:
    """Return an absolute http(s) URL, resolved against `base`, or None."""
    if not value or not isinstance(value, str):
        return None
    try:
        url = urljoin(base, value.strip()) if base else value.strip()
        parts = urlsplit(url)
    except ValueError:  # "http://[::1" and the like
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return None if _UNSAFE_URL.search(url) else url


def byline(names: list[str | None]) -> str | None:
    """Return authors' names as one byline: "Alice", "Alice and Bob", "A, B and C"."""
    unique = list(dict.fromkeys(name for name in names if name))
    if len(unique) < 2:
        return unique[0] if unique else None
    return ", ".join(unique[:-1]) + " and " + unique[-1]


def primary_first(categories: list[tuple[str, str]], primary: str | None) -> list[str]:
    """Return category names, the one whose key (slug or id) is `primary` first."""
    first = [name for key, name in categories if primary and key == primary]
    names = first + [name for _key, name in categories]
    return list(dict.fromkeys(name for name in names if name))


# Classic content is stored as written, with blank lines between paragraphs and line
# breaks within them; WordPress makes the paragraphs only when it shows a post. So do
# we, with our own small paragrapher: text between blocks becomes paragraphs, a line
# break in one becomes <br />, blocks are left as they are, and a quotation or
# division gets paragraphs inside it.
_BLOCK_NAMES = frozenset(
    """address article aside blockquote caption col colgroup dd details dialog div dl
    dt fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr li
    main menu nav ol p pre script section style summary table tbody td tfoot th thead
    tr ul math svg textarea""".split()
)  # fmt: skip
_CONTAINERS = frozenset(
    {"article", "aside", "blockquote", "div", "footer", "header", "main", "section"}
)
_ANY_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)\b[^>]*>")
_DOUBLE_BREAK = re.compile(r"<br\s*/?>\s*<br\s*/?>", re.ASCII)
# ASCII whitespace only, as WordPress has it: a no-break space is text.
_BLANK_LINE = re.compile(r"\n[ \t\f\v\r]*\n")
_LINE_END_SPACES = re.compile(r"[ \t\f\v]+\n")
_IN_TAG = re.compile(r"<[^>]*>")


def autop(text: str) -> str:
    """Return classic content with paragraphs made of its blank lines and line breaks.

    A blank line ends a paragraph and a line break within one becomes `<br />`;
    block-level elements (lists, tables, headings, `<pre>`) get no paragraph round
    them and keep their insides as written.
    """
    if not text.strip():
        return ""
    text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    return "".join(f"{piece}\n" for piece in _blocks(_DOUBLE_BREAK.sub("\n\n", text)))


def _blocks(text: str) -> list[str]:
    """Return the pieces of text: blocks as they are, the text between as paragraphs."""
    pieces: list[str] = []
    start = 0  # where the text not yet placed begins
    position = 0
    while found := _ANY_TAG.search(text, position):
        name = found[2].lower()
        if name not in _BLOCK_NAMES:
            position = found.end()
            continue
        pieces += _paragraphs(text[start : found.start()])
        end = _closing(text, name, found.end()) if not found[1] else None
        if end is None:  # a closing tag alone, a void <hr>, an unclosed block
            pieces.append(found[0])
            start = position = found.end()
            continue
        close = text.rindex("<", found.end(), end)
        inner = text[found.end() : close]
        if name in _CONTAINERS:
            inside = "\n".join(_blocks(inner))
            pieces.append(f"{found[0]}{inside}{text[close:end]}")
        else:
            pieces.append(text[found.start() : end])
        start = position = end
    return pieces + _paragraphs(text[start:])


def _closing(text: str, name: str, after: int) -> int | None:
    """Return where the element opened just before `after` ends, or None if never."""
    depth = 1
    for tag in re.finditer(rf"<(/?){name}\b[^>]*>", text[after:], re.IGNORECASE):
        depth += -1 if tag[1] else 1
        if depth == 0:
            return after + tag.end()
    return None


def _paragraphs(text: str) -> list[str]:
    found = []
    for part in _BLANK_LINE.split(text):
        if not part.strip():
            continue
        # A line break between a tag's attributes is no line of the text.
        part = _IN_TAG.sub(lambda tag: tag[0].replace("\n", "\x00"), part.strip("\n"))
        part = _LINE_END_SPACES.sub("\n", part).replace("\n", "<br />\n")
        found.append(f"<p>{part.replace(chr(0), chr(10))}</p>")
    return found


# Shortcodes WordPress registers itself, and common plugins' players, embeds and
# widgets: always shortcodes, and what they enclose (a URL, mostly) goes with them.
MEDIA_SHORTCODES = frozenset(
    {
        "gallery", "playlist", "audio", "video", "embed", "wp_playlist",
        "youtube", "vimeo", "dailymotion", "ted", "tweet", "twitter", "instagram",
        "facebook", "soundcloud", "spotify", "googlemaps", "slideshow", "polldaddy",
        "crowdsignal", "contact-form", "jetpack_subscription_form", "archives",
    }
)  # fmt: skip
_NAME = r"[^\s\[\]<>&/=\"'\x00-\x20]+"
_CAPTION = re.compile(
    r"(?<!\[)\[(caption|wp_caption)((?:\s[^\[\]]*)?)\]"
    r"((?:(?!\[(?:wp_)?caption\b).)*?)\[/\1\]",
    re.S,
)
_CAPTIONED = re.compile(
    r"((?:<a [^>]+>\s*)?<img [^>]+>(?:\s*</a>)?)(.*)", re.S | re.I | re.ASCII
)
_MEDIA = re.compile(
    r"(?<!\[)\[("
    + "|".join(re.escape(name) for name in sorted(MEDIA_SHORTCODES))
    + r")(?:\s[^\[\]]*)?\](?:(?!\[\1\b).)*?\[/\1\]",
    re.S,
)
_SHORTCODE = re.compile(rf"\[(\[?)(/?)({_NAME})((?:\s[^\[\]]*?)?)(/?)\](\]?)")
_CLOSER = re.compile(rf"\[/({_NAME})\]")
_ATTRIBUTE = re.compile(r"""([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'\]]+))""")
# Attributes as shortcodes write them (`id="3" full`), not prose ("Update: 5 pm").
_ATTRIBUTES = re.compile(
    r"""(?:\s+(?:[\w-]+=(?:"[^"]*"|'[^']*'|[^\s"'\]]+)|[\w-]+|"[^"]*"|'[^']*'))*\s*"""
)
_VERBATIM = re.compile(r"(<(pre|code)\b(?:(?!<\2\b).)*?</\2\s*>)", re.S | re.I)
_URL_LINE = re.compile(r"^[ \t]*(https?://[^\s<>\"]+)[ \t]*$", re.M)
_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.S)
_EMBED_BLOCK = re.compile(
    r"<!--\s+wp:(embed|core-embed/[\w-]+)\b(?:(?!<!--).)*<!--\s+/wp:\1\s+-->", re.S
)
_EMBED_FIGURE = re.compile(
    r"<figure\s[^<>]*?\bwp-block-embed\b[^<>]*>(?:(?!<figure\b).)*?</figure>", re.S
)
_EMPTY_PARAGRAPH = re.compile(r"<p>\s*</p>", re.ASCII)
# A <pre> element but its last ">" (kept as it is), or blank lines between tags.
_TIDY = re.compile(
    r"(<pre\b(?:(?!<pre\b).)*?</pre\s*)(?=>)|>[ \t]*\n\s*(?=<)", re.S | re.I | re.ASCII
)


def shortcode_attributes(text: str) -> dict[str, str]:
    """Return a shortcode's named attributes (`width="300"`), names lowercased."""
    return {
        m[1].lower(): next(v for v in m.groups()[1:] if v is not None)
        for m in _ATTRIBUTE.finditer(text)
    }


def _figure(match: re.Match[str]) -> str:
    """Return a `[caption]` as WordPress renders it: a figure and its caption."""
    attributes = shortcode_attributes(match[2])
    media, caption = match[3].strip(), attributes.get("caption")
    if caption is None:
        captioned = _CAPTIONED.match(media)
        if captioned:
            media, caption = captioned[1], captioned[2].strip()
    if not caption:
        return media
    return f"<figure>{media}<figcaption>{caption}</figcaption></figure>"


def strip_shortcodes(text: str) -> str:
    """Return content with `[caption]`s as figures and every other shortcode removed.

    WordPress treats only registered names as shortcodes, and we cannot know what a
    site registered. So a bracket counts as a shortcode when it is a core or common
    media name, a closing tag (`[/x]`) or has one, is self-closing (`[x /]`), or
    carries attributes (`[x id="3"]`); "[sic]" or "[Photo: AP]" stay as text. Media
    shortcodes go with what they enclose; others leave their enclosed text. Code and
    `<pre>` keep their brackets, and `[[x]]`, WordPress's escape, shows as `[x]`.
    """
    parts = _VERBATIM.split(text)
    # split() also returns the captured tag names; the text is at 0, 3, 6…
    for index in range(0, len(parts), 3):
        parts[index] = _unshortcoded(parts[index])
    return "".join(part for index, part in enumerate(parts) if index % 3 != 2)


def _unshortcoded(text: str) -> str:
    if "[" not in text:
        return text
    text = _CAPTION.sub(_figure, text)
    text = _MEDIA.sub("", text)
    closers = set(_CLOSER.findall(text))

    def replace(match: re.Match[str]) -> str:
        opening, closing, name, attributes, self_closing, ending = match.groups()
        shortcode = (
            name in MEDIA_SHORTCODES
            or name in ("caption", "wp_caption")
            or bool(closing or self_closing)
            or name in closers
            or ("=" in attributes and _ATTRIBUTES.fullmatch(attributes) is not None)
        )
        inner = match[0][len(opening) : len(match[0]) - len(ending)]
        if opening and ending:
            return inner if shortcode else match[0]
        return opening + ("" if shortcode else inner) + ending

    return _SHORTCODE.sub(replace, text)


def body_html(content: str | None, rendered: bool = False) -> str:
    """Return a post's body as HTML: stored content rendered, or rendered tidied.

    Rendered content (the REST API's `content.rendered`) only loses what the stored
    form loses here: embeds, comments, shortcodes a site no longer renders.
    """
    text = (content or "").replace("\r\n", "\n").replace("\r", "\n")
    blocks = not rendered and "<!-- wp:" in text
    # Embeds hold their bare URL (stored) or a player (rendered): neither is shown.
    if rendered:
        text = _EMBED_FIGURE.sub("", text)
    elif blocks:
        text = _EMBED_BLOCK.sub("", text)
    text = strip_shortcodes(_COMMENT.sub("", text))
    if not rendered and not blocks:
        # WordPress runs wpautop over classic content only. A URL alone on its line
        # is an embed, or a link when WordPress cannot embed it.
        text = autop(_URL_LINE.sub(r'<a href="\1">\1</a>', text))
    return _tidy(_EMPTY_PARAGRAPH.sub("", text))


def _tidy(html: str) -> str:
    """Return HTML with each run of blank lines between tags made one line break.

    Outside `<pre>` that changes nothing a reader sees, and it makes a post read
    from an export and from the API (whose renderers space blocks differently)
    compare equal.
    """
    return _TIDY.sub(lambda match: match[1] or ">\n", html).strip()
