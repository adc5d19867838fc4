"""Cost preview (Confirm/Cancel) and moderator approval (Approve/Deny) through the fakes."""

from __future__ import annotations

import asyncio
import copy
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, cast

from bot.app import SoraBot, open_services
from bot.jobs.model import JobState
from bot.launch.port import NO_AUDIT_CHANNEL
from bot.policy.approvals import APPROVAL_TTL, PREVIEW_TTL
from bot.policy.held import GONE, PendingKind, PendingStatus, custom_id
from cogs.approval_views import MODERATORS_ONLY, NOT_YOURS
from cogs.approvals import ApprovalsCog
from tests.fakes.discord import StoredMessage
from tests.fakes.discord_harness import connected_client
from tests.fakes.discord_messages import card_text
from tests.sora_harness import MEMBER, STARTING_CREDITS, SoraHarness, Starter, integer
from tests.support.requests import video_request

MODERATOR = 2_000_000_000_000_000_102
STRANGER = 2_000_000_000_000_000_103
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
PRICE = 12  # standard, 4 s


def button_ids(message: StoredMessage) -> list[str]:
    return [c["custom_id"] for row in message.components for c in row["components"]]


def request_id_of(message: StoredMessage) -> str:
    return button_ids(message)[0].rsplit(":", 1)[1]


async def gated(start: Starter, **policy: Any) -> SoraHarness:
    h = await start()
    h.guild.add_member(MODERATOR, permissions="MANAGE_GUILD")
    await h.services.rules.update(h.guild.id, actor="user:1", **policy)
    return h


async def with_audit_channel(h: SoraHarness) -> int:
    channel = h.guild.add_channel("audit")
    await h.services.store.audit.set_channel(h.guild.id, channel.id, actor="user:1")
    return channel.id


@dataclass(frozen=True)
class Held:
    """A message with request buttons as first shown, and the request id they carry.

    The snapshot lets a test click as a second member whose client still shows the buttons
    (two moderators racing); the fake edits its stored message in place."""

    message: StoredMessage
    request_id: str

    @classmethod
    def of(cls, message: StoredMessage) -> Held:
        return cls(copy.deepcopy(message), request_id_of(message))


async def click(h: SoraHarness, user_id: int, action: str, held: Held) -> int:
    iid, _token = await h.discord.send_component(
        h.guild, user_id, custom_id(action, held.request_id), held.message)
    return iid


async def click_reply(h: SoraHarness, iid: int, channel_id: int) -> StoredMessage:
    """The ephemeral answer to a click in another channel than the harness's."""
    def found() -> list[StoredMessage]:
        return [m for m in h.discord.messages[channel_id]
                if m.interaction_id == iid and m.ephemeral and not m.loading]
    await h.until(lambda: found() != [], what=f"a reply to click {iid}")
    return found()[0]


async def preview_of(h: SoraHarness) -> tuple[int, Held]:
    iid = await h.send_sora()
    return iid, Held.of(await h.reply(iid, ephemeral=True))


async def audit_request(h: SoraHarness, audit_channel: int) -> Held:
    def found() -> list[StoredMessage]:
        return [m for m in h.discord.messages[audit_channel]
                if any(i.startswith("sora:p:approve:") for i in button_ids(m))]
    await h.until(lambda: found() != [], what="the approval request in the audit channel")
    return Held.of(found()[0])


def live(h: SoraHarness, held: Held) -> StoredMessage:
    """The message as it is now."""
    latest = h.discord.get_message(held.message.id)
    assert latest is not None
    return latest


def cog(h: SoraHarness) -> ApprovalsCog:
    return cast(ApprovalsCog, h.bot.get_cog("ApprovalsCog"))


# -- preview -----------------------------------------------------------------------------


async def test_cheap_request_is_not_gated(start: Starter) -> None:
    h = await gated(start, preview_above=PRICE)  # "above": a price equal to it passes
    iid = await h.send_sora()
    await h.created_job(iid)
    assert await h.balance() == STARTING_CREDITS - PRICE


