"""Import the same stories as JSON Lines, a WordPress export, REST pages and feeds.

Usage:
    python bench/import_formats.py [--work DIR] [--corpus DIR] [--memory]

    --work    folder for the converted files and the archives (default: a temp dir)
    --corpus  the shared corpora (default ../shared/corpus), read, never copied
    --memory  also import a WordPress export ten times larger and compare the peak
              memory of the two imports

The corpus's JSON Lines records are written out as each format as a newsroom's
system would write it (the conversion is in this file: `wxr`, `rest_pages`,
`rss_feeds`); then each is imported with `reader import` into an empty archive,
index included, one after another in one run. Each import's wall time is compared
with the JSON Lines import's, and its peak memory (the largest resident set of the
`reader` process or any of its workers, from getrusage) is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
READER = Path(sys.executable).with_name("reader")
SITE = "https://newsroom.example.org"
FEED_ITEMS = 1000
PAGE_POSTS = 100


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def records(corpus: Path) -> list[dict]:
    found = []
    for path in sorted(corpus.glob("*.jsonl")):
        with path.open(encoding="utf-8") as lines:
            found.extend(json.loads(line) for line in lines if line.strip())
    return found


def moment(record: dict) -> datetime:
    value = record["published"]
    if len(value) == 10:
        value += "T00:00:00+00:00"
    parsed = datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def wxr(stories: list[dict], path: Path, copies: int = 1) -> None:
    """Write a WordPress export (WXR 1.2) of the stories, `copies` times over."""
    with path.open("w", encoding="utf-8") as out:
        out.write(
            '<?xml version="1.0" encoding="UTF-8" ?>\n<rss version="2.0"'
            ' xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"'
            ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
            ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
            ' xmlns:wp="http://wordpress.org/export/1.2/">\n<channel>\n'
            f"<title>Newsroom</title><link>{SITE}</link><language>en</language>\n"
            f"<wp:wxr_version>1.2</wp:wxr_version><wp:base_site_url>{SITE}"
            f"</wp:base_site_url><wp:base_blog_url>{SITE}</wp:base_blog_url>\n"
        )
        post_id = 0
        for _ in range(copies):
            for story in stories:
                post_id += 1
                when = moment(story)
                slug = f"{story.get('slug') or 'story'}-{post_id}"
                gmt = when.strftime("%Y-%m-%d %H:%M:%S")
                out.write(
                    f"<item><title>{cdata(story['headline'])}</title>"
                    f"<link>{SITE}/{slug}/</link>"
                    f"<pubDate>{format_datetime(when)}</pubDate>"
                    f"<dc:creator>{cdata(story.get('author') or 'desk')}</dc:creator>"
                    f'<guid isPermaLink="false">{SITE}/?p={post_id}</guid>'
                    f"<description></description>"
                    f"<content:encoded>{cdata(story['body_html'])}</content:encoded>"
                    f"<excerpt:encoded>{cdata(story.get('dek') or '')}"
                    "</excerpt:encoded>"
                    f"<wp:post_id>{post_id}</wp:post_id>"
                    f"<wp:post_date>{cdata(gmt)}</wp:post_date>"
                    f"<wp:post_date_gmt>{cdata(gmt)}</wp:post_date_gmt>"
                    f"<wp:post_modified_gmt>{cdata(gmt)}</wp:post_modified_gmt>"
                    f"<wp:post_name>{cdata(slug)}</wp:post_name>"
                    "<wp:status>publish</wp:status><wp:post_type>post</wp:post_type>"
                    "<wp:post_password></wp:post_password>"
                    f'<category domain="category" nicename="c">'
                    f"{cdata(story['section'])}</category>"
                    + "".join(
                        f'<category domain="post_tag" nicename="t">{cdata(tag)}'
                        "</category>"
                        for tag in story.get("tags") or []
                    )
                    + "</item>\n"
                )
        out.write("</channel>\n</rss>\n")


def rest_pages(stories: list[dict], folder: Path) -> None:
    """Write the stories as saved answers of /wp-json/wp/v2/posts?_embed."""
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(stories), PAGE_POSTS):
        page = []
        for offset, story in enumerate(stories[start : start + PAGE_POSTS]):
            post_id = start + offset + 1
            gmt = moment(story).strftime("%Y-%m-%dT%H:%M:%S")
            slug = f"{story.get('slug') or 'story'}-{post_id}"
            page.append(
                {
                    "id": post_id,
                    "date_gmt": gmt,
                    "modified_gmt": gmt,
                    "slug": slug,
                    "status": "publish",
                    "type": "post",
                    "link": f"{SITE}/{slug}/",
                    "title": {"rendered": escape(story["headline"])},
                    "content": {"rendered": story["body_html"], "protected": False},
                    "excerpt": {"rendered": story.get("dek") or "", "protected": False},
                    "author": 1,
                    "_embedded": {
                        "author": [{"id": 1, "name": story.get("author") or "desk"}],
                        "wp:term": [
                            [{"taxonomy": "category", "name": story["section"]}],
                            [
                                {"taxonomy": "post_tag", "name": tag}
                                for tag in story.get("tags") or []
                            ],
                        ],
                    },
                }
            )
        (folder / f"posts-{start // PAGE_POSTS + 1:04}.json").write_text(
            json.dumps(page), encoding="utf-8"
        )


def rss_feeds(stories: list[dict], folder: Path) -> None:
    """Write the stories as RSS 2.0 documents of FEED_ITEMS items each."""
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(stories), FEED_ITEMS):
        items = []
        for offset, story in enumerate(stories[start : start + FEED_ITEMS]):
            link = f"{SITE}/feed-story-{start + offset + 1}"
            items.append(
                f"<item><title>{escape(story['headline'])}</title><link>{link}</link>"
                f'<guid isPermaLink="true">{link}</guid>'
                f"<pubDate>{format_datetime(moment(story))}</pubDate>"
                f"<category>{escape(story['section'])}</category>"
                f"<description>{escape(story.get('dek') or '')}</description>"
                f"<content:encoded>{cdata(story['body_html'])}</content:encoded>"
                "</item>"
            )
        (folder / f"feed-{start // FEED_ITEMS + 1:03}.xml").write_text(
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"'
            ' xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
            f"<title>Newsroom</title><link>{SITE}</link><language>en</language>"
            + "".join(items)
            + "</channel></rss>",
            encoding="utf-8",
        )


def timed_import(work: Path, name: str, paths: list[Path]) -> tuple[float, int, str]:
    """Import into a new archive; return seconds, peak memory (KiB), summary."""
    archive = work / f"archive-{name}"
    shutil.rmtree(archive, ignore_errors=True)
    env = {
        **os.environ,
        "READERAPP_DATABASE": str(archive / "archive.sqlite3"),
        "READERAPP_INDEX_DIR": str(archive / "index"),
    }
    # A fresh wrapper per import, so that the getrusage peak is this import's.
    script = (
        "import json, resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "took = time.perf_counter() - start\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "said = done.stdout + done.stderr\n"
        "print(json.dumps([took, peak, done.returncode, said]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(READER), "import", *map(str, paths)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, peak, status, said = json.loads(result.stdout)
    if status:
        raise SystemExit(f"{name} import failed:\n{said}")
    summary = next(line for line in said.splitlines() if " added, " in line)
    shutil.rmtree(archive, ignore_errors=True)
    return float(seconds), int(peak), summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/corpus")
    parser.add_argument("--memory", action="store_true")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="readerapp-formats-"))
    work.mkdir(parents=True, exist_ok=True)
    stories = records(args.corpus)
    log(f"writing {len(stories)} stories as each format into {work} …")
    wxr(stories, work / "export.xml")
    rest_pages(stories, work / "rest")
    rss_feeds(stories, work / "feeds")
    runs = {
        "JSON Lines": sorted(args.corpus.glob("*.jsonl")),
        "WordPress export (WXR 1.2)": [work / "export.xml"],
        f"WordPress REST pages ({PAGE_POSTS} posts each)": [work / "rest"],
        f"RSS 2.0 feeds ({FEED_ITEMS} items each)": [work / "feeds"],
    }
    results = {}
    for name, paths in runs.items():
        log(f"importing {name} …")
        results[name] = timed_import(work, name.split()[0], paths)
    load = os.getloadavg()[0]
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()},"
          f" load average {load:.2f}, {len(stories):,} stories")  # fmt: skip
    print("| import of the same stories as | seconds | vs JSON Lines | peak MiB | |")
    print("| --- | ---: | ---: | ---: | --- |")
    base = results["JSON Lines"][0]
    for name, (seconds, peak, summary) in results.items():
        print(
            f"| {name} | {seconds:.1f} | {seconds / base:.2f}x"
            f" | {peak / 1024:.0f} | {summary} |"
        )
    if args.memory:
        memory(stories, work)


def memory(stories: list[dict], work: Path) -> None:
    """Peak memory of a WXR import and of one ten times larger."""
    small = stories[: len(stories) // 10]
    wxr(small, work / "small.xml")
    wxr(small, work / "large.xml", copies=10)
    sizes = {p: p.stat().st_size for p in (work / "small.xml", work / "large.xml")}
    log("importing a small and a ten times larger WordPress export …")
    low = timed_import(work, "small", [work / "small.xml"])
    high = timed_import(work, "large", [work / "large.xml"])
    print("| WordPress export | stories | MB | seconds | peak MiB |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, path, count, (seconds, peak, _) in (
        ("small", work / "small.xml", len(small), low),
        ("ten times larger", work / "large.xml", 10 * len(small), high),
    ):
        print(
            f"| {label} | {count:,} | {sizes[path] / 1e6:.0f} | {seconds:.1f}"
            f" | {peak / 1024:.0f} |"
        )
    print(f"peak memory ratio: {high[1] / low[1]:.2f} (target <= 1.5)")
    print(f"own resources: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss} KiB")


if __name__ == "__main__":
    main()
