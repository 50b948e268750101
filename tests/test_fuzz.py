"""Fuzzing (issue 13): every route under hostile paths, parameters and headers, and
the JSON API against the OpenAPI description it publishes."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from functools import partial
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes, urlencode

import brotli
import jsonschema
import pytest
import schemathesis
from flask import Flask
from hypothesis import given, note, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.test import TestResponse

from conftest import ARTICLES
from readerapp.caching import SHORT_LIVED
from readerapp.extensions import get_store
from readerapp.search import SORTS, ArchiveIndex, IndexUnavailable
from readerapp.security import HEADERS
from readerapp.views.api import OPENAPI
from readerapp.views.params import SEARCH_ARGS

# Hypothesis keeps caches (constants, Unicode tables) in ./.hypothesis even without
# an example database; they belong in the temporary folder, not the checkout.
if "HYPOTHESIS_STORAGE_DIRECTORY" not in os.environ:
    set_hypothesis_home_dir(Path(tempfile.gettempdir(), "readerapp-hypothesis"))
# Derandomised, so that CI tries the same examples on every run and machine: a red
# run reproduces locally, and a green one means what the last one did. An example
# database would add nothing. The whole file takes about 30 s on two cores.
FUZZ = settings(deadline=None, derandomize=True, database=None)
EXAMPLES_PER_ROUTE = 150
# Examples of all the search parameters together.
SEARCH_EXAMPLES = 400
# Examples for each operation of the API, once with valid and once with invalid input.
API_EXAMPLES = 100
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
# What schemathesis checks of each answer, and the header it is sent with: it asks
# for compressed bodies (as requests does) but does not inflate WSGI answers; the
# route fuzzing checks the encodings.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
PLAIN = {"Accept-Encoding": "identity"}
# A pseudo-rule for paths that no rule of the app matches.
ANYWHERE = "<anywhere>"

HOSTILE = (
    *("", " ", '"', '"unbalanced', "'", "(", ")", "*", "?", "AND", "OR", "NOT"),
    *("AND OR NOT", "title:", "headline:", "section:science", "nosuch:field", ":"),
    *("-", "+", "-ferry", "ferry*", "\x00", "ferry\x00harbour", "\x1b[2J", "\r\n"),
    *("\t", "\u202e", "\ufeff", "\u0301", "x" * 5000, "ferry " * 1000, "%", "%00"),
    *("%zz", "../..", "..", "/", "//", "\\", "<script>alert(1)</script>", "{{7*7}}"),
    *("' OR 1=1 --", "NaN", "inf", "1e309", "Ünïcödé", "日本語", "🧪", "ﬀ", "İ", "ß"),
)
NUMBERS = (
    *("0", "00", "000001", "999999", "1000000", "-1", "-0", "+1", " 1", "1 ", "1.0"),
    *("1e3", "0x10", "٣", "²", str(2**64), "-" + "9" * 40),
)
DAYS = (
    *("0001-01-01", "9999-12-31", "2024-02-30", "2024-13-01", "0000-00-00"),
    *("10000-01-01", "2024-1-1", "20240101", "2024-W01-1", "2024-01-01T25:00"),
    "yesterday",
)
text = st.text(st.characters(codec="utf-8"), max_size=30)
values = st.one_of(st.sampled_from(HOSTILE), text)
numbers = st.one_of(
    st.sampled_from(NUMBERS), st.integers().map(str), st.from_regex(r"\A[0-9]{1,8}\Z")
)
days = st.one_of(st.sampled_from(DAYS), st.dates().map(str))
# Each known parameter gets values near what it expects as well as hostile ones.
ARGUMENTS = {
    "q": st.sampled_from(("ferry", "harbour storm", "comet OR bakery", "fer")) | values,
    "section": st.sampled_from(("science", "harbour-town")) | values,
    "from": days | values,
    "to": days | values,
    "byline": st.sampled_from(("Mara Quist", "quist")) | values,
    "sort": st.sampled_from(SORTS) | values,
    "page": numbers | values,
    "v": values,
}
# Raw query-string tails that urlencode would never write: bad escapes, bare
# separators, repeated names.
RAW_QUERY = ("", "&", "=&=", "%", "%zz", "q=%ff%fe", "page=1&page=x", "q&page", ";")
queries = st.builds(
    lambda pairs, raw: "&".join(filter(None, [urlencode(pairs), raw])),
    st.lists(
        st.one_of(
            *(st.tuples(st.just(name), arg) for name, arg in ARGUMENTS.items()),
            st.tuples(text, values | numbers),
        ),
        max_size=6,
    ),
    st.sampled_from(RAW_QUERY),
)

HTTP_DATES = (
    *("Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT"),
    *("Sun Nov  6 08:49:37 1994", "Mon, 01 Jan 0001 00:00:00 GMT"),
    *("Fri, 31 Dec 9999 23:59:59 GMT", "Thu, 01 Jan 1970 00:00:00 GMT"),
    *("Wed, 31 Feb 2024 25:61:61 GMT", "0", "-1", "9" * 30, "yesterday", ""),
)
# What a real server can hand a WSGI app: latin-1, and no line breaks.
header_text = st.text(
    st.characters(max_codepoint=0xFF, exclude_characters="\r\n"), max_size=40
)
REQUEST_HEADERS = {
    "If-None-Match": ("*", '"x"', 'W/"x"', '"a", "b"', ",,,", '"', "W/"),
    "If-Modified-Since": HTTP_DATES,
    "If-Range": (*HTTP_DATES, '"x"'),
    "Range": (
        *("bytes=0-0", "bytes=-1", "bytes=5-1", "bytes=0-", "bytes=x", "bytes=-0"),
        *("bytes=0-1,3-4", "bytes=99999999999999999999-", "items=0-1"),
    ),
    "Accept-Encoding": (
        *("br", "gzip", "br;q=0, gzip", "*", "identity;q=0", "gzip;q=abc"),
        *("deflate", "br;q=1e309", ",,,"),
    ),
    "Accept": ("application/json", "*/*", "text/html;q=abc", "*/html", ";;;"),
    "Accept-Language": ("de", "*", "x-klingon;q=2"),
    "Host": (
        *("localhost", "example.org", "example.org:8080", "[::1]:80", "évil.example"),
        *("a b", "localhost:99999", "", "..", "x/y", "x" * 300, "localhost:-1", "@"),
        "[::1",
    ),
    "X-Forwarded-For": ("1.2.3.4", "::1, 10.0.0.1", "garbage", ""),
    "X-Forwarded-Proto": ("https", "gopher", ""),
    "X-Forwarded-Host": ("evil.example", "a b", ""),
    "X-Forwarded-Prefix": ("/x", "..", ""),
    "Save-Data": ("on", "off", "1"),
    "Cookie": ("a=b", "=;;;", "session=" + "x" * 4000, '"'),
    "User-Agent": ("Mozilla/5.0", "", "x" * 5000),
    "Referer": ("http://evil.example/", "javascript:alert(1)"),
    "Content-Type": ("application/json", "multipart/form-data; boundary="),
}
# Path segments as a client may send them: already percent-encoded, or broken.
RAW_SEGMENTS = (
    *("", ".", "..", "%00", "%zz", "%2F", "%2e%2e", "%ff", "%c0%af", "%E2%80%AE"),
    *("a%20b", ";x", "%3F", "%23"),
)
RAW_FILENAMES = (
    *("../app.py", "icons/../site.css", "/etc/passwd", "..%2f..%2fapp.py"),
    *("site.css/", "icons/", "icons", "site.css%00.png", "./site.css"),
)
# A rule's variable parts: <name> or <converter:name>.
RULE_ARGUMENT = re.compile(r"<(?:[^:>]+:)?(\w+)>")
# What a Python traceback or a raised exception's message looks like in a body.
TRACEBACK = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+"
    r"|\b\w+(?:Error|Exception): "
)


def archive_digest(app: Flask) -> str:
    """Return a digest of everything in the archive and of the index's files."""
    with closing(sqlite3.connect(app.config["DATABASE"])) as db:
        dump = "\n".join(db.iterdump())
    root = Path(app.config["INDEX_DIR"])
    files = sorted(
        (str(path.relative_to(root)), path.stat().st_size, path.stat().st_mtime_ns)
        for path in root.rglob("*")
        if path.is_file()
    )
    return hashlib.sha256(f"{dump}\n{files!r}".encode()).hexdigest()


