"""/video end to end for one model of every family of the catalog: the command, the exact
debit of the configured price, a generate body the contract accepts with the model's own
block (and the start image in that model's image field), and the video posted."""

from __future__ import annotations

from typing import Any

import pytest

from bot.catalog.lineup import slot_option
from bot.catalog.video import VideoModel
from bot.jobs.model import Job, JobState
from bot.launch.choices import value_text
from tests.fakes.apiframe_schema import validate_generate
from tests.sora_harness import GENERATE, STARTING_CREDITS, UPLOAD, SoraHarness, Starter, png
from tests.support.video import (
    CATALOG,
    Priced,
    first_of_each_family,
    lineup,
    send_video,
    slot_values,
)

FAMILIES = sorted({model.family for model in CATALOG.models})
TEXT_TO_VIDEO = first_of_each_family(m for m in CATALOG.models if m.text_to_video)
IMAGE_TO_VIDEO = first_of_each_family(m for m in CATALOG.models if m.image_to_video)
PER_SECOND = 3
FLAT = 17


def test_every_family_is_covered() -> None:
    # midjourney-video makes nothing without a start image; every other family has a model
    # that does, and every family with an image field has one that takes a start image alone.
    assert {m.family for m in TEXT_TO_VIDEO} == set(FAMILIES) - {"midjourneyVideo"}
    assert len(FAMILIES) == 14
    with_image = {m.family for m in CATALOG.models if m.start_image is not None}
    assert {m.family for m in IMAGE_TO_VIDEO} == with_image
    assert "midjourneyVideo" in with_image and "grokImagineVideo" not in with_image


def picks(model: VideoModel) -> dict[str, Any]:
    """A non-default value for each choice the model has (the last listed), as typed text."""
    chosen: dict[str, Any] = {}
    for parameter, slot in (("duration", "duration"), ("quality", "quality"),
                            ("sound", "audio"), ("aspect_ratio", "aspect_ratio")):
        values = slot_values(model.id, slot)
        if values:
            chosen[parameter] = values[-1]
    return chosen


def priced(model: VideoModel) -> Priced:
    # A model with listed durations is priced by them, so the debit proves the one chosen.
    if slot_values(model.id, "duration"):
        return Priced(model.id, per_second=PER_SECOND, label=f"The {model.id}")
    return Priced(model.id, flat=FLAT, label=f"The {model.id}")


async def delivered(h: SoraHarness, iid: int) -> Job:
    job = await h.created_job(iid)
    job = await h.run_until(job.id, JobState.DELIVERED)
    [result] = [m for m in h.channel_messages() if m.id == job.delivered_message_id]
    assert result.attachments[0]["content_type"] == "video/mp4"
    return job


def expected_price(model: VideoModel, chosen: dict[str, Any]) -> int:
    return PER_SECOND * chosen["duration"] if "duration" in chosen else FLAT


def check_block(model: VideoModel, body: dict[str, Any], chosen: dict[str, Any]) -> dict[str, Any]:
    """The body is the contract's, for this model, with every choice in its block."""
    assert validate_generate(body) == {}
    assert body["model"] == model.id
    block: dict[str, Any] = body[model.params]
    for parameter, value in chosen.items():
        slot = "audio" if parameter == "sound" else parameter
        name = slot_option(model, slot)
        assert name is not None and block[name] == value, (parameter, block)
    return block


@pytest.mark.parametrize("model", TEXT_TO_VIDEO, ids=lambda m: f"{m.family}:{m.id}")
async def test_text_to_video_for_every_family(start: Starter, model: VideoModel) -> None:
    h = await start(**lineup(priced(model)))
    h.apiframe.script_next_job(queued_s=1, processing_s=4)
    chosen = picks(model)
    typed = {name: value_text(value) for name, value in chosen.items()}
    iid = await send_video(h, f"a lighthouse in a storm, by {model.id}", model=model.id,
                           **typed)

    job = await delivered(h, iid)

    price = expected_price(model, chosen)
    assert (job.model, job.price) == (model.id, price)
    assert await h.balance() == STARTING_CREDITS - price
    assert await h.journal() == [("initial", STARTING_CREDITS, None),
                                 ("reserve", -price, job.id)]
    [generate] = h.apiframe_requests(GENERATE)
    assert generate.json["prompt"] == f"a lighthouse in a storm, by {model.id}"
    block = check_block(model, generate.json, chosen)
    assert model.start_image is None or model.start_image not in block


@pytest.mark.parametrize("model", IMAGE_TO_VIDEO, ids=lambda m: f"{m.family}:{m.id}")
async def test_image_to_video_for_every_family_with_an_image_field(
    start: Starter, model: VideoModel,
) -> None:
    h = await start(**lineup(priced(model)))
    h.apiframe.script_next_job(queued_s=1, processing_s=4)
    chosen = picks(model)
    chosen.pop("aspect_ratio", None)  # 16:9 (or none): the image below fits it as it is
    image = png(128, 72)
    frame = h.discord.cdn.add(image, "first-frame.png", "image/png")
    typed = {name: value_text(value) for name, value in chosen.items()}
    iid = await send_video(h, "the picture comes alive", model=model.id, start_image=frame,
                           **typed)

    job = await delivered(h, iid)

    price = expected_price(model, chosen)
    assert job.price == price and await h.balance() == STARTING_CREDITS - price
    [upload_id] = h.apiframe.uploads
    assert h.apiframe.uploads[upload_id] == image and len(h.apiframe_requests(UPLOAD)) == 1
    url = f"{h.apiframe.base_url}/cdn/uploads/{upload_id}"
    assert job.start_image_url == url
    [generate] = h.apiframe_requests(GENERATE)
    block = check_block(model, generate.json, chosen)
    assert model.start_image is not None and block[model.start_image] == url


@pytest.mark.parametrize(("ratio", "fitted"), [("adaptive", False), ("21:9", True)])
async def test_a_start_image_follows_any_model_s_aspect_ratio(
    start: Starter, ratio: str, fitted: bool,
) -> None:
    # Seedance's "adaptive" is not a shape: the image keeps its own. 21:9 is one /sora never
    # had: a 4:3 image is centre-cropped to it.
    h = await start(**lineup(Priced("seedance-2", flat=FLAT)))
    h.apiframe.script_next_job(queued_s=1, processing_s=4)
    image = png(160, 120)
    frame = h.discord.cdn.add(image, "first-frame.png", "image/png")
    iid = await send_video(h, "waves", model="seedance-2", aspect_ratio=ratio,
                           start_image=frame)

    job = await delivered(h, iid)

    [upload_id] = h.apiframe.uploads
    assert (h.apiframe.uploads[upload_id] != image) is fitted
    assert (job.start_image_note is not None) is fitted
    [generate] = h.apiframe_requests(GENERATE)
    assert generate.json["seedanceParams"]["aspect_ratio"] == ratio
    assert generate.json["seedanceParams"]["start_image"] == job.start_image_url
    assert await h.balance() == STARTING_CREDITS - FLAT
