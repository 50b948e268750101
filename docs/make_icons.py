"""Draw the app icons (PNG) with the standard library: python docs/make_icons.py."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "static" / "icons"
NAVY = (0x1D, 0x35, 0x57)
PAPER = (0xF1, 0xFA, 0xEE)
# Lines of "text" on the page, as fractions of the icon: (top, height, width).
LINES = [(0.28, 0.08, 0.50), (0.42, 0.06, 0.50), (0.54, 0.06, 0.50), (0.66, 0.06, 0.34)]


def png(size: int, padding: float) -> bytes:
    """Return a square PNG: navy background, four paper-coloured lines of text."""
    left = padding + 0.25 * (1 - 2 * padding)
    scale = 1 - 2 * padding
    rows = []
    for y in range(size):
        fy = y / size
        row = bytearray()
        for x in range(size):
            fx = x / size
            ink = any(
                padding + top * scale <= fy < padding + (top + height) * scale
                and left <= fx < left + width * scale
                for top, height, width in LINES
            )
            row += bytes(PAPER if ink else NAVY)
        rows.append(b"\x00" + bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    """Write every icon the manifest and the iOS meta tags name."""
    OUT.mkdir(parents=True, exist_ok=True)
    for name, size, padding in [
        ("icon-192.png", 192, 0.0),
        ("icon-512.png", 512, 0.0),
        # Maskable icons keep their content inside the central 80% safe zone.
        ("icon-maskable-512.png", 512, 0.1),
        ("apple-touch-icon.png", 180, 0.0),
    ]:
        (OUT / name).write_bytes(png(size, padding))


if __name__ == "__main__":
    main()
