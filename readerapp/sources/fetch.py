"""The one HTTP client: what `reader pull` asks of newsrooms' sites, and how politely.

Conditional GET (ETag, Last-Modified), a User-Agent that says who asks, a timeout on
every request, a retry with backoff on 5xx answers and network errors, and
Retry-After honoured: within a run when it is short, else reported so that the next
run waits.

Pictures' addresses come from stories, so anyone who can publish one can make the
server ask for any URL; with `public_only`, only public addresses are fetched
(checked on every redirect, the connection pinned to the address checked).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from functools import partial
from importlib import metadata
from typing import Any
from urllib.parse import urljoin, urlsplit

MAX_BYTES = 50 * 1024 * 1024
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json,"
    " application/json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
_WEB_SCHEMES = ("http", "https")
_ALLOWING = "PICTURE_ALLOWED_HOSTS lists hosts allowed although private"
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, not is_private
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # an IPv4 address in its last 32 bits


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

    `retry_after` is when the site asked to be left alone until, if it did;
    `permanent` marks a failure no retry can mend (an address refused, an answer
    too large), which without a status would otherwise count as a network error.
    """

    def __init__(
        self,
        url: str,
        reason: str,
        status: int | None = None,
        retry_after: datetime | None = None,
        permanent: bool = False,
    ) -> None:
        said = f"HTTP {status} {reason}".rstrip() if status else reason
        super().__init__(f"{url}: {said}")
        self.said = said  # what went wrong, without the address
        self.url, self.reason, self.status = url, reason, status
        self.retry_after = retry_after
        self.permanent = permanent

    @property
    def transient(self) -> bool:
        """Tell whether asking again later may work (network, 5xx, 429)."""
        if self.permanent:
            return False
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
    # Refuse private, loopback, link-local... addresses, for URLs from stories.
    public_only: bool = False
    allowed_hosts: frozenset[str] = frozenset()  # "host" or "host:port", though private

    def get(
        self,
        url: str,
        validators: Mapping[str, str] | None = None,
        accept: str = ACCEPT,
        max_bytes: int | None = None,
    ) -> Answer:
        """GET a URL, conditionally when validators (etag, last_modified) are given."""
        if urlsplit(url).scheme not in _WEB_SCHEMES:
            raise FetchFailed(
                url, "only http and https addresses are fetched", permanent=True
            )
        limit = MAX_BYTES if max_bytes is None else max_bytes
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
                return self._once(url, headers, limit)
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

    def _once(self, url: str, headers: dict[str, str], limit: int) -> Answer:
        self.requests += 1
        request = urllib.request.Request(url, headers=headers)
        try:
            with self._open(request) as response:
                declared = response.headers.get("Content-Length", "").strip()
                if declared.isdigit() and int(declared) > limit:
                    raise _too_large(url, limit)
                body = response.read(limit + 1)
                answer = Answer(response.url, response.status, response.headers, body)
        except _Refused as refused:
            raise FetchFailed(url, f"refused: {refused}", permanent=True) from None
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
        if len(answer.body) > limit:
            raise _too_large(url, limit)
        body = _decoded(answer, limit)
        return Answer(answer.url, answer.status, answer.headers, body)

    def _open(self, request: urllib.request.Request) -> Any:
        if not self.public_only:
            return urllib.request.urlopen(request, timeout=self.timeout)
        allowed = frozenset(host.lower() for host in self.allowed_hosts)
        opener = urllib.request.OpenerDirector()
        # No proxy handler: a proxy would resolve the name again, itself, and
        # no handler for file:, ftp: or data: addresses, so nothing can reach one.
        for handler in (
            _GuardedHTTPHandler(allowed),
            _GuardedHTTPSHandler(allowed),
            _WebRedirects(),
            urllib.request.HTTPDefaultErrorHandler(),
            urllib.request.HTTPErrorProcessor(),
            urllib.request.UnknownHandler(),
        ):
            opener.add_handler(handler)
        return opener.open(request, timeout=self.timeout)


