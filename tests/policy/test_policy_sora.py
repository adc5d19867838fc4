"""The guild policy enforced by the running bot: raw /sora interactions through the loopback
fakes, refused privately with the rule and when to retry, charging nothing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from bot.jobs.model import Job
from tests.fakes.discord import StoredMessage
from tests.fakes.discord_payloads import channel_object, role_object
from tests.sora_harness import (
    CALLBACK,
    EPHEMERAL,
    GENERATE,
    MEMBER,
    STARTING_CREDITS,
    SoraHarness,
    Starter,
)

MOD = "user:42"
#: Lift the configured in-flight limits so only the policy under test can refuse.
ROOMY: dict[str, Any] = {"max_in_flight_per_member": 100, "max_in_flight_per_guild": 1000}


@dataclass(frozen=True)
class Charges:
    jobs: int
    journal: int
    balance: int
    generated: int


async def charges(h: SoraHarness) -> Charges:
    balance = await h.balance()  # first: reading it opens the guild's account (a journal row)
    return Charges(await h.job_count(), len(await h.journal()), balance,
                   len(h.apiframe_requests(GENERATE)))


async def refused(h: SoraHarness, iid: int, before: Charges) -> StoredMessage:
    """The private answer to ``iid``, after checking the request changed nothing."""
    answer = await h.reply(iid, ephemeral=True)
    assert answer.flags & EPHEMERAL
    assert answer.allowed_mentions is not None and answer.allowed_mentions["parse"] == []
    assert await h.job_of(iid) is None
    assert await charges(h) == before
    assert [m for m in h.channel_messages() if m.interaction_id == iid] == []
    return answer


def answered_before_deferring(h: SoraHarness, iid: int) -> bool:
    callback = h.discord.interaction_responses(iid)[0]
    return callback.route == CALLBACK and callback.json["type"] == 4


async def reserved_by_member(h: SoraHarness) -> int:
    row = await h.services.store.db.fetchone(
        "SELECT COALESCE(SUM(price), 0) AS s FROM jobs WHERE user_id = ?", (MEMBER,)
    )
    assert row is not None
    return int(row["s"])


async def test_twenty_parallel_requests_at_90_percent_of_the_daily_cap_hold_it_exactly(
    start: Starter,
) -> None:
    h = await start(jobs=ROOMY)
    await h.services.rules.update(h.guild.id, actor=MOD, daily_cap=120)
    for _ in range(9):  # standard-4s costs 12: 108 of 120 spent
        await h.created_job(await h.send_sora())
    assert (await h.services.rules.spending(h.guild.id, MEMBER)).today == 108

    iids = await asyncio.gather(*(h.send_sora() for _ in range(20)))

    async def settled(iid: int) -> Job | StoredMessage:
        async def done() -> bool:
            return await h.job_of(iid) is not None or h._replies(iid, True) != []
        await h.until(done, what=f"interaction {iid} to be accepted or refused")
        return await h.job_of(iid) or await h.reply(iid, ephemeral=True)

    outcomes = [await settled(iid) for iid in iids]
    accepted = [o for o in outcomes if isinstance(o, Job)]
    refusals = [o for o in outcomes if isinstance(o, StoredMessage)]
    assert len(accepted) == 1 and len(refusals) == 19
    # Each refusal saw the one accepted job: the check ran in the reserving transaction.
    for answer in refusals:
        assert answer.content.startswith(
            "This video costs 12 credits and you have spent 120 of your daily cap of 120 "
            "credits today. You can try again <t:"
        ), answer.content
    # Exactly the cap was charged: the jobs, the journal and the balance all agree.
    assert await reserved_by_member(h) == 120
    reserves = [delta for kind, delta, _job in await h.journal() if kind == "reserve"]
    assert sum(reserves) == -120 and len(reserves) == 10
    assert await h.balance() == STARTING_CREDITS - 120
    # The refused requests left no public "thinking…" placeholder behind.
    refused_iids = [m.interaction_id for m in refusals]
    assert [m for m in h.channel_messages() if m.interaction_id in refused_iids] == []


async def test_cooldown_refuses_with_when_to_retry(start: Starter) -> None:
    h = await start(jobs=ROOMY)
    await h.services.rules.update(h.guild.id, actor=MOD, cooldown_seconds=600)
    first = await h.created_job(await h.send_sora())
    # The first job's submission races the counts below: let it land first.
    await h.until(lambda: len(h.apiframe_requests(GENERATE)) == 1, what="the first submit")
    before = await charges(h)
    iid = await h.send_sora()
    answer = await refused(h, iid, before)
    ready = int(first.created_at.timestamp()) + 600
    assert answer.content == (
        "This server has a cooldown of 10 minutes between your videos. You can start another "
        f"<t:{ready}:R>. Nothing was charged."
    )
    assert answered_before_deferring(h, iid)


async def test_role_rule_refuses_members_without_an_allowed_role(start: Starter) -> None:
    h = await start()
    role = h.guild.add_role("Video makers")
    await h.discord.dispatch(
        "GUILD_ROLE_CREATE", {"guild_id": str(h.guild.id), "role": role_object(h.guild, role.id)}
    )

    def known() -> bool:
        guild = h.bot.get_guild(h.guild.id)
        return guild is not None and guild.get_role(role.id) is not None

    await h.until(known, what="the bot to know the new role")
    await h.services.rules.set_roles(h.guild.id, [role.id], actor=MOD)
    before = await charges(h)
    answer = await refused(h, await h.send_sora(), before)
    assert answer.content == (
        f"On this server videos are for members with one of these roles: <@&{role.id}>. "
        "Nothing was charged."
    )
    h.guild.add_member(MEMBER, roles=[role.id])
    job = await h.created_job(await h.send_sora())
    assert job.price == 12 and await h.balance() == STARTING_CREDITS - 12


async def test_channel_rule_names_the_channels_where_sora_works(start: Starter) -> None:
    h = await start()
    videos = h.guild.add_channel("videos")
    await h.discord.dispatch("CHANNEL_CREATE", channel_object(videos))
    await h.services.rules.set_channels(h.guild.id, [videos.id], actor=MOD)
    before = await charges(h)
    answer = await refused(h, await h.send_sora(), before)
    assert answer.content == (
        f"Videos can't be made in this channel. Try again in <#{videos.id}>. Nothing was charged."
    )
    job = await h.created_job(await h.send_sora(channel_id=videos.id))
    assert job.channel_id == videos.id


async def test_maximum_variant_refuses_dearer_resolution_or_duration(start: Starter) -> None:
    h = await start()
    await h.services.rules.update(h.guild.id, actor=MOD, max_resolution="standard",
                                   max_duration=8)
    before = await charges(h)
    answer = await refused(h, await h.send_sora(resolution="high"), before)
    assert answer.content == (
        "This server allows at most standard resolution and 8 seconds; you asked for high, "
        "4 seconds. Try again with a smaller variant. Nothing was charged."
    )
    answer = await refused(h, await h.send_sora(duration=10), before)
    assert "you asked for standard, 10 seconds" in answer.content
    job = await h.created_job(await h.send_sora(duration=8))
    assert (job.resolution, job.duration, job.price) == ("standard", 8, 24)


async def test_freeze_stops_spending_until_unfrozen(start: Starter) -> None:
    h = await start()
    await h.services.rules.set_frozen(h.guild.id, True, actor=MOD)
    before = await charges(h)
    iid = await h.send_sora()
    answer = await refused(h, iid, before)
    assert answer.content == (
        "The moderators have paused video generation on this server. You can try again once "
        "they resume it. Nothing was charged."
    )
    await h.services.rules.set_frozen(h.guild.id, False, actor=MOD)
    job = await h.created_job(await h.send_sora())
    assert await h.balance() == STARTING_CREDITS - job.price