async def test_preview_shows_the_price_and_cancel_charges_nothing(start: Starter) -> None:
    h = await gated(start, preview_above=10, daily_cap=100)
    iid, preview = await preview_of(h)

    assert button_ids(preview.message) == [custom_id(a, preview.request_id)
                                           for a in ("confirm", "cancel")]
    fields = {f["name"]: f["value"] for f in preview.message.embeds[0]["fields"]}
    assert fields["Price"] == f"{PRICE} credits"
    assert fields["Server balance after"] == str(STARTING_CREDITS - PRICE)
    assert fields["Variant"] == "sora-2-pro · Standard · 4 s · 16:9"
    assert fields["Your daily cap"].startswith("100 credits left")
    assert await h.job_of(iid) is None and await h.balance() == STARTING_CREDITS

    await click(h, MEMBER, "cancel", preview)
    await h.until(lambda: "Cancelled" in live(h, preview).content,
                  what="the preview to say cancelled")
    assert (live(h, preview)).components == []
    assert await h.job_count() == 0
    assert await h.balance() == STARTING_CREDITS
    request = await h.services.store.pending.get(preview.request_id)
    assert request is not None and request.status is PendingStatus.CANCELLED


async def test_confirm_starts_the_job_and_charges_once(start: Starter) -> None:
    h = await gated(start, preview_above=10)
    _iid, preview = await preview_of(h)

    stranger = await click(h, STRANGER, "confirm", preview)
    assert (await h.reply(stranger)).content == NOT_YOURS

    confirm = await click(h, MEMBER, "confirm", preview)
    job = await h.created_job(confirm)
    assert job.user_id == MEMBER and job.price == PRICE
    assert job.status_message_id is not None  # the Confirm click's public "thinking…"
    again = await click(h, MEMBER, "confirm", preview)
    assert (await h.reply(again)).content == GONE

    await h.run_until(job.id, JobState.DELIVERED)
    assert await h.job_count() == 1
    assert [k for k, _d, _j in await h.journal()].count("reserve") == 1
    assert await h.balance() == STARTING_CREDITS - PRICE


async def test_an_expired_preview_cannot_be_confirmed(start: Starter) -> None:
    h = await gated(start, preview_above=10)
    _iid, preview = await preview_of(h)

    h.discord.advance(PREVIEW_TTL.total_seconds() + 1)
    confirm = await click(h, MEMBER, "confirm", preview)

    assert (await h.reply(confirm)).content == GONE
    assert await h.job_of(confirm) is None
    assert await h.balance() == STARTING_CREDITS


# -- approval ----------------------------------------------------------------------------


async def test_approval_without_an_audit_channel_is_refused(start: Starter) -> None:
    h = await gated(start, approval_above=10)
    iid = await h.send_sora()
    assert (await h.reply(iid)).content == NO_AUDIT_CHANNEL
    assert await h.services.store.db.fetchall("SELECT id FROM pending_requests") == []


async def test_moderator_approves_and_the_job_is_delivered_in_the_channel(
    start: Starter,
) -> None:
    h = await gated(start, approval_above=10, preview_above=5)  # approval wins
    audit = await with_audit_channel(h)
    iid = await h.send_sora()
    assert "moderator must approve" in (await h.reply(iid)).content
    request = await audit_request(h, audit)
    assert f"<@{MEMBER}>" in str(request.message.embeds[0]["fields"])
    assert await h.balance() == STARTING_CREDITS

    refused = await click(h, MEMBER, "approve", request)
    assert (await click_reply(h, refused, audit)).content == MODERATORS_ONLY
    assert await h.job_count() == 0

    await click(h, MODERATOR, "approve", request)
    await h.until(lambda: "Approved by" in live(h, request).content, what="the approval edit")
    assert (live(h, request)).components == []
    rows = await h.services.store.db.fetchall("SELECT id FROM jobs WHERE user_id = ?", (MEMBER,))
    assert len(rows) == 1
    assert await h.balance() == STARTING_CREDITS - PRICE

    job = await h.run_until(str(rows[0]["id"]), JobState.DELIVERED)
    delivered = h.discord.get_message(job.delivered_message_id or 0)
    assert delivered is not None and delivered.channel_id == h.guild.channel_id
    assert f"Requested by <@{MEMBER}>" in card_text(delivered)
    assert delivered.allowed_mentions is not None
    assert [int(u) for u in delivered.allowed_mentions.get("users", [])] == [MEMBER]