class _Refused(Exception):
    """An address the guard does not fetch (not an OSError: no retry mends it)."""


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, allowed: frozenset[str]) -> None:
        super().__init__()
        self.allowed = allowed

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_pinned(_checked(req, self.allowed)), req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, allowed: frozenset[str]) -> None:
        super().__init__()
        self.allowed = allowed

    def https_open(self, req: urllib.request.Request) -> Any:
        # The connection keeps the host name, so SNI and the certificate check
        # are for the name, while the socket goes to the address checked.
        pinned = _pinned(_checked(req, self.allowed), http.client.HTTPSConnection)
        return self.do_open(pinned, req, context=self._context)


class _WebRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http and https addresses only (urllib also follows
    ftp:, and turns file: into an HTTP error that would not say why)."""

    def http_error_302(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Message,
    ) -> Any:
        target = headers.get("Location") or headers.get("URI") or ""
        if (
            target
            and urlsplit(urljoin(req.full_url, target)).scheme not in _WEB_SCHEMES
        ):
            fp.close()
            raise _Refused(f"a redirect to {target}, not an http or https address")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


_Address = tuple[socket.AddressFamily, tuple[Any, ...]]


def _checked(req: urllib.request.Request, allowed: frozenset[str]) -> list[_Address]:
    """Resolve a request's host and return its addresses, all of them public
    unless the host is allowed; raise _Refused otherwise."""
    parts = urlsplit(req.full_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise urllib.error.URLError(error) from None
    addresses = [(family, sockaddr) for family, _, _, _, sockaddr in found]
    named = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if host in allowed or named in allowed:
        return addresses
    for _, sockaddr in addresses:
        address = ipaddress.ip_address(sockaddr[0])
        why = _not_public(address)
        if why:
            where = str(address) if host == str(address) else f"{host} ({address})"
            raise _Refused(f"{where} is {why} address ({_ALLOWING})")
    return addresses


def _not_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Say what kind of non-public address this is ("a private"), or ""."""
    if isinstance(address, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address reach that address.
        inner = address.ipv4_mapped or address.sixtofour
        if address in _NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None and _not_public(inner):
            return _not_public(inner)
    for kind, test in (
        ("a loopback", address.is_loopback),
        ("an unspecified", address.is_unspecified),
        ("a link-local", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("a shared (carrier-grade NAT)", address in _SHARED),
        ("a reserved", address.is_reserved),
        ("a private", address.is_private),
        ("a non-public", not address.is_global),
    ):
        if test:
            return kind
    return ""


def _pinned(
    addresses: list[_Address],
    connection: type[http.client.HTTPConnection] = http.client.HTTPConnection,
) -> Callable[..., http.client.HTTPConnection]:
    """Return a connection maker whose connections go to these addresses only."""

    def make(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
        made = connection(*args, **kwargs)
        # http.client's hook for opening the socket; the name is not resolved
        # again, so a DNS answer changed since the check cannot redirect it.
        made._create_connection = partial(_connect, addresses)
        return made

    return make


def _connect(
    addresses: list[_Address],
    host_port: tuple[str, int],
    timeout: float | None = None,
    source_address: tuple[str, int] | None = None,
) -> socket.socket:
    """Connect to the first of the checked addresses that answers."""
    failed: OSError = OSError(f"no address for {host_port[0]}")
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if isinstance(timeout, int | float):
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
        except OSError as error:
            sock.close()
            failed = error
            continue
        return sock
    raise failed


def _too_large(url: str, limit: int) -> FetchFailed:
    return FetchFailed(
        url, f"the answer is larger than {_in_words(limit)}", permanent=True
    )


def _in_words(size: int) -> str:
    for unit, scale in (("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


def _decoded(answer: Answer, limit: int) -> bytes:
    """Undo gzip or deflate, to no more than `limit` bytes: a small answer can
    unpack to gigabytes."""
    encoding = (answer.headers.get("Content-Encoding") or "").strip().lower()
    if encoding not in ("gzip", "deflate"):
        return answer.body
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    body, rest = b"", answer.body
    while rest:  # gzip allows several members, one after the other
        engine = zlib.decompressobj(wbits)
        try:
            body += engine.decompress(rest, limit + 1 - len(body))
        except zlib.error as error:
            raise FetchFailed(
                answer.url, f"a damaged {encoding} body: {error}"
            ) from None
        if len(body) > limit:
            raise _too_large(answer.url, limit)
        if not engine.eof:
            raise FetchFailed(answer.url, f"a damaged {encoding} body: it ends early")
        rest = engine.unused_data if encoding == "gzip" else b""
    return body


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
