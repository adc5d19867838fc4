"""Fit a start image to the video's aspect ratio before it is uploaded.

Sora stretches or refuses a first frame whose shape differs from the video's, so the image is
centre-cropped (default) or padded with black bars to exactly 16:9 or 9:16. Pixels are not
resampled: crop only removes, pad only adds (unless the padded canvas would exceed the pixel
budget: then the image is scaled down first), and the image is re-encoded in its own format at
high quality (PNG stays lossless).

A start image is one 8-bit RGB(A) frame: Apiframe documents nothing about other modes and
video models are trained on RGB, so an animated image is reduced to its first frame (what a
viewer sees first, said on the result card) and CMYK, palette, grey, 16-bit and other modes
are converted to RGB, or RGBA where the image has transparency. Pure CPU work on a decoded
image: call from a worker thread (the bot goes through ``StartImageService``).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, ImageOps

from bot.launch.validation import (
    MAX_SIDE,
    MIN_SIDE,
    DecodedImage,
    InvalidRequest,
    StartImage,
    _check_size,
)

CROP, PAD = "crop", "pad"
FIT_MODES = (CROP, PAD)

#: A start image within this relative distance of the target ratio is left alone: a pixel of
#: rounding (1280x721) is not worth a re-encode.
RATIO_TOLERANCE = 0.01

# Names members recognise; anything else is shown as a reduced fraction or as "N.NN:1".
_NAMED_RATIOS = ((1, 1), (4, 3), (3, 4), (3, 2), (2, 3), (5, 4), (4, 5), (16, 9), (9, 16),
                 (16, 10), (10, 16), (21, 9), (9, 21), (2, 1), (1, 2))
_MAX_FRACTION_TERM = 32

_PIL_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
_ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")


@dataclass(frozen=True, slots=True)
class FittedImage:
    """The image to upload, and the sentence for the job's embed (None when untouched)."""

    image: StartImage
    note: str | None


def check_fit_mode(value: object) -> str:
    """The fit option, re-validated: a raw interaction can carry any value."""
    if type(value) is not str or value not in FIT_MODES:
        raise InvalidRequest("fit must be crop or pad.", key="refusal.fit_choice")
    return value


#: An aspect ratio that names a shape ("16:9"), as opposed to a mode such as "adaptive".
_SHAPE = re.compile(r"[1-9][0-9]{0,3}:[1-9][0-9]{0,3}")


def parse_ratio(aspect_ratio: str) -> tuple[int, int]:
    """``"16:9"`` -> ``(16, 9)``."""
    width, _, height = aspect_ratio.partition(":")
    return int(width), int(height)


def ratio_text(width: int, height: int) -> str:
    """A shape as members say it: ``4:3``, ``7:5`` or ``2.35:1``."""
    actual = width / height
    for w, h in _NAMED_RATIOS:
        if abs(actual - w / h) <= RATIO_TOLERANCE * (w / h):
            return f"{w}:{h}"
    divisor = math.gcd(width, height)
    w, h = width // divisor, height // divisor
    if max(w, h) <= _MAX_FRACTION_TERM:
        return f"{w}:{h}"
    return f"{actual:.2f}:1" if actual >= 1 else f"1:{1 / actual:.2f}"


def matches(width: int, height: int, target: tuple[int, int]) -> bool:
    wanted = target[0] / target[1]
    return abs(width / height - wanted) <= RATIO_TOLERANCE * wanted


def crop_box(width: int, height: int, target: tuple[int, int]) -> tuple[int, int, int, int]:
    """The largest centred box of the target shape inside ``width`` x ``height``."""
    tw, th = target
    if width * th > height * tw:  # too wide: trim the sides
        new_w = max(1, round(height * tw / th))
        left = (width - new_w) // 2
        return left, 0, left + new_w, height
    new_h = max(1, round(width * th / tw))
    top = (height - new_h) // 2
    return 0, top, width, top + new_h


def pad_canvas(width: int, height: int, target: tuple[int, int]) -> tuple[int, int]:
    """The smallest canvas of the target shape that holds ``width`` x ``height``."""
    tw, th = target
    if width * th > height * tw:  # too wide: add bars above and below
        return width, max(height, round(width * th / tw))
    return max(width, round(height * tw / th)), height


