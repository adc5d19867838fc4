"""/video through the real client: suggestions that follow the model, raw values a model
refuses (privately, for nothing), and the preview threshold holding a priced variant."""

from __future__ import annotations

from typing import Any

import pytest

from bot.jobs.model import JobState
from bot.policy.held import custom_id
from tests.launch.test_sora_refusals import refused
from tests.sora_harness import (
    GENERATE,
    MEMBER,
    STARTING_CREDITS,
    Starter,
    integer,
    png,
)
from tests.support.video import Priced, lineup, send_video, suggestions

LINEUP = lineup(
    Priced("veo-3", per_second=3, label="Veo 3"),
    Priced("veo-3.1-fast", per_second=5, label="Veo 3.1 Fast"),
    Priced("veo-3.1-lite", flat=8, label="Veo 3.1 Lite"),
    Priced("kling-3.0", per_second=2, label="Kling 3.0"),
    Priced("grok-imagine-video", flat=10, label="Grok Imagine"),
    Priced("midjourney-video", flat=30, label="Midjourney Video"),
    Priced("kling-3.0-motion-control", flat=40, label="Kling Motion Control"),
)


def names_and_values(found: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(c["name"], c["value"]) for c in found]


def values(found: list[dict[str, Any]]) -> list[str]:
    return [c["value"] for c in found]


# -- suggestions ---------------------------------------------------------------------------


async def test_models_are_suggested_with_their_price_range(start: Starter) -> None:
    h = await start(**LINEUP)
    low, high = h.services.settings.lineup.offer("sora-2-pro").price_range()

    found = names_and_values(await suggestions(h, "model"))

    # Motion Control needs a reference video /video cannot send: it is not offered at all.
    assert found == [
        (f"sora-2-pro — {low}–{high} credits", "sora-2-pro"),
        ("Veo 3 — 12–24 credits", "veo-3"),
        ("Veo 3.1 Fast — 20–40 credits", "veo-3.1-fast"),
        ("Veo 3.1 Lite — 8 credits", "veo-3.1-lite"),
        ("Kling 3.0 — 6–30 credits", "kling-3.0"),
        ("Grok Imagine — 10 credits", "grok-imagine-video"),
        ("Midjourney Video — 30 credits · needs a start image", "midjourney-video"),
    ]
    assert values(await suggestions(h, "model", "veo")) == [
        "veo-3", "veo-3.1-fast", "veo-3.1-lite"]


async def test_durations_follow_the_model_typed_with_their_prices(start: Starter) -> None:
    h = await start(**LINEUP)

    veo = await suggestions(h, "duration", model="veo-3")
    kling = await suggestions(h, "duration", model="kling-3.0")
    by_label = await suggestions(h, "duration", model="Veo 3.1 Fast")

    assert names_and_values(veo) == [("4 seconds · 12 credits", "4"),
                                     ("6 seconds · 18 credits", "6"),
                                     ("8 seconds · 24 credits", "8")]
    assert values(kling) == [str(s) for s in range(3, 16)]
    assert kling[-1]["name"] == "15 seconds · 30 credits"
    assert values(by_label) == ["4", "6", "8"]
    # What the member has typed narrows the list; a value the model lacks shows them all.
    assert values(await suggestions(h, "duration", "1", model="kling-3.0")) == [
        "10", "11", "12", "13", "14", "15"]
    assert values(await suggestions(h, "duration", "7", model="veo-3")) == ["4", "6", "8"]


async def test_without_a_model_the_default_is_followed_and_other_choices_price_it(
    start: Starter,
) -> None:
    h = await start(**LINEUP)
    grid = h.services.settings.pricing["sora-2-pro"]

    def price(resolution: str, seconds: int) -> int:
        return grid[f"{resolution}-{seconds}s"]

    standard = await suggestions(h, "duration")
    high = await suggestions(h, "duration", quality="high")

    assert names_and_values(standard) == [(f"{s} seconds · {price('standard', s)} credits", str(s))
                                          for s in (4, 8, 10, 12, 15)]
    assert names_and_values(high)[0] == (f"4 seconds · {price('high', 4)} credits", "4")
    assert price("high", 4) != price("standard", 4)
    assert values(await suggestions(h, "quality")) == ["standard", "high"]
    assert values(await suggestions(h, "aspect_ratio")) == ["16:9", "9:16"]


async def test_a_choice_the_model_lacks_has_no_suggestions(start: Starter) -> None:
    h = await start(**LINEUP)
    assert await suggestions(h, "sound", model="grok-imagine-video") == []
    assert await suggestions(h, "sound", model="sora-2-pro") == []
    assert await suggestions(h, "quality", model="grok-imagine-video") == []
    assert await suggestions(h, "duration", model="no-such-model") == []
    # Veo takes any "w:h" as text: not a list a member picks from unless the operator offers one.
    assert await suggestions(h, "aspect_ratio", model="veo-3") == []
    assert names_and_values(await suggestions(h, "sound", model="veo-3")) == [
        ("Off", "off"), ("On", "on")]
    assert values(await suggestions(h, "aspect_ratio", model="grok-imagine-video")) == [
        "1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3"]


