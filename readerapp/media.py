"""The media folder: pictures kept on the site, served as static files.

An original is stored once per content, named by the digest of its bytes
(`originals/ab/abcd…`). A rendition (one width in one format) is made from it the
first time a browser asks for it and kept (`renditions/ab/abcd…/480.webp`), to be
served as a plain file ever after: Wagtail's renditions, made on first request, so
that an import pays for reading each picture once and not for every size of it.
Rendition URLs never change meaning (the digest names the content), so they are
cached by browsers for a year, like the hashed static files.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flask import Flask

from . import pictures
from .security import HEADERS

DIGEST_LENGTH = 32  # hex digits of SHA-256: 128 bits name a picture
PREFIX = "/media/"
_RENDITION = re.compile(r"^/media/([0-9a-f]{32})/([0-9]{2,4})\.([a-z]{3,4})$")
_IMMUTABLE = "public, max-age=31536000, immutable"


def digest_of(data: bytes) -> str:
    """Return the name a picture's bytes are kept under."""
    return hashlib.sha256(data).hexdigest()[:DIGEST_LENGTH]


def rendition_url(digest: str, width: int, kind: str) -> str:
    """Return the site path of one rendition of a kept picture."""
    return f"{PREFIX}{digest}/{width}.{kind}"


def saving_data(save_data: str | None, ect: str | None) -> bool:
    """Tell from a request's Save-Data and ECT headers whether its reader asked to
    save data, or is on a 2G-class network: such readers get smaller pictures."""
    return (save_data or "").strip().lower() == "on" or (
        (ect or "").strip().lower() in ("slow-2g", "2g")
    )


class MediaFolder:
    """The files of the kept pictures: originals, and renditions made from them."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._making: dict[Path, threading.Lock] = {}
        self._guard = threading.Lock()

    def original(self, digest: str) -> Path:
        return self.root / "originals" / digest[:2] / digest

    def renditions(self, digest: str) -> Path:
        return self.root / "renditions" / digest[:2] / digest

    def keep(self, data: bytes) -> str:
        """Store an original (once: the same bytes twice are one file); return its
        digest."""
        digest = digest_of(data)
        path = self.original(digest)
        if not path.exists():
            _write_atomically(path, data)
        return digest

    def remove(self, digest: str) -> None:
        """Delete an original and every rendition made from it."""
        self.original(digest).unlink(missing_ok=True)
        shutil.rmtree(self.renditions(digest), ignore_errors=True)

    def rendition(self, digest: str, width: int, kind: str) -> Path | None:
        """Return the file of one rendition, making it first if need be; None when
        there is no such picture, width or format."""
        if kind not in pictures.formats():
            return None
        path = self.renditions(digest) / f"{width}.{kind}"
        if path.is_file():
            return path
        original = self.original(digest)
        if not original.is_file():
            return None
        # Two readers asking at once for a rendition not made yet: one makes it.
        with self._guard:
            lock = self._making.setdefault(path, threading.Lock())
        try:
            with lock:
                if not path.is_file():
                    made = pictures.render(original.read_bytes(), width, kind)
                    _write_atomically(path, made)
        except (ValueError, pictures.PictureRefused):
            return None
        finally:
            with self._guard:
                self._making.pop(path, None)
        return path

    def usage(self) -> tuple[int, int]:
        """Return the bytes of the originals and of the renditions on disk."""
        return _bytes_under(self.root / "originals"), _bytes_under(
            self.root / "renditions"
        )

    def digests(self) -> Iterable[str]:
        """Yield the digest of every original on disk."""
        folder = self.root / "originals"
        if folder.is_dir():
            for path in folder.glob("??/*"):
                if len(path.name) == DIGEST_LENGTH:
                    yield path.name


def _bytes_under(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _write_atomically(path: Path, data: bytes) -> None:
    """Write a file whole or not at all: a reader never gets half a picture."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


StartResponse = Callable[..., Any]


class MediaFiles:
    """WSGI middleware: answer /media/ requests from the media folder, ahead of
    Flask, the way a static file server would.

    The renditions asked for most stay in memory with their headers (they never
    change: the digest names the content), up to `memory` bytes, so an answer
    costs a dictionary lookup, as a hello world's does.
    """

    def __init__(
        self,
        wsgi_app: Callable[..., Any],
        folder: MediaFolder,
        memory: int = 32 * 1024 * 1024,
    ) -> None:
        self.wsgi_app = wsgi_app
        self.folder = folder
        self.memory = memory
        self._held: dict[str, tuple[list[tuple[str, str]], bytes]] = {}
        self._held_bytes = 0
        self._lock = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX):
            return self.wsgi_app(environ, start_response)
        method = environ["REQUEST_METHOD"]
        if method not in ("GET", "HEAD"):
            return _answer(
                start_response, "405 Method Not Allowed", [("Allow", "GET, HEAD")]
            )
        held = self._held.get(path) or self._load(path)
        if held is None:
            return _answer(start_response, "404 Not Found")
        headers, body = held
        if environ.get("HTTP_IF_NONE_MATCH", "").strip() == headers[-1][1]:
            start_response("304 Not Modified", headers[:-2] + headers[-1:])
            return []
        start_response("200 OK", headers)
        return [] if method == "HEAD" else [body]

    def _load(self, path: str) -> tuple[list[tuple[str, str]], bytes] | None:
        """Read a rendition (making it first if need be) and hold it in memory."""
        found = _RENDITION.match(path)
        file = found and self.folder.rendition(found[1], int(found[2]), found[3])
        if not file:
            return None
        # Renditions are small (tens of KB, a few hundred at most): read whole.
        body = file.read_bytes()
        headers = [
            *HEADERS.items(),
            ("Cache-Control", _IMMUTABLE),
            ("Content-Type", pictures.content_type(found[3])),
            ("Content-Length", str(len(body))),
            ("ETag", f'"{found[1]}-{found[2]}{found[3]}"'),
        ]
        with self._lock:
            if path not in self._held and len(body) <= self.memory:
                while self._held_bytes + len(body) > self.memory:
                    oldest = next(iter(self._held))
                    self._held_bytes -= len(self._held.pop(oldest)[1])
                self._held[path] = (headers, body)
                self._held_bytes += len(body)
        return headers, body


def _answer(
    start_response: StartResponse, status: str, extra: list[tuple[str, str]] = ()
) -> Iterable[bytes]:
    body = status.split(" ", 1)[1].encode()
    start_response(
        status,
        [
            *HEADERS.items(),
            *extra,
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]


def init_app(app: Flask) -> None:
    """Serve the media folder at /media/, in front of everything else."""
    folder = MediaFolder(app.config["MEDIA_DIR"])
    app.extensions["media"] = folder
    app.wsgi_app = MediaFiles(app.wsgi_app, folder)
