"""Pictures: check what a site sent, and make the renditions readers get (the only
`import PIL`).

A picture is trusted for nothing: its kind is what Pillow finds in the bytes, only
six kinds are ever opened, its declared size is checked before any pixel is
decoded, and every rendition is made from pixels alone, so no metadata (EXIF with
its GPS position, XMP, comments, colour profiles) reaches a reader.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

from PIL import ExifTags, Image, ImageCms, UnidentifiedImageError

# CSS px x DPR: 800 is what most phones ask of a full-width picture (360-414 x 2).
WIDTHS: tuple[int, ...] = (160, 320, 480, 640, 800, 960, 1280, 1920)
MAX_PIXELS: int = 50_000_000  # declared width x height above this is refused
# 3 levels per channel, muted as photographs' average colours are; .tint-N in CSS.
_LEVELS = (0x33, 0x77, 0xBB)
TINTS: tuple[str, ...] = tuple(
    f"#{red:02x}{green:02x}{blue:02x}"
    for red in _LEVELS
    for green in _LEVELS
    for blue in _LEVELS
)
_GREY_TINT = TINTS.index("#777777")

# Pillow format -> our kind. MPO is how Pillow names a phone's JPEG with extra
# pictures (depth maps, previews) in it; the first picture is an ordinary JPEG.
_KINDS = {
    "JPEG": "jpeg",
    "MPO": "jpeg",
    "PNG": "png",
    "GIF": "gif",
    "WEBP": "webp",
    "AVIF": "avif",
    "TIFF": "tiff",
}
_OPENED_AS = ["JPEG", "PNG", "GIF", "WEBP", "AVIF", "TIFF"]
_ANIMATABLE = frozenset({"gif", "png", "webp", "avif"})
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_TURNED = frozenset({5, 6, 7, 8})  # orientations that swap width and height
_SIXTEEN_BIT = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})

# Settings for phones on the web: each about as small as the format allows before
# faces and text soften. AVIF at speed 8 encodes 960 px wide in about 45 ms on two
# cores; speed 6 makes files about 5% smaller in three times as long.
_ENCODINGS: dict[str, dict[str, object]] = {
    "avif": {"format": "AVIF", "quality": 55, "speed": 8},
    "webp": {"format": "WEBP", "quality": 75, "method": 4},
    "jpeg": {"format": "JPEG", "quality": 78, "progressive": True, "optimize": True},
}
_CONTENT_TYPES = {"avif": "image/avif", "webp": "image/webp", "jpeg": "image/jpeg"}


class PictureRefused(ValueError):
    """A file that is not a picture we serve, with the reason in words."""


@dataclass(frozen=True, slots=True)
class Original:
    """What a picture is, as found in its bytes.

    Animated pictures are served as their first frame, still: a reader scrolling
    a story on a phone pays for every frame, and the first one is what a story's
    editor sees when choosing it.
    """

    kind: str  # 'jpeg' | 'png' | 'gif' | 'webp' | 'avif' | 'tiff'
    width: int  # as displayed, EXIF orientation applied
    height: int
    tint: int  # index into TINTS of its average colour
    has_alpha: bool  # some pixel is not fully opaque
    animated: bool


@dataclass(slots=True)
class _Opened:
    image: Image.Image
    kind: str
    orientation: int
    width: int  # as displayed
    height: int
    animated: bool


def inspect(data: bytes) -> Original:
    """Decode a picture once, wholly, and say what it is.

    Raises PictureRefused for anything that is not a whole picture of an
    allowed kind and size.
    """
    opened = _open(data)
    with _reading(opened.kind):
        # The smallest decode that still reads every byte: JPEG at 1/8 scale.
        image = _decoded(opened, (1, 1))
        image = _eight_bit(image)
        has_alpha = image.mode == "RGBA"
        small = image.reduce(max(1, min(image.size) // 32))
        small = _in_srgb(small, opened.image.info.get("icc_profile"))
        average = small.convert("RGBA").resize((1, 1), Image.Resampling.BOX)
    red, green, blue, alpha = average.getpixel((0, 0))
    return Original(
        kind=opened.kind,
        width=opened.width,
        height=opened.height,
        tint=_nearest_tint(red, green, blue) if alpha else _GREY_TINT,
        has_alpha=has_alpha,
        animated=opened.animated,
    )


@cache
def formats() -> tuple[str, ...]:
    """Return the rendition formats this Pillow can write, best first."""
    found = []
    for kind in _ENCODINGS:
        try:
            Image.new("RGB", (8, 8)).save(io.BytesIO(), **_ENCODINGS[kind])
        except (KeyError, OSError, ValueError):
            continue
        found.append(kind)
    return tuple(found)


def widths_for(width: int) -> tuple[int, ...]:
    """Return the rendition widths for a picture this wide, never wider than it."""
    if width < 1:
        raise ValueError(f"a picture is at least 1 px wide, not {width}")
    widest = min(width, WIDTHS[-1])
    return tuple(w for w in WIDTHS if w < widest) + (widest,)


def render(data: bytes, width: int, kind: str) -> bytes:
    """Make one rendition: upright, sRGB, `width` px wide, no metadata at all.

    Raises ValueError for a kind not in formats() or a width not in
    widths_for(the picture's width), and PictureRefused for a bad picture.
    """
    if kind not in formats():
        raise ValueError(f"not a rendition format here: {kind!r}; {formats()=}")
    opened = _open(data)
    if width not in widths_for(opened.width):
        raise ValueError(
            f"{width} px is not a rendition width of a picture {opened.width} px"
            f" wide: {widths_for(opened.width)}"
        )
    height = max(1, round(opened.height * width / opened.width))
    stored = (height, width) if opened.orientation in _TURNED else (width, height)
    with _reading(opened.kind):
        image = _decoded(opened, stored)
        image = _eight_bit(image)
        if image.size != stored:
            # reducing_gap first shrinks by a whole factor (fast), then resamples
            # the last 3x or less with Lanczos, which looks the same as all of it.
            image = image.resize(stored, Image.Resampling.LANCZOS, reducing_gap=3.0)
        if opened.orientation in _UPRIGHT:
            image = image.transpose(_UPRIGHT[opened.orientation])
        image = _in_srgb(image, opened.image.info.get("icc_profile"))
        image = _for_format(image, kind)
    image.info = {}  # savers copy comments and profiles from here
    out = io.BytesIO()
    image.save(out, **_ENCODINGS[kind])
    return out.getvalue()


def content_type(kind: str) -> str:
    """Return the Content-Type a rendition of this kind is served with."""
    return _CONTENT_TYPES[kind]


@contextmanager
def _reading(kind: str) -> Iterator[None]:
    """Turn anything Pillow raises while reading a picture into PictureRefused.

    Pillow warns about what it skips in damaged metadata (EXIF, APNG, MPO headers)
    and still reads the pixels; only its warnings are silenced, so warnings about
    our own calls still show. catch_warnings is process-wide, not per thread: two
    threads here at once can at worst leave this same filter in place.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"PIL\.")
        try:
            yield
        except PictureRefused:
            raise
        except Image.DecompressionBombError as error:
            raise PictureRefused(f"too many pixels: {error}") from error
        except Exception as error:
            # Decoders meet hostile bytes here; whatever they raise, the picture
            # is refused rather than failing the caller with a stranger error.
            said = str(error) or type(error).__name__
            raise PictureRefused(f"a damaged {kind.upper()} file: {said}") from error