def fit_start_image(decoded: DecodedImage, aspect_ratio: str, mode: str, *,
                    max_bytes: int, max_pixels: int) -> FittedImage:
    """``decoded`` fitted to ``aspect_ratio`` ("16:9" / "9:16") by ``mode`` (crop / pad).

    The shape is judged as the image is displayed (after its EXIF orientation). A matching
    RGB(A) still image is returned as is, bytes untouched. Raises :class:`InvalidRequest`
    when the result would be too small, too large, or over ``max_bytes``. Consumes
    ``decoded``: its pixels are closed on return, and each intermediate image as soon as
    the next exists, so at most two copies are ever held. An empty ``aspect_ratio`` (a model
    that follows its image's shape), or one that is not a shape (Seedance's ``adaptive``),
    keeps the shape.
    """
    wanted = parse_ratio(aspect_ratio) if _SHAPE.fullmatch(aspect_ratio) else None
    mode = check_fit_mode(mode)
    source = decoded.source
    pil_format = _PIL_FORMATS[source.mime]
    with _holding(decoded.picture) as holder:
        icc = holder.image.info.get("icc_profile")
        if holder.image.mode == "CMYK":
            icc = None  # a CMYK profile would mislabel the converted RGB pixels
        converted = _to_rgb(holder)
        ImageOps.exif_transpose(holder.image, in_place=True)
        width, height = holder.image.size
        target = wanted or (width, height)
        notes = ["First frame of the animated image"] if decoded.animated else []
        if matches(width, height, target):
            if not (converted or decoded.animated or decoded.deep):
                return FittedImage(source, None)
        elif mode == CROP:
            holder.replace(holder.image.crop(crop_box(width, height, target)))
            if min(holder.image.size) < MIN_SIDE:
                raise InvalidRequest(
                    f"The start image is too narrow to crop to {aspect_ratio}; choose fit: pad.",
                    key="refusal.too_narrow_to_crop", params={"ratio": aspect_ratio},
                )
            notes.append(f"centre-cropped from {ratio_text(width, height)} to {aspect_ratio}")
        else:
            canvas = pad_canvas(width, height, target)
            if max(canvas) > MAX_SIDE:
                raise InvalidRequest(
                    f"Padded to {aspect_ratio}, the start image would exceed {MAX_SIDE} pixels "
                    "on a side; choose fit: crop or use a smaller image.",
                    key="refusal.too_large_to_pad",
                    params={"ratio": aspect_ratio, "side": MAX_SIDE},
                )
            note = f"padded from {ratio_text(width, height)} to {aspect_ratio} (black bars)"
            if canvas[0] * canvas[1] > max_pixels:
                canvas = _shrink_to_budget(holder, target, max_pixels)
                note += f", scaled down to {canvas[0]} × {canvas[1]}"
            holder.replace(_pad(holder.image, canvas))
            notes.append(note)
        fitted = holder.image
        data = _encode(fitted, pil_format, icc if isinstance(icc, bytes) else None)
    _check_size(len(data), max_bytes)
    out = StartImage(data, source.mime, fitted.width, fitted.height, source.extension)
    return FittedImage(out, _sentence(notes))


def _sentence(notes: list[str]) -> str | None:
    if not notes:
        return None
    if notes[0].startswith("First frame"):
        return ", ".join(notes)
    return "Start image " + ", ".join(notes)


class _Holder:
    """The one current image; replacing it closes the previous one (frees its pixels now)."""

    def __init__(self, image: Image.Image) -> None:
        self.image = image

    def replace(self, image: Image.Image) -> None:
        if image is not self.image:
            self.image.close()
            self.image = image


@contextmanager
def _holding(image: Image.Image) -> Iterator[_Holder]:
    holder = _Holder(image)
    try:
        yield holder
    finally:
        holder.image.close()


def _to_rgb(holder: _Holder) -> bool:
    """Make the image 8-bit RGB, or RGBA if it has transparency; whether anything changed."""
    image = holder.image
    has_alpha = image.mode in _ALPHA_MODES or "transparency" in image.info
    if image.mode == "RGBA" or (image.mode == "RGB" and not has_alpha):
        return False
    if image.mode.startswith("I;16") or image.mode == "I":
        # 16-bit grey: scale 0-65535 to 0-255 (a plain convert would clip it to white).
        holder.replace(image.convert("I").point(lambda v: v / 257 + 0.5).convert("L"))
        image = holder.image
    holder.replace(image.convert("RGBA" if has_alpha else "RGB"))
    return True


def _shrink_to_budget(holder: _Holder, target: tuple[int, int],
                      max_pixels: int) -> tuple[int, int]:
    """Scale the image down by a whole factor so that its padded canvas fits ``max_pixels``;
    the new canvas size.

    The video model renders at most 1792 x 1024, so nothing it could use is lost; the
    alternative, refusing, would turn away a phone photo padded to portrait. ``reduce``
    (box averaging in one pass) rather than ``resize``: a Lanczos resize holds a third,
    half-scaled copy, which is what the pixel budget is there to prevent.
    """
    width, height = holder.image.size
    factor = 2
    while True:
        small = (-(-width // factor), -(-height // factor))  # reduce() rounds up
        canvas = pad_canvas(*small, target)
        if canvas[0] * canvas[1] <= max_pixels:
            break
        factor += 1
    holder.replace(holder.image.reduce(factor))
    return canvas


def _pad(image: Image.Image, canvas: tuple[int, int]) -> Image.Image:
    # Opaque black: a transparent first frame would render as whatever colour the video
    # service assumes. The image is RGB or RGBA here (see _to_rgb).
    black = (0, 0, 0, 255) if image.mode == "RGBA" else (0, 0, 0)
    padded = Image.new(image.mode, canvas, black)
    padded.paste(image, ((canvas[0] - image.width) // 2, (canvas[1] - image.height) // 2))
    return padded


def _encode(image: Image.Image, pil_format: str, icc: bytes | None) -> bytes:
    out = io.BytesIO()
    extra: dict[str, object] = {"icc_profile": icc} if icc else {}
    if pil_format == "JPEG":
        if image.mode not in ("L", "RGB", "CMYK"):
            image = image.convert("RGB")
        # Full chroma and high quality: one re-encode of an already lossy image stays faithful.
        image.save(out, format="JPEG", quality=95, subsampling=0, **extra)
    elif pil_format == "WEBP":
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.mode else "RGB")
        image.save(out, format="WEBP", quality=95, method=4, **extra)
    else:
        image.save(out, format="PNG", **extra)
    return out.getvalue()
