"""Start-image fitting (bot/launch/imagefit.py): shapes, pixels kept, formats, refusals, the
note."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageCms

from bot.delivery import render
from bot.launch.imagefit import (
    FittedImage,
    check_fit_mode,
    crop_box,
    fit_start_image,
    pad_canvas,
    ratio_text,
)
from bot.launch.validation import DecodedImage, InvalidRequest, decode_start_image
from tests.delivery.test_render import make_job

LIMIT = 10 * 1024 * 1024
PIXELS = 4096 * 4096
LEFT, MIDDLE, RIGHT = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def start_image(data: bytes) -> DecodedImage:
    return decode_start_image(data, max_bytes=LIMIT, max_pixels=PIXELS)


def thirds(width: int, height: int) -> Image.Image:
    """Red, green and blue vertical thirds: shows which part a crop kept."""
    image = Image.new("RGB", (width, height), MIDDLE)
    image.paste(LEFT, (0, 0, width // 3, height))
    image.paste(RIGHT, (width - width // 3, 0, width, height))
    return image


def decoded(fitted: FittedImage) -> Image.Image:
    image = Image.open(io.BytesIO(fitted.image.data))
    image.load()
    return image


def test_a_4_3_image_is_centre_cropped_to_9_16() -> None:
    original = thirds(800, 600)
    fitted = fit_start_image(start_image(encode(original)), "9:16", "crop", max_bytes=LIMIT,
                             max_pixels=PIXELS)

    out = decoded(fitted)
    assert out.format == "PNG" and out.size == (338, 600)
    assert (fitted.image.width, fitted.image.height, fitted.image.mime) == (338, 600, "image/png")
    # The middle of the picture was kept, pixel for pixel; the side thirds are gone.
    assert ImageChops.difference(out, original.crop((231, 0, 569, 600))).getbbox() is None
    assert crop_box(800, 600, (9, 16)) == (231, 0, 569, 600)
    assert fitted.note == "Start image centre-cropped from 4:3 to 9:16"


def test_a_portrait_image_is_cropped_top_and_bottom_for_16_9() -> None:
    assert crop_box(600, 800, (16, 9)) == (0, 231, 600, 569)
    fitted = fit_start_image(start_image(encode(thirds(600, 800))), "16:9", "crop",
                             max_bytes=LIMIT, max_pixels=PIXELS)
    assert decoded(fitted).size == (600, 338)
    assert fitted.note == "Start image centre-cropped from 3:4 to 16:9"


def test_pad_keeps_the_whole_image_between_black_bars() -> None:
    original = thirds(800, 600)
    fitted = fit_start_image(start_image(encode(original)), "9:16", "pad", max_bytes=LIMIT,
                             max_pixels=PIXELS)

    out = decoded(fitted)
    assert out.size == pad_canvas(800, 600, (9, 16)) == (800, 1422)
    top = (1422 - 600) // 2
    assert ImageChops.difference(out.crop((0, top, 800, top + 600)), original).getbbox() is None
    assert out.crop((0, 0, 800, top)).getcolors() == [(800 * top, (0, 0, 0))]
    assert out.crop((0, top + 600, 800, 1422)).getcolors() == [(800 * (1422 - top - 600),
                                                                (0, 0, 0))]
    assert fitted.note == "Start image padded from 4:3 to 9:16 (black bars)"


def test_pad_to_16_9_adds_side_bars() -> None:
    fitted = fit_start_image(start_image(encode(thirds(600, 600))), "16:9", "pad",
                             max_bytes=LIMIT, max_pixels=PIXELS)
    out = decoded(fitted)
    assert out.size == (1067, 600)
    assert out.getpixel((0, 300)) == (0, 0, 0) and out.getpixel((1066, 300)) == (0, 0, 0)
    assert out.getpixel((233, 300)) == LEFT and out.getpixel((832, 300)) == RIGHT
    assert fitted.note == "Start image padded from 1:1 to 16:9 (black bars)"


@pytest.mark.parametrize(("size", "ratio"), [((1280, 720), "16:9"), ((1280, 721), "16:9"),
                                             ((720, 1280), "9:16"), ((1079, 1920), "9:16")])
@pytest.mark.parametrize("mode", ["crop", "pad"])
def test_an_image_of_the_right_shape_is_untouched(
    size: tuple[int, int], ratio: str, mode: str
) -> None:
    image = start_image(encode(thirds(*size)))
    fitted = fit_start_image(image, ratio, mode, max_bytes=LIMIT, max_pixels=PIXELS)
    assert fitted.image is image.source and fitted.note is None


def test_jpeg_stays_a_faithful_jpeg_with_its_colour_profile() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    original = thirds(640, 480)
    data = encode(original, "JPEG", quality=95, icc_profile=profile)
    fitted = fit_start_image(start_image(data), "16:9", "crop", max_bytes=LIMIT, max_pixels=PIXELS)

    out = decoded(fitted)
    assert (out.format, out.size, fitted.image.mime) == ("JPEG", (640, 360), "image/jpeg")
    assert out.info.get("icc_profile") == profile
    # One high-quality re-encode: every channel stays within a few levels of the source.
    source = Image.open(io.BytesIO(data)).convert("RGB").crop((0, 60, 640, 420))
    difference = ImageChops.difference(out.convert("RGB"), source)
    assert max(difference.tobytes()) <= 24


def test_exif_orientation_decides_the_shape() -> None:
    # Stored 800 x 600 but tagged "rotate 90°": members see a 600 x 800 portrait image.
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(thirds(800, 600), "JPEG", quality=95, exif=exif.tobytes())
    fitted = fit_start_image(start_image(data), "9:16", "crop", max_bytes=LIMIT, max_pixels=PIXELS)
    assert decoded(fitted).size == (450, 800)
    assert fitted.note == "Start image centre-cropped from 3:4 to 9:16"


def test_webp_and_transparent_palette_png_are_padded_opaque() -> None:
    webp = fit_start_image(start_image(encode(thirds(400, 300), "WEBP", quality=90)), "16:9",
                           "pad", max_bytes=LIMIT, max_pixels=PIXELS)
    assert (decoded(webp).format, decoded(webp).size) == ("WEBP", (533, 300))

    palette = Image.new("P", (300, 300), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.info["transparency"] = 0
    padded = fit_start_image(start_image(encode(palette, transparency=0)), "9:16", "pad",
                             max_bytes=LIMIT, max_pixels=PIXELS)
    out = decoded(padded)
    assert out.size == (300, 533) and out.mode == "RGBA"
    assert out.getpixel((150, 0)) == (0, 0, 0, 255)
    assert out.getpixel((150, 266)) == (255, 0, 0, 255)


def test_impossible_fits_are_refused_clearly() -> None:
    thin = start_image(encode(Image.new("RGB", (2000, 16))))
    with pytest.raises(InvalidRequest, match="too narrow to crop to 9:16; choose fit: pad"):
        fit_start_image(thin, "9:16", "crop", max_bytes=LIMIT, max_pixels=PIXELS)
    with pytest.raises(InvalidRequest, match="would exceed 8192 pixels"):
        fit_start_image(start_image(encode(Image.new("RGB", (8000, 16)))), "9:16", "pad",
                        max_bytes=LIMIT, max_pixels=PIXELS)
    # Noise compresses badly: padded, the re-encoded file no longer fits the upload cap.
    noise = start_image(encode(Image.effect_noise((300, 300), 100).convert("RGB")))
    with pytest.raises(InvalidRequest, match="too large"):
        fit_start_image(noise, "16:9", "pad", max_bytes=len(noise.source.data) + 10,
                        max_pixels=PIXELS)


@pytest.mark.parametrize("value", ["stretch", "CROP", "", 1, None])
def test_unknown_fit_modes_are_refused(value: object) -> None:
    with pytest.raises(InvalidRequest, match="fit must be crop or pad"):
        check_fit_mode(value)
    image = start_image(encode(thirds(800, 600)))
    with pytest.raises(InvalidRequest):
        fit_start_image(image, "16:9", str(value), max_bytes=LIMIT, max_pixels=PIXELS)


@pytest.mark.parametrize(("size", "text"), [((800, 600), "4:3"), ((1000, 700), "10:7"),
                                            ((2390, 1000), "2.39:1"), ((1000, 2390), "1:2.39"),
                                            ((1920, 1200), "16:10"), ((1001, 1000), "1:1")])
def test_ratio_text(size: tuple[int, int], text: str) -> None:
    assert ratio_text(*size) == text


def test_the_result_card_says_how_the_start_image_was_fitted() -> None:
    note = "Start image centre-cropped from 4:3 to 9:16"
    embed = render.result_embed(make_job(start_image_note=note))
    assert [f.value for f in embed.fields if f.name == "Start image"] == [note]
    plain = render.result_embed(make_job())
    assert "Start image" not in [f.name for f in plain.fields]
