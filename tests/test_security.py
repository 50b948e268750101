import re

import pytest

from conftest import import_records, record

URLS = [
    "/",
    "/news/",
    "/news/harbour-town/",
    "/news/harbour-town/fish-market-moves-to-the-old-customs-house",
    "/about",
    "/no-such-page",
    "/static/site.css",
]


@pytest.mark.parametrize("url", URLS)
def test_every_response_carries_security_headers(client, url):
    with client.get(url) as response:
        headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "http" not in csp, "no third-party origins"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_templates_never_mark_text_safe():
    from pathlib import Path

    for template in Path("templates").rglob("*.html"):
        assert "|safe" not in template.read_text().replace(" ", ""), template


def test_article_text_is_never_evaluated_as_a_template(tmp_path, make_app):
    app = make_app(tmp_path)
    body = "{{ config.items() }} {{ 6*7 }}"
    import_records(
        app, tmp_path / "j.jsonl", record("j", "{{ 7*7 }} {% raw %}", body, section="S")
    )
    html = app.test_client().get("/news/s/7-7-raw").text
    assert "{{ 7*7 }} {% raw %}" in html and "{{ 6*7 }}" in html
    text = re.sub(r"<[^>]+>", " ", html)  # hashed asset URLs may hold any digits
    assert not re.search(r"\b(49|42)\b", text) and "SECRET" not in text
