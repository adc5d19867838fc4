"""A video that reached the channel is never refunded; one that reached nobody is.

The "stop" here is the scheduler being stopped while Discord holds its answer to a post it
has already applied (``inject_delay(..., after_processing=True)``): the database keeps what a
killed process leaves, and starting the scheduler again is the restart. By then the
provider's result link has expired (``retention_s = 0``: the CDN answers 404).
"""

from __future__ import annotations

import logging

import pytest

from bot.delivery import render
from bot.jobs.model import FailureKind, Job, JobState
from bot.worker.outcomes import MAX_LOOKUP_ATTEMPTS
from tests.fakes.discord import StoredMessage
from tests.fakes.discord_messages import card_text
from tests.kill9_support import has_files
from tests.launch.test_sora_failures import refunded_once
from tests.sora_harness import (
    CHANNEL_MESSAGES,
    MEMBER,
    STARTING_CREDITS,
    SoraHarness,
    Starter,
)

WEBHOOK_MESSAGE = "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
TOKEN_LAPSED = 16 * 60
#: Longer than Discord remembers a nonce: the retry cannot rely on it.
PAST_NONCE_WINDOW = 10 * 60


def showing_video(h: SoraHarness, job: Job) -> list[StoredMessage]:
    """Every message in the channel that shows this job's video."""
    name = f"sora-{job.id}.mp4"
    return [m for m in h.channel_messages()
            if any(a["filename"] == name for a in m.attachments)]


def failure_notices(h: SoraHarness) -> list[StoredMessage]:
    return [m for m in h.channel_messages() if "refunded" in card_text(m)]


async def stop_once_posted(h: SoraHarness, job: Job) -> StoredMessage:
    """Wait until Discord applied the video post (its answer still held), then stop."""
    await h.run_until(job.id, JobState.COMPLETED, step=5)
    await h.until(lambda: showing_video(h, job) != [], what="the video to land")
    await h.bot.scheduler.stop()
    stopped = await h.job(job.id)
    assert stopped.state is JobState.COMPLETED and stopped.delivered_at is None
    [posted] = showing_video(h, job)
    return posted


async def settle(h: SoraHarness, job: Job, *states: JobState) -> Job:
    """Let the scheduler retry (moving the clock past each back-off) until the job leaves
    ``completed``; return it once in ``states``."""

    async def settled() -> bool:
        h.discord.advance(130)  # past the longest back-off between two attempts
        h.bot.scheduler.wake()
        return (await h.job(job.id)).state is not JobState.COMPLETED

    await h.until(settled, timeout=30, what=f"job {job.id} to leave completed")
    return await h.run_until(job.id, *states, step=0)


async def restart_after_expiry(h: SoraHarness, job: Job) -> Job:
    h.apiframe.retention_s = 0  # the result link answers 404 from now on
    h.discord.advance(PAST_NONCE_WINDOW)
    h.discord.release_delays()
    h.bot.scheduler.start()
    return await settle(h, job, JobState.DELIVERED, JobState.REFUNDED)


async def charged_once(h: SoraHarness, job: Job) -> None:
    assert await h.journal() == [("initial", STARTING_CREDITS, None),
                                 ("reserve", -job.price, job.id)]
    assert await h.balance() == STARTING_CREDITS - job.price


async def test_video_edited_into_the_status_message_is_not_refunded_after_a_stop(
    start: Starter,
) -> None:
    """Route (a): the interaction token edited the status message; the token lapsed since."""
    h = await start(jobs={"timeout_minutes": 60})
    h.apiframe.script_next_job(queued_s=1, processing_s=4)
    h.discord.inject_delay("PATCH", WEBHOOK_MESSAGE, 60, after_processing=True, when=has_files)
    job = await h.created_job(await h.send_sora())
    posted = await stop_once_posted(h, job)
    assert posted.id == job.status_message_id
    h.discord.advance(TOKEN_LAPSED)

    job = await restart_after_expiry(h, job)

    assert job.state is JobState.DELIVERED, job.failure_kind
    assert (job.delivery_mode, job.delivered_message_id) == ("attachment", posted.id)
    await charged_once(h, job)
    assert showing_video(h, job) == [posted] and failure_notices(h) == []
    assert h.discord.requests_to("POST", CHANNEL_MESSAGES) == []


