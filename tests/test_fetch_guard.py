"""Pictures' addresses come from stories: with public_only, the fetcher asks only
public addresses, on every redirect, and connects to the address it checked.

Everything here stays on loopback: names resolve through a patched getaddrinfo,
and a connection to anywhere else is stopped before it leaves the machine.
"""

import gzip
import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from readerapp.sources.fetch import Fetcher, FetchFailed

PICTURE = b"\xff\xd8\xff\xe0 not really a JPEG, but bytes all the same"


class Desk:
    """A loopback server: what it was asked, and how slowly it answers."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []  # (path, Host header)
        self.release = threading.Event()  # ends a /slow answer early at teardown
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        desk = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                desk.requests.append((self.path, self.headers.get("Host", "")))
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                if parts.path == "/picture":
                    self.answer(200, PICTURE)
                elif parts.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", query["to"][0])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif parts.path == "/big":
                    length = "Content-Length" if "declared" in query else None
                    self.answer(200, b"x" * 10_000, length)
                elif parts.path == "/packed":
                    body = gzip.compress(b"\0" * 1_000_000)
                    self.answer(
                        200, body, "Content-Length", {"Content-Encoding": "gzip"}
                    )
                elif parts.path == "/slow":
                    desk.release.wait(5)  # and never answer
                elif parts.path == "/slow-body":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(PICTURE)))
                    self.end_headers()
                    self.wfile.write(PICTURE[:5])
                    self.wfile.flush()
                    desk.release.wait(5)
                else:
                    self.answer(404, b"not here")

            def answer(
                self,
                status: int,
                body: bytes,
                length: str | None = "Content-Length",
                headers: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "image/jpeg")
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if length:
                    self.send_header(length, str(len(body)))
                else:
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(body)

        return Handler


@pytest.fixture
def desk():
    room = Desk()
    thread = threading.Thread(
        target=room.server.serve_forever, args=(0.05,), daemon=True
    )
    thread.start()
    yield room
    room.release.set()
    room.server.shutdown()
    room.server.server_close()
    thread.join()


def guarded(*allowed: str, **settings) -> Fetcher:
    settings.setdefault("attempts", 1)
    settings.setdefault("timeout", 5.0)
    return Fetcher(public_only=True, allowed_hosts=frozenset(allowed), **settings)


@pytest.fixture
def dns(monkeypatch):
    """Names that resolve as a test says; other names resolve as they would."""
    answers: dict[str, list[list[str]]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        # Each lookup takes the next answer; the last one repeats.
        addresses = answers[host].pop(0) if len(answers[host]) > 1 else answers[host][0]
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (address, port, 0, 0) if ":" in address else (address, port),
            )
            for address in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture
def connections(monkeypatch):
    """Every address a socket connects to; anything but loopback is refused here,
    so no test can reach beyond this machine."""
    made: list[tuple] = []
    real = socket.socket.connect

    def connect(self, address):
        made.append(address)
        if address[0] not in ("127.0.0.1", "::1"):
            raise ConnectionRefusedError(111, "stopped by the test")
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return made


def refusal(fetcher: Fetcher, url: str) -> FetchFailed:
    with pytest.raises(FetchFailed) as caught:
        fetcher.get(url)
    assert not caught.value.transient
    assert "refused" in str(caught.value)
    return caught.value


def test_a_loopback_address_is_refused_unless_allowed(desk):
    failed = refusal(guarded(), f"{desk.base}/picture")
    assert "127.0.0.1 is a loopback address" in str(failed)
    assert "PICTURE_ALLOWED_HOSTS" in str(failed)
    assert desk.requests == []

    assert guarded("127.0.0.1").get(f"{desk.base}/picture").body == PICTURE
    answer = guarded(f"127.0.0.1:{desk.port}").get(f"{desk.base}/picture")
    assert answer.body == PICTURE
    assert [path for path, _ in desk.requests] == ["/picture", "/picture"]


def test_an_allowed_host_on_another_port_is_still_refused(desk):
    refusal(guarded("127.0.0.1:1"), f"{desk.base}/picture")
    assert desk.requests == []


def test_without_public_only_loopback_is_fetched_as_before(desk):
    assert Fetcher(attempts=1).get(f"{desk.base}/picture").body == PICTURE


def test_an_http_error_through_the_guard_is_reported_as_before(desk):
    with pytest.raises(FetchFailed) as caught:
        guarded("127.0.0.1").get(f"{desk.base}/missing")
    assert caught.value.status == 404 and not caught.value.transient


def test_a_refusal_is_not_retried(desk):
    waits: list[float] = []
    fetcher = guarded(attempts=3, sleep=waits.append)
    refusal(fetcher, f"{desk.base}/picture")
    assert waits == [] and fetcher.requests == 1


def test_a_redirect_from_an_allowed_host_to_a_private_one_is_refused(desk):
    fetcher = guarded(f"127.0.0.1:{desk.port}")
    to = f"http://localhost:{desk.port}/picture"
    failed = refusal(fetcher, f"{desk.base}/redirect?to={to}")
    assert "loopback address" in str(failed)
    assert [path for path, _ in desk.requests] == [f"/redirect?to={to}"]


def test_a_redirect_within_an_allowed_host_is_followed(desk):
    fetcher = guarded(f"127.0.0.1:{desk.port}")
    answer = fetcher.get(f"{desk.base}/redirect?to=/picture")
    assert answer.body == PICTURE and answer.url == f"{desk.base}/picture"


@pytest.mark.parametrize(
    "to", ["file:///etc/passwd", "ftp://127.0.0.1/picture", "data:,hello"]
)
def test_a_redirect_to_anything_but_http_is_refused(desk, to):
    failed = refusal(guarded("127.0.0.1"), f"{desk.base}/redirect?to={to}")
    assert f"a redirect to {to}, not an http or https address" in str(failed)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("10.0.0.5", "a private"),
        ("192.168.1.1", "a private"),
        ("169.254.169.254", "a link-local"),  # cloud metadata
        ("100.64.0.1", "a shared (carrier-grade NAT)"),
        ("0.0.0.0", "an unspecified"),
        ("224.0.0.1", "a multicast"),
        ("240.0.0.1", "a reserved"),
        ("::1", "a loopback"),
        ("fd00::1", "a private"),
        ("fe80::1", "a link-local"),
        ("::ffff:10.0.0.5", "a private"),
        ("::127.0.0.1", "a reserved"),
        ("2002:a00:5::", "a private"),  # 6to4 for 10.0.0.5
        ("64:ff9b::a9fe:a9fe", "a link-local"),  # NAT64 for 169.254.169.254
    ],
)
def test_a_name_resolving_to_a_private_address_is_refused(
    dns, connections, address, kind
):
    dns["pictures.example"] = [[address]]
    failed = refusal(guarded(), "http://pictures.example/a.jpg")
    said = f"pictures.example ({ipaddress.ip_address(address)}) is {kind} address"
    assert said in str(failed)
    assert connections == []


def test_one_private_address_among_public_ones_is_enough_to_refuse(dns, connections):
    dns["pictures.example"] = [["93.184.215.14", "10.0.0.5"]]
    failed = refusal(guarded(), "http://pictures.example/a.jpg")
    assert "10.0.0.5" in str(failed)
    assert connections == []


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_the_connection_goes_to_the_address_checked_not_a_second_answer(
    desk, dns, connections, scheme
):
    # DNS rebinding: public when checked, loopback when asked again to connect.
    dns["rebind.example"] = [["93.184.215.14"], ["127.0.0.1"]]
    with pytest.raises(FetchFailed) as caught:
        guarded().get(f"{scheme}://rebind.example:{desk.port}/picture")
    assert "stopped by the test" in str(caught.value)
    assert connections == [("93.184.215.14", desk.port)]
    assert desk.requests == []


def test_a_pinned_connection_keeps_the_host_name_in_the_request(desk, dns, connections):
    dns["pictures.example"] = [["127.0.0.1"]]
    answer = guarded("pictures.example").get(
        f"http://pictures.example:{desk.port}/picture"
    )
    assert answer.body == PICTURE
    assert desk.requests == [("/picture", f"pictures.example:{desk.port}")]
    assert connections == [("127.0.0.1", desk.port)]


@pytest.mark.parametrize("path", ["/big", "/big?declared", "/packed"])
def test_an_answer_larger_than_max_bytes_fails_for_good(desk, path):
    fetcher = guarded("127.0.0.1")
    with pytest.raises(FetchFailed) as caught:
        fetcher.get(f"{desk.base}{path}", max_bytes=4096)
    assert "the answer is larger than 4 KB" in str(caught.value)
    assert not caught.value.transient
    assert len(fetcher.get(f"{desk.base}/big", max_bytes=10_000).body) == 10_000


@pytest.mark.parametrize("path", ["/slow", "/slow-body"])
def test_a_slow_server_fails_with_the_timeout(desk, path):
    with pytest.raises(FetchFailed) as caught:
        guarded("127.0.0.1", timeout=0.2).get(f"{desk.base}{path}")
    assert "no answer within 0.2 s" in str(caught.value)
    assert caught.value.transient