async def test_an_operator_offer_narrows_the_suggestions(start: Starter) -> None:
    h = await start(**lineup(
        Priced("kling-3.0", per_second=2, offer={"duration": [5, 10], "mode": ["pro"]})))

    assert names_and_values(await suggestions(h, "duration", model="kling-3.0")) == [
        ("5 seconds · 10 credits", "5"), ("10 seconds · 20 credits", "10")]
    assert values(await suggestions(h, "quality", model="kling-3.0")) == ["pro"]
    # And the server holds to it: 7 is a Kling 3.0 duration, but not one offered here.
    iid = await send_video(h, model="kling-3.0", duration="7")
    answer = await refused(h, iid)
    assert answer.content == "Duration for kling-3.0 must be 5 or 10 seconds (got 7)."


# -- refusals ------------------------------------------------------------------------------




@pytest.mark.parametrize(
    ("model", "choices", "words"),
    [
        ("veo-3.1-fast", {"duration": "7"},
         "Duration for Veo 3.1 Fast must be 4, 6 or 8 seconds (got 7)."),
        ("sora-2-pro", {"aspect_ratio": "21:9"},
         "Aspect ratio for sora-2-pro must be 16:9 or 9:16 (got 21:9)."),
        ("veo-3.1-lite", {"sound": "on"}, "Veo 3.1 Lite has no choice of sound (got on)."),
        ("grok-imagine-video", {"quality": "1080p"},
         "Grok Imagine has no choice of quality (got 1080p)."),
        ("kling-3.0", {"duration": "16"}, "Duration for Kling 3.0 must be 3, 4, 5,"),
        ("veo-3", {"sound": "loud"}, "Generate audio for Veo 3 must be"),
        ("midjourney-video", {}, "Midjourney Video needs a start image"),
        ("kling-3.0-motion-control", {},
         "Kling Motion Control needs a reference video, which this bot cannot send."),
        ("sora-3", {}, "The video model “sora-3” is not offered here."),
    ],
    ids=["veo-duration-7", "sora-ratio-21:9", "lite-sound", "grok-quality", "kling-16s",
         "veo-sound-loud", "midjourney-no-image", "motion-control", "unknown-model"],
)
async def test_a_value_the_model_does_not_accept_is_refused_for_nothing(
    start: Starter, model: str, choices: dict[str, str], words: str,
) -> None:
    h = await start(**LINEUP)
    iid = await send_video(h, model=model, **choices)
    answer = await refused(h, iid)
    assert answer.content.startswith(words), answer.content


async def test_a_start_image_for_a_model_without_one_is_refused(start: Starter) -> None:
    h = await start(**LINEUP)
    frame = h.discord.cdn.add(png(128, 72), "first-frame.png", "image/png")
    iid = await send_video(h, model="grok-imagine-video", start_image=frame)
    answer = await refused(h, iid)
    assert answer.content == "Grok Imagine does not take a start image."
    assert h.apiframe.uploads == {}


async def test_a_duration_sent_as_a_number_is_read_like_typed_text(start: Starter) -> None:
    # A raw interaction may send the wrong option type: 6 as an integer is still 6 seconds,
    # and 7 still refused.
    h = await start(**LINEUP)
    iid = await send_video(h, model="veo-3", raw=[integer("duration", 7)])
    assert (await refused(h, iid)).content.startswith("Duration for Veo 3 must be 4, 6 or 8")

    iid = await send_video(h, model="veo-3", raw=[integer("duration", 6)])
    job = await h.created_job(iid)
    assert job.price == 18 and job.options.duration == 6


# -- the price before anything is spent ----------------------------------------------------


async def test_a_variant_above_the_preview_threshold_is_shown_before_it_is_charged(
    start: Starter,
) -> None:
    h = await start(**LINEUP)
    await h.services.rules.update(h.guild.id, actor="user:1", preview_above=20)

    cheap = await send_video(h, model="veo-3", duration="6")  # 18 credits: not held
    job = await h.created_job(cheap)
    assert job.price == 18 and await h.balance() == STARTING_CREDITS - 18

    iid = await send_video(h, model="veo-3", duration="8", sound="on")  # 24 credits: held
    preview = await h.reply(iid, ephemeral=True)
    fields = {f["name"]: f["value"] for f in preview.embeds[0]["fields"]}
    assert fields["Price"] == "24 credits"
    assert await h.balance() == STARTING_CREDITS - 18 and await h.job_count() == 1

    buttons = [c["custom_id"] for row in preview.components for c in row["components"]]
    request_id = buttons[0].rsplit(":", 1)[1]
    assert buttons[0] == custom_id("confirm", request_id)
    click, _token = await h.discord.send_component(h.guild, MEMBER,
                                                   buttons[0], preview)
    held = await h.created_job(click)
    held = await h.run_until(held.id, JobState.DELIVERED)
    assert (held.model, held.price) == ("veo-3", 24)
    assert await h.balance() == STARTING_CREDITS - 18 - 24
    body = h.apiframe_requests(GENERATE)[-1].json
    assert body["model"] == "veo-3"
    assert body["veoParams"] == {"duration": 8, "generate_audio": True, "resolution": "720p"}
