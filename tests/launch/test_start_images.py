"""StartImageService: start images are decoded a bounded number at a time, once each."""

from __future__ import annotations

import asyncio
import io
import threading
from typing import Any

import pytest
from PIL import Image

from bot.app import make_start_image_service
from bot.config import ConfigError, parse_settings
from bot.launch.imagefit import FittedImage
from bot.launch.startimages import StartImageService, prepare_start_image
from bot.launch.validation import InvalidRequest, StartImage
from tests.conftest import APIFRAME_KEY, DISCORD_TOKEN
from tests.launch.test_validation import png_header_only
from tests.sora_harness import SoraHarness, png

BOUND = 2


class BlockingWork:
    """Stands in for the decode: counts how many run at once and waits to be let go."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.started = 0
        self.release = threading.Event()

    def __call__(self, data: bytes, aspect_ratio: str, fit: str, **limits: int) -> FittedImage:
        with self.lock:
            self.running += 1
            self.started += 1
            self.most = max(self.most, self.running)
        try:
            # A safety net only: the test sets the event long before this could expire.
            assert self.release.wait(30), "never released"
            return FittedImage(StartImage(data, "image/png", 64, 48, "png"), None)
        finally:
            with self.lock:
                self.running -= 1


async def test_never_more_than_the_bound_decode_at_once() -> None:
    work = BlockingWork()
    service = StartImageService(max_bytes=1 << 20, max_pixels=1 << 20,
                                max_concurrent=BOUND, prepare=work)
    tasks = [asyncio.create_task(service.prepare(bytes([i]), "16:9", "crop"))
             for i in range(BOUND + 1)]
    # Every request has either started or is queued for a slot; none is still in flight.
    await SoraHarness.until(lambda: work.started + service.waiting == BOUND + 1,
                            what="every request to start or queue")
    assert (work.started, service.waiting) == (BOUND, 1)

    work.release.set()
    results = await asyncio.gather(*tasks)
    service.close()
    assert [r.image.data for r in results] == [bytes([i]) for i in range(BOUND + 1)]
    assert work.most == BOUND and work.started == BOUND + 1


async def test_a_cancelled_request_keeps_its_slot_until_its_decode_ends() -> None:
    work = BlockingWork()
    service = StartImageService(max_bytes=1 << 20, max_pixels=1 << 20, max_concurrent=1,
                                prepare=work)
    first = asyncio.create_task(service.prepare(b"1", "16:9", "crop"))
    await SoraHarness.until(lambda: work.started == 1, what="the first decode to start")
    first.cancel()
    second = asyncio.create_task(service.prepare(b"2", "16:9", "crop"))
    await SoraHarness.until(lambda: service.waiting == 1, what="the second to queue")
    # The member gave up, but the thread still holds the first image's memory.
    assert work.started == 1 and work.running == 1
    work.release.set()
    assert (await second).image.data == b"2"
    assert work.most == 1
    with pytest.raises(asyncio.CancelledError):
        await first
    service.close()


def service(**jobs: Any) -> StartImageService:
    settings = parse_settings({"discord": {"token": DISCORD_TOKEN},
                               "apiframe": {"api_key": APIFRAME_KEY}, "jobs": jobs}, env={})
    return make_start_image_service(settings)


async def test_the_real_path_checks_the_budget_and_fits_with_one_service() -> None:
    images = service(max_start_image_pixels=640 * 480, max_concurrent_start_images=1)
    with pytest.raises(InvalidRequest, match="too many pixels"):
        await images.prepare(png_header_only(8192, 8192), "16:9", "crop")
    fitted = await images.prepare(png(640, 480), "16:9", "crop")
    images.close()
    assert (fitted.image.width, fitted.image.height) == (640, 360)
    assert fitted.note == "Start image centre-cropped from 4:3 to 16:9"


def test_defaults_and_limits_of_the_start_image_keys() -> None:
    images = service()
    images.close()
    assert (images.max_pixels, images.max_bytes) == (4096 * 4096, 10 * 1024 * 1024)
    for bad in ({"max_start_image_pixels": 8192 * 8192 + 1},
                {"max_start_image_pixels": "16777216"},
                {"max_concurrent_start_images": 0}):
        with pytest.raises(ConfigError, match=r"^jobs\.max_"):
            service(**bad)


def test_padding_past_the_budget_scales_down_instead_of_refusing() -> None:
    # As a 12 MP phone photo padded to portrait would need 29 MP: scaled to fit the budget.
    photo = io.BytesIO()
    Image.new("RGB", (1600, 1200), (10, 20, 30)).save(photo, "JPEG", quality=90)
    budget = 3_000_000  # the photo fits; the padded canvas (4.6 MP) does not
    fitted = prepare_start_image(photo.getvalue(), "9:16", "pad", max_bytes=1 << 22,
                                 max_pixels=budget)
    width, height = fitted.image.width, fitted.image.height
    assert width * height <= budget and abs(width / height - 9 / 16) < 0.01
    assert fitted.note == (
        f"Start image padded from 4:3 to 9:16 (black bars), scaled down to {width} × {height}"
    )
