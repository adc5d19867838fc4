"""The /sora request checks: every option re-validated, start images judged by their bytes."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from bot.config import ASPECT_RATIOS, DURATIONS, RESOLUTIONS
from bot.errors import UserError
from bot.launch.validation import (
    DAMAGED_IMAGE,
    NOT_AN_IMAGE,
    PROMPT_MAX,
    TOO_MANY_PIXELS,
    InvalidRequest,
    StartImage,
    VideoOptions,
    check_attachment_meta,
    check_prompt,
    check_start_image,
    parse_options,
)

MiB = 1024 * 1024
LIMIT = 10 * MiB
EMPTY = "The prompt is empty. Describe the video you want."
DURATION = "Duration must be one of 4, 8, 10, 12 or 15 seconds."
ASPECT = "Aspect ratio must be 16:9 or 9:16."
RESOLUTION = "Resolution must be standard or high."


def refusal(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(InvalidRequest) as info:
        call(*args, **kwargs)
    return str(info.value)


def options(**changes: object) -> VideoOptions:
    values: dict[str, object] = {
        "prompt": "a cat on a skateboard",
        "duration": 4,
        "aspect_ratio": "16:9",
        "resolution": "standard",
    }
    values.update(changes)
    return parse_options(**values)


def image_bytes(fmt: str, size: tuple[int, int] = (64, 48), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (200, 40, 90)[: len(mode)] if mode != "P" else 3).save(buffer, fmt)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A well-formed PNG whose header claims ``width`` x ``height`` over a few bytes of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(bytes(16)))
        + png_chunk(b"IEND", b"")
    )


def start_image(data: bytes, filename: str = "frame.png", content_type: str | None = None) -> Any:
    return check_start_image(data, filename=filename, content_type=content_type, max_bytes=LIMIT)


# -- options --------------------------------------------------------------------------------


def test_valid_options_are_returned_with_the_prompt_trimmed() -> None:
    parsed = options(prompt="  a slow pan over hills \n", duration=15, resolution="high")
    assert parsed == VideoOptions.sora("a slow pan over hills", 15, "16:9", "high")


@pytest.mark.parametrize("duration", DURATIONS)
@pytest.mark.parametrize("aspect_ratio", ASPECT_RATIOS)
@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_every_offered_choice_is_accepted(
    duration: int, aspect_ratio: str, resolution: str
) -> None:
    parsed = options(duration=duration, aspect_ratio=aspect_ratio, resolution=resolution)
    assert (parsed.duration, parsed.aspect_ratio, parsed.resolution) == (
        duration,
        aspect_ratio,
        resolution,
    )


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t \u3000"])
def test_empty_or_blank_prompt_is_refused(prompt: str) -> None:
    assert refusal(options, prompt=prompt) == EMPTY


@pytest.mark.parametrize("prompt", [None, 42, ["a cat"], b"a cat"])
def test_prompt_that_is_not_text_is_refused(prompt: object) -> None:
    assert refusal(options, prompt=prompt) == "The prompt must be text."


def test_prompt_of_exactly_4000_characters_is_accepted() -> None:
    assert options(prompt="a" * PROMPT_MAX).prompt == "a" * PROMPT_MAX
    assert options(prompt=f"  {'b' * PROMPT_MAX}\n").prompt == "b" * PROMPT_MAX  # trimmed first


def test_prompt_of_4001_characters_is_refused_without_echoing_it() -> None:
    assert refusal(options, prompt="a" * 4001) == (
        "The prompt is too long (4,001 characters); the limit is 4,000."
    )
    message = refusal(options, prompt="x" * 100_000)
    assert message == "The prompt is too long (100,000 characters); the limit is 4,000."


def test_astral_characters_count_twice_like_apiframe() -> None:
    # U+1F600 is one Python character but two UTF-16 code units, which is what Apiframe counts.
    assert len(options(prompt="😀" * 2000).prompt) == 2000
    assert refusal(options, prompt="😀" * 2001) == (
        "The prompt is too long (4,002 characters, counting each emoji or rare symbol as two); "
        "the limit is 4,000."
    )
    assert "4,001 characters, counting" in refusal(options, prompt="a" * 3999 + "𝄞")
    assert options(prompt="é" * PROMPT_MAX).prompt == "é" * PROMPT_MAX  # BMP: one unit each


def test_lone_surrogate_from_raw_json_is_refused() -> None:
    assert refusal(options, prompt="a cat \ud800") == (
        "The prompt contains characters that cannot be sent."
    )


@pytest.mark.parametrize("prompt", ["@everyone look at this", "hi <@123> and <@&456> @here"])
def test_mentions_in_a_prompt_are_just_text(prompt: str) -> None:
    assert options(prompt=prompt).prompt == prompt


@pytest.mark.parametrize("duration", [True, False, 4.0, "4", 5, 0, -4, 16, None, [4]])
def test_duration_outside_the_choices_is_refused(duration: object) -> None:
    assert refusal(options, duration=duration) == DURATION


@pytest.mark.parametrize(
    "aspect_ratio", ["16:10", "16:9 ", "9/16", "", None, b"16:9", 1.7778, ["16:9"]]
)
def test_aspect_ratio_outside_the_choices_is_refused(aspect_ratio: object) -> None:
    assert refusal(options, aspect_ratio=aspect_ratio) == ASPECT


@pytest.mark.parametrize("resolution", ["HIGH", "ultra", "", None, 1, True, "standard\x00"])
def test_resolution_outside_the_choices_is_refused(resolution: object) -> None:
    assert refusal(options, resolution=resolution) == RESOLUTION


def test_invalid_request_is_a_user_error() -> None:
    with pytest.raises(UserError):
        options(duration=7)


# Surrogates included: a raw interaction's JSON can carry a lone "\ud800".
@given(st.text(st.characters(exclude_categories=()), max_size=4100))
def test_any_text_is_either_a_sendable_prompt_or_a_clear_refusal(text: str) -> None:
    try:
        prompt = check_prompt(text)
    except InvalidRequest as exc:
        assert str(exc).startswith("The prompt ") and len(str(exc)) < 200
    else:
        assert prompt == text.strip() and prompt
        assert len(prompt.encode("utf-16-le")) // 2 <= PROMPT_MAX


# -- attachment metadata (before downloading) -----------------------------------------------


@pytest.mark.parametrize(
    "content_type", [None, "image/png", "IMAGE/JPEG", "image/webp; charset=binary", "image/gif"]
)
def test_metadata_of_a_plausible_image_passes(content_type: str | None) -> None:
    check_attachment_meta(1234, content_type, LIMIT)  # raises if refused


@pytest.mark.parametrize("content_type", ["text/plain", "video/mp4", "application/pdf", ""])
def test_declared_non_image_is_refused_before_downloading(content_type: str) -> None:
    assert refusal(check_attachment_meta, 1234, content_type, LIMIT) == NOT_AN_IMAGE


def test_declared_size_over_the_cap_is_refused_before_downloading() -> None:
    assert refusal(check_attachment_meta, LIMIT + 1, "image/png", LIMIT) == (
        "The start image is too large (10.1 MB); the limit is 10 MB."
    )
    assert refusal(check_attachment_meta, 25 * MiB, "image/png", 5 * MiB // 2) == (
        "The start image is too large (25 MB); the limit is 2.5 MB."
    )
    check_attachment_meta(LIMIT, "image/png", LIMIT)  # exactly the cap is fine
    assert refusal(check_attachment_meta, 0, "image/png", LIMIT) == "The start image is empty."


# -- start image bytes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "mime", "extension"),
    [("PNG", "image/png", "png"), ("JPEG", "image/jpeg", "jpg"), ("WEBP", "image/webp", "webp")],
)
def test_real_images_are_accepted_with_their_dimensions(
    fmt: str, mime: str, extension: str
) -> None:
    data = image_bytes(fmt, (640, 360))
    result = start_image(data, filename="whatever.bin", content_type="application/octet-stream")
    assert result == StartImage(data, mime, 640, 360, extension)
    assert str(len(data)) not in repr(result) and "data" not in repr(result)


def test_type_comes_from_the_bytes_not_the_name_or_declared_type() -> None:
    jpeg = image_bytes("JPEG")
    result = start_image(jpeg, filename="cat.png", content_type="image/png")
    assert (result.mime, result.extension) == ("image/jpeg", "jpg")


def test_text_file_named_png_is_refused() -> None:
    text = b"definitely a picture of a cat, trust me\n" * 10
    assert refusal(start_image, text, "cat.png", "image/png") == NOT_AN_IMAGE


def test_gif_is_refused() -> None:
    assert refusal(start_image, image_bytes("GIF", mode="P"), "cat.gif", "image/gif") == (
        NOT_AN_IMAGE
    )


def test_riff_that_is_not_webp_is_refused() -> None:
    wave = b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + bytes(64)
    assert refusal(start_image, wave) == NOT_AN_IMAGE


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_image_is_refused(fmt: str) -> None:
    data = image_bytes(fmt, (256, 256), mode="RGB")
    assert refusal(start_image, data[: len(data) // 2]) == DAMAGED_IMAGE


def test_magic_bytes_followed_by_garbage_are_refused() -> None:
    assert refusal(start_image, b"\x89PNG\r\n\x1a\n" + bytes(200)) == DAMAGED_IMAGE
    assert refusal(start_image, b"\xff\xd8\xff" + b"\x00" * 200) == DAMAGED_IMAGE
    assert refusal(start_image, b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(64)) == DAMAGED_IMAGE


def test_png_with_a_bad_checksum_is_refused() -> None:
    data = bytearray(image_bytes("PNG", (32, 32)))
    data[29] ^= 0xFF  # inside IHDR's CRC
    assert refusal(start_image, bytes(data)) == DAMAGED_IMAGE


def test_oversized_image_is_refused_by_its_byte_count() -> None:
    data = image_bytes("PNG", (64, 64))
    message = refusal(
        check_start_image, data, filename="a.png", content_type=None, max_bytes=len(data) - 1
    )
    assert message.startswith("The start image is too large (") and "the limit is" in message
    assert refusal(start_image, b"") == "The start image is empty."


@pytest.mark.parametrize(("width", "height"), [(15, 100), (100, 15), (1, 1)])
def test_tiny_dimensions_are_refused(width: int, height: int) -> None:
    assert refusal(start_image, image_bytes("PNG", (width, height))) == (
        f"The start image is too small ({width} × {height} pixels); "
        "it must be at least 16 pixels on each side."
    )


def test_smallest_and_largest_allowed_sides_are_accepted() -> None:
    small = start_image(image_bytes("PNG", (16, 16)))
    assert (small.width, small.height) == (16, 16)
    wide = start_image(image_bytes("PNG", (8192, 16), mode="L"))
    assert (wide.width, wide.height) == (8192, 16)


def test_huge_dimensions_are_refused_from_the_header_before_decoding() -> None:
    # The header claims 9000 px but the data is a few bytes: decoding would fail, so the
    # precise message proves the refusal came from the header.
    assert refusal(start_image, png_header_only(9000, 100)) == (
        "The start image is too large (9000 × 100 pixels); "
        "it can be at most 8192 pixels on each side."
    )


@pytest.mark.parametrize(("width", "height"), [(10_000, 10_000), (20_000, 20_000)])
def test_decompression_bomb_header_is_refused(width: int, height: int) -> None:
    # 100 M pixels is Pillow's warning zone, 400 M its hard error: both are refused.
    assert refusal(start_image, png_header_only(width, height)) == TOO_MANY_PIXELS


# -- pixel budget (judged from the header, before decoding) ---------------------------------


def webp_header_only(kind: bytes, width: int, height: int) -> bytes:
    """A WebP whose first chunk header claims ``width`` x ``height`` over no picture data."""
    if kind == b"VP8X":
        body = bytes(4) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    elif kind == b"VP8L":
        body = b"\x2f" + ((width - 1) | (height - 1) << 14).to_bytes(4, "little") + bytes(5)
    else:
        body = b"\x00\x00\x00\x9d\x01\x2a" + struct.pack("<HH", width, height)
    chunk = kind + struct.pack("<I", len(body)) + body + bytes(16)
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def test_pixel_budget_is_judged_from_the_header_before_decoding() -> None:
    # 67 MP under the side limit: before the budget, this was decoded (and failed only
    # because the data is missing); now the header alone refuses it.
    assert refusal(start_image, png_header_only(8192, 8192)) == (
        "The start image has too many pixels (8192 × 8192, 67.2 megapixels); the limit is "
        "16.7 megapixels. Please use a smaller image."
    )


@pytest.mark.parametrize("kind", [b"VP8 ", b"VP8L", b"VP8X"])
def test_webp_pixel_budget_is_read_from_its_chunk_header(kind: bytes) -> None:
    # Pillow's WebP opener allocates the canvas as it opens, so the bot reads the size itself.
    assert "too many pixels (5000 × 4000, 20 megapixels)" in refusal(
        start_image, webp_header_only(kind, 5000, 4000)
    )
    # A plausible size passes the header and then fails as the damaged file it is.
    assert refusal(start_image, webp_header_only(kind, 640, 360)) == DAMAGED_IMAGE


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_an_image_of_exactly_the_budget_is_accepted(fmt: str) -> None:
    data = image_bytes(fmt, (64, 48))
    checked = check_start_image(data, filename="x", content_type=None, max_bytes=LIMIT,
                                max_pixels=64 * 48)
    assert (checked.width, checked.height) == (64, 48)
    assert "too many pixels (64 × 48, 3,072 pixels); the limit is 3,071 pixels" in refusal(
        check_start_image, data, filename="x", content_type=None, max_bytes=LIMIT,
        max_pixels=64 * 48 - 1,
    )
