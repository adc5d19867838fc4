"""/sora with a start image of another shape: fitted before upload, said on the result card."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from bot.jobs.model import Job, JobState
from tests.fakes.discord_messages import card_texts
from tests.sora_harness import (
    EPHEMERAL,
    GENERATE,
    STARTING_CREDITS,
    UPLOAD,
    SoraHarness,
    Starter,
    attachment,
    png,
    string,
)

ORANGE = (200, 80, 40)  # png()'s colour


def uploaded_image(h: SoraHarness) -> tuple[bytes, Image.Image]:
    [upload_id] = h.apiframe.uploads
    data = h.apiframe.uploads[upload_id]
    image = Image.open(io.BytesIO(data))
    image.load()
    return data, image


def card_fields(h: SoraHarness, job: Job) -> dict[str, str]:
    """The result card's small-print facts (``-# Start image: …``) by name."""
    [result] = [m for m in h.channel_messages() if m.id == job.delivered_message_id]
    texts = card_texts(result)
    assert texts[0] == "### Your video is ready"
    lines = [line.removeprefix("-# ") for t in texts for line in t.splitlines()]
    return dict(line.split(": ", 1) for line in lines if line.startswith("Start image: "))


async def make_video(h: SoraHarness, image: bytes, aspect_ratio: str, fit: str | None) -> Job:
    options: list[dict[str, Any]] = [
        string("prompt", "the scene comes alive"), string("aspect_ratio", aspect_ratio),
        attachment("start_image", h.discord.cdn.add(image, "frame.png", "image/png")),
    ]
    if fit is not None:
        options.append(string("fit", fit))
    h.apiframe.script_next_job(queued_s=1, processing_s=2)
    iid = await h.send_options(options)
    job = await h.created_job(iid)
    return await h.run_until(job.id, JobState.DELIVERED)


async def test_a_4_3_image_is_centre_cropped_to_9_16_by_default(start: Starter) -> None:
    h = await start()
    job = await make_video(h, png(640, 480), "9:16", fit=None)

    data, uploaded = uploaded_image(h)
    assert (uploaded.format, uploaded.size) == ("PNG", (270, 480))
    assert set(uploaded.getcolors() or []) == {(270 * 480, ORANGE)}
    [generate] = h.apiframe_requests(GENERATE)
    assert generate.json["soraParams"]["aspect_ratio"] == "9:16"
    assert generate.json["soraParams"]["start_image"] == job.start_image_url

    note = "Start image centre-cropped from 4:3 to 9:16"
    assert job.start_image_note == note
    assert card_fields(h, job)["Start image"] == note
    assert await h.balance() == STARTING_CREDITS - job.price
    assert data.startswith(b"\x89PNG")


async def test_pad_keeps_the_whole_image(start: Starter) -> None:
    h = await start()
    job = await make_video(h, png(640, 480), "9:16", fit="pad")

    _data, uploaded = uploaded_image(h)
    assert uploaded.size == (640, 1138)
    top = (1138 - 480) // 2
    # Every pixel of the original is there, centred, between black bars.
    assert uploaded.crop((0, top, 640, top + 480)).getcolors() == [(640 * 480, ORANGE)]
    assert uploaded.crop((0, 0, 640, top)).getcolors() == [(640 * top, (0, 0, 0))]
    note = "Start image padded from 4:3 to 9:16 (black bars)"
    assert job.start_image_note == note and card_fields(h, job)["Start image"] == note


async def test_an_image_that_already_fits_is_uploaded_untouched(start: Starter) -> None:
    h = await start()
    image = png(160, 90)
    job = await make_video(h, image, "16:9", fit="pad")

    data, _uploaded = uploaded_image(h)
    assert data == image
    assert job.start_image_note is None
    assert "Start image" not in card_fields(h, job)


async def test_an_unknown_fit_is_refused_before_anything_happens(start: Starter) -> None:
    h = await start()
    options = [string("prompt", "a cat"), string("fit", "stretch"),
               attachment("start_image", h.discord.cdn.add(png(), "frame.png", "image/png"))]
    iid = await h.send_options(options)

    answer = await h.reply(iid, ephemeral=True)
    assert answer.flags & EPHEMERAL
    assert answer.content == "fit must be crop or pad."
    assert await h.job_count() == 0 and await h.balance() == STARTING_CREDITS
    assert [r for r in h.discord.requests if r.path.startswith("/cdn/")] == []
    assert h.apiframe_requests(UPLOAD) == []


async def test_an_animated_start_image_is_sent_as_its_first_frame(start: Starter) -> None:
    h = await start()
    frames = [Image.new("RGB", (160, 90), colour) for colour in (ORANGE, (0, 0, 255))]
    animated = io.BytesIO()
    frames[0].save(animated, "PNG", save_all=True, append_images=frames[1:], duration=100)
    job = await make_video(h, animated.getvalue(), "16:9", fit=None)

    _data, uploaded = uploaded_image(h)
    assert getattr(uploaded, "n_frames", 1) == 1 and uploaded.size == (160, 90)
    assert set(uploaded.convert("RGB").getcolors() or []) == {(160 * 90, ORANGE)}
    note = "First frame of the animated image"
    assert job.start_image_note == note and card_fields(h, job)["Start image"] == note


async def test_a_cmyk_jpeg_start_image_is_sent_as_rgb(start: Starter) -> None:
    h = await start()
    cmyk = io.BytesIO()
    Image.new("CMYK", (160, 90), (0, 0, 0, 0)).save(cmyk, "JPEG", quality=95)  # white
    job = await make_video(h, cmyk.getvalue(), "16:9", fit=None)

    data, uploaded = uploaded_image(h)
    assert (uploaded.format, uploaded.mode, uploaded.size) == ("JPEG", "RGB", (160, 90))
    assert data.startswith(b"\xff\xd8\xff")
    assert job.start_image_note is None
    assert await h.balance() == STARTING_CREDITS - job.price
