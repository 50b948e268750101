"""The bundled demo archive: built from the shared corpora, and imported for benchmarks.

Usage: python bench/demo_archive.py [CORPUS_DIR]   (default ../shared/corpus)

Rebuilds demo/wikinews-en.jsonl.gz and demo/wikipedia-current-events.jsonl.gz from
the corpora: every line as the corpus has it, but for the stories in PICTURES, which
get a lead picture from demo/pictures/ (credited in demo/pictures/CREDITS.md). The
gzip files are the same bytes on every run: no file name, mtime 0.

Benchmarks import `demo_settings` to get the demo archive imported in a work folder.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"
READER = Path(sys.executable).with_name("reader")
COLLECTIONS = ("wikinews-en", "wikipedia-current-events")


def _picture(file: str, alt: str, credit: str) -> dict[str, str]:
    return {"url": f"pictures/{file}", "alt": alt, "credit": credit}


ASTRONAUT = _picture(
    "astronaut.jpg",
    "A smiling woman with short fair hair in an orange pressure suit, a white "
    "helmet beside her, with a United States flag and a model of the Space "
    "Shuttle behind her.",
    "NASA (public domain)",
)
ROCKET = _picture(
    "rocket.jpg",
    "A tall white rocket standing upright on a floodlit launch pad at dusk, "
    "between steel lightning towers, under a deep blue sky.",
    "SpaceX (public domain)",
)
DEEP_FIELD = _picture(
    "hubble-deep-field.jpg",
    "Thousands of galaxies, small spirals, points and smudges of white, orange, "
    "red and blue light, scattered across a black sky.",
    "NASA, ESA, G. Illingworth, D. Magee, P. Oesch, R. Bouwens and the HUDF09 "
    "Team (public domain)",
)
COFFEE = _picture(
    "coffee.jpg",
    "A red cup of espresso with a golden crema on a matching red saucer, a "
    "teaspoon resting on the saucer, on a worn wooden table.",
    "Rachel Michetti (CC0)",
)
CAT = _picture(
    "cat.jpg",
    "Close-up of a tabby cat's face, with green eyes and a pink nose, looking "
    "just past the camera.",
    "Stefan van der Walt (CC0)",
)
CAMERA = _picture(
    "camera.jpg",
    "Black-and-white photo of a man in a dark overcoat and gloves bending to "
    "look through a small video camera on a tripod, on a wide lawn with domed "
    "buildings and a tower in the distance.",
    "Lav Varshney (CC0)",
)
CLOCK = _picture(
    "clock.jpg",
    "A round wall clock on a plain grey wall, blurred sideways by the camera's "
    "movement so that its face cannot be read.",
    "Stefan van der Walt (public domain)",
)
RETINA = _picture(
    "retina.jpg",
    "The back of a human eye photographed through the pupil: an orange-red "
    "disc with dark red blood vessels branching out from a pale spot on the "
    "left.",
    "Mikael Häggström (CC0)",
)

# Story id -> its lead picture, with a caption for that story.
PICTURES: dict[str, tuple[dict[str, str], str]] = {
    "wikinews-en-123390": (
        ASTRONAUT,
        "NASA astronaut Eileen Collins, the first woman to pilot and "
        "to command a Space Shuttle, in an official NASA portrait. File photo.",
    ),
    "wikinews-en-t-e8bcf7556c": (
        ASTRONAUT,
        "Eileen Collins, who flew four Space Shuttle missions, in an "
        "official NASA portrait. The shuttles were retired in 2011. File photo.",
    ),
    "wikinews-en-227404": (
        ROCKET,
        "A SpaceX Falcon 9 rocket on Launch Complex 40 at Cape "
        "Canaveral, Florida, before the DSCOVR launch in February 2015. File photo.",
    ),
    "wcep-2025-01-03-021": (
        ROCKET,
        "A SpaceX Falcon 9 on its launch pad at Cape Canaveral before an earlier "
        "flight, the DSCOVR launch of February 2015. File photo.",
    ),
    "wikinews-en-t-fb710caa06": (
        DEEP_FIELD,
        "About 5,500 galaxies in the Hubble eXtreme Deep Field (2012). "
        "The K2-18b findings also rest on data from the Hubble Space Telescope.",
    ),
    "wcep-2025-03-11-021": (
        DEEP_FIELD,
        "Galaxies in the Hubble eXtreme Deep Field (2012). SPHEREx is "
        "to map some 450 million galaxies across the whole sky.",
    ),
    "wikinews-en-120134": (
        COFFEE,
        "An espresso. Starbucks blamed part of its fall in sales on "
        "rivals that have improved their coffee.",
    ),
    "wcep-2025-02-24-006": (
        COFFEE,
        "An espresso. Starbucks says it will also cut its menu by a third.",
    ),
    "wcep-2026-05-01-023": (
        CAT,
        "A pet cat. The act gives tenants in England the right to keep pets.",
    ),
    "wikinews-en-641916": (
        CAMERA,
        "Filming with a camera on a tripod. Jessops sold cameras and "
        "photographic equipment from 187 shops across the United Kingdom.",
    ),
    "wcep-2025-01-07-004": (
        CAMERA,
        "Filming with a camera on a tripod. Getty Images and "
        "Shutterstock license photographs and video to publishers.",
    ),
    "wikinews-en-84047": (
        CLOCK,
        "Clocks in most of the United States and Canada go back an "
        "hour at 2:00 a.m. on November 4.",
    ),
    "wikinews-en-87115": (
        CLOCK,
        "Venezuela's clocks go back half an hour, to UTC−4:30.",
    ),
    "wcep-2025-08-13-008": (
        RETINA,
        "A healthy human retina, photographed through the pupil. "
        "Methanol poisoning can damage the eye and cause blindness.",
    ),
}


def lead_picture(story_id: str) -> dict[str, str] | None:
    """Return the story's `picture` field from PICTURES, or None."""
    if story_id not in PICTURES:
        return None
    picture, caption = PICTURES[story_id]
    return {
        "url": picture["url"],
        "alt": picture["alt"],
        "caption": caption,
        "credit": picture["credit"],
    }