async def test_deny_tells_the_member_and_charges_nothing(start: Starter) -> None:
    h = await gated(start, approval_above=10)
    audit = await with_audit_channel(h)
    await h.send_sora()
    request = await audit_request(h, audit)

    await click(h, MODERATOR, "deny", request)

    def notices() -> list[StoredMessage]:
        return [m for m in h.channel_messages() if "was denied" in m.content]
    await h.until(lambda: notices() != [], what="the denial notice")
    assert notices()[0].content.startswith(f"<@{MEMBER}>")
    assert "Denied by" in (live(h, request)).content
    late = await click(h, MODERATOR, "approve", request)
    assert (await click_reply(h, late, audit)).content == GONE
    assert await h.job_count() == 0 and await h.balance() == STARTING_CREDITS


async def test_expiry_tells_the_member_and_charges_nothing(start: Starter) -> None:
    h = await gated(start, approval_above=10)
    audit = await with_audit_channel(h)
    await h.send_sora()
    request = await audit_request(h, audit)

    h.discord.advance(APPROVAL_TTL.total_seconds() + 1)
    await cog(h).sweep()

    notices = [m for m in h.channel_messages() if "expired" in m.content]
    assert len(notices) == 1 and notices[0].content.startswith(f"<@{MEMBER}>")
    assert "Expired" in (live(h, request)).content
    await cog(h).sweep()  # told once only
    assert len([m for m in h.channel_messages() if "expired" in m.content]) == 1
    late = await click(h, MODERATOR, "approve", request)
    assert (await click_reply(h, late, audit)).content == GONE
    assert await h.job_count() == 0 and await h.balance() == STARTING_CREDITS


async def test_a_restart_keeps_the_pending_approval(start: Starter) -> None:
    h = await gated(start, approval_above=10)
    audit = await with_audit_channel(h)
    await h.send_sora()
    request = await audit_request(h, audit)
    await h.bot.close()  # nothing of the first bot survives but the database

    async with AsyncExitStack() as stack:
        services = await stack.enter_async_context(
            open_services(h.services.settings, h.services.clock))
        bot = SoraBot(services, run_jobs=True, guild_ready_timeout=0.1)
        await stack.enter_async_context(connected_client(h.discord, bot))
        second = SoraHarness(h.discord, h.apiframe, services, bot, h.guild)

        await click(second, MODERATOR, "approve", request)
        await second.until(lambda: "Approved by" in live(second, request).content,
                           what="approval")
        assert await second.job_count() == 1
        assert await second.balance() == STARTING_CREDITS - PRICE


# -- configuration and the store ---------------------------------------------------------


async def test_budget_limits_set_changes_both_thresholds(start: Starter) -> None:
    h = await gated(start)
    limits = {"name": "limits", "type": SUB_COMMAND_GROUP, "options": [
        {"name": "set", "type": SUB_COMMAND,
         "options": [integer("preview_above", 20), integer("approval_above", 40)]}]}
    iid, _token = await h.discord.send_slash_command(h.guild, MODERATOR, "budget",
                                                     options=[limits])
    answer = await h.reply(iid)
    fields = {f["name"]: f["value"] for f in answer.embeds[0]["fields"]}
    assert fields["Preview above"] == "20 credits"
    assert fields["Approval above"] == "40 credits"
    policy = await h.services.rules.get(h.guild.id)
    assert (policy.preview_above, policy.approval_above) == (20, 40)

    await h.services.rules.update(h.guild.id, actor="user:1", preview_above=None)
    assert (await h.services.rules.get(h.guild.id)).preview_above is None


async def test_two_decisions_at_once_start_at_most_one(start: Starter) -> None:
    h = await start()
    pending = h.services.store.pending
    request = await pending.create(PendingKind.APPROVAL, video_request(
        guild_id=h.guild.id, channel_id=h.guild.channel_id, user_id=MEMBER, role_ids=(5, 6),
        price=PRICE, token_expires_at=h.services.clock(),
    ))
    assert request.role_ids == (5, 6)
    outcomes = await asyncio.gather(
        pending.decide(request.id, PendingStatus.STARTED, actor="user:1"),
        pending.decide(request.id, PendingStatus.DENIED, actor="user:2"),
    )
    assert sum(o is not None for o in outcomes) == 1
