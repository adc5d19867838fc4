"""Once a request's job row exists, nothing after it may fail, undo or repeat the request.

The status-card edit, the approval edit and the open acknowledgement's bookkeeping run after
(or with) the charge: a dropped connection there must not tell the member "something went
wrong" for a video they will get, nor reopen a held request for a second charge.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from bot.app import SoraBot, open_services
from bot.delivery.render import ORPHAN_TEXT
from bot.jobs.acks import OpenAck
from bot.jobs.model import JobState
from bot.policy.held import GONE
from tests.fakes.discord_harness import connected_client
from tests.policy.test_approvals import (
    MODERATOR,
    PRICE,
    audit_request,
    click,
    click_reply,
    gated,
    live,
    preview_of,
    with_audit_channel,
)
from tests.sora_harness import CALLBACK, MEMBER, ORIGINAL, STARTING_CREDITS, SoraHarness, Starter


async def reserves(h: SoraHarness) -> int:
    return [kind for kind, _delta, _job in await h.journal()].count("reserve")


async def has_jobs(h: SoraHarness) -> bool:
    return await h.job_count() > 0


def private_replies(h: SoraHarness, iid: int) -> list[str]:
    return [m.content for m in h.discord.messages[h.guild.channel_id]
            if m.interaction_id == iid and m.ephemeral]


@asynccontextmanager
async def restarted(h: SoraHarness) -> AsyncIterator[SoraHarness]:
    """A second bot on the same database, after the first one is gone.

    The first connection is closed as the process's exit would: a step cancelled by
    ``bot.close()`` just after its ``BEGIN IMMEDIATE`` could otherwise keep the write lock.
    """
    await h.bot.close()
    await h.services.store.db.close()
    async with AsyncExitStack() as stack:
        services = await stack.enter_async_context(
            open_services(h.services.settings, h.services.clock))
        bot = SoraBot(services, run_jobs=True, guild_ready_timeout=0.1)
        await stack.enter_async_context(connected_client(h.discord, bot))
        yield SoraHarness(h.discord, h.apiframe, services, bot, h.guild)


async def test_a_reset_on_the_status_edit_is_not_a_failure(start: Starter) -> None:
    h = await start()
    h.discord.inject_reset("PATCH", ORIGINAL)  # the first status-card edit after the job row

    iid = await h.send_sora()
    job = await h.run_until((await h.created_job(iid)).id, JobState.DELIVERED)

    # The placeholder was kept (not deleted as by the error handler) and now shows the video.
    placeholder = h.discord.interactions[iid].original_message_id
    assert placeholder is not None and job.delivered_message_id == placeholder
    assert h.discord.requests_to("DELETE", ORIGINAL) == []
    assert private_replies(h, iid) == []
    assert await h.job_count() == 1 and await reserves(h) == 1
    assert await h.balance() == STARTING_CREDITS - job.price


async def test_a_confirm_whose_status_edit_fails_cannot_be_confirmed_again(
    start: Starter,
) -> None:
    h = await gated(start, preview_above=10)
    _iid, preview = await preview_of(h)
    h.discord.inject_reset("PATCH", ORIGINAL)

    confirm = await click(h, MEMBER, "confirm", preview)
    job = await h.run_until((await h.created_job(confirm)).id, JobState.DELIVERED)
    assert private_replies(h, confirm) == []

    again = await click(h, MEMBER, "confirm", preview)
    assert (await h.reply(again)).content == GONE
    assert await h.job_count() == 1 and await reserves(h) == 1
    assert await h.balance() == STARTING_CREDITS - PRICE
    request = await h.services.store.pending.get(preview.request_id)
    assert request is not None and request.status == "started"
    assert job.user_id == MEMBER


async def test_an_approval_whose_edit_fails_is_not_reported_failed_or_repeated(
    start: Starter,
) -> None:
    h = await gated(start, approval_above=10)
    audit = await with_audit_channel(h)
    await h.send_sora()
    request = await audit_request(h, audit)
    h.discord.inject_reset("POST", CALLBACK)  # the approval's own UPDATE_MESSAGE

    approve = await click(h, MODERATOR, "approve", request)
    await h.until(lambda: has_jobs(h), what="the approved job")
    late = await click(h, MODERATOR, "approve", request)

    assert (await click_reply(h, late, audit)).content == GONE
    assert [m.content for m in h.discord.messages[audit]
            if m.interaction_id == approve and m.ephemeral] == []
    assert "Approved by" not in live(h, request).content  # the edit really was lost
    assert await h.job_count() == 1 and await reserves(h) == 1


async def test_a_failing_ack_close_never_charges_a_request_told_it_failed(
    start: Starter,
) -> None:
    h = await start()
    db = h.services.store.db
    async with db.transaction() as tx:  # a store that refuses this one write, as a full disk
        await tx.execute("CREATE TRIGGER acks_stuck BEFORE DELETE ON open_acks"
                         " BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")

    iid = await h.send_sora()
    told = await h.reply(iid)

    assert "Something went wrong" in told.content
    assert await h.job_count() == 0 and await reserves(h) == 0
    assert await h.balance() == STARTING_CREDITS
    # The acknowledgement is still noted, so the next run may (truthfully) say nothing was
    # charged; the placeholder it would edit is already gone with the private answer.
    assert await db.fetchall("SELECT interaction_id FROM open_acks") != []


async def test_a_left_over_ack_of_a_recorded_job_is_not_retired_as_uncharged(
    start: Starter,
) -> None:
    h = await start()
    iid = await h.send_sora()
    job = await h.run_until((await h.created_job(iid)).id, JobState.DELIVERED)
    sent = h.discord.interactions[iid]
    # What a run killed between the job row and the ack's bookkeeping would leave behind.
    await h.services.store.acks.open(OpenAck(iid, h.discord.application_id, sent.token,
                                             h.now().replace(year=h.now().year + 1)))

    async with restarted(h) as second:
        assert await second.services.store.db.fetchall("SELECT * FROM open_acks") == []
        shown = second.discord.get_message(job.delivered_message_id or 0)
        assert shown is not None and shown.content != ORPHAN_TEXT
        assert all(ORPHAN_TEXT not in str(r.json) for r in second.discord.requests_to(
            "PATCH", ORIGINAL))
