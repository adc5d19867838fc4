"""Decode and fit start images with a bound on how many are in memory at once.

A start image of a few hundred kilobytes can decode to hundreds of megabytes, so the pixel
budget is checked from the header (see :mod:`bot.launch.validation`), each image is decoded once for
validation and fitting together, and at most ``max_concurrent`` of them are worked on at a
time; further requests wait their turn (a few hundred milliseconds each).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from bot.launch.imagefit import FittedImage, fit_start_image
from bot.launch.validation import decode_start_image


def prepare_start_image(
    data: bytes, aspect_ratio: str, fit: str, *, max_bytes: int, max_pixels: int
) -> FittedImage:
    """Check ``data`` and fit it to ``aspect_ratio``, decoding it exactly once. CPU work."""
    decoded = decode_start_image(data, max_bytes=max_bytes, max_pixels=max_pixels)
    return fit_start_image(decoded, aspect_ratio, fit, max_bytes=max_bytes,
                           max_pixels=max_pixels)


#: What does the work; tests substitute one that blocks to observe the bound.
Prepare = Callable[..., FittedImage]


class StartImageService:
    """Owns the decode limit and the threads that decode. Built once per bot in
    ``open_services``, injected as ``services.images``, closed when the services close."""

    def __init__(self, *, max_bytes: int, max_pixels: int, max_concurrent: int,
                 prepare: Prepare = prepare_start_image) -> None:
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self._slots = asyncio.Semaphore(max_concurrent)
        # Its own threads, as many as the bound: each thread that decodes keeps a malloc arena
        # as large as the biggest image it held, so spreading decodes over the loop's shared
        # pool (up to 32 threads) would ratchet memory up far past the bound's figure.
        self._threads = ThreadPoolExecutor(max_concurrent, thread_name_prefix="start-image")
        self._prepare = prepare
        self._waiting = 0

    def close(self) -> None:
        """Stop the threads (a decode under way finishes; queued ones are dropped)."""
        self._threads.shutdown(wait=False, cancel_futures=True)

    @property
    def waiting(self) -> int:
        """Requests waiting for a free slot right now."""
        return self._waiting

    async def prepare(self, data: bytes, aspect_ratio: str, fit: str) -> FittedImage:
        """The checked and fitted image; raises ``InvalidRequest`` with the member's message."""
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            work = asyncio.get_running_loop().run_in_executor(self._threads, functools.partial(
                self._prepare, data, aspect_ratio, fit,
                max_bytes=self.max_bytes, max_pixels=self.max_pixels,
            ))
        except BaseException:
            self._slots.release()
            raise
        # The slot is freed when the thread is done, not when the caller stops waiting: a
        # cancelled request's decode keeps its memory until it ends, so it keeps its slot.
        work.add_done_callback(self._finished)
        return await asyncio.shield(work)

    def _finished(self, work: asyncio.Future[FittedImage]) -> None:
        self._slots.release()
        if not work.cancelled():
            work.exception()  # retrieved: a caller that gave up must not leave a log warning
