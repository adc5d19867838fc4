"""A held request left ``started`` without a job (a kill between the decision and the job
row) is ended and its member told nothing was charged; one whose job exists is left alone."""

from __future__ import annotations

from bot.jobs.model import JobState
from bot.policy.approvals import STARTED_GRACE, PendingStatus
from bot.policy.held import GONE
from tests.fakes.discord import StoredMessage
from tests.launch.test_launch_after_job import restarted
from tests.policy.test_approvals import (
    MODERATOR,
    PRICE,
    audit_request,
    click,
    cog,
    gated,
    live,
    preview_of,
    with_audit_channel,
)
from tests.sora_harness import MEMBER, STARTING_CREDITS, SoraHarness, Starter

NOT_STARTED = "could not be started"


def notices(h: SoraHarness) -> list[StoredMessage]:
    return [m for m in h.channel_messages() if NOT_STARTED in m.content]


async def test_a_confirm_left_started_without_a_job_is_ended_and_told(start: Starter) -> None:
    h = await gated(start, preview_above=10)
    _iid, preview = await preview_of(h)
    pending = h.services.store.pending
    # What the Confirm click does before its job row; the process dies right after.
    assert await pending.decide(preview.request_id, PendingStatus.STARTED,
                                actor=f"user:{MEMBER}") is not None
    await cog(h).sweep()
    assert notices(h) == []  # a run still working on it gets its grace

    h.discord.advance(STARTED_GRACE.total_seconds() + 1)
    await cog(h).sweep()
    await cog(h).sweep()

    [notice] = notices(h)
    assert notice.content.startswith(f"<@{MEMBER}>")
    assert "Nothing was charged" in notice.content and "ask for it again" in notice.content
    request = await pending.get(preview.request_id)
    assert request is not None and request.status is PendingStatus.EXPIRED
    assert request.abandoned
    late = await click(h, MEMBER, "confirm", preview)
    assert (await h.reply(late)).content == GONE
    assert await h.job_count() == 0 and await h.balance() == STARTING_CREDITS


async def test_an_approval_left_started_is_resolved_at_start_up(start: Starter) -> None:
    h = await gated(start, approval_above=10)
    audit = await with_audit_channel(h)
    await h.send_sora()
    request = await audit_request(h, audit)
    assert await h.services.store.pending.decide(
        request.request_id, PendingStatus.STARTED, actor=f"user:{MODERATOR}") is not None
    h.discord.advance(STARTED_GRACE.total_seconds() + 1)  # down for a while, then restarted

    async with restarted(h) as second:
        await second.until(lambda: notices(second) != [], what="the notice after restart")
        assert len(notices(second)) == 1
        await second.until(lambda: "nothing was charged" in live(second, request).content,
                           what="the audit message to be retired")
        assert live(second, request).components == []
        assert await second.job_count() == 0 and await second.balance() == STARTING_CREDITS


async def test_a_started_request_whose_job_exists_is_not_told_it_failed(
    start: Starter,
) -> None:
    h = await gated(start, preview_above=10)
    _iid, preview = await preview_of(h)
    confirm = await click(h, MEMBER, "confirm", preview)
    job = await h.created_job(confirm)
    db = h.services.store.db
    h.discord.advance(STARTED_GRACE.total_seconds() + 1)
    await cog(h).sweep()
    # A request decided before jobs claimed their request carries no claim: its job is
    # found by what it copied from the request, and it is marked done.
    async with db.transaction() as tx:
        await tx.execute("UPDATE pending_requests SET notified = 0 WHERE id = ?",
                         (preview.request_id,))
    await cog(h).sweep()

    assert notices(h) == []
    request = await h.services.store.pending.get(preview.request_id)
    assert request is not None and request.status is PendingStatus.STARTED
    row = await db.fetchone("SELECT notified FROM pending_requests WHERE id = ?",
                            (preview.request_id,))
    assert row is not None and row["notified"] == 1
    await h.run_until(job.id, JobState.DELIVERED)
    assert await h.balance() == STARTING_CREDITS - PRICE
