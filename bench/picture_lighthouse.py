"""A first visit to an article with a lead picture, as Lighthouse's phone sees it.

Usage: python bench/picture_lighthouse.py [--work DIR] [--runs N]

Serves the bundled demo archive (`reader serve --demo`), picks the demo story with the
largest lead picture and the story nearest its word count with no picture, and runs
Lighthouse 12 (mobile, default simulated throttling) on each, alternately, N times
(default 5), with the screen of a 360 px phone at DPR 2. Reports per page the median
performance score, Cumulative Layout Shift, Largest Contentful Paint and the bytes the
page transferred (the lead picture apart), and the LCP ratio of the two pages.

A rendition is made the first time any browser asks for it; the script asks for the
lead picture once before the runs, as a site's first reader would have, and reports
how long that first request took.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sqlite3
import statistics
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

from lighthouse import install_lighthouse, lighthouse, start_demo
from throughput import log

PHONE = [
    "--screenEmulation.mobile=true",
    "--screenEmulation.width=360",
    "--screenEmulation.height=740",
    "--screenEmulation.deviceScaleFactor=2",
]


def pages(database: Path) -> tuple[str, str]:
    """Return the demo article with the largest lead picture, and the article
    without one nearest its length."""
    with sqlite3.connect(database) as db:
        section, slug, words = db.execute(
            "SELECT s.slug, a.slug, a.word_count FROM article a"
            " JOIN section s ON s.id = a.section_id JOIN article_picture ap"
            " ON ap.article_id = a.id AND ap.lead JOIN picture_source ps"
            " ON ps.url = ap.url JOIN picture p ON p.digest = ps.digest"
            " ORDER BY p.width * p.height DESC LIMIT 1"
        ).fetchone()
        plain = db.execute(
            "SELECT s.slug, a.slug FROM article a JOIN section s ON s.id = a.section_id"
            " WHERE a.shown_picture IS NULL AND a.body_html NOT LIKE '%<img%'"
            " ORDER BY abs(a.word_count - ?), a.id LIMIT 1",
            (words,),
        ).fetchone()
    return f"/news/{section}/{slug}", f"/news/{plain[0]}/{plain[1]}"


def figures(report: dict, origin: str) -> dict:
    audits = report["audits"]
    picture = page = 0
    for item in audits["network-requests"]["details"]["items"]:
        if (
            not item["url"].startswith(origin)
            or item.get("sessionTargetType") == "worker"
        ):
            continue
        size = item.get("transferSize", 0)
        if "/media/" in item["url"] and item.get("priority") in ("VeryHigh", "High"):
            picture += size
        else:
            page += size
    return {
        "performance": report["categories"]["performance"]["score"] * 100,
        "cls": audits["cumulative-layout-shift"]["numericValue"],
        "lcp_ms": audits["largest-contentful-paint"]["numericValue"],
        "page_bytes": page,
        "picture_bytes": picture,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="readerapp-picture-lh-"))
    work.mkdir(parents=True, exist_ok=True)
    binary = install_lighthouse(work)
    server = start_demo(work)
    try:
        pictured, plain = pages(work / "archive.sqlite3")
        html = urllib.request.urlopen(server.base + pictured).read().decode()
        lead = re.search(r'<figure class="story-picture">.*?</figure>', html, re.S)[0]
        first_requests = {}
        for url in set(re.findall(r"/media/[0-9a-f]{32}/\d+\.\w+", lead)):
            started = time.perf_counter()
            urllib.request.urlopen(server.base + url).read()
            first_requests[url] = round((time.perf_counter() - started) * 1000)
        results: dict[str, list[dict]] = {"pictured": [], "plain": []}
        for number in range(args.runs):
            for name, path in (("pictured", pictured), ("plain", plain)):
                log(f"run {number + 1}: {name} {path}")
                report = lighthouse(
                    binary,
                    server.base + path,
                    work / f"{name}-{number}.json",
                    flags=PHONE,
                )
                if report.get("runtimeError"):
                    raise SystemExit(f"{path}: {report['runtimeError']}")
                results[name].append(figures(report, server.base))
    finally:
        server.stop()
    medians = {
        name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for name, runs in results.items()
    }
    print(
        json.dumps(
            {
                "date": date.today().isoformat(),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "pages": {"pictured": pictured, "plain": plain},
                "first_rendition_ms": {
                    url.rsplit("/", 1)[1]: ms
                    for url, ms in sorted(first_requests.items())
                },
                "runs": results,
                "medians": medians,
                "lcp_ratio": round(
                    medians["pictured"]["lcp_ms"] / medians["plain"]["lcp_ms"], 2
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
