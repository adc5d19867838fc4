"""What Apiframe says about a job: lenient where it is cosmetic, strict where it matters.

``progress`` only feeds the status card, so a fractional, out-of-range or odd value is clamped
or dropped instead of failing every poll (which ran a finished job to its timeout and refunded
it). Status, ids and the result URL stay strict.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.apiframe.errors import MalformedResponse
from bot.apiframe.models import ProviderJob, parse_model
from bot.jobs.model import JobState
from tests.sora_harness import STARTING_CREDITS, Starter

JOB: dict[str, Any] = {
    "id": "b2c3d4e5-f6a7-8901-bcde-f23456789012",
    "status": "PROCESSING",
    "model": "sora-2-pro",
    "progress": 65,
    "createdAt": "2026-03-15T10:00:00.000Z",
}


async def test_a_job_reporting_progress_42_5_then_130_is_delivered(start: Starter) -> None:
    h = await start()
    h.apiframe.report_progress = lambda true: 130 if true == 100 else 42.5
    h.apiframe.script_next_job(queued_s=1, processing_s=6)
    job = await h.created_job(await h.send_sora())

    await h.run_until(job.id, JobState.SUBMITTED, step=0)
    h.apiframe.clock.advance(3)  # processing now: the fake reports 42.5

    async def shows_42() -> bool:
        return (await h.job(job.id)).progress == 42

    await h.until(shows_42, what="progress 42 recorded from a reported 42.5")
    job = await h.run_until(job.id, JobState.DELIVERED, JobState.REFUNDED)

    assert job.state is JobState.DELIVERED and job.delivery_mode == "attachment"
    assert await h.balance() == STARTING_CREDITS - job.price


@pytest.mark.parametrize(
    ("reported", "kept"),
    [(42.5, 42), (99.9, 99), (130, 100), (-3, 0), (1e400, None), ("half", None), (True, None),
     ([50], None), (None, None), (7, 7)],
)
def test_odd_progress_is_clamped_or_dropped(reported: Any, kept: int | None) -> None:
    assert parse_model(ProviderJob, {**JOB, "progress": reported}, "test").progress == kept


@pytest.mark.parametrize(
    ("field", "reported", "kept"),
    [("creditCost", 12.5, None), ("creditCost", 12.0, 12), ("creditCost", "12", None),
     ("creditCost", 12, 12), ("expired", "no", None), ("expired", False, False),
     ("webhookStatus", 3, None), ("webhookStatus", "sent", "sent")],
)
def test_odd_informational_fields_are_dropped(field: str, reported: Any, kept: Any) -> None:
    job = parse_model(ProviderJob, {**JOB, field: reported}, "test")
    assert job.model_dump(by_alias=True)[field] == kept


@pytest.mark.parametrize(
    "body",
    [
        {**JOB, "status": "DONE"},
        {**JOB, "id": 42},
        {k: v for k, v in JOB.items() if k != "id"},
        {**JOB, "model": None},
    ],
)
def test_what_matters_stays_strict(body: dict[str, Any]) -> None:
    with pytest.raises(MalformedResponse):
        parse_model(ProviderJob, body, "test")


@pytest.mark.parametrize("url", ["https://", "http:///videos/a.mp4", "https://exa mple.com/a.mp4"])
def test_a_result_url_without_a_usable_host_is_no_result(url: str) -> None:
    job = parse_model(
        ProviderJob, {**JOB, "status": "COMPLETED", "result": {"videoUrl": url}}, "test"
    )
    assert job.video_url is None
