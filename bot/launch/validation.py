"""Server-side checks of a /sora request: the options and the optional start image.

Discord's option choices are only a client-side hint; a raw interaction can carry any JSON, so
every value is checked again here. Pure functions, no Discord objects: the cog passes in raw
values and bytes, and every refusal is an :class:`InvalidRequest` whose message names the
option and what is allowed without echoing the member's (possibly huge) value back.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from dataclasses import dataclass, field

from PIL import Image

from bot.config import ASPECT_RATIOS, DURATIONS, RESOLUTIONS
from bot.errors import UserError, one_of
from bot.i18n.catalog import Listing, Phrase
from bot.request import VideoOptions

#: Apiframe's prompt limit. It counts UTF-16 code units (a JavaScript string's length), so an
#: emoji outside the Basic Multilingual Plane costs two.
PROMPT_MAX = 4000
MIN_SIDE = 16
MAX_SIDE = 8192
#: Default pixel budget (4096 x 4096). Sora renders at most 1792 x 1024 (1.8 MP), so this is
#: nine times what the model uses and still admits a 12 MP phone photo or a 4K screenshot;
#: Pillow holds 4 bytes a pixel for RGB, so one decoded image stays near 64 MB.
DEFAULT_MAX_PIXELS = 4096 * 4096
_MiB = 1024 * 1024

NOT_AN_IMAGE = "That file is not a PNG, JPEG or WebP image."
DAMAGED_IMAGE = "The start image could not be read: the file is damaged or incomplete."
TOO_MANY_PIXELS = f"The start image is too large: at most {MAX_SIDE} × {MAX_SIDE} pixels."

# (leading bytes, bytes 8-12, Pillow format, MIME type, extension). WebP is a RIFF container, so its
# signature is split around the 4-byte chunk size.
_FORMATS: tuple[tuple[bytes, bytes | None, str, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", None, "PNG", "image/png", "png"),
    (b"\xff\xd8\xff", None, "JPEG", "image/jpeg", "jpg"),
    (b"RIFF", b"WEBP", "WEBP", "image/webp", "webp"),
)


class InvalidRequest(UserError):
    """A /sora option or attachment was refused; nothing has been charged."""


#: The module's fixed refusals, by text, with their catalog keys.
_KEYS = {NOT_AN_IMAGE: "refusal.image_not_image", DAMAGED_IMAGE: "refusal.image_damaged",
         TOO_MANY_PIXELS: "refusal.image_too_large_at_most"}


def _fixed(message: str) -> InvalidRequest:
    return InvalidRequest(message, key=_KEYS[message],
                          params={"side": MAX_SIDE} if message == TOO_MANY_PIXELS else None)


@dataclass(frozen=True, slots=True)
class StartImage:
    """A start image whose type came from its bytes and which Pillow decoded in full."""

    data: bytes = field(repr=False)
    mime: str
    width: int
    height: int
    extension: str


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """A checked start image and its pixels, decoded once for both validation and fitting.

    ``picture`` is the first frame, fully loaded; whoever fits the image closes it, which
    frees its memory at once instead of whenever the garbage collector gets to it.
    """

    source: StartImage
    picture: Image.Image = field(repr=False)
    #: Whether the file holds more frames than the first (animated WebP or APNG).
    animated: bool = False
    #: Whether the stored samples are 16 bits deep (Pillow decodes them to 8 bits or "I;16").
    deep: bool = False


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def check_prompt(prompt: object, limit: int = PROMPT_MAX) -> str:
    """The trimmed prompt, at most ``limit`` characters (the model's; Sora's by default).

    Mentions like ``@everyone`` are allowed: they are only text here, and every message that
    echoes a prompt is sent with mentions disabled."""
    if not isinstance(prompt, str):
        raise InvalidRequest("The prompt must be text.", key="refusal.prompt_not_text")
    text = prompt.strip()
    if not text:
        raise InvalidRequest("The prompt is empty. Describe the video you want.",
                             key="refusal.prompt_empty")
    if len(text) > limit:
        raise InvalidRequest(
            f"The prompt is too long ({len(text):,} characters); the limit is {limit:,}.",
            key="refusal.prompt_too_long", params={"length": len(text), "limit": limit},
        )
    try:
        units = _utf16_length(text)
    except UnicodeEncodeError:
        # A lone surrogate can arrive in JSON ("\ud800") but cannot be encoded for Apiframe.
        raise InvalidRequest("The prompt contains characters that cannot be sent.",
                             key="refusal.prompt_unsendable") from None
    if units > limit:
        raise InvalidRequest(
            f"The prompt is too long ({units:,} characters, counting each emoji or rare symbol "
            f"as two); the limit is {limit:,}.",
            key="refusal.prompt_too_long_emoji", params={"length": units, "limit": limit},
        )
    return text


def parse_options(
    prompt: object, duration: object, aspect_ratio: object, resolution: object
) -> VideoOptions:
    """Validate the /sora options as they arrived; raise :class:`InvalidRequest` if any is off."""
    text = check_prompt(prompt)
    # ``type(...) is`` on purpose: True == 1 and 4.0 == 4 would otherwise slip through.
    if type(duration) is not int or duration not in DURATIONS:
        raise InvalidRequest(f"Duration must be one of {one_of(DURATIONS)} seconds.",
                             key="refusal.duration_choice",
                             params={"choices": Listing(DURATIONS)})
    if type(aspect_ratio) is not str or aspect_ratio not in ASPECT_RATIOS:
        raise InvalidRequest(f"Aspect ratio must be {one_of(ASPECT_RATIOS)}.",
                             key="refusal.aspect_ratio_choice",
                             params={"choices": Listing(ASPECT_RATIOS)})
    if type(resolution) is not str or resolution not in RESOLUTIONS:
        raise InvalidRequest(f"Resolution must be {one_of(RESOLUTIONS)}.",
                             key="refusal.resolution_choice",
                             params={"choices": Listing(RESOLUTIONS)})
    return VideoOptions.sora(text, duration, aspect_ratio, resolution)


def _megabytes(size: int, *, round_up: bool) -> str:
    # Rounded away from the limit, so "11 MB; the limit is 10 MB" never reads "10 MB; 10 MB".
    tenths = size * 10 / _MiB
    value = (math.ceil(tenths) if round_up else math.floor(tenths)) / 10
    return f"{value:g} MB"


def _check_size(size: int, max_bytes: int) -> None:
    if size <= 0:
        raise InvalidRequest("The start image is empty.", key="refusal.image_empty")
    if size > max_bytes:
        shown = _megabytes(size, round_up=True)
        limit = _megabytes(max_bytes, round_up=False)
        raise InvalidRequest(
            f"The start image is too large ({shown}); the limit is {limit}.",
            key="refusal.image_too_heavy", params={"size": shown, "limit": limit},
        )


def check_attachment_meta(size: int, content_type: str | None, max_bytes: int) -> None:
    """A cheap refusal from what Discord declares, before downloading anything.

    Passing this proves nothing: :func:`check_start_image` still judges the bytes. A declared
    image type that is not PNG/JPEG/WebP is let through, since the label may simply be wrong.
    """
    _check_size(size, max_bytes)
    if content_type is not None:
        main = content_type.split(";", 1)[0].strip().lower()
        if not main.startswith("image/"):
            raise _fixed(NOT_AN_IMAGE)


def _sniff(data: bytes) -> tuple[str, str, str] | None:
    for prefix, at_eight, pil_format, mime, extension in _FORMATS:
        if data.startswith(prefix) and (at_eight is None or data[8:12] == at_eight):
            return pil_format, mime, extension
    return None


def _check_dimensions(width: int, height: int) -> None:
    if width < MIN_SIDE or height < MIN_SIDE:
        raise InvalidRequest(
            f"The start image is too small ({width} × {height} pixels); "
            f"it must be at least {MIN_SIDE} pixels on each side.",
            key="refusal.image_too_small",
            params={"width": width, "height": height, "side": MIN_SIDE},
        )
    if width > MAX_SIDE or height > MAX_SIDE:
        raise InvalidRequest(
            f"The start image is too large ({width} × {height} pixels); "
            f"it can be at most {MAX_SIDE} pixels on each side.",
            key="refusal.image_too_large_sides",
            params={"width": width, "height": height, "side": MAX_SIDE},
        )


def _pixels(count: int, *, round_up: bool) -> Phrase:
    if count < 1_000_000:  # an operator may set a tiny budget; "0 megapixels" says nothing
        return Phrase("common.pixels", count)
    # Rounded away from the limit, like _megabytes.
    tenths = count * 10 / 1_000_000
    value = (math.ceil(tenths) if round_up else math.floor(tenths)) / 10
    return Phrase("common.megapixels", params={"value": f"{value:g}"})


def _english(phrase: Phrase) -> str:
    """The English words of a pixel count, for the error's log text."""
    if phrase.count is not None:
        return f"{phrase.count:,} pixel{'' if phrase.count == 1 else 's'}"
    return f"{phrase.params['value']} megapixels"


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        count, limit = _pixels(width * height, round_up=True), _pixels(max_pixels, round_up=False)
        raise InvalidRequest(
            f"The start image has too many pixels ({width} × {height}, "
            f"{_english(count)}); the limit is {_english(limit)}. Please use a smaller image.",
            key="refusal.image_too_many_pixels",
            params={"width": width, "height": height, "count": count, "limit": limit},
        )


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """The canvas size from a WebP's first chunk header, or None if it cannot be read.

    Read by hand because Pillow's WebP opener hands the whole file to libwebp's animation
    decoder, which allocates a canvas of that size before any of our checks could run.
    """
    kind, body = data[12:16], data[20:30]
    if len(body) < 10:
        return None
    if kind == b"VP8 " and body[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", body[6:10])
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X":
        return int.from_bytes(body[4:7], "little") + 1, int.from_bytes(body[7:10], "little") + 1
    return None


def _check_header(width: int, height: int, max_pixels: int) -> None:
    """Every refusal that the header alone can justify, before a pixel is decoded."""
    _check_dimensions(width, height)
    _check_pixels(width, height, max_pixels)


def _decode(data: bytes, pil_format: str, max_pixels: int) -> tuple[Image.Image, bool]:
    """The first frame, loaded, and whether more frames follow."""
    if pil_format == "WEBP":
        size = _webp_size(data)
        if size is None:
            raise _fixed(DAMAGED_IMAGE)
        _check_header(*size, max_pixels)
    # Pillow only warns between MAX_IMAGE_PIXELS and twice that; make the warning an error so
    # a bomb is refused, not decoded. (The filter change is process-wide but only ever makes
    # Pillow stricter, so a concurrent caller cannot be harmed by it.)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[pil_format]) as probe:
                # Sizes come from the header: refuse before decoding a single pixel.
                _check_header(*probe.size, max_pixels)
                probe.verify()
            image = Image.open(io.BytesIO(data), formats=[pil_format])
            try:
                animated = bool(getattr(image, "is_animated", False))
                image.load()  # the first frame only: a start image is one frame
            except BaseException:
                image.close()
                raise
        except InvalidRequest:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _fixed(TOO_MANY_PIXELS) from None
        except Exception:
            # Parsers of hostile input fail in many ways (OSError, SyntaxError, struct.error,
            # ValueError …); each means the same thing to the member.
            raise _fixed(DAMAGED_IMAGE) from None
    return image, animated


def decode_start_image(data: bytes, *, max_bytes: int, max_pixels: int) -> DecodedImage:
    """Judge a downloaded start image by its bytes alone and decode its first frame once.

    Size, type, dimensions and the pixel budget are checked before any pixel is decoded.
    CPU work: call from a worker thread (the bot goes through ``StartImageService``).
    """
    _check_size(len(data), max_bytes)
    sniffed = _sniff(data)
    if sniffed is None:
        raise _fixed(NOT_AN_IMAGE)
    pil_format, mime, extension = sniffed
    picture, animated = _decode(data, pil_format, max_pixels)
    # PNG's IHDR bit depth (byte 24): 16-bit samples are decoded to 8 bits, so the bytes
    # would not be what the bot looked at.
    deep = pil_format == "PNG" and data[24:25] == b"\x10"
    width, height = picture.size
    return DecodedImage(StartImage(data, mime, width, height, extension), picture,
                        animated=animated, deep=deep)


def check_start_image(
    data: bytes, *, filename: str, content_type: str | None, max_bytes: int,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> StartImage:
    """Judge a downloaded start image by its bytes alone (validation only, pixels dropped).

    ``filename`` and ``content_type`` are what the member's client declared; they are
    deliberately ignored (a text file named ``cat.png`` is still text).
    """
    del filename, content_type  # not trusted: the bytes decide
    decoded = decode_start_image(data, max_bytes=max_bytes, max_pixels=max_pixels)
    decoded.picture.close()
    return decoded.source
