"""The last frame of a video as a PNG: the start image of an "Extend" job.

PyAV (FFmpeg bindings, installed from wheels) decodes; Pillow encodes. CPU-bound and
blocking: call :func:`last_frame_png` from a worker thread.
"""

from __future__ import annotations

import io
from pathlib import Path

import av
from av.error import FFmpegError


class NoFrame(Exception):
    """The file holds no decodable video frame."""


def last_frame_png(path: Path) -> bytes:
    """Decode every frame of the first video stream and encode the last one as PNG.

    Decoding runs to the end rather than seeking: after a seek the decoder can only start at
    a key frame, and the true last frame is found reliably only by reading on to the end.
    """
    last = None
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise NoFrame("no video stream")
            for frame in container.decode(container.streams.video[0]):
                last = frame
    except FFmpegError as exc:
        raise NoFrame(f"undecodable video ({type(exc).__name__})") from exc
    if last is None:
        raise NoFrame("no frame decoded")
    out = io.BytesIO()
    # PyAV ships no annotations for to_image (it returns a Pillow image).
    last.to_image().save(out, format="PNG")  # type: ignore[no-untyped-call]
    return out.getvalue()
