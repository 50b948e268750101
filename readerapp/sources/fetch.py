"""The one HTTP client: what `reader pull` asks of newsrooms' sites, and how politely.

Conditional GET (ETag, Last-Modified), a User-Agent that says who asks, a timeout on
every request, a retry with backoff on 5xx answers and network errors, and
Retry-After honoured: within a run when it is short, else reported so that the next
run waits.
"""

from __future__ import annotations

import gzip
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from importlib import metadata
from urllib.parse import urlsplit

MAX_BYTES = 50 * 1024 * 1024
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json,"
    " application/json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


def user_agent(contact: str = "") -> str:
    """Return the User-Agent readerapp sends: its name, version and whose site."""
    try:
        version = metadata.version("readerapp")
    except metadata.PackageNotFoundError:
        version = "dev"
    return f"readerapp/{version} (news site; follows its newsroom's feeds{contact})"


@dataclass(frozen=True, slots=True)
class Answer:
    """What a site answered: 304 or the body, with the headers that matter."""

    url: str  # after redirects
    status: int
    headers: Message
    body: bytes = b""

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def charset(self) -> str | None:
        return self.headers.get_content_charset()


class FetchFailed(Exception):
    """A site did not give what was asked, after retrying what is worth retrying.

    `retry_after` is when the site asked to be left alone until, if it did.
    """

    def __init__(
        self,
        url: str,
        reason: str,
        status: int | None = None,
        retry_after: datetime | None = None,
    ) -> None:
        said = f"HTTP {status} {reason}".rstrip() if status else reason
        super().__init__(f"{url}: {said}")
        self.url, self.reason, self.status = url, reason, status
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Tell whether asking again later may work (network, 5xx, 429)."""
        return self.status is None or self.status == 429 or self.status >= 500


@dataclass(slots=True)
class Fetcher:
    """Fetch URLs politely; counts what it asked for (a pull reports it)."""

    timeout: float = 20.0
    attempts: int = 3
    backoff: float = 1.0  # seconds before the first retry, doubling each time
    # A Retry-After longer than this ends the run instead of waiting in it.
    longest_wait: float = 30.0
    agent: str = field(default_factory=user_agent)
    sleep: Callable[[float], None] = time.sleep
    requests: int = 0

    def get(
        self,
        url: str,
        validators: Mapping[str, str] | None = None,
        accept: str = ACCEPT,
    ) -> Answer:
        """GET a URL, conditionally when validators (etag, last_modified) are given."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise FetchFailed(url, "only http and https addresses are fetched")
        headers = {
            "User-Agent": self.agent,
            "Accept": accept,
            "Accept-Encoding": "gzip, deflate",
        }
        if validators and validators.get("etag"):
            headers["If-None-Match"] = validators["etag"]
        if validators and validators.get("last_modified"):
            headers["If-Modified-Since"] = validators["last_modified"]
        wait = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                return self._once(url, headers)
            except FetchFailed as failed:
                if not failed.transient or attempt == self.attempts:
                    raise
                if failed.retry_after is not None:
                    asked = (failed.retry_after - datetime.now(UTC)).total_seconds()
                    if asked > self.longest_wait:
                        raise
                    wait = max(asked, 0.0)
                self.sleep(wait)
                wait *= 2
        raise AssertionError("unreachable")  # the loop returns or raises

    def _once(self, url: str, headers: dict[str, str]) -> Answer:
        self.requests += 1
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read(MAX_BYTES + 1)
                answer = Answer(response.url, response.status, response.headers, body)
        except urllib.error.HTTPError as error:
            if error.code == 304:
                return Answer(url, 304, error.headers)
            retry_after = _retry_after(error.headers.get("Retry-After"))
            error.close()
            raise FetchFailed(
                url, error.reason or "", error.code, retry_after
            ) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            if isinstance(reason, TimeoutError):
                reason = f"no answer within {self.timeout:g} s"
            raise FetchFailed(url, str(reason)) from None
        if len(answer.body) > MAX_BYTES:
            raise FetchFailed(url, f"the answer is larger than {MAX_BYTES >> 20} MB")
        return Answer(answer.url, answer.status, answer.headers, _decoded(answer))


def _decoded(answer: Answer) -> bytes:
    encoding = (answer.headers.get("Content-Encoding") or "").strip().lower()
    try:
        if encoding == "gzip":
            return gzip.decompress(answer.body)
        if encoding == "deflate":
            return zlib.decompress(answer.body)
    except (OSError, zlib.error, EOFError) as error:
        raise FetchFailed(answer.url, f"a damaged {encoding} body: {error}") from None
    return answer.body


def _retry_after(value: str | None) -> datetime | None:
    """Return when a Retry-After header (seconds, or an HTTP date) ends."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return datetime.fromtimestamp(time.time() + int(value), UTC)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
