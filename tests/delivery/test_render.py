"""What members see: bars, estimates, embeds within Discord's limits, links and failure texts."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import discord
import pytest

from bot.delivery import render
from bot.jobs.model import FailureKind, Job, JobState

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
USER_ID = 222_333_444_555_666_777
SECRET_DETAIL = "upstream said: moderation_v7 flagged tokens 17..33 (key afk_live_abc)"


def make_job(**overrides: Any) -> Job:
    base = Job(
        id="0123456789abcdef0123456789abcdef", guild_id=1, channel_id=2, user_id=USER_ID,
        application_id=3, interaction_id=4, interaction_token="tok",
        token_expires_at=T0 + timedelta(minutes=15), status_message_id=5,
        attachment_size_limit=10 * 1024 * 1024, model="sora-2-pro", prompt="a red fox in snow",
        duration=8, aspect_ratio="16:9", resolution="standard", start_image_url=None, price=24,
        idempotency_key="sora-0123", state=JobState.RESERVED, apiframe_job_id=None,
        progress=None, progress_shown_at=None, result_url=None, failure_kind=None,
        failure_detail=None, delivery_mode=None, delivered_message_id=None, attempts=0,
        next_action_at=T0, deadline_at=T0 + timedelta(minutes=20), created_at=T0,
        submitted_at=None, finished_at=None, delivered_at=None, notified_at=None,
    )
    return dataclasses.replace(base, **overrides)


def rendering(progress: int | None, **overrides: Any) -> Job:
    """A job Apiframe accepted 10 s after the request, at ``progress`` percent."""
    return make_job(state=JobState.SUBMITTED, apiframe_job_id="af-1", progress=progress,
                    submitted_at=T0 + timedelta(seconds=10), **overrides)


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def total_units(embed: discord.Embed) -> int:
    parts = [embed.title or "", embed.description or "", embed.footer.text or ""]
    for field in embed.fields:
        parts += [field.name or "", field.value or ""]
    return sum(units(p) for p in parts)


def field(embed: discord.Embed, name: str) -> str:
    values = [f.value for f in embed.fields if f.name == name]
    assert len(values) == 1, f"no single field {name!r} in {[f.name for f in embed.fields]}"
    return values[0] or ""


LONG_PROMPT = ("@everyone look: <@&123> " + "🦊 fox " * 800)[:4000]


# -- progress bar and estimates ----------------------------------------------------------


@pytest.mark.parametrize(
    ("percent", "filled"), [(0, 0), (4, 0), (5, 1), (50, 10), (99, 19), (100, 20),
                            (-20, 0), (250, 20)],
)
def test_progress_bar_fills_earned_cells_and_clamps(percent: int, filled: int) -> None:
    bar = render.progress_bar(percent)
    assert bar == render.BAR_FILLED * filled + render.BAR_EMPTY * (20 - filled)


def test_progress_bar_width_is_configurable_and_positive() -> None:
    assert render.progress_bar(50, width=4) == "▰▰▱▱"
    with pytest.raises(ValueError, match="width"):
        render.progress_bar(50, width=0)


def test_typical_durations_span_one_to_five_minutes_longer_for_long_and_high() -> None:
    durations = [render.typical_duration(r, d) for r in ("standard", "high")
                 for d in (4, 8, 10, 12, 15)]
    assert all(timedelta(minutes=1) <= d <= timedelta(minutes=5) for d in durations)
    assert render.typical_duration("standard", 4) < render.typical_duration("standard", 15)
    assert render.typical_duration("standard", 8) < render.typical_duration("high", 8)


def test_estimate_uses_the_progress_rate_once_there_is_some() -> None:
    now = T0 + timedelta(seconds=70)  # 60 s after submission
    assert render.estimate_remaining(rendering(25), now) == timedelta(seconds=180)
    assert render.estimate_remaining(rendering(75), now) == timedelta(seconds=20)


def test_estimate_falls_back_to_the_typical_duration_without_progress() -> None:
    typical = render.typical_duration("standard", 8)
    assert render.estimate_remaining(make_job(), T0) == typical  # queued: all of it ahead
    now = T0 + timedelta(seconds=40)  # 30 s after submission, 2 % is too little to extrapolate
    for progress in (None, 0, 2):
        job = rendering(progress)
        assert render.estimate_remaining(job, now) == typical - timedelta(seconds=30)
    late = T0 + timedelta(seconds=10) + typical + timedelta(seconds=1)
    assert render.estimate_remaining(rendering(None), late) is None


def test_estimate_at_the_ends() -> None:
    done = make_job(state=JobState.COMPLETED, result_url="https://x/v.mp4", progress=100)
    assert render.estimate_remaining(done, T0) == timedelta(0)
    failed = make_job(state=JobState.FAILED, failure_kind=FailureKind.TIMEOUT)
    assert render.estimate_remaining(failed, T0) is None


@pytest.mark.parametrize(
    ("remaining", "text"),
    [(None, "taking longer than usual"), (timedelta(0), "any moment now"),
     (timedelta(seconds=59), "less than a minute left"),
     (timedelta(seconds=61), "about 2 min left"), (timedelta(minutes=3), "about 3 min left")],
)
def test_remaining_text(remaining: timedelta | None, text: str) -> None:
    assert render.remaining_text(remaining) == text


# -- embeds ------------------------------------------------------------------------------


def test_status_embed_queued_then_rendering() -> None:
    queued = render.status_embed(make_job(), T0 + timedelta(seconds=3))
    assert queued.title == "Queued"
    assert field(queued, "Progress") == render.progress_bar(0) + " 0%"
    now = T0 + timedelta(minutes=2, seconds=5)
    embed = render.status_embed(rendering(40, duration=15, price=45), now)
    assert embed.title == "Rendering"
    assert field(embed, "Progress") == f"{render.progress_bar(40)} 40%"
    assert field(embed, "Elapsed") == "02:05"
    assert field(embed, "Estimate") == "about 3 min left"  # 115 s for 40 % -> 172.5 s more
    assert field(embed, "Video") == "sora-2-pro · Standard · 15 s · 16:9 · 45 credits"
    assert embed.description == "a red fox in snow"
    assert embed.footer.text == "Job 0123456789abcdef0123456789abcdef"


def test_status_embed_after_completion_shows_full_bar() -> None:
    job = make_job(state=JobState.COMPLETED, result_url="https://x/v.mp4", progress=100)
    embed = render.status_embed(job, T0 + timedelta(minutes=75, seconds=1))
    assert embed.title == "Finishing"
    assert field(embed, "Progress").endswith(" 100%")
    assert field(embed, "Elapsed") == "75:01"


def test_long_prompt_is_clipped_within_embed_limits() -> None:
    job = rendering(10, prompt=LONG_PROMPT)
    status = render.status_embed(job, T0 + timedelta(seconds=30))
    assert status.description is not None
    assert units(status.description) <= render.STATUS_PROMPT_LIMIT
    assert status.description.endswith(render.ELLIPSIS)
    assert status.description.startswith("@everyone look:")
    done = dataclasses.replace(job, state=JobState.COMPLETED, result_url="https://x/v.mp4",
                               finished_at=T0 + timedelta(minutes=3))
    result = render.result_embed(done)
    assert result.description is not None
    assert units(LONG_PROMPT) > render.DESCRIPTION_LIMIT  # the emoji count twice
    assert units(result.description) <= render.DESCRIPTION_LIMIT
    assert result.description.endswith(render.ELLIPSIS)
    assert total_units(result) <= render.EMBED_TOTAL_LIMIT
    assert len(result) <= render.EMBED_TOTAL_LIMIT  # discord.py's own count agrees


def test_short_prompt_is_shown_whole() -> None:
    prompt = "x" * 4000
    job = make_job(state=JobState.COMPLETED, result_url="https://x/v.mp4", prompt=prompt)
    assert render.result_embed(job).description == prompt


def test_result_embed_shows_options_cost_requester_ids_and_timings() -> None:
    job = make_job(
        state=JobState.DELIVERED, apiframe_job_id="af-42", result_url="https://x/v.mp4",
        resolution="high", duration=12, aspect_ratio="9:16", price=60,
        submitted_at=T0 + timedelta(seconds=4), finished_at=T0 + timedelta(minutes=3, seconds=4),
    )
    embed = render.result_embed(job)
    assert field(embed, "Video") == "sora-2-pro · High · 12 s · 9:16"
    assert field(embed, "Cost") == "60 credits"
    assert field(embed, "Requested by") == f"<@{USER_ID}>"
    assert field(embed, "Time") == "rendered in 03:00, 03:04 since the request"
    assert embed.footer.text == "Apiframe job af-42 · Job 0123456789abcdef0123456789abcdef"
    assert embed.timestamp == job.finished_at


def test_clip_never_splits_a_character_and_respects_tiny_limits() -> None:
    assert render.clip("🦊🦊🦊", 4) == "🦊…"
    assert render.clip("abc", 3) == "abc"
    assert render.clip("abcd", 1) == "…"
    assert render.clip("abcd", 0) == ""


# -- links, failures, permissions --------------------------------------------------------


def test_link_notes() -> None:
    assert "(10 MB)" in render.link_note(render.OVER_LIMIT, limit_bytes=10 * 1024 * 1024)
    assert "(7.5 MB)" in render.link_note_too_large(int(7.5 * 1024 * 1024))
    assert "here is the link" in render.link_note_too_large(25 * 1024 * 1024)
    refused = render.link_note(render.UPLOAD_REFUSED)
    assert "Discord refused the upload (too large)" in refused
    assert render.link_note(render.UNAVAILABLE) == render.link_note_unavailable()
    with pytest.raises(ValueError, match="limit_bytes"):
        render.link_note(render.OVER_LIMIT)
    with pytest.raises(ValueError, match="unknown"):
        render.link_note("because")


EXPECTED_WORDS = {
    FailureKind.CONTENT_POLICY: "Apiframe's content policy rejected this prompt",
    FailureKind.PROVIDER_ERROR: "The video service had a problem",
    FailureKind.RESULT_UNAVAILABLE: "The video service had a problem",
    FailureKind.PROVIDER_OUT_OF_CREDITS: "please tell the bot's operator",
    FailureKind.PROVIDER_UNAVAILABLE: "could not be reached",
    FailureKind.REJECTED: "The video service rejected the request",
    FailureKind.CANCELLED: "cancelled",
    FailureKind.TIMEOUT: "took longer than 20 min",
    FailureKind.UNDELIVERABLE: "could not post it here or send it to you",
    FailureKind.RESULT_REFUSED: "could not be retrieved safely",
    FailureKind.MODEL_RETIRED: "has been retired",
}


@pytest.mark.parametrize("kind", list(FailureKind))
def test_every_failure_says_why_and_that_credits_came_back_never_the_detail(
    kind: FailureKind,
) -> None:
    job = make_job(state=JobState.REFUNDED, failure_kind=kind, failure_detail=SECRET_DETAIL,
                   price=45)
    text = render.failure_text(job)
    assert EXPECTED_WORDS[kind] in text
    assert "The 45 credits were refunded to this server." in text
    assert job.id in text
    for leak in ("moderation_v7", "afk_", "17..33", "upstream"):
        assert leak not in text
    assert len(text) < 2000 - 30  # fits a channel message with the mention in front


def test_failure_text_singular_credit() -> None:
    job = make_job(state=JobState.REFUNDED, failure_kind=FailureKind.CANCELLED, price=1)
    assert "The 1 credit was refunded" in render.failure_text(job)


def test_permission_hint_names_the_channel_and_permissions() -> None:
    hint = render.permission_hint(987654321)
    assert "<#987654321>" in hint
    for name in ("View Channel", "Send Messages", "Attach Files", "Embed Links"):
        assert name in hint