@contextmanager
def archive_unchanged(app: Flask) -> Iterator[None]:
    """Fail if anything the block does changes the archive or the index."""
    before = archive_digest(app)
    yield
    assert archive_digest(app) == before, "a GET or HEAD changed the archive"


@contextmanager
def change_counter(app: Flask) -> Iterator[Callable[[], int]]:
    """Yield a function returning the archive's change count seen from outside."""
    # PRAGMA data_version moves when another connection commits, so one request that
    # writes is caught by the example that sent it, not only at the end of the run.
    with closing(sqlite3.connect(app.config["DATABASE"])) as db:
        yield lambda: db.execute("PRAGMA data_version").fetchone()[0]


def body_text(response: TestResponse) -> str:
    """Return the body as text, decompressed as its Content-Encoding says."""
    data = response.get_data()
    encoding = response.headers.get("Content-Encoding")
    if data and encoding == "br":
        data = brotli.decompress(data)
    elif data and encoding == "gzip":
        data = gzip.decompress(data)
    return data.decode("utf-8", "replace")


def assert_sound(response: TestResponse, method: str) -> None:
    """Check what every answer must be: no server error or traceback, secured."""
    assert response.status_code < 500
    assert not TRACEBACK.search(body_text(response))
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, name
    if method == "HEAD":
        assert response.get_data() == b""


