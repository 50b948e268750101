"""The newest stories in one answer (`/api/latest?pages=`) and the worker as served;
tests/browser/test_offline.py drives the worker itself."""

import subprocess

import pytest

from conftest import import_records, record

COMET = "/news/science/comet-visible-to-the-naked-eye-this-week"


def test_pages_come_as_they_are_served_and_only_from_the_list(client):
    urls = client.get("/api/latest").json["urls"]
    asked = ["/", *urls[:3], "/about", "/news/x/not-a-story", "/api/latest"]
    answer = client.get("/api/latest", query_string={"pages": ",".join(asked)})
    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    pages = answer.json
    assert sorted(pages) == sorted(["/", *urls[:3]])
    for url, html in pages.items():
        assert html == client.get(url).text, url


def test_pages_are_compressed_together(client):
    urls = client.get("/api/latest").json["urls"]
    headers = {"Accept-Encoding": "br"}
    one_by_one = sum(len(client.get(url, headers=headers).data) for url in urls)
    together = client.get(
        "/api/latest", query_string={"pages": ",".join(urls)}, headers=headers
    )
    assert together.headers["Content-Encoding"] == "br"
    assert len(together.data) < one_by_one / 2


def test_no_pages_asked_for_gives_none(client):
    assert client.get("/api/latest", query_string={"pages": ""}).json == {}


def test_pages_follow_the_archive_after_an_import(app, client, tmp_path):
    asked = {"pages": "/"}
    before = client.get("/api/latest", query_string=asked).json["/"]
    assert "A brand new story" not in before
    import_records(
        app,
        tmp_path / "new.jsonl",
        record("brand-new", "A brand new story", "Text.", published="2031-01-01"),
    )
    assert (
        "A brand new story" in client.get("/api/latest", query_string=asked).json["/"]
    )


def test_a_page_keeps_its_validators_and_the_list_is_unchanged(client):
    listed = client.get("/api/latest")
    assert list(listed.json) == ["urls"] and COMET in listed.json["urls"]
    again = client.get("/api/latest", headers={"If-None-Match": listed.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.node
def test_the_worker_as_served_parses(client, tmp_path):
    served = tmp_path / "sw.js"
    served.write_bytes(client.get("/sw.js").data)
    check = subprocess.run(
        ["node", "--check", str(served)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
