"""The picture pipeline's costs: keeping pictures at import, and serving renditions.

Usage: python bench/pictures.py [--work DIR] [--pictures N] [--seconds S]

1. Import: makes N (default 1,000) distinct photographs (crops of the demo archive's
   photographs, scaled to 800-1,600 px wide, JPEG quality 85) and N stories that lead
   with them, imports the stories with FETCH_PICTURES off, then keeps their pictures
   (`collecting.collect_pictures`, what `reader import` runs after the stories are
   stored) and compares its time with decoding the same files once with Pillow
   (`Image.open(path).load()`), both in this process, CPU and wall time.
2. Serving: `reader serve` on that archive answers one stored rendition
   (/media/<digest>/640.webp, made by a first request) against Flask's hello world
   on waitress with the same threads, both under `wrk -t1 -c32`, side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from throughput import (  # noqa: E402
    READER,
    fetch,
    log,
    settle,
    start_hello,
    start_reader,
    wrk,
)

DEMO_PICTURES = ROOT / "demo" / "pictures"


def make_pictures(folder: Path, count: int) -> list[Path]:
    """Write count distinct photographs: random crops of the demo's, rescaled."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = [
        Image.open(path).convert("RGB") for path in sorted(DEMO_PICTURES.glob("*.jpg"))
    ]
    chance = random.Random(15)
    paths = []
    for number in range(count):
        source = chance.choice(sources)
        width, height = source.size
        crop_w = chance.randint(width // 2, width)
        crop_h = min(height, round(crop_w * chance.uniform(0.6, 0.8)))
        left = chance.randint(0, width - crop_w)
        top = chance.randint(0, height - crop_h)
        target = chance.randint(800, 1600)
        picture = source.crop((left, top, left + crop_w, top + crop_h)).resize(
            (target, round(target * crop_h / crop_w)), Image.Resampling.LANCZOS
        )
        path = folder / f"photo-{number:04}.jpg"
        picture.save(path, "JPEG", quality=85)
        paths.append(path)
    return paths


def write_stories(path: Path, pictures: list[Path]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for number, picture in enumerate(pictures):
            record = {
                "id": f"pictured-{number}",
                "section": "Pictures",
                "headline": f"Pictured story number {number}",
                "body_html": f"<p>Story {number} about what the picture shows.</p>",
                "published": f"2024-01-{1 + number % 28:02}",
                "picture": {
                    "url": f"pictures/{picture.name}",
                    "alt": f"Photograph {number}",
                },
            }
            out.write(json.dumps(record) + "\n")


def environment(work: Path, **settings: str) -> dict[str, str]:
    return {
        **os.environ,
        "READERAPP_DATABASE": str(work / "archive.sqlite3"),
        "READERAPP_INDEX_DIR": str(work / "index"),
        **{f"READERAPP_{key}": value for key, value in settings.items()},
    }


def timed(work) -> tuple[float, float]:
    """Return (wall, CPU) seconds of work()."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure_import(work: Path, count: int) -> dict:
    pictures = make_pictures(work / "pictures", count)
    stories = work / "stories.jsonl"
    write_stories(stories, pictures)
    subprocess.run(
        [READER, "import", str(stories)],
        env=environment(work, FETCH_PICTURES="false"),
        check=True,
        capture_output=True,
    )

    def decode_all() -> None:
        for path in pictures:
            with Image.open(path) as image:
                image.load()

    from readerapp import collecting
    from readerapp.media import MediaFolder
    from readerapp.sources.fetch import Fetcher
    from readerapp.store import open_store

    decode = timed(decode_all)
    store = open_store(work / "archive.sqlite3")
    folder = MediaFolder(work / "media")
    collected = None

    def collect() -> None:
        nonlocal collected
        collected = collecting.collect_pictures(
            store, folder, Fetcher(public_only=True), 20 << 20
        )

    keep = timed(collect)
    store.close()
    assert collected.kept == count, collected
    megapixels = sum(Image.open(p).size[0] * Image.open(p).size[1] for p in pictures)
    return {
        "pictures": count,
        "megapixels": round(megapixels / 1e6, 1),
        "bytes": sum(p.stat().st_size for p in pictures),
        "decode_wall_s": round(decode[0], 2),
        "decode_cpu_s": round(decode[1], 2),
        "keep_wall_s": round(keep[0], 2),
        "keep_cpu_s": round(keep[1], 2),
        "ratio_wall": round(keep[0] / decode[0], 2),
        "ratio_cpu": round(keep[1] / decode[1], 2),
    }


def measure_serving(work: Path, seconds: int, connections: int) -> dict:
    reader, threads, _ = start_reader(work)
    try:
        # The rendition of median size among twenty stories' (made by this first
        # request, kept after): a typical photograph, not the smallest.
        sized = []
        for number in range(20):
            path = f"/news/pictures/pictured-story-number-{number}"
            digest = fetch(reader.base + path).decode().split("/media/")[1][:32]
            url = f"{reader.base}/media/{digest}/640.webp"
            sized.append((len(fetch(url)), url))
        size, rendition = sorted(sized)[len(sized) // 2]
        runs = {}
        hello = start_hello(threads, 100)
        try:
            for round_ in range(2):
                for name, url in (("hello", hello.base + "/"), ("picture", rendition)):
                    settle(url)
                    runs.setdefault(name, []).append(wrk(url, seconds, connections))
                    log(f"  {name} round {round_ + 1}: {runs[name][-1]}")
        finally:
            hello.stop()
    finally:
        reader.stop()
    best = {name: max(r.requests_per_s for r in found) for name, found in runs.items()}
    return {
        "threads": threads,
        "rendition_bytes": size,
        "hello_rps": [round(r.requests_per_s) for r in runs["hello"]],
        "picture_rps": [round(r.requests_per_s) for r in runs["picture"]],
        "picture_p99_ms": [r.p99_ms for r in runs["picture"]],
        "hello_p99_ms": [r.p99_ms for r in runs["hello"]],
        "ratio": round(best["picture"] / best["hello"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path)
    parser.add_argument("--pictures", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--serving-only", action="store_true", help="reuse --work's archive"
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="readerapp-pictures-"))
    work.mkdir(parents=True, exist_ok=True)
    imported = None
    if not args.serving_only:
        log(f"import: {args.pictures} pictures in {work} …")
        imported = measure_import(work, args.pictures)
        log(json.dumps(imported))
    log("serving …")
    served = measure_serving(work, args.seconds, args.connections)
    print(
        json.dumps(
            {
                "date": date.today().isoformat(),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores,"
                f" Python {platform.python_version()}",
                "import": imported,
                "serving": served,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
