"""The last frame of a video as a PNG: the start image of an "Extend" job.

PyAV (FFmpeg bindings, installed from wheels) decodes; Pillow encodes. CPU-bound and
blocking: call :func:`read_last_frame` from a worker thread.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import av
from av.container import InputContainer
from av.error import FFmpegError
from av.video.frame import VideoFrame
from av.video.stream import VideoStream


class NoFrame(Exception):
    """The file holds no decodable video frame."""


@dataclass(frozen=True, slots=True)
class LastFrame:
    png: bytes
    #: Frames decoded to find it: the cost of the read, logged by the caller.
    decoded: int


def read_last_frame(path: Path) -> LastFrame:
    """Seek to the last key frame, decode from there to the end, encode the last frame as PNG.

    Only the final group of pictures is decoded, so the cost of a click does not grow with the
    video's length. A file whose index the seek cannot use is decoded from the start instead
    (its size is already capped by the caller's download limit).
    """
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise NoFrame("no video stream")
            stream = container.streams.video[0]
            last, decoded = None, 0
            if stream.duration is not None:
                end = (stream.start_time or 0) + stream.duration
                container.seek(end, stream=stream, backward=True, any_frame=False)
                last, decoded = _decode_to_end(container, stream)
            if last is None:
                container.seek(stream.start_time or 0, stream=stream, backward=True)
                last, more = _decode_to_end(container, stream)
                decoded += more
    except FFmpegError as exc:
        raise NoFrame(f"undecodable video ({type(exc).__name__})") from exc
    if last is None:
        raise NoFrame("no frame decoded")
    out = io.BytesIO()
    # PyAV ships no annotations for to_image (it returns a Pillow image).
    last.to_image().save(out, format="PNG")  # type: ignore[no-untyped-call]
    return LastFrame(out.getvalue(), decoded)


def _decode_to_end(
    container: InputContainer, stream: VideoStream
) -> tuple[VideoFrame | None, int]:
    last, decoded = None, 0
    for frame in container.decode(stream):
        last, decoded = frame, decoded + 1
    return last, decoded