def hostile_segment(real: list[str]) -> st.SearchStrategy[str]:
    """Return a path segment: a real one, a hostile one encoded, or a raw one."""
    return st.one_of(
        st.sampled_from(real),
        (st.sampled_from(HOSTILE) | text).map(lambda s: quote(s, safe="")),
        st.sampled_from(RAW_SEGMENTS),
    )


def path_parts(app: Flask) -> dict[str, st.SearchStrategy[str]]:
    """Return a strategy for each rule argument, seeded with the archive's values."""
    with app.app_context():
        store = get_store()
        sections = [s.slug for s in store.sections()]
        articles = [a.slug for a in store.latest(50)]
        months = [m.month for m in store.months()]
    static = Path(app.static_folder)
    files = [str(p.relative_to(static)) for p in static.rglob("*") if p.is_file()]
    return {
        "section_slug": hostile_segment(sections),
        "article_slug": hostile_segment(articles),
        "month": hostile_segment([*months, "news", "pages", "2024-13", "0000-01"]),
        "filename": st.one_of(
            st.sampled_from(files),
            st.sampled_from(RAW_FILENAMES),
            st.lists(hostile_segment(files), min_size=1, max_size=3).map("/".join),
        ),
    }


def as_sent(path: str) -> dict[str, str]:
    """Return the environ a real server gives for this raw path."""
    # Not given to the test client as a URL: it would decode %ff as U+FFFD and read
    # //x as a host. A server passes the path's bytes through as latin-1.
    raw = {"REQUEST_URI": path, "RAW_URI": path}
    return {"PATH_INFO": unquote_to_bytes(path).decode("latin-1"), **raw}


def fill(rule: str, values: tuple[str, ...]) -> str:
    """Return the rule's path with its arguments replaced, in order, by values."""
    remaining = iter(values)
    return RULE_ARGUMENT.sub(lambda _: next(remaining), rule)


def request_headers(etags: list[str]) -> dict[str, st.SearchStrategy[str]]:
    """Return a strategy for each request header, with ETags the app issued."""
    headers = {
        name: st.sampled_from(choices) | header_text
        for name, choices in REQUEST_HEADERS.items()
    }
    headers["If-None-Match"] |= st.sampled_from(etags)
    return headers


