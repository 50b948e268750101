""" "Also read" before and after a change: the picks on random articles, compared.

Usage:
    python bench/also_read.py record FILE  [--work DIR] [--count N] [--seed S]
    python bench/also_read.py compare FILE [--work DIR]

    record   render N random articles (default 300) and write the story each one
             offers under "Also read" to FILE (JSON); run it on the code before the
             change
    compare  render the articles FILE names with this code and compare its picks
             with the recorded ones
    --work   folder holding archive.sqlite3 and index/, as bench/throughput.py or
             bench/cold_pages.py leaves it (default /tmp/cold-work)

Pages are rendered through Flask's test client with the page cache off, and the pick
is read from the page's HTML, so the figures are what a reader sees, whatever code
chose them. A changed pick still counts as kept (issue #16) when it shares a tag with
the recorded one, or most (3 of 5) key terms; the report also says how many of those
share only a tag that hundreds of stories carry, or the section's own name.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sqlite3
from collections import Counter
from pathlib import Path

from readerapp import create_app

ALSO_READ = re.compile(r'<aside class="also-read"[^>]*>.*?<a href="([^"]+)"', re.S)
# A tag on this many stories relates little (readerapp.store.COMMON_TAG).
COMMON_TAG = 300


def reader_app(work: Path):
    return create_app(
        {
            "DATABASE": work / "archive.sqlite3",
            "INDEX_DIR": work / "index",
            "FETCH_PICTURES": False,
            "CACHE_TYPE": "NullCache",
            "CACHE_NO_NULL_WARNING": True,
        }
    )


def picks(work: Path, paths: list[str]) -> dict[str, str | None]:
    """Return the path each article's "Also read" links to (None if it has none)."""
    client = reader_app(work).test_client()
    found: dict[str, str | None] = {}
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        match = ALSO_READ.search(response.get_data(as_text=True))
        found[path] = match[1] if match else None
    return found


def article_paths(database: Path) -> list[str]:
    with sqlite3.connect(database) as db:
        return [
            f"/news/{section}/{slug}"
            for section, slug in db.execute(
                "SELECT s.slug, a.slug FROM article a"
                " JOIN section s ON s.id = a.section_id ORDER BY a.id"
            )
        ]


def slug_of(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def tags_of(db: sqlite3.Connection, path: str) -> set[str]:
    rows = db.execute(
        "SELECT t.tag FROM article_tag t JOIN article a ON a.id = t.article_id"
        " WHERE a.slug = ?",
        (slug_of(path),),
    )
    return {row[0] for row in rows}


def key_terms(work: Path, paths: set[str]) -> dict[str, set[str]]:
    """Return the 5 key terms of each article, as Whoosh's more-like-this takes them."""
    from whoosh import index

    with sqlite3.connect(work / "archive.sqlite3") as db:
        texts = {
            path: db.execute(
                "SELECT headline || char(10) || coalesce(standfirst, '')"
                " || char(10) || body_text FROM article WHERE slug = ?",
                (slug_of(path),),
            ).fetchone()[0]
            for path in paths
        }
    current = (work / "index" / "CURRENT").read_text().strip()
    with index.open_dir(str(work / "index" / current)).searcher() as searcher:
        return {
            path: {
                term
                for term, _ in searcher.key_terms_from_text(
                    "body", text, numterms=5, normalize=False
                )
            }
            for path, text in texts.items()
        }


def compare(work: Path, recorded: dict[str, str | None]) -> str:
    now = picks(work, list(recorded))
    changed = {
        path: (was, now[path])
        for path, was in recorded.items()
        if was and now[path] and was != now[path]
    }
    terms = key_terms(work, {p for pair in changed.values() for p in pair})
    outcome: Counter[str] = Counter()
    with sqlite3.connect(work / "archive.sqlite3") as db:
        sections = {name for (name,) in db.execute("SELECT name FROM section")}
        for path, was in recorded.items():
            if was == now[path]:
                outcome["same story" if was else "none before, none now"] += 1
                continue
            if not was or not now[path]:
                outcome["none before" if not was else "none now"] += 1
                continue
            shared = tags_of(db, was) & tags_of(db, now[path])
            if len(terms[was] & terms[now[path]]) >= 3:
                outcome["most key terms shared"] += 1
            elif shared - sections and any(
                db.execute(
                    "SELECT count(*) FROM article_tag WHERE tag = ?", (tag,)
                ).fetchone()[0]
                <= COMMON_TAG
                for tag in shared - sections
            ):
                outcome["a tag shared"] += 1
            elif shared:
                outcome["only a common tag or the section name shared"] += 1
            else:
                outcome["unrelated"] += 1
    total = len(recorded)
    kept_strictly = outcome["same story"] + outcome["none before, none now"]
    kept = kept_strictly + outcome["most key terms shared"] + outcome["a tag shared"]
    lenient = kept + outcome["only a common tag or the section name shared"]
    lines = [f"{total} articles, picks compared with {len(recorded)} recorded:"]
    lines += [f"  {name}: {n}" for name, n in outcome.most_common()]
    lines += [
        f"Same pick: {kept_strictly / total:.1%}. Same, or sharing most key terms or"
        f" a tag under {COMMON_TAG} stories: {kept / total:.1%}. Counting any shared"
        f" tag (issue #16's wording): {lenient / total:.1%}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("record", "compare"))
    parser.add_argument("file", type=Path)
    parser.add_argument("--work", type=Path, default=Path("/tmp/cold-work"))
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    if args.mode == "record":
        paths = random.Random(args.seed).sample(
            article_paths(args.work / "archive.sqlite3"), args.count
        )
        args.file.write_text(json.dumps(picks(args.work, paths), indent=1) + "\n")
        print(f"recorded the picks of {len(paths)} articles in {args.file}")
    else:
        print(compare(args.work, json.loads(args.file.read_text())))


if __name__ == "__main__":
    main()
