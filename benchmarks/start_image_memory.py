"""Peak memory of 4 start-image requests at once: the old double-decode path vs the bot's.

Run from the repository root::

    .venv/bin/python benchmarks/start_image_memory.py

Each configuration runs in a fresh subprocess that imports the bot (so the figure includes
discord.py and the rest of what a running bot holds), starts 4 requests together, and reports
its peak resident set size (VmHWM from /proc/self/status, or ru_maxrss elsewhere). The images:

- ``bomb``: an 8192 x 8192 PNG of about 200 KiB (the issue's case: a flat colour compresses
  a quarter of a gigabyte of pixels into almost nothing);
- ``budget``: a 4096 x 4096 PNG, exactly the default pixel budget, padded to 9:16 (the most
  memory one accepted request can take).

The baseline is the old path reproduced inline (decode to validate, decode again to fit, plus
exif_transpose's copy), four threads at once, as ``asyncio.to_thread`` ran it.
"""

from __future__ import annotations

import asyncio
import io
import os
import struct
import subprocess
import sys
import tempfile
import threading
import zlib
from pathlib import Path

from common import peak_rss_mb

REQUESTS = 4
TARGET_MB = 300
ROOT = Path(__file__).resolve().parent.parent




# -- images (written by the parent, read by each child) ------------------------------------


def flat_png(width: int, height: int) -> bytes:
    """An RGB PNG of one colour, streamed row by row so the parent never holds the pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = b"\x00" + bytes([30, 90, 160]) * width
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


def gradient_png(side: int) -> bytes:
    from PIL import Image

    picture = Image.linear_gradient("L").resize((side, side)).convert("RGB")
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


# -- what each child runs --------------------------------------------------------------------


def old_check_and_fit(data: bytes) -> None:
    """The path before the fix: two full decodes and a transposed copy, no pixel budget."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as probe:
        probe.verify()
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # validation's decode, kept until this function returns
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()  # fitting's decode
            shown = ImageOps.exif_transpose(opened)
        width, height = shown.size
        fitted = shown.crop((0, 0, width, height * 9 // 16))
        out = io.BytesIO()
        fitted.save(out, "PNG", compress_level=1)


def run_old(data: bytes) -> None:
    threads = [threading.Thread(target=old_check_and_fit, args=(data,))
               for _ in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


async def run_new(data: bytes, aspect_ratio: str, fit: str, max_concurrent: int | None) -> str:
    from bot.config import JobsConfig
    from bot.launch.startimages import StartImageService
    from bot.launch.validation import InvalidRequest

    jobs = JobsConfig()  # the shipped defaults
    service = StartImageService(
        max_bytes=jobs.max_start_image_bytes, max_pixels=jobs.max_start_image_pixels,
        max_concurrent=max_concurrent or jobs.max_concurrent_start_images,
    )
    try:
        outcomes = await asyncio.gather(
            *(service.prepare(data, aspect_ratio, fit) for _ in range(REQUESTS)),
            return_exceptions=True,
        )
    finally:
        service.close()
    refused = sum(isinstance(o, InvalidRequest) for o in outcomes)
    failed = [o for o in outcomes if isinstance(o, BaseException) and o.__class__ is not
              InvalidRequest]
    if failed:
        raise failed[0]
    return f"{REQUESTS - refused} fitted, {refused} refused"


def child(mode: str, path: str) -> None:
    import bot.app  # noqa: F401  (what a running bot has loaded)

    data = Path(path).read_bytes() if path != "-" else b""
    outcome = ""
    if mode == "old":
        run_old(data)
    elif mode == "new":
        outcome = asyncio.run(run_new(data, "9:16", "crop", None))
    elif mode == "new-pad":
        outcome = asyncio.run(run_new(data, "9:16", "pad", None))
    elif mode == "new-pad-unbounded":
        outcome = asyncio.run(run_new(data, "9:16", "pad", REQUESTS))
    print(f"{peak_rss_mb():.0f} {outcome}")


# -- the parent --------------------------------------------------------------------------


def measure(mode: str, path: str) -> tuple[float, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # Our own interpreter and script, with arguments this file chose.
    done = subprocess.run(  # noqa: S603
        [sys.executable, __file__, "--child", mode, path], env=env,
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    peak, _, outcome = done.stdout.strip().partition(" ")
    return float(peak), outcome


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        bomb, budget = Path(tmp, "bomb.png"), Path(tmp, "budget.png")
        bomb.write_bytes(flat_png(8192, 8192))
        budget.write_bytes(gradient_png(4096))
        print(f"bomb: 8192 x 8192 PNG, {bomb.stat().st_size / 1024:.0f} KiB; "
              f"budget: 4096 x 4096 PNG, {budget.stat().st_size / 1024:.0f} KiB; "
              f"{REQUESTS} requests at once in each run\n")
        idle, _ = measure("idle", "-")
        old, _ = measure("old", str(bomb))
        rows = [
            ("bot imported, no request", idle, ""),
            ("old path, 4 x bomb (baseline)", old, "4 decoded twice"),
        ]
        for label, mode, path in (
            ("new path, 4 x bomb", "new", bomb),
            ("new path, 4 x budget, crop 9:16", "new", budget),
            ("new path, 4 x budget, pad 9:16", "new-pad", budget),
            ("  same, without the decode bound", "new-pad-unbounded", budget),
        ):
            peak, outcome = measure(mode, str(path))
            rows.append((label, peak, outcome))
    print(f"{'configuration':<36} {'peak RSS':>9} {'vs baseline':>12}  outcome")
    for label, peak, outcome in rows:
        print(f"{label:<36} {peak:>6.0f} MB {peak / old:>11.2f}x  {outcome}")
    worst = max(peak for label, peak, _ in rows[2:] if "without" not in label)
    verdict = "under" if worst < TARGET_MB else "OVER"
    print(f"\nworst bot configuration: {worst:.0f} MB, {verdict} the {TARGET_MB} MB target "
          f"({old / worst:.1f}x less than the old path)")
    return 0 if worst < TARGET_MB else 1


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
