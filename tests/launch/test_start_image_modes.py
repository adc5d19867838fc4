"""Start images are one 8-bit RGB(A) frame: animations are reduced to their first frame and
other colour modes converted, whether or not the image also needs fitting."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from bot.launch.imagefit import FittedImage, fit_start_image
from bot.launch.validation import decode_start_image
from tests.launch.test_validation import png_chunk

LIMIT = 10 * 1024 * 1024
PIXELS = 4096 * 4096
RED, GREEN = (255, 0, 0), (0, 255, 0)
FIRST_FRAME = "First frame of the animated image"


def fit(data: bytes, aspect_ratio: str = "16:9", mode: str = "crop") -> FittedImage:
    decoded = decode_start_image(data, max_bytes=LIMIT, max_pixels=PIXELS)
    return fit_start_image(decoded, aspect_ratio, mode, max_bytes=LIMIT, max_pixels=PIXELS)


def opened(fitted: FittedImage) -> Image.Image:
    image = Image.open(io.BytesIO(fitted.image.data))
    image.load()
    return image


def animation(fmt: str, size: tuple[int, int] = (160, 90)) -> bytes:
    frames = [Image.new("RGB", size, RED), Image.new("RGB", size, GREEN)]
    out = io.BytesIO()
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0,
                   **({"lossless": True} if fmt == "WEBP" else {}))
    return out.getvalue()


def encoded(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def png_16_bit(width: int, height: int, colour_type: int, sample: bytes) -> bytes:
    """A 16-bit PNG (Pillow cannot write 16-bit RGB): every pixel is ``sample``."""
    rows = b"".join(b"\x00" + sample * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))


@pytest.mark.parametrize(("fmt", "mime"), [("WEBP", "image/webp"), ("PNG", "image/png")])
def test_an_animation_of_the_right_shape_is_reduced_to_its_first_frame(
    fmt: str, mime: str
) -> None:
    source = animation(fmt)
    assert getattr(Image.open(io.BytesIO(source)), "n_frames", 1) == 2
    fitted = fit(source)
    still = opened(fitted)
    assert getattr(still, "n_frames", 1) == 1 and not getattr(still, "is_animated", False)
    assert (still.format, fitted.image.mime, still.size) == (fmt, mime, (160, 90))
    red, green, blue = still.convert("RGB").getpixel((80, 45))  # type: ignore[misc]
    assert red > 250 and green < 5 and blue < 5  # red, give or take a lossy re-encode
    assert fitted.note == FIRST_FRAME


def test_an_animation_that_needs_fitting_says_both() -> None:
    fitted = fit(animation("WEBP", (120, 90)), "16:9", "crop")
    assert getattr(opened(fitted), "n_frames", 1) == 1
    assert fitted.note == f"{FIRST_FRAME}, centre-cropped from 4:3 to 16:9"


def test_a_cmyk_jpeg_is_converted_to_rgb() -> None:
    cmyk = Image.new("CMYK", (160, 90), (0, 255, 255, 0))  # red in print colours
    fitted = fit(encoded(cmyk, "JPEG", quality=95))
    out = opened(fitted)
    assert (out.format, out.mode, out.size) == ("JPEG", "RGB", (160, 90))
    red, green, blue = out.getpixel((80, 45))  # type: ignore[misc]
    assert red > 240 and green < 15 and blue < 15
    assert fitted.note is None  # a silent repair: the picture is the same


@pytest.mark.parametrize(
    ("image", "params", "mode"),
    [
        (Image.new("P", (160, 90), 1), {"transparency": 0}, "RGBA"),
        (Image.new("P", (160, 90), 1), {}, "RGB"),
        (Image.new("LA", (160, 90), (128, 200)), {}, "RGBA"),
        (Image.new("L", (160, 90), 128), {}, "RGB"),
        (Image.new("1", (160, 90), 1), {}, "RGB"),
    ],
    ids=["palette-transparent", "palette", "grey-alpha", "grey", "bilevel"],
)
def test_other_png_modes_become_rgb_or_rgba(
    image: Image.Image, params: dict[str, object], mode: str
) -> None:
    if image.mode == "P":
        image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    fitted = fit(encoded(image, **params))
    out = opened(fitted)
    assert (out.format, out.mode, out.size) == ("PNG", mode, (160, 90))
    assert fitted.note is None


def test_16_bit_pngs_become_8_bit_without_losing_their_tone() -> None:
    grey = fit(png_16_bit(160, 90, 0, struct.pack(">H", 40000)))
    out = opened(grey)
    assert out.mode == "RGB" and grey.image.data[24] == 8  # IHDR bit depth
    assert out.getpixel((80, 45)) == (156, 156, 156)  # 40000 / 257 rounded, not clipped to white

    colour = fit(png_16_bit(160, 90, 2, struct.pack(">HHH", 65535, 32896, 0)))
    assert colour.image.data[24] == 8
    assert opened(colour).getpixel((80, 45)) == (255, 128, 0)


def test_a_plain_rgb_image_of_the_right_shape_is_still_passed_on_untouched() -> None:
    data = encoded(Image.new("RGB", (160, 90), RED))
    decoded = decode_start_image(data, max_bytes=LIMIT, max_pixels=PIXELS)
    fitted = fit_start_image(decoded, "16:9", "pad", max_bytes=LIMIT, max_pixels=PIXELS)
    assert fitted.image is decoded.source and fitted.note is None
