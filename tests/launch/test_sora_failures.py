"""/sora jobs that fail at Apiframe or on submission: refunded exactly once, explained plainly."""

from __future__ import annotations

import pytest

from bot.jobs.model import FailureKind, Job, JobState
from tests.fakes.apiframe import Fault
from tests.fakes.discord import StoredMessage
from tests.fakes.discord_messages import card_text
from tests.sora_harness import (
    GENERATE,
    STARTING_CREDITS,
    SoraHarness,
    Starter,
)


async def refunded_once(h: SoraHarness, job: Job) -> StoredMessage:
    """Check the money came back exactly once; return what the member now sees."""
    assert job.state is JobState.REFUNDED and job.notified_at is not None
    assert await h.journal() == [
        ("initial", STARTING_CREDITS, None),
        ("reserve", -job.price, job.id),
        ("refund", job.price, job.id),
    ]
    assert await h.balance() == STARTING_CREDITS
    # Another pass of the scheduler finds nothing left to do for the job.
    h.bot.scheduler.wake()
    await h.until(lambda: not h.bot.scheduler._active, what="the scheduler to go idle")
    assert len(await h.journal()) == 3
    status = h.discord.get_message(job.status_message_id or 0)
    assert status is not None and not status.ephemeral
    assert status.embeds == [] and status.attachments == []
    assert status.allowed_mentions is not None and status.allowed_mentions["parse"] == []
    assert job.id in card_text(status) and f"{job.price} credits were refunded" in card_text(status)
    # Internal details stay in the log.
    assert job.failure_detail is None or job.failure_detail not in card_text(status)
    return status


async def test_content_policy_failure_is_refunded_and_says_so(start: Starter) -> None:
    h = await start()
    h.apiframe.script_next_job(
        "FAILED",
        error="Provider returned an error: content policy "
        "violation (code=moderation_blocked ref=af-7781)",
        processing_s=6,
    )
    job = await h.created_job(await h.send_sora("something the provider refuses"))

    job = await h.run_until(job.id, JobState.REFUNDED)

    assert job.failure_kind is FailureKind.CONTENT_POLICY
    status = await refunded_once(h, job)
    assert "content policy rejected this prompt" in card_text(status)
    assert "moderation_blocked" not in card_text(status) and "af-7781" not in card_text(status)


async def test_provider_error_is_worded_differently_from_content_policy(start: Starter) -> None:
    h = await start()
    h.apiframe.script_next_job("FAILED", error="GPU worker crashed", processing_s=6)
    job = await h.created_job(await h.send_sora())

    job = await h.run_until(job.id, JobState.REFUNDED)

    assert job.failure_kind is FailureKind.PROVIDER_ERROR
    status = await refunded_once(h, job)
    assert "The video service had a problem" in card_text(status)
    assert "content policy" not in card_text(status) and "GPU" not in card_text(status)


async def test_cancelled_job_is_refunded_once(start: Starter) -> None:
    h = await start()
    h.apiframe.script_next_job(queued_s=1, processing_s=600)
    job = await h.created_job(await h.send_sora())
    job = await h.run_until(job.id, JobState.SUBMITTED, step=0)
    assert job.apiframe_job_id is not None
    h.apiframe.cancel(job.apiframe_job_id)

    job = await h.run_until(job.id, JobState.REFUNDED, step=1)

    assert job.failure_kind is FailureKind.CANCELLED
    status = await refunded_once(h, job)
    assert "cancelled" in card_text(status)


async def test_submit_402_refunds_and_asks_to_tell_the_operator(start: Starter) -> None:
    h = await start()
    h.apiframe.credits = 5  # the operator's Apiframe balance, not the guild's
    job = await h.created_job(await h.send_sora())

    job = await h.run_until(job.id, JobState.REFUNDED, step=0)

    assert [r.route for r in h.apiframe.requests] == [GENERATE]
    assert h.apiframe.created_count == 0
    assert job.failure_kind is FailureKind.PROVIDER_OUT_OF_CREDITS
    status = await refunded_once(h, job)
    assert "out of credits" in card_text(status) and "tell the bot's operator" in card_text(status)


async def test_submit_400_is_a_rejection_and_is_refunded(start: Starter) -> None:
    h = await start()
    h.apiframe.inject(GENERATE, Fault.status(400, "Invalid request body"))
    job = await h.created_job(await h.send_sora())

    job = await h.run_until(job.id, JobState.REFUNDED, step=0)

    assert len(h.apiframe_requests(GENERATE)) == 1 and h.apiframe.created_count == 0
    assert job.failure_kind is FailureKind.REJECTED
    status = await refunded_once(h, job)
    assert "rejected the request" in card_text(status)


@pytest.mark.parametrize(
    "fault", [Fault.rate_limit(retry_after=0), Fault.status(503)], ids=["429", "503"]
)
async def test_a_transient_submit_error_is_retried_and_charged_once(
    start: Starter, fault: Fault
) -> None:
    h = await start()
    h.apiframe.script_next_job(queued_s=1, processing_s=4)
    h.apiframe.inject(GENERATE, fault)
    job = await h.created_job(await h.send_sora())

    job = await h.run_until(job.id, JobState.DELIVERED)

    attempts = h.apiframe_requests(GENERATE)
    assert len(attempts) == 2 and h.apiframe.created_count == 1
    assert {r.headers["Idempotency-Key"] for r in attempts} == {job.idempotency_key}
    assert [kind for kind, _delta, _job in await h.journal()] == ["initial", "reserve"]
    assert await h.balance() == STARTING_CREDITS - job.price
    assert job.delivery_mode == "attachment"
    assert len(h.channel_messages()) == 1
