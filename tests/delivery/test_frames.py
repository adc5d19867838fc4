"""The last frame of a video for Extend: found by seeking, not by decoding every frame."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from bot.delivery.frames import NoFrame, read_last_frame
from tests.fakes.mp4 import build_mp4, padded_mp4

#: Forty distinct solid colours, one per frame (every frame of the fake MP4 is a key frame).
COLOURS = [(6 * i, 250 - 6 * i, (97 * i) % 256) for i in range(40)]


def close(pixel: object, colour: tuple[int, int, int]) -> bool:
    # I_PCM keeps samples exact; only the YCbCr round trip's rounding is left.
    assert isinstance(pixel, tuple)
    return all(abs(a - b) <= 4 for a, b in zip(pixel, colour, strict=True))


def test_the_last_frame_is_read_after_a_seek_not_a_full_decode(tmp_path: Path) -> None:
    video = tmp_path / "long.mp4"
    video.write_bytes(build_mp4(colours=COLOURS, fps=10))

    frame = read_last_frame(video)

    assert frame.decoded <= 2, f"{frame.decoded} of {len(COLOURS)} frames decoded"
    image = Image.open(io.BytesIO(frame.png))
    assert image.format == "PNG" and image.size == (64, 36)
    assert close(image.convert("RGB").getpixel((32, 18)), COLOURS[-1])


def test_trailing_padding_does_not_hide_the_last_frame(tmp_path: Path) -> None:
    video = tmp_path / "padded.mp4"
    video.write_bytes(padded_mp4(size=256 * 1024, colours=COLOURS[:5]))

    image = Image.open(io.BytesIO(read_last_frame(video).png))

    assert close(image.convert("RGB").getpixel((10, 10)), COLOURS[4])


def test_a_single_frame_video_gives_that_frame(tmp_path: Path) -> None:
    video = tmp_path / "one.mp4"
    video.write_bytes(build_mp4(colours=COLOURS[7:8]))

    image = Image.open(io.BytesIO(read_last_frame(video).png))

    assert close(image.convert("RGB").getpixel((0, 0)), COLOURS[7])


def test_a_file_that_is_not_a_video_has_no_frame(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"<html>not a video</html>")

    with pytest.raises(NoFrame):
        read_last_frame(junk)