async def test_video_posted_in_the_channel_is_not_refunded_after_a_stop(
    start: Starter,
) -> None:
    """Route (b): the token had lapsed, so the video went out as a new channel message."""
    h = await start(jobs={"timeout_minutes": 60})
    h.apiframe.script_next_job(queued_s=1, processing_s=30)
    h.discord.inject_delay("POST", CHANNEL_MESSAGES, 60, after_processing=True, when=has_files)
    job = await h.created_job(await h.send_sora())
    await h.run_until(job.id, JobState.SUBMITTED, step=0)
    h.discord.advance(TOKEN_LAPSED)
    posted = await stop_once_posted(h, job)
    assert posted.id != job.status_message_id and f"Requested by <@{MEMBER}>" in card_text(posted)
    h.discord.post_user_message(h.guild, MEMBER, "wow, thanks!")  # life goes on

    job = await restart_after_expiry(h, job)

    assert job.state is JobState.DELIVERED, job.failure_kind
    assert (job.delivery_mode, job.delivered_message_id) == ("attachment", posted.id)
    await charged_once(h, job)
    assert showing_video(h, job) == [posted] and failure_notices(h) == []
    assert len(h.discord.requests_to("POST", CHANNEL_MESSAGES)) == 1
    # The progress card the stopped run had no time to retire no longer says "Rendering"
    # (retired right after the delivery is recorded, so it may land a moment later).
    def retired() -> bool:
        status = h.discord.get_message(job.status_message_id or 0)
        return status is not None and card_text(status) == render.status_retired_text(failed=False)

    await h.until(retired, what="the progress card to be retired")


async def test_expired_link_with_no_post_ever_made_is_refunded_once_plainly(
    start: Starter,
) -> None:
    """The control: nothing was posted, so the 404 means the member got nothing."""
    h = await start()
    h.apiframe.retention_s = 0
    h.apiframe.script_next_job(queued_s=1, processing_s=4)
    job = await h.created_job(await h.send_sora())

    job = await h.run_until(job.id, JobState.REFUNDED, step=5)

    assert job.failure_kind is FailureKind.RESULT_UNAVAILABLE
    status = await refunded_once(h, job)
    assert "could not be retrieved" in card_text(status)
    assert showing_video(h, job) == []


async def test_a_post_the_bot_cannot_check_is_held_for_a_moderator_not_refunded(
    start: Starter,
) -> None:
    """Route (b) again, but the bot lost Read Message History: it cannot tell whether the
    video landed, so it neither refunds nor tells the member it failed; the audit trail
    asks a moderator to look."""
    h = await start(jobs={"timeout_minutes": 60})
    h.apiframe.script_next_job(queued_s=1, processing_s=30)
    h.discord.inject_delay("POST", CHANNEL_MESSAGES, 60, after_processing=True, when=has_files)
    job = await h.created_job(await h.send_sora())
    await h.run_until(job.id, JobState.SUBMITTED, step=0)
    h.discord.advance(TOKEN_LAPSED)
    posted = await stop_once_posted(h, job)
    h.discord.deny_channel_permission(h.guild.channel_id, "READ_MESSAGE_HISTORY")

    job = await restart_after_expiry(h, job)

    assert (job.state, job.delivery_mode) == (JobState.DELIVERED, "unconfirmed")
    # It looked again a few times first, in case a passing error had kept it from reading.
    lookups = h.discord.requests_to("GET", "/channels/{channel_id}/messages/{message_id}")
    assert len([r for r in lookups if r.status == 403]) == MAX_LOOKUP_ATTEMPTS
    await charged_once(h, job)
    assert showing_video(h, job) == [posted] and failure_notices(h) == []
    [held] = [e for e in await h.services.store.audit.events(h.guild.id) if "⚠️" in e.text]
    assert job.id in held.text and "/budget grant" in held.text


# -- item: a paid video that reached nobody -------------------------------------------------


