"""Which of the site's sections a story goes in, from what its source calls it.

Sources name their categories as they like: "Economy and business" in one corpus,
"Business & economy" in another, "BUSINESS" in an agency's subjects. A section map
(the SECTION_MAP setting, a TOML file) names the site's sections and the source
names each one takes; names match whatever their case, punctuation and word order.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

_WORD = re.compile(r"\w+")
# Joining words that name no subject: "Business and economy" is "business economy".
_JOINERS = frozenset({"and", "&", "und", "et", "y", "e", "og", "och", "en"})
DEFAULT_SECTION = "News"


class SectionMapInvalid(ValueError):
    """The section map file cannot be read; the message says where."""


def key(name: str) -> str:
    """Return what two names of one section have in common: their words, sorted."""
    words = _WORD.findall(unicodedata.normalize("NFKC", name).casefold())
    return " ".join(sorted({w for w in words if w not in _JOINERS}))


@dataclass(frozen=True, slots=True)
class SectionMap:
    """Source names to site sections; `fallback` takes what nothing maps."""

    names: Mapping[str, str] = field(default_factory=dict)  # key -> section
    fallback: str | None = None

    def section_for(self, candidates: Iterable[str]) -> str:
        """Return the section for a story whose source names these, best first.

        The first name the map knows decides. With none known, the story goes in
        the fallback section if there is one, else in a section named as its
        source names it first (or DEFAULT_SECTION when it names none).
        """
        candidates = [c for c in candidates if c and c.strip()]
        for candidate in candidates:
            section = self.names.get(key(candidate))
            if section:
                return section
        if self.fallback:
            return self.fallback
        return candidates[0] if candidates else DEFAULT_SECTION


def load(path: str | Path | None, fallback: str | None = None) -> SectionMap:
    """Read a section map file (none: no mapping) with the fallback section."""
    if not path:
        return SectionMap(fallback=fallback or None)
    try:
        with Path(path).open("rb") as file:
            document = tomllib.load(file)
    except OSError as error:
        raise SectionMapInvalid(f"cannot read the section map: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise SectionMapInvalid(f"{path}: {error}") from None
    names: dict[str, str] = {}
    for section, aliases in document.get("sections", {}).items():
        if not isinstance(aliases, list) or not all(
            isinstance(a, str) for a in aliases
        ):
            raise SectionMapInvalid(
                f"{path}: sections.{section!r} must be a list of source names"
            )
        for name in [section, *aliases]:
            earlier = names.setdefault(key(name), section)
            if earlier != section:
                raise SectionMapInvalid(
                    f"{path}: {name!r} is given to both {earlier!r} and {section!r}"
                )
    return SectionMap(names=names, fallback=fallback or None)