def _open(data: bytes) -> _Opened:
    """Identify a picture from its header and check its size, decoding nothing."""
    _refuse_markup(data)
    with _reading("picture"):
        try:
            image = Image.open(io.BytesIO(data), formats=_OPENED_AS)
        except UnidentifiedImageError:
            raise PictureRefused(
                "not a picture of a kind we serve (JPEG, PNG, GIF, WebP, AVIF, TIFF)"
            ) from None
        kind = _KINDS[image.format or ""]
        width, height = image.size
        if width < 1 or height < 1:
            raise PictureRefused(f"a picture of {width}x{height} pixels")
        if width * height > MAX_PIXELS:
            raise PictureRefused(
                f"{width}x{height} pixels, more than the {MAX_PIXELS:,} we decode"
            )
    with _reading(kind):
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
        if not isinstance(orientation, int) or orientation not in _UPRIGHT:
            orientation = 1
        animated = kind in _ANIMATABLE and bool(getattr(image, "is_animated", False))
    if orientation in _TURNED:
        width, height = height, width
    return _Opened(image, kind, orientation, width, height, animated)


def _refuse_markup(data: bytes) -> None:
    if not data:
        raise PictureRefused("an empty file, not a picture")
    start = data[:4096].lstrip(b"\xef\xbb\xbf\x00 \t\r\n").lower()
    if not start.startswith(b"<"):
        return
    if b"<svg" in start:
        raise PictureRefused(
            "an SVG drawing: not served, since a script could ride in it"
        )
    if any(tag in start for tag in (b"<html", b"<!doctype html", b"<head", b"<body")):
        raise PictureRefused("an HTML page, not a picture")
    raise PictureRefused("a text document in markup, not a picture")