def build(corpus: Path, demo: Path = DEMO) -> dict[str, int]:
    """Write demo/<collection>.jsonl.gz from corpus; return the pictures per file."""
    urls = {picture["url"] for picture, _ in PICTURES.values()}
    missing = sorted(url for url in urls if not (demo / url).is_file())
    if missing:
        raise SystemExit(f"pictures missing in {demo}: {', '.join(missing)}")
    files: dict[str, list[str]] = {}
    pictured: dict[str, int] = {}
    for name in COLLECTIONS:
        files[name], pictured[name] = [], 0
        with open(corpus / f"{name}.jsonl", encoding="utf-8") as source:
            for line in source:
                story = json.loads(line)
                if picture := lead_picture(story["id"]):
                    story["picture"] = picture
                    line = json.dumps(story, ensure_ascii=False) + "\n"
                    pictured[name] += 1
                files[name].append(line)
    if sum(pictured.values()) != len(PICTURES):
        raise SystemExit(f"not every story in PICTURES is in {corpus}")
    for name, lines in files.items():
        with open(demo / f"{name}.jsonl.gz", "wb") as out:
            with gzip.GzipFile("", "wb", compresslevel=9, fileobj=out, mtime=0) as gz:
                gz.write("".join(lines).encode("utf-8"))
    return pictured


def demo_settings(work: Path | None, prefix: str) -> dict[str, Path]:
    """Return DATABASE and INDEX_DIR in work (a new temp dir when None), imported."""
    work = work or Path(tempfile.mkdtemp(prefix=prefix))
    settings = {"DATABASE": work / "archive.sqlite3", "INDEX_DIR": work / "index"}
    if not settings["DATABASE"].exists():
        env = {**os.environ, **{f"READERAPP_{k}": str(v) for k, v in settings.items()}}
        subprocess.run([READER, "import", "--demo"], env=env, check=True)
    return settings


if __name__ == "__main__":
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared/corpus"
    for name, count in build(corpus).items():
        print(f"demo/{name}.jsonl.gz: {count} stories with a picture")
