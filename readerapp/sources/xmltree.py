"""XML from outside, read safely: the only module that imports lxml.

Nothing here fetches or expands anything a document points to. A document that
declares entities (the way to an entity-expansion bomb or to a file or URL read
through an external entity) is refused whole; a DOCTYPE that only names a DTD, as
old RSS feeds do, is allowed and never loaded. HTML's named characters (&eacute;),
which RSS 0.91's DTD declares, are read as what they always name; any other entity
a document uses without declaring it is refused.
"""

from __future__ import annotations

import codecs
import copy
import re
from collections.abc import Iterator
from html.entities import name2codepoint
from typing import IO

from lxml import etree

Element = etree._Element

_DECLARATION = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Bytes XML 1.0 forbids that exports carry all the same (a stray form feed in a
# post): dropped before parsing. Safe in ASCII-compatible encodings only, where
# these bytes never occur inside a multi-byte character.
_FORBIDDEN_BYTES = bytes(range(9)) + b"\x0b\x0c" + bytes(range(14, 32))
_STRIP = bytes.maketrans(b"", b"")
# HTML's named characters (&eacute;, &nbsp;), which RSS 0.91's DTD declares and
# feeds use without declaring: read as the characters they always name, so that
# no DTD need be fetched for them. XML's own five are left to the parser.
_HTML_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
_HTML_CHARACTERS = {
    name: chr(point)
    for name, point in name2codepoint.items()
    if name not in ("amp", "lt", "gt", "quot", "apos")
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


class XMLRefused(ValueError):
    """The document is not XML we read: malformed, or hostile."""


def _parser(**options: object) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        **options,
    )


def decode(data: bytes, charset: str | None = None) -> str:
    """Return a document's text, in the encoding it is really in.

    A byte order mark decides. Otherwise bytes that are valid UTF-8 are UTF-8
    whatever the prolog says (a feed declared windows-1252 but written in UTF-8
    would otherwise become mojibake); else the declared encoding, or the HTTP
    charset; else windows-1252, the superset of Latin-1 that undeclared feeds use.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="strict")
    declared = _DECLARATION.match(data.lstrip())
    names = [declared[1].decode("ascii") if declared else None, charset]
    if not any(name and name.lower().replace("_", "-").startswith("utf-16")
               for name in names):  # fmt: skip
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    codecs_named = []
    for name in names:
        try:
            codecs_named.append(_python_codec(name) if name else None)
        except LookupError:
            continue
    for codec in codecs_named:
        if codec:
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                continue
    # A stray bad byte in a GB18030 or KOI8-R document costs one character, not
    # the whole text; a document that says UTF-8 and is not is windows-1252.
    for codec in codecs_named:
        if codec and codec != "utf-8":
            return data.decode(codec, errors="replace")
    return data.decode("windows-1252", errors="replace")


# Labels that browsers and feed readers read as a larger encoding (the WHATWG
# Encoding Standard): real "ISO-8859-1" feeds use windows-1252's curly quotes and
# euro, and real "GB2312" ones GBK's characters, which GB18030 includes.
_SUPERSETS = {
    "windows-1252": ("iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1",
                     "us-ascii", "ascii", "cp819"),
    "gb18030": ("gb2312", "gbk", "x-gbk", "cp936", "chinese", "csgb2312",
                "gb_2312", "gb_2312-80", "iso-ir-58"),
    "cp949": ("euc-kr", "ks_c_5601-1987", "ks_c_5601-1989", "ksc5601", "korean",
              "csksc56011987", "windows-949"),
    "cp932": ("shift_jis", "shift-jis", "sjis", "ms_kanji", "x-sjis", "csshiftjis",
              "windows-31j"),
    "big5hkscs": ("big5", "big5-hkscs", "cn-big5", "csbig5", "x-x-big5"),
    "windows-1254": ("iso-8859-9", "iso8859-9", "latin5", "l5"),
    "cp874": ("tis-620", "iso-8859-11", "iso8859-11", "windows-874"),
}  # fmt: skip
_LABELS = {label: codec for codec, labels in _SUPERSETS.items() for label in labels}


def _python_codec(name: str) -> str:
    """Return Python's codec for an encoding label, as browsers read the label."""
    name = name.strip().lower()
    return _LABELS.get(name) or codecs.lookup(name).name


def parse(data: bytes, charset: str | None = None) -> Element:
    """Parse a whole document (a feed); raise XMLRefused if it is not safe XML."""
    text = decode(data.lstrip(), charset).lstrip("\ufeff \t\r\n")
    text = _HTML_ENTITY.sub(_html_character, _without_declaration(text))
    body = text.encode("utf-8").translate(_STRIP, _FORBIDDEN_BYTES)
    try:
        root = etree.fromstring(body, _parser(encoding="utf-8"))
    except etree.XMLSyntaxError as error:
        raise XMLRefused(_described(error)) from None
    _refuse_entities(root)
    # With a DOCTYPE naming an outside DTD, the parser keeps a reference to an
    # entity it cannot know as a node: only fetching that DTD could expand it.
    reference = next(root.iter(etree.Entity), None)
    if reference is not None:
        raise XMLRefused(
            f"uses the entity {reference.text}, which only its DTD could define;"
            " DTDs are never fetched, so it is refused"
        )
    return root


def _html_character(match: re.Match[str]) -> str:
    return _HTML_CHARACTERS.get(match[1], match[0])


def _without_declaration(text: str) -> str:
    """Drop the XML declaration: the text is decoded, its encoding no longer says."""
    if text.startswith("<?xml"):
        end = text.find("?>")
        if end != -1:
            return text[end + 2 :]
    return text


def iterate(stream: IO[bytes], tag: str) -> Iterator[tuple[Element, Element]]:
    """Yield (root, element) for each `tag` element of a large document, streamed.

    Each element is complete when it is yielded and cleared afterwards, so memory
    stays flat however many there are; the root keeps what came before the first
    one (a WordPress export's site, authors and categories).
    """
    events = etree.iterparse(
        _Filtered(stream),
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    root = None
    try:
        for event, element in events:
            if root is None:
                root = element
                _refuse_entities(element)
            if event == "end" and element.tag == tag:
                yield root, element
                element.clear(keep_tail=True)
                while element.getprevious() is not None:
                    del element.getparent()[0]
    except etree.XMLSyntaxError as error:
        raise XMLRefused(_described(error)) from None


class _Filtered:
    """A byte stream with XML's forbidden control bytes dropped, as lxml reads it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.first = True

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        if self.first:
            # Feed readers forgive whitespace (or a BOM) before the declaration.
            data = data.lstrip(b" \t\r\n")
            self.first = False
        return data.translate(_STRIP, _FORBIDDEN_BYTES)


def _refuse_entities(element: Element) -> None:
    dtd = element.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise XMLRefused(
            "declares entities in its DOCTYPE, which is how XML bombs and external"
            " entity attacks work; refused without expanding them"
        )


def _described(error: etree.XMLSyntaxError) -> str:
    message = str(error.msg or error).split(", line ")[0]
    if "Detected an entity reference loop" in message or "amplification" in message:
        return "expands entities without end (an XML bomb); refused"
    where = f" (line {error.lineno}, column {error.offset})" if error.lineno else ""
    return f"is not well-formed XML: {message}{where}"


def text(element: Element | None) -> str:
    """Return all the text inside an element, markup stripped; "" for None."""
    return "" if element is None else "".join(element.itertext())


def inner_xml(element: Element) -> str:
    """Return an element's content as markup (XHTML content, say), tags kept."""
    parts = [element.text or ""]
    for child in element:
        parts.append(etree.tostring(child, encoding="unicode", with_tail=True))
    return "".join(parts)


def local_name(element: Element) -> str:
    """Return an element's tag without its namespace."""
    return etree.QName(element).localname


def inner_html(element: Element) -> str:
    """Return an element's content as HTML without namespaces (Atom's XHTML)."""
    content = copy.deepcopy(element)
    for node in content.iter():
        if isinstance(node.tag, str):
            node.tag = etree.QName(node).localname
            for name in [name for name in node.attrib if name.startswith("{")]:
                del node.attrib[name]
    etree.cleanup_namespaces(content)
    parts = [_escaped(content.text or "")]
    for child in content:
        parts.append(
            etree.tostring(child, encoding="unicode", method="html", with_tail=True)
        )
    return "".join(parts)


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def language(element: Element) -> str | None:
    """Return the xml:lang in force at an element (its own or an ancestor's)."""
    node: Element | None = element
    while node is not None:
        value = node.get(XML_LANG)
        if value is not None:
            return value.strip() or None
        node = node.getparent()
    return None