def _decoded(opened: _Opened, stored: tuple[int, int]) -> Image.Image:
    """Decode the first frame, a JPEG at the smallest scale still >= `stored`."""
    image = opened.image
    image.draft(None, stored)  # only JPEG can; other decoders ignore it
    image.load()
    return image


def _eight_bit(image: Image.Image) -> Image.Image:
    """Return the picture as L, RGB, RGBA or CMYK, 8 bits a channel."""
    if image.mode in _SIXTEEN_BIT:
        # convert("L") would clip everything above 255 to white; scale instead.
        image = image.convert("I").point(lambda value: value * (1 / 257))
        return image.convert("L")
    if image.has_transparency_data:
        image = image if image.mode == "RGBA" else image.convert("RGBA")
        opaque = image.getchannel("A").getextrema()[0] == 255
        return image.convert("RGB") if opaque else image
    if image.mode in ("L", "RGB", "CMYK"):
        return image
    if image.mode == "1":
        return image.convert("L")
    return image.convert("RGB")  # P, YCbCr and the rarer modes TIFF allows


@cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _in_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Return the picture in sRGB, what browsers assume: as L, RGB or RGBA.

    A profile that cannot be read, or does not fit the pixels, is dropped and the
    colours taken as sRGB already, as they are when Pillow was built without
    LittleCMS: the picture still shows, a little off at worst.
    """
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc)) if icc else None
        if profile and "srgb" not in ImageCms.getProfileDescription(profile).lower():
            wanted = "RGBA" if image.mode == "RGBA" else "RGB"
            image = ImageCms.profileToProfile(
                image, profile, _srgb(), outputMode=wanted
            )
    except (ImageCms.PyCMSError, ImportError, OSError, ValueError):
        pass
    return image.convert("RGB") if image.mode == "CMYK" else image


def _for_format(image: Image.Image, kind: str) -> Image.Image:
    """Return pixels the format stores as they are: alpha kept but for JPEG."""
    if image.mode == "RGBA" and kind == "jpeg":
        white = Image.new("RGBA", image.size, "white")
        return Image.alpha_composite(white, image).convert("RGB")
    if image.mode == "L" and kind == "avif":
        # Grey AVIF (4:0:0) is the path browsers' decoders have got wrong before
        # (libavif#1481); as colour it costs a few hundred bytes.
        return image.convert("RGB")
    return image


def _nearest_tint(red: int, green: int, blue: int) -> int:
    def level(value: int) -> int:
        return min(range(3), key=lambda i: abs(_LEVELS[i] - value))

    return level(red) * 9 + level(green) * 3 + level(blue)
