"""The audit outbox: settings, the once-per-crossing low-balance alert, and (through the
in-process bot and fake Discord) one audit-channel message per ledger change and job outcome."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from bot.audit.trail import AuditLog, EventStatus
from bot.budget import BudgetService
from bot.config import Settings
from bot.jobs.model import JobState
from bot.jobs.store import JobStore
from bot.ledger.types import InvalidArgument
from tests.sora_harness import CHANNEL_MESSAGES, STARTING_CREDITS, Starter
from tests.support.stores import make_job, settings_with

GUILD = 111_111_111_111_111_111
MOD = 333_333_333_333_333_333
ALERT = "⚠️ Low balance"

new_job = partial(make_job, guild_id=GUILD, user_id=7)


@pytest.fixture
def settings() -> Settings:
    return settings_with(ledger={"starting_credits": 100, "max_balance": 10_000})


async def alerts(audit: AuditLog) -> list[str]:
    return [e.text for e in await audit.events(GUILD) if e.text.startswith(ALERT)]


async def test_settings_default_to_nothing_and_can_be_set_and_cleared(audit: AuditLog) -> None:
    blank = await audit.settings(GUILD)
    assert (blank.channel_id, blank.low_balance_threshold, blank.low_balance_alerted) == (
        None, None, False)

    await audit.set_channel(GUILD, 555, actor=f"user:{MOD}")
    both = await audit.set_low_balance(GUILD, 40, actor=f"user:{MOD}")
    assert (both.channel_id, both.low_balance_threshold) == (555, 40)

    cleared = await audit.set_channel(GUILD, None, actor=f"user:{MOD}")
    assert (cleared.channel_id, cleared.low_balance_threshold) == (None, 40)
    assert (await audit.set_low_balance(GUILD, None, actor="x")).low_balance_threshold is None


@pytest.mark.parametrize("threshold", [0, -3, 1.5, "10", True, 2**53])
async def test_invalid_thresholds_are_refused(audit: AuditLog, threshold: Any) -> None:
    with pytest.raises(InvalidArgument, match="threshold must be a whole number"):
        await audit.set_low_balance(GUILD, threshold, actor="x")
    assert (await audit.settings(GUILD)).low_balance_threshold is None


@pytest.mark.parametrize("channel", [0, -1, "123", 1.0, True])
async def test_invalid_channels_are_refused(audit: AuditLog, channel: Any) -> None:
    with pytest.raises(InvalidArgument, match="Channel must be a Discord id"):
        await audit.set_channel(GUILD, channel, actor="x")


async def test_low_balance_alert_fires_once_per_crossing_and_rearms_above_threshold(
    audit: AuditLog, budget: BudgetService, jobs: JobStore
) -> None:
    await audit.set_low_balance(GUILD, 50, actor=f"user:{MOD}")

    await budget.deduct(GUILD, 30, actor_id=MOD, can_mint=True, reason="r")  # 70
    assert await alerts(audit) == []
    await budget.deduct(GUILD, 30, actor_id=MOD, can_mint=True, reason="r")  # 40: crosses
    assert await alerts(audit) == [
        "⚠️ Low balance: the server has 40 credits left, below the alert threshold of 50."
    ]
    assert (await audit.settings(GUILD)).low_balance_alerted
    await jobs.create(new_job(price=5), max_per_guild=5, max_per_member=5)  # 35: still below
    await budget.set(GUILD, 20, actor_id=MOD, can_mint=True, reason="r")  # 20: still below
    assert len(await alerts(audit)) == 1

    await budget.set(GUILD, 50, actor_id=MOD, can_mint=True, reason="r")  # at threshold: re-arm
    assert not (await audit.settings(GUILD)).low_balance_alerted
    assert len(await alerts(audit)) == 1
    await budget.deduct(GUILD, 1, actor_id=MOD, can_mint=True, reason="r")  # 49: crosses again
    assert len(await alerts(audit)) == 2

    # The alert is the event right after the change that caused it, in the same transaction.
    texts = [e.text for e in await audit.events(GUILD)]
    assert texts[-2].startswith(f"➖ <@{MOD}> deducted 1 credit.")
    assert texts[-1].startswith(ALERT) and "49 credits" in texts[-1]


async def test_no_threshold_means_no_alert(audit: AuditLog, budget: BudgetService) -> None:
    await budget.deduct(GUILD, 99, actor_id=MOD, can_mint=True, reason="r")
    assert await alerts(audit) == []
    assert len(await audit.events(GUILD)) == 1


async def test_the_audit_channel_gets_one_message_per_ledger_change_and_job_outcome(
    start: Starter,
) -> None:
    h = await start()
    guild, audit, budget = h.guild.id, h.services.store.audit, h.services.budget

    # Before there is an audit channel, events are settled as skipped, never posted later.
    early = await budget.grant(guild, 1, actor_id=MOD, can_mint=True, reason="before")
    assert early.balance_after == STARTING_CREDITS + 1

    async def all_settled() -> bool:
        return all(e.status is not EventStatus.PENDING for e in await audit.events(guild))

    await h.until(all_settled, what="the early event to be skipped")
    assert [e.status for e in await audit.events(guild)] == [EventStatus.SKIPPED]

    channel = h.guild.add_channel("budget-audit")
    await audit.set_channel(guild, channel.id, actor=f"user:{MOD}")
    await budget.grant(guild, 99, actor_id=MOD, can_mint=True, reason="prize @everyone")
    await budget.deduct(guild, 50, actor_id=MOD, can_mint=True, reason="misuse")
    await budget.set(guild, 450, actor_id=MOD, can_mint=True, reason="reset")
    await audit.set_low_balance(guild, 445, actor=f"user:{MOD}")

    delivered = await h.created_job(await h.send_sora("a fox in the snow"))
    delivered = await h.run_until(delivered.id, JobState.DELIVERED)
    h.apiframe.script_next_job("FAILED", error="GPU worker crashed", processing_s=6)
    failed = await h.created_job(await h.send_sora("a cat in the rain"))
    failed = await h.run_until(failed.id, JobState.REFUNDED)
    await budget.refund_job(guild, delivered.id, actor_id=MOD, reason="blurry")

    events = (await audit.events(guild))[1:]
    expected = [
        "➕", "➖", "✏️",  # the moderator's three changes
        f"🎬 <@{delivered.user_id}> started job `{delivered.id}`",
        ALERT,  # 450 - price is below 445: once, although the balance stays below a while
        f"✅ Job `{delivered.id}`",
        f"🎬 <@{failed.user_id}> started job `{failed.id}`",
        f"↩️ Job `{failed.id}`",
        f"↩️ <@{MOD}> refunded {delivered.price} credits for job `{delivered.id}`",
    ]
    assert len(events) == len(expected)
    for event, beginning in zip(events, expected, strict=True):
        assert event.text.startswith(beginning), (event.text, beginning)

    def posted() -> list[Any]:
        return [m for m in h.discord.messages[channel.id] if not m.ephemeral]

    await h.until(lambda: len(posted()) >= len(events), what="every audit event to be posted")
    await h.until(all_settled, what="the outbox to be marked")
    messages = posted()
    assert [m.content for m in messages] == [e.text for e in events]
    assert [m.nonce for m in messages] == [f"a{e.id}" for e in events]
    assert all(m.allowed_mentions is not None and m.allowed_mentions["parse"] == []
               for m in messages)
    assert [e.message_id for e in await audit.events(guild)][1:] == [m.id for m in messages]
    assert {e.status for e in (await audit.events(guild))[1:]} == {EventStatus.POSTED}
    # Nothing of the audit reached the members' channel.
    assert not any(m.content.startswith(("➕", "⚠️")) for m in h.channel_messages())
    # A second pass finds nothing left to post.
    assert await h.bot.audit_poster.post_pending() == 0
    assert len(posted()) == len(events)


async def test_the_poster_retries_a_discord_outage_and_gives_up_on_a_closed_channel(
    start: Starter,
) -> None:
    h = await start()
    guild, audit, budget = h.guild.id, h.services.store.audit, h.services.budget
    channel = h.guild.add_channel("budget-audit")
    await audit.set_channel(guild, channel.id, actor=f"user:{MOD}")

    def sends(status: int) -> list[Any]:
        return [r for r in h.discord.requests
                if r.method == "POST" and r.path.endswith(f"/channels/{channel.id}/messages")
                and r.status == status]

    # 503 is not retried by discord.py itself, so the poster's own retry is what is tested.
    h.discord.inject_status("POST", CHANNEL_MESSAGES, status=503)
    await budget.grant(guild, 5, actor_id=MOD, can_mint=True, reason="during an outage")
    await h.until(lambda: len(sends(503)) == 1, what="the failed post")
    (event,) = await audit.events(guild)
    assert event.status is EventStatus.PENDING

    h.bot.audit_poster.wake()
    await h.until(lambda: len(h.discord.messages[channel.id]) == 1, what="the retried post")
    (event,) = await audit.events(guild)
    await h.until(lambda: len(sends(200)) == 1, what="the post to be answered")
    assert h.discord.messages[channel.id][0].nonce == f"a{event.id}"

    # Without permission to post, the event is settled as failed instead of retried forever.
    h.discord.deny_channel_permission(channel.id, "send_messages")
    await budget.deduct(guild, 5, actor_id=MOD, can_mint=True, reason="no access")

    async def second_settled() -> bool:
        return (await audit.events(guild))[-1].status is not EventStatus.PENDING

    await h.until(second_settled, what="the refused event to be settled")
    assert [e.status for e in await audit.events(guild)] == [
        EventStatus.POSTED, EventStatus.FAILED]
    assert len(h.discord.messages[channel.id]) == 1
    assert await h.bot.audit_poster.post_pending() == 0