def requests(
    rule: str,
    parts: dict[str, st.SearchStrategy[str]],
    headers: dict[str, st.SearchStrategy[str]],
) -> st.SearchStrategy[tuple[str, str, str, dict[str, str]]]:
    """Return (method, path, query string, headers) for one rule of the app."""
    if rule == ANYWHERE:
        segments = hostile_segment(["news", "api", "feeds", "static", "sitemaps"])
        paths = st.lists(segments, max_size=4).map(lambda s: "/" + "/".join(s))
    else:
        names = RULE_ARGUMENT.findall(rule)
        paths = st.tuples(*(parts[name] for name in names)).map(partial(fill, rule))
    return st.tuples(
        # Other methods have no route, so they too must leave the archive alone.
        st.sampled_from(("GET", "HEAD", "OPTIONS", "POST")),
        paths,
        queries,
        st.fixed_dictionaries({}, optional=headers),
    )


def test_no_route_fails_or_writes_under_hostile_requests(app):
    client = app.test_client()
    # ETags the app really issued, so that some conditional requests match.
    etags = [
        client.get(url, headers={"Accept-Encoding": encoding}).headers["ETag"]
        for url in ("/", "/api/latest", "/api/search?q=ferry", "/sw.js")
        for encoding in ("", "br")
    ]
    parts, headers = path_parts(app), request_headers(etags)
    # Each rule is fuzzed on its own, so every route gets its share of examples.
    rules = sorted({rule.rule for rule in app.url_map.iter_rules()}) + [ANYWHERE]

    with archive_unchanged(app), change_counter(app) as changes:
        start = changes()
        for rule in rules:

            @settings(FUZZ, max_examples=EXAMPLES_PER_ROUTE)
            @given(requests(rule, parts, headers))
            def answers_soundly(wanted: tuple[str, str, str, dict[str, str]]) -> None:
                method, path, query, sent = wanted
                note(f"{method} {path}?{query} {sent}")
                with client.open(
                    method=method,
                    query_string=query,
                    headers=sent,
                    environ_overrides=as_sent(path),
                ) as response:
                    assert_sound(response, method)
                assert changes() == start, "this request changed the archive"

            answers_soundly()


def search_page_ok(page: str | None) -> bool:
    """Return whether ?page= names a page, as the API description says."""
    return page is None or (
        page.isascii() and page.isdigit() and len(page) <= 6 and int(page) > 0
    )


def description_validator(name: str) -> jsonschema.Validator:
    """Return a validator for one of the description's schemas, refs resolved in it."""
    description = json.loads(OPENAPI.read_text("utf-8"))
    return jsonschema.Draft202012Validator(
        {**description, "$ref": f"#/components/schemas/{name}"}
    )


def test_search_parameters_never_fail_far_from_utc(make_app, tmp_path):
    # Juneau was 15 hours ahead of UTC before 1867 and is 9 behind today, so both the
    # first day Python knows and the last fall outside the years it can hold in UTC
    # (?from=0001-01-01 and ?to=9999-12-31 were 500s).
    app = make_app(tmp_path, TIMEZONE="America/Juneau")
    result = app.test_cli_runner().invoke(args=["import", str(ARTICLES)])
    assert result.exit_code == 0, result.output
    client = app.test_client()
    results, suggestions = (
        description_validator(name) for name in ("SearchResults", "Suggestions")
    )
    # Always a query: without one the other parameters are not read (the route
    # fuzzing above leaves it out).
    optional = {name: ARGUMENTS[name] for name in (*SEARCH_ARGS[1:], "page")}
    wanted = st.fixed_dictionaries({"q": ARGUMENTS["q"]}, optional=optional)

    with archive_unchanged(app):

        @settings(FUZZ, max_examples=SEARCH_EXAMPLES)
        @given(wanted)
        def answers_or_rejects_the_page(query: dict[str, str]) -> None:
            note(f"{query}")
            status = 200 if search_page_ok(query.get("page")) else 404
            page_response = client.get("/search", query_string=query)
            assert_sound(page_response, "GET")
            assert page_response.status_code in (status, 404)
            api = client.get("/api/search", query_string=query)
            assert_sound(api, "GET")
            assert api.status_code == status
            if status == 200:
                results.validate(api.get_json())
            suggest = client.get("/api/suggest", query_string=query)
            assert suggest.status_code == 200
            suggestions.validate(suggest.get_json())

        answers_or_rejects_the_page()


