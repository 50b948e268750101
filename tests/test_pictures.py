"""Pictures: what is refused and why, what an original is, and that every rendition
is upright, sRGB, the width asked for, and free of metadata.

Every picture here is made by the test, with Pillow or byte by byte.
"""

import io
import struct
import zlib

import pytest
from PIL import ExifTags, Image, ImageCms, ImageDraw

from readerapp import pictures
from readerapp.pictures import Original, PictureRefused

SECRET = "Hidden Lane 7, Westbury"  # metadata that must never reach a reader


def encoded(image: Image.Image, kind: str = "JPEG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


def marked(size: tuple[int, int] = (400, 300)) -> Image.Image:
    """A grey picture with a red top-left corner, to tell which way is up."""
    image = Image.new("RGB", size, (128, 128, 128))
    ImageDraw.Draw(image).rectangle((0, 0, size[0] // 4, size[1] // 4), "red")
    return image


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def near(colour, expected, within: int = 24) -> bool:
    return all(abs(a - b) <= within for a, b in zip(colour, expected, strict=True))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data))
    )


def handmade_png(
    width: int, height: int, depth: int, colour: int, rows: bytes
) -> bytes:
    """A PNG written byte by byte, for what Pillow will not write (16-bit RGB) or
    should never be asked to allocate (a header declaring a huge size)."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def swapped_primaries_profile() -> bytes:
    """An ICC v2 RGB profile whose red is sRGB's blue and whose blue is sRGB's red:
    a picture red in its numbers is blue to the eye."""

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(
            struct.pack(">i", round(v * 65536)) for v in (x, y, z)
        )

    text = b"Swapped primaries (test)"
    tags = [
        (b"desc", b"desc\0\0\0\0" + struct.pack(">I", len(text) + 1) + text + b"\0"
         + b"\0" * 8 + b"\0\0\0" + b"\0" * 67),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.1431, 0.0606, 0.7141)),  # sRGB's blue
        (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)),
        (b"bXYZ", xyz(0.4361, 0.2225, 0.0139)),  # sRGB's red
        (b"rTRC", b"curv\0\0\0\0\0\0\0\0"),  # identity curves
        (b"gTRC", b"curv\0\0\0\0\0\0\0\0"),
        (b"bTRC", b"curv\0\0\0\0\0\0\0\0"),
    ]  # fmt: skip
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (
        struct.pack(">I", size) + b"\0\0\0\0" + bytes([2, 0x10, 0, 0])
        + b"mntr" + b"RGB " + b"XYZ " + b"\0" * 12 + b"acsp" + b"\0" * 24
        + struct.pack(">I", 0) + xyz(0.9642, 1.0, 0.8249)[8:] + b"\0" * 48
    )  # fmt: skip
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def exif_with(orientation: int | None = None, gps: bool = False) -> Image.Exif:
    exif = Image.Exif()
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.ImageDescription] = SECRET
    if gps:
        place = exif.get_ifd(ExifTags.IFD.GPSInfo)
        place[ExifTags.GPS.GPSLatitudeRef] = "N"
        place[ExifTags.GPS.GPSLatitude] = (51.0, 30.0, 12.5)
        place[ExifTags.GPS.GPSLongitudeRef] = "W"
        place[ExifTags.GPS.GPSLongitude] = (0.0, 7.0, 39.0)
    return exif


# What is refused


def refusal(data: bytes) -> str:
    with pytest.raises(PictureRefused) as caught:
        pictures.inspect(data)
    with pytest.raises(PictureRefused):
        pictures.render(data, 160, "jpeg")
    return str(caught.value)


def test_an_empty_file_is_refused():
    assert "empty" in refusal(b"")


@pytest.mark.parametrize(
    "data",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- drawn -->\n<svg width="10"/>',
        b'  <!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd"><svg/>',
    ],
)
def test_an_svg_drawing_is_refused_since_a_script_could_ride_in_it(data):
    assert "SVG drawing" in refusal(data)


def test_an_html_page_served_as_a_picture_is_refused():
    said = refusal(b"<!doctype html>\n<html><body><img src=x></body></html>")
    assert said == "an HTML page, not a picture"


@pytest.mark.parametrize(
    "data",
    [
        encoded(Image.new("RGB", (40, 30)), "EPS"),
        encoded(Image.new("RGB", (40, 30)), "PDF"),
        encoded(Image.new("RGB", (40, 30)), "ICO"),
        encoded(Image.new("RGB", (40, 30)), "BMP"),
        b"8BPS\0\1" + b"\0" * 6 + struct.pack(">HIIHH", 3, 30, 40, 8, 3) + b"\0" * 64,
        b"PK\3\4 a zip file",
    ],
    ids=["eps", "pdf", "ico", "bmp", "psd", "zip"],
)
def test_other_formats_are_refused_without_pillow_opening_them(data, monkeypatch):
    from PIL import EpsImagePlugin

    def opened(self):
        raise AssertionError("Pillow's EPS reader was asked")

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", opened)
    assert "not a picture of a kind we serve" in refusal(data)


@pytest.mark.parametrize(
    "data",
    [
        encoded(marked(), "JPEG", quality=90)[:-800],
        encoded(marked(), "JPEG", progressive=True)[:-800],
        encoded(Image.effect_noise((200, 150), 60), "PNG")[:-300],
    ],
    ids=["jpeg", "progressive-jpeg", "png"],
)
def test_a_truncated_picture_is_refused(data):
    said = refusal(data)
    assert said.startswith("a damaged") and "truncated" in said


def test_a_picture_damaged_inside_is_refused():
    data = bytearray(encoded(Image.effect_noise((200, 150), 60), "PNG"))
    data[200:260] = b"\xff" * 60  # inside the compressed pixels: the CRC fails
    assert refusal(bytes(data)).startswith("a damaged PNG file")


@pytest.mark.parametrize(
    ("width", "height"),
    [(60_000, 60_000), (10_000, 10_000), (8_000, 6_500)],
    ids=["beyond-pillows-limit", "where-pillow-warns", "beyond-ours-only"],
)
def test_a_decompression_bomb_is_refused_before_decoding(width, height):
    # A header declaring the size, and a few rows of pixels: nothing is allocated.
    data = handmade_png(width, height, 8, 0, b"\0" * 1000)
    said = refusal(data)
    assert str(width) in said or "too many pixels" in said


def test_a_picture_just_under_the_pixel_limit_is_measured_not_refused():
    # Declared within the limit, but its pixels are cut short: refused as damaged,
    # which shows the size check let it through to the decoder.
    data = handmade_png(7_000, 7_000, 1, 0, b"\0" * 1000)
    assert "damaged" in refusal(data)


# What an original is


@pytest.mark.parametrize(
    ("save_as", "options", "kind"),
    [
        ("JPEG", {}, "jpeg"),
        ("PNG", {}, "png"),
        ("GIF", {}, "gif"),
        ("WEBP", {}, "webp"),
        ("AVIF", {}, "avif"),
        ("TIFF", {"compression": "tiff_deflate"}, "tiff"),
        ("MPO", {"save_all": True, "append_images": [marked()]}, "jpeg"),
    ],
)
def test_the_kind_is_what_the_bytes_are(save_as, options, kind):
    found = pictures.inspect(encoded(marked(), save_as, **options))
    assert found == Original(kind, 400, 300, found.tint, False, False)


@pytest.mark.parametrize("orientation", [6, 8])
def test_a_turned_photo_is_measured_and_rendered_upright(orientation):
    data = encoded(marked((400, 300)), "JPEG", exif=exif_with(orientation))
    found = pictures.inspect(data)
    assert (found.width, found.height) == (300, 400)

    upright = decoded(pictures.render(data, 300, "jpeg")).convert("RGB")
    assert upright.size == (300, 400)
    # Orientation 6 turns the picture clockwise to show it, 8 anticlockwise: the
    # red corner moves to the top right or the bottom left.
    red_at = (290, 10) if orientation == 6 else (10, 390)
    assert near(upright.getpixel(red_at), (255, 0, 0), 40)
    assert near(upright.getpixel((10, 10)), (128, 128, 128), 40)


def test_damaged_exif_does_not_stop_a_picture():
    # An orientation, then a tag whose text lies past the end: Pillow warns about
    # the tag, and the test run's warnings-as-errors must not turn that into one.
    tiff = (
        b"II*\0\x08\0\0\0"
        + struct.pack("<H", 2)
        + struct.pack("<HHII", 0x0112, 3, 1, 6)
        + struct.pack("<HHII", 0x010E, 2, 100, 0x1000)
        + b"\0\0\0\0"
    )
    data = encoded(marked((400, 300)), "JPEG", exif=b"Exif\0\0" + tiff)
    assert pictures.inspect(data).width == 300
    assert decoded(pictures.render(data, 160, "jpeg")).size == (160, 213)


@pytest.mark.parametrize("save_as", ["GIF", "WEBP"])
def test_an_animation_is_flagged_and_served_as_its_first_frame(save_as):
    frames = [Image.new("RGB", (200, 100), colour) for colour in ("red", "blue")]
    data = encoded(
        frames[0], save_as, save_all=True, append_images=frames[1:], duration=80
    )
    found = pictures.inspect(data)
    assert found.animated and found.kind == save_as.lower()
    for kind in pictures.formats():
        still = decoded(pictures.render(data, 160, kind))
        assert getattr(still, "n_frames", 1) == 1
        assert near(still.convert("RGB").getpixel((80, 40)), (255, 0, 0))


def test_the_tint_is_the_nearest_of_the_palette_to_the_average_colour():
    assert len(pictures.TINTS) == len(set(pictures.TINTS)) == 27
    data = encoded(Image.new("RGB", (300, 200), (0x30, 0x7A, 0xC0)), "PNG")
    assert pictures.TINTS[pictures.inspect(data).tint] == "#3377bb"
    half = Image.new("RGB", (300, 200), "white")
    half.paste((0, 0, 0), (0, 0, 150, 200))  # averages to a middle grey
    assert pictures.TINTS[pictures.inspect(encoded(half, "PNG")).tint] == "#777777"


def test_transparency_is_found_only_where_a_pixel_shows_through():
    opaque = Image.new("RGBA", (100, 100), (200, 30, 30, 255))
    assert not pictures.inspect(encoded(opaque, "PNG")).has_alpha
    holed = opaque.copy()
    holed.putpixel((50, 50), (0, 0, 0, 0))
    assert pictures.inspect(encoded(holed, "PNG")).has_alpha


# What a rendition is


def test_widths_never_exceed_the_original():
    assert pictures.widths_for(100) == (100,)
    assert pictures.widths_for(160) == (160,)
    assert pictures.widths_for(700) == (160, 320, 480, 640, 700)
    assert pictures.widths_for(1920) == pictures.WIDTHS
    assert pictures.widths_for(5000) == pictures.WIDTHS
    with pytest.raises(ValueError):
        pictures.widths_for(0)


def test_a_width_wider_than_the_original_is_not_made():
    data = encoded(marked((300, 200)))
    with pytest.raises(ValueError) as caught:
        pictures.render(data, 480, "jpeg")
    assert not isinstance(caught.value, PictureRefused)
    with pytest.raises(ValueError):
        pictures.render(data, 250, "jpeg")  # not one of its widths either


def test_formats_are_best_first_and_each_has_a_content_type():
    assert pictures.formats()[-2:] == ("webp", "jpeg")
    assert pictures.formats()[0] == "avif"  # this Pillow was built with AVIF
    assert [pictures.content_type(kind) for kind in pictures.formats()] == [
        "image/avif",
        "image/webp",
        "image/jpeg",
    ]
    with pytest.raises(ValueError):
        pictures.render(encoded(marked()), 160, "png")


@pytest.mark.parametrize("width", [160, 320, 400])
@pytest.mark.parametrize("kind", ["avif", "webp", "jpeg"])
def test_a_rendition_is_the_kind_and_width_asked_for(kind, width):
    made = decoded(pictures.render(encoded(marked((400, 300))), width, kind))
    assert made.format == kind.upper()
    assert made.size == (width, width * 3 // 4)


def test_a_big_jpeg_is_decoded_at_a_reduced_scale(monkeypatch):
    big = Image.effect_noise((4000, 3000), 30).convert("RGB")
    data = encoded(big, "JPEG", quality=80)
    resized: list[tuple[int, int]] = []
    resize = Image.Image.resize

    def spy(self, size, *args, **kwargs):
        resized.append(self.size)
        return resize(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", spy)
    made = decoded(pictures.render(data, 480, "jpeg"))
    assert made.size == (480, 360)
    # Decoded at 1/8 scale, the smallest still at least 480 wide, then resampled.
    assert resized == [(500, 375)]


@pytest.mark.parametrize("kind", ["avif", "webp", "jpeg"])
def test_no_metadata_reaches_a_rendition(kind):
    xmp = f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><p>{SECRET}</p></x:xmpmeta>'.encode()
    data = encoded(
        marked(),
        "JPEG",
        exif=exif_with(gps=True),
        xmp=xmp,
        comment=SECRET.encode(),
        icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
    )
    original = decoded(data)
    assert original.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the test's own check
    assert {"exif", "xmp", "comment", "icc_profile"} <= set(original.info)

    made = pictures.render(data, 320, kind)
    rendition = decoded(made)
    assert not rendition.getexif()
    assert not rendition.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert not {"exif", "xmp", "comment", "icc_profile"} & set(rendition.info)
    assert SECRET.encode() not in made and b"Exif\0\0" not in made


def test_colours_from_a_wide_gamut_profile_are_converted_to_srgb():
    profile = swapped_primaries_profile()
    data = encoded(
        Image.new("RGB", (200, 100), (255, 0, 0)), "PNG", icc_profile=profile
    )
    made = decoded(pictures.render(data, 160, "webp"))
    assert "icc_profile" not in made.info
    assert near(made.convert("RGB").getpixel((80, 50)), (0, 0, 255), 40)
    assert pictures.TINTS[pictures.inspect(data).tint] == "#3333bb"


def test_a_profile_that_cannot_be_read_is_dropped_and_the_picture_kept():
    data = encoded(
        Image.new("RGB", (200, 100), (255, 0, 0)), "JPEG", icc_profile=b"junk" * 40
    )
    made = decoded(pictures.render(data, 160, "jpeg"))
    assert near(made.getpixel((80, 50)), (255, 0, 0))


def test_a_cmyk_jpeg_comes_out_in_rgb():
    # Pillow writes CMYK JPEGs the way Adobe does, inverted; red is C0 M100 Y100 K0.
    data = encoded(Image.new("CMYK", (200, 100), (0, 255, 255, 0)), "JPEG")
    assert decoded(data).info.get("adobe") is not None
    for kind in pictures.formats():
        made = decoded(pictures.render(data, 160, kind))
        assert near(made.convert("RGB").getpixel((80, 40)), (255, 0, 0), 32)


def test_sixteen_bit_grey_is_scaled_to_eight_bits_not_clipped():
    data = encoded(Image.new("I;16", (200, 100), 40_000), "PNG")
    assert decoded(data).mode == "I;16"
    made = decoded(pictures.render(data, 160, "jpeg"))
    assert made.mode == "L" and abs(made.getpixel((80, 40)) - 40_000 / 257) <= 3
    assert pictures.TINTS[pictures.inspect(data).tint] == "#bbbbbb"


def test_sixteen_bit_colour_is_read():
    pixel = struct.pack(">HHH", 50_000, 20_000, 1_000)
    data = handmade_png(200, 100, 16, 2, (b"\0" + pixel * 200) * 100)
    made = decoded(pictures.render(data, 160, "webp"))
    assert near(made.convert("RGB").getpixel((80, 40)), (194, 78, 4), 6)


def test_a_palette_picture_with_a_transparent_colour_keeps_it_but_in_jpeg():
    image = Image.new("P", (200, 100), 1)
    image.putpalette([0, 0, 0, 200, 40, 40] + [0] * 762)
    image.paste(0, (0, 0, 100, 100))  # left half: colour 0, transparent
    data = encoded(image, "PNG", transparency=0)
    assert pictures.inspect(data).has_alpha
    for kind in ("avif", "webp"):
        made = decoded(pictures.render(data, 160, kind)).convert("RGBA")
        assert made.getpixel((20, 40))[3] == 0 and made.getpixel((140, 40))[3] == 255
    flat = decoded(pictures.render(data, 160, "jpeg"))
    assert flat.mode == "RGB"
    assert near(flat.getpixel((20, 40)), (255, 255, 255))  # onto white
    assert near(flat.getpixel((140, 40)), (200, 40, 40))


@pytest.mark.parametrize("mode", ["L", "LA", "1", "RGBA", "P"])
def test_every_common_mode_renders(mode):
    image = marked((200, 100)).convert(mode)
    for kind in pictures.formats():
        made = decoded(pictures.render(encoded(image, "PNG"), 160, kind))
        assert made.size == (160, 80)
