"""What members and moderators read about jobs of other models than Sora: the model's label (its
id once no longer offered) and only the options that model has."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import discord

from bot.catalog.lineup import Lineup, build_lineup
from bot.catalog.video import Catalog
from bot.delivery import render
from bot.delivery.buttons import ResultButtons
from bot.jobs.model import Job, JobState
from bot.policy.held import PendingKind, PendingRequest, PendingStatus
from bot.request import VideoOptions
from cogs.approval_views import approval_embed, variant
from tests.delivery.test_render import T0, make_job


def lineup() -> Lineup:
    return build_lineup(
        Catalog.load(), sora_model="sora-2-pro", enabled=[
            "sora-2-pro", "hailuo-2.3-fast", "midjourney-video", "grok-imagine-video"],
        default=None,
        models={"hailuo-2.3-fast": {"label": "Hailuo 2.3 Fast", "price_by": ["duration"]},
                "midjourney-video": {"label": "Midjourney Video"},
                "grok-imagine-video": {"label": "Grok Imagine"}},
        pricing={"sora-2-pro": {f"{r}-{d}s": 10 for r in ("standard", "high")
                                for d in (4, 8, 10, 12, 15)},
                 "hailuo-2.3-fast": {"6s": 15, "10s": 25}, "midjourney-video": {"flat": 30},
                 "grok-imagine-video": {"flat": 15}},
    )


def job_of(model: str, params: dict[str, str | int | bool], **overrides: object) -> Job:
    options = VideoOptions.of("a lighthouse in a storm", params)
    return make_job(model=model, params=options.to_json(), duration=options.duration,
                    aspect_ratio=options.aspect_ratio, resolution=options.resolution,
                    **overrides)


def field(embed: discord.Embed, name: str) -> str:
    return next(str(f.value) for f in embed.fields if f.name == name)


def test_cards_name_the_model_and_omit_what_it_lacks() -> None:
    offers = lineup()
    hailuo = job_of("hailuo-2.3-fast", {"duration": 10, "resolution": "768p"})
    # Hailuo has no aspect ratio; Midjourney no duration.
    assert render.variant_text(hailuo, offers.get("hailuo-2.3-fast")) == (
        "Hailuo 2.3 Fast · 768p · 10 s")
    midjourney = job_of("midjourney-video", {"resolution": "hd", "motion": "low"})
    assert render.variant_text(midjourney, offers.get("midjourney-video")) == (
        "Midjourney Video · Hd")
    done = job_of("hailuo-2.3-fast", {"duration": 6, "resolution": "1080p"},
                  state=JobState.DELIVERED, finished_at=T0 + timedelta(minutes=2))
    assert field(render.result_embed(done, offers.get("hailuo-2.3-fast")), "Video") == (
        "Hailuo 2.3 Fast · 1080p · 6 s")
    status = render.status_embed(hailuo, T0 + timedelta(seconds=5), offers.get("hailuo-2.3-fast"))
    assert field(status, "Video").startswith("Hailuo 2.3 Fast · 768p · 10 s · ")


def test_a_model_no_longer_offered_is_named_by_its_id() -> None:
    gone = job_of("kling-2.6", {"duration": 5, "aspect_ratio": "1:1", "generate_audio": True})
    assert render.variant_text(gone, None) == "kling-2.6 · 5 s · 1:1"
    # Another model's offer is never used for it.
    assert render.variant_text(gone, lineup().get("grok-imagine-video")) == (
        "kling-2.6 · 5 s · 1:1")


def test_the_estimate_does_not_assume_sora_values() -> None:
    midjourney = job_of("midjourney-video", {"resolution": "hd", "motion": "low"})
    remaining = render.estimate_remaining(midjourney, T0)
    assert remaining is not None and remaining > timedelta(0)
    assert render.typical_duration("1080p", 6) > render.typical_duration("768p", 6)
    assert render.typical_duration("", 0) == render.typical_duration("", 8)


def test_approval_cards_name_the_model() -> None:
    offers = lineup()
    held = PendingRequest(
        id="r1", kind=PendingKind.APPROVAL, status=PendingStatus.PENDING, guild_id=1,
        channel_id=2, user_id=3, role_ids=(), model="hailuo-2.3-fast",
        options=VideoOptions.of("waves", {"duration": 10, "resolution": "768p"}),
        start_image_url=None, start_image_note=None, price=25, created_at=T0,
        expires_at=T0 + timedelta(hours=1), audit_message_id=None, decided_by=None)
    embed = approval_embed(held, offers.get("hailuo-2.3-fast"))
    assert field(embed, "Variant") == "Hailuo 2.3 Fast · 768p · 10 s"
    # Held before models were named: the /sora model's offer names it.
    old = dataclasses.replace(held, model=None,
                              options=VideoOptions.sora("waves", 8, "16:9", "high"))
    assert variant(old, offers.get("sora-2-pro")) == "sora-2-pro · High · 8 s · 16:9"


def test_extend_is_left_out_for_models_without_a_start_image() -> None:
    def actions(view: ResultButtons) -> list[str]:
        return [str(getattr(item, "custom_id", "")).split(":")[2] for item in view.children]

    assert actions(ResultButtons("0" * 32)) == ["reroll", "edit", "extend", "details", "delete"]
    assert actions(ResultButtons("0" * 32, extend=False)) == [
        "reroll", "edit", "details", "delete"]