def embedded_schemas(node: object) -> Iterator[dict]:
    """Yield every JSON Schema in an OpenAPI document."""
    if isinstance(node, list):
        for item in node:
            yield from embedded_schemas(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "schema":
                yield value
            elif key == "schemas":
                yield from value.values()
            else:
                yield from embedded_schemas(value)


def test_api_description_is_valid_openapi_3_1(app):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    schema.validate()
    # OpenAPI's own schema leaves the JSON Schemas inside it unchecked.
    found = list(embedded_schemas(schema.raw_schema))
    assert len(found) > 20
    for embedded in found:
        jsonschema.Draft202012Validator.check_schema(embedded)
    # Each check is shown to reject a description that breaks it.
    broken = json.loads(OPENAPI.read_text("utf-8"))
    broken["paths"]["/api/search"]["get"]["responses"]["200"]["headers"] = []
    with pytest.raises(ValueError, match="is not of type"):
        schemathesis.openapi.from_dict(broken).validate()
    broken = {"type": "object", "required": "openapi"}
    with pytest.raises(jsonschema.SchemaError):
        jsonschema.Draft202012Validator.check_schema(broken)


def test_api_description_names_every_api_route_and_search_parameter(app):
    description = json.loads(OPENAPI.read_text("utf-8"))
    routes = {r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/api/")}
    assert set(description["paths"]) == routes
    parameters = description["components"]["parameters"]
    queried = {p["name"] for p in parameters.values() if p["in"] == "query"}
    assert queried == {*SEARCH_ARGS, "page"}
    assert parameters["sort"]["schema"]["enum"] == list(SORTS)


def test_api_description_is_served_as_json_and_revalidated(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.data == OPENAPI.read_bytes()
    assert response.headers["Cache-Control"] == SHORT_LIVED
    etag = response.headers["ETag"]
    again = client.get("/api/openapi.json", headers={"If-None-Match": etag})
    assert again.status_code == 304


# Schemathesis's pytest loader (schemathesis.pytest.from_fixture) breaks on pytest 9
# (it sets the removed Node._nodeid), so each operation runs under plain @given.
def test_api_answers_as_its_description_says(app):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    with archive_unchanged(app):
        for result in schema.get_all_operations():
            operation = result.ok()
            # Invalid input needs a query parameter: a header is always text, so
            # /api/latest has no invalid request to make.
            modes = [POSITIVE, NEGATIVE] if operation.query else [POSITIVE]
            for mode in modes:

                @settings(FUZZ, max_examples=API_EXAMPLES)
                @given(operation.as_strategy(mode))
                def answers_as_described(case: schemathesis.Case) -> None:
                    case.call_and_validate(headers=PLAIN, checks=CHECKS)

                answers_as_described()


def test_the_answer_while_the_index_cannot_be_read_is_as_described(app, monkeypatch):
    def unreadable(*args: object) -> None:
        raise IndexUnavailable("a segment file is missing")

    monkeypatch.setattr(ArchiveIndex, "search", unreadable)
    monkeypatch.setattr(ArchiveIndex, "suggest", unreadable)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    for path in ("/api/search", "/api/suggest"):
        case = schema[path]["GET"].Case(query={"q": "ferry"})
        checks = [check for check in CHECKS if check is not not_a_server_error]
        response = case.call_and_validate(headers=PLAIN, checks=checks)
        assert response.status_code == 503
