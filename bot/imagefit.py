"""Fit a start image to the video's aspect ratio before it is uploaded.

Sora stretches or refuses a first frame whose shape differs from the video's, so the image is
centre-cropped (default) or padded with black bars to exactly 16:9 or 9:16. Pixels are never
resampled: crop only removes, pad only adds, and the image is re-encoded in its own format at
high quality (PNG stays lossless). Pure CPU work on bytes: call from a worker thread.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image, ImageOps

from bot.validation import MAX_SIDE, MIN_SIDE, InvalidRequest, StartImage, _check_size

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


@dataclass(frozen=True, slots=True)
class FittedImage:
    """The image to upload, and the sentence for the job's embed (None when untouched)."""

    image: StartImage
    note: str | None


def check_fit_mode(value: object) -> str:
    """The fit option, re-validated: a raw interaction can carry any value."""
    if type(value) is not str or value not in FIT_MODES:
        raise InvalidRequest("fit must be crop or pad.")
    return value


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


def fit_start_image(image: StartImage, aspect_ratio: str, mode: str, *,
                    max_bytes: int) -> FittedImage:
    """``image`` fitted to ``aspect_ratio`` ("16:9" / "9:16") by ``mode`` (crop / pad).

    The shape is judged as the image is displayed (after its EXIF orientation). A matching
    image is returned as is, bytes untouched. Raises :class:`InvalidRequest` when the result
    would be too small, too large, or over ``max_bytes``.
    """
    target = parse_ratio(aspect_ratio)
    mode = check_fit_mode(mode)
    pil_format = _PIL_FORMATS[image.mime]
    with Image.open(io.BytesIO(image.data), formats=[pil_format]) as opened:
        opened.load()
        icc = opened.info.get("icc_profile")
        shown = ImageOps.exif_transpose(opened)
    width, height = shown.size
    if matches(width, height, target):
        return FittedImage(image, None)
    before = ratio_text(width, height)
    if mode == CROP:
        fitted = shown.crop(crop_box(width, height, target))
        if min(fitted.size) < MIN_SIDE:
            raise InvalidRequest(
                f"The start image is too narrow to crop to {aspect_ratio}; choose fit: pad."
            )
        note = f"Start image centre-cropped from {before} to {aspect_ratio}"
    else:
        canvas = pad_canvas(width, height, target)
        if max(canvas) > MAX_SIDE:
            raise InvalidRequest(
                f"Padded to {aspect_ratio}, the start image would exceed {MAX_SIDE} pixels on "
                "a side; choose fit: crop or use a smaller image."
            )
        fitted = _pad(shown, canvas)
        note = f"Start image padded from {before} to {aspect_ratio} (black bars)"
    data = _encode(fitted, pil_format, icc if isinstance(icc, bytes) else None)
    _check_size(len(data), max_bytes)
    out = StartImage(data, image.mime, fitted.width, fitted.height, image.extension)
    return FittedImage(out, note)


def _pad(image: Image.Image, canvas: tuple[int, int]) -> Image.Image:
    if image.mode not in ("L", "LA", "RGB", "RGBA", "CMYK"):
        has_alpha = image.mode in ("PA", "La", "RGBa") or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    # Opaque black in every mode: a transparent first frame would render as whatever colour
    # the video service assumes.
    black: dict[str, int | tuple[int, ...]] = {
        "L": 0, "LA": (0, 255), "RGB": (0, 0, 0), "RGBA": (0, 0, 0, 255), "CMYK": (0, 0, 0, 255),
    }
    padded = Image.new(image.mode, canvas, black[image.mode])
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