async def test_a_video_that_can_be_shown_nowhere_is_refunded_and_audited(
    start: Starter,
) -> None:
    h = await start(jobs={"timeout_minutes": 60})
    h.apiframe.script_next_job(queued_s=1, processing_s=30)
    job = await h.created_job(await h.send_sora())
    await h.run_until(job.id, JobState.SUBMITTED, step=0)
    h.discord.advance(TOKEN_LAPSED)
    h.discord.deny_channel_permission(h.guild.channel_id, "VIEW_CHANNEL")
    h.discord.dms_closed.add(MEMBER)

    job = await h.run_until(job.id, JobState.REFUNDED, JobState.DELIVERED, step=5)

    assert (job.state, job.failure_kind) == (JobState.REFUNDED, FailureKind.UNDELIVERABLE)
    assert await h.journal() == [("initial", STARTING_CREDITS, None),
                                 ("reserve", -job.price, job.id),
                                 ("refund", job.price, job.id)]
    assert await h.balance() == STARTING_CREDITS
    refunds = [e for e in await h.services.store.audit.events(h.guild.id) if "↩️" in e.text]
    assert len(refunds) == 1 and job.id in refunds[0].text
    assert "undeliverable" in refunds[0].text
    assert showing_video(h, job) == [] and h.discord.dm_messages(MEMBER) == []


async def test_a_result_every_post_attempt_failed_for_is_refunded_once(
    start: Starter,
) -> None:
    """Every post is refused (400 each time, so discord.py does not retry by itself); the
    channel's history shows the bot nothing landed, so the member does not pay."""
    h = await start(jobs={"timeout_minutes": 60})
    h.apiframe.script_next_job(queued_s=1, processing_s=30)
    job = await h.created_job(await h.send_sora())
    await h.run_until(job.id, JobState.SUBMITTED, step=0)
    h.discord.advance(TOKEN_LAPSED)
    h.discord.inject_status("POST", CHANNEL_MESSAGES, status=400, times=12,
                            body={"message": "Bad request", "code": 0})
    await h.run_until(job.id, JobState.COMPLETED, step=5)

    job = await settle(h, job, JobState.REFUNDED)

    assert job.failure_kind is FailureKind.UNDELIVERABLE
    assert [k for k, _d, _j in await h.journal()] == ["initial", "reserve", "refund"]
    assert await h.balance() == STARTING_CREDITS
    assert showing_video(h, job) == []
    assert len(h.discord.requests_to("POST", CHANNEL_MESSAGES)) >= 12


# -- item: the bot's timeout refunds a job the provider still runs --------------------------


async def test_a_timeout_refund_names_the_provider_job_for_the_operator(
    start: Starter, caplog: pytest.LogCaptureFixture,
) -> None:
    h = await start(jobs={"timeout_minutes": 20})
    audit_channel = h.guild.add_channel("audit")
    await h.services.store.audit.set_channel(h.guild.id, audit_channel.id, actor="user:1")
    h.apiframe.script_next_job(queued_s=1, processing_s=3600)
    job = await h.created_job(await h.send_sora())
    job = await h.run_until(job.id, JobState.SUBMITTED, step=0)
    assert job.apiframe_job_id is not None
    h.discord.advance(21 * 60)

    job = await h.run_until(job.id, JobState.REFUNDED, step=1)

    assert job.failure_kind is FailureKind.TIMEOUT
    assert h.apiframe.jobs[job.apiframe_job_id].state_at(h.apiframe.clock.now()).status \
        not in {"COMPLETED", "FAILED", "CANCELLED"}  # still running at the provider

    def audit_posts() -> list[StoredMessage]:
        return [m for m in h.discord.messages[audit_channel.id]
                if job.apiframe_job_id is not None and job.apiframe_job_id in m.content]

    await h.until(lambda: audit_posts() != [], what="the audit post naming the provider job")
    [post] = audit_posts()
    assert job.id in post.content and "reconcile" in post.content
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING and job.apiframe_job_id in r.getMessage()]
    assert any("timeout" in w for w in warnings)


# -- the fake feature this relies on ----------------------------------------------------------


async def test_fake_history_reads_like_discord(start: Starter) -> None:
    """Newest first; ``after`` gives the messages right after it; no nonce on reads; an empty
    list (not an error) without Read Message History."""
    h = await start()
    channel = h.bot.get_partial_messageable(h.guild.channel_id, guild_id=h.guild.id)
    first = await channel.send("one", nonce="n1")
    second = await channel.send("two")
    h.discord.post_user_message(h.guild, MEMBER, "three")

    after_first = [m.content async for m in channel.history(after=first, limit=10)]
    assert after_first == ["two", "three"]
    newest = [m.content async for m in channel.history(limit=2)]
    assert newest == ["three", "two"]
    [read] = [m async for m in channel.history(before=second, limit=5)]
    assert read.id == first.id and read.nonce is None

    h.discord.deny_channel_permission(h.guild.channel_id, "READ_MESSAGE_HISTORY")
    assert [m async for m in channel.history(limit=5)] == []
