"""Strikes through the real bot and both loopback fakes: Apiframe refuses prompts for content
policy, the member is told, the audit channel records it, the cooldown refuses the next paid
launch before anything is spent, a moderator lists and clears, the window runs out, and the
guild's word list refuses a prompt for free without pinging anyone."""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.jobs.model import FailureKind, Job, JobState
from tests.cogs.test_budget_cog import MODERATOR, USER, budget, group, moderated, string, sub
from tests.fakes.discord import StoredMessage
from tests.fakes.discord_messages import card_text
from tests.fakes.discord_models import FakeChannel
from tests.sora_harness import (
    GENERATE,
    MEMBER,
    STARTING_CREDITS,
    SoraHarness,
    Starter,
    integer,
)

REFUSED = "a prompt the provider refuses"
POLICY_ERROR = "Provider returned an error: content policy violation (code=moderation_blocked)"
#: Two refusals within 24 h start a cooldown of 12 h.
STRIKES = {"policy": {"strike_limit": 2, "strike_window_hours": 24,
                      "strike_cooldown_hours": 12}}


async def refused_job(h: SoraHarness, prompt: str = REFUSED) -> Job:
    """Send /sora with a prompt Apiframe refuses; the job once refunded and its notice sent."""
    job = await h.created_job(await h.send_sora(prompt))
    job = await h.run_until(job.id, JobState.REFUNDED)
    assert job.failure_kind is FailureKind.CONTENT_POLICY
    return job


def notice(h: SoraHarness, job: Job) -> str:
    """What the requester reads on the failure card (a Components V2 card: its texts)."""
    status = h.discord.get_message(job.status_message_id or 0)
    assert status is not None
    return card_text(status)


async def audit_channel(h: SoraHarness) -> FakeChannel:
    channel = h.guild.add_channel("budget-audit")
    await h.services.store.audit.set_channel(h.guild.id, channel.id, actor=f"user:{MODERATOR}")
    return channel


async def audit_lines(h: SoraHarness, channel: FakeChannel, *starts: str) -> list[str]:
    def posted() -> list[str]:
        return [m.content for m in h.discord.messages[channel.id] if not m.ephemeral]

    h.bot.audit_poster.wake()
    await h.until(lambda: all(any(t.startswith(s) for t in posted()) for s in starts),
                  what=f"audit lines {starts}")
    return posted()


def member_option(h: SoraHarness, user_id: int) -> dict[str, Any]:
    return {"resolved": {"users": {str(user_id): h.discord.users[user_id]}},
            "options": [group("strikes", sub("clear", {"name": "member", "type": USER,
                                                       "value": str(user_id)}))]}


async def test_refusals_start_a_cooldown_that_a_moderator_lists_and_clears(
    start: Starter,
) -> None:
    h = await moderated(start, **STRIKES)
    channel = await audit_channel(h)
    h.apiframe.script_prompt(REFUSED, "FAILED", error=POLICY_ERROR, processing_s=6)

    first = await refused_job(h)
    assert "strike on this server (1 of 2)" in notice(h, first)
    second = await refused_job(h)
    until = await h.services.store.strikes.cooldown_until(
        h.services.store.db, h.guild.id, MEMBER, h.now())
    assert until is not None
    assert f"until <t:{int(until.timestamp())}:f>" in notice(h, second)
    lines = await audit_lines(h, channel, "Strike:", "Cooldown: <@")
    assert sum(t.startswith("Strike:") for t in lines) == 2
    assert any(f"<@{MEMBER}> reached 2 content-policy strikes" in t for t in lines)

    # The next paid launch is refused before anything is spent: no job, no Apiframe call.
    journal, generates, jobs = await h.journal(), len(h.apiframe_requests(GENERATE)), (
        await h.job_count())
    iid = await h.send_sora("a harmless sunrise")
    refusal = await h.reply(iid)
    assert f"<t:{int(until.timestamp())}:R>" in refusal.content
    assert "Nothing was charged" in refusal.content
    assert await h.journal() == journal and await h.balance() == STARTING_CREDITS
    assert len(h.apiframe_requests(GENERATE)) == generates and await h.job_count() == jobs

    # A moderator sees the member's cooldown, then clears it.
    listed = await budget(h, MODERATOR, group("strikes", sub("list")))
    shown = listed.embeds[0]["description"]
    assert f"<@{MEMBER}>" in shown and f"<t:{int(until.timestamp())}:f>" in shown
    assert listed.allowed_mentions is not None and listed.allowed_mentions["parse"] == []
    # Not for members without Manage Server.
    iid, _ = await h.discord.send_slash_command(h.guild, MEMBER, "budget",
                                                **member_option(h, MEMBER))
    assert "permission" in (await h.reply(iid)).content
    iid, _ = await h.discord.send_slash_command(h.guild, MODERATOR, "budget",
                                                **member_option(h, MEMBER))
    assert "can start videos again" in (await h.reply(iid)).content
    assert any(t.startswith("Strikes cleared:") for t in await audit_lines(
        h, channel, "Strikes cleared:"))
    empty = await budget(h, MODERATOR, group("strikes", sub("list")))
    assert "No member has strikes" in empty.embeds[0]["description"]

    job = await h.created_job(await h.send_sora("a harmless sunrise"))
    await h.run_until(job.id, JobState.DELIVERED)


async def test_a_replayed_refusal_strikes_once_and_old_strikes_expire(start: Starter) -> None:
    h = await start(**STRIKES)
    h.apiframe.script_prompt(REFUSED, "FAILED", error=POLICY_ERROR, processing_s=6)
    first = await refused_job(h)

    # The worker's hook runs again for the same job (a restart before the notice was
    # recorded, a replayed event): still one strike.
    assert await h.bot._strike(first) is not None
    rows = await h.services.store.db.fetchall("SELECT job_id FROM member_strikes", ())
    assert [r["job_id"] for r in rows] == [first.id]

    # A day later the first strike no longer counts: the second starts no cooldown.
    h.discord.advance(24 * 3600 + 60)
    second = await refused_job(h)
    assert "(1 of 2)" in notice(h, second)
    await h.created_job(await h.send_sora("a harmless sunrise"))  # no cooldown: it starts


async def test_the_word_list_refuses_for_free_without_pinging(start: Starter) -> None:
    h = await moderated(start, **STRIKES)
    added = await budget(h, MODERATOR, group("words", sub("add", string("words",
                                                                         "Dragon, red fox"))))
    assert "Added 2 entries" in added.content
    listed = await budget(h, MODERATOR, group("words", sub("list")))
    assert "`dragon`" in listed.embeds[0]["description"]

    journal = await h.journal()
    iid = await h.send_sora(f"@everyone <@{MODERATOR}> a RED  Fox and a ＤＲＡＧＯＮ")
    refusal: StoredMessage = await h.reply(iid)
    assert "does not allow" in refusal.content and "Nothing was charged" in refusal.content
    assert "dragon" not in refusal.content.lower() and "@everyone" not in refusal.content
    assert refusal.allowed_mentions is not None and refusal.allowed_mentions["parse"] == []
    assert await h.journal() == journal and await h.job_count() == 0
    assert h.apiframe_requests(GENERATE) == []
    # A free refusal is not a strike.
    assert await h.services.store.strikes.members(h.guild.id) == []

    await budget(h, MODERATOR, group("words", sub("remove", string("words", "dragon"))))
    await budget(h, MODERATOR, group("words", sub("remove", string("words", "red fox"))))
    await h.created_job(await h.send_sora("a red fox and a dragon"))


async def test_moderators_set_the_guilds_own_rules_in_their_language(start: Starter) -> None:
    h = await moderated(start, **STRIKES)

    async def rules(*options: dict[str, Any], locale: str = "en-US") -> str:
        iid, _ = await h.discord.send_slash_command(
            h.guild, MODERATOR, "budget", options=[group("strikes", sub("rules", *options))],
            locale=locale)
        return (await h.reply(iid)).content

    assert await rules() == "2 refused prompts within 24 h start a cooldown of 12 h."
    saved = await rules(integer("limit", 1), integer("cooldown_hours", 3), locale="de")
    assert saved == ("Gespeichert. 1 abgelehnter Prompt innerhalb von 24 Std. löst eine "
                     "Sperre von 3 Std. aus.")
    # Unnamed settings keep the guild's own values.
    assert await rules(integer("window_hours", 48)) == (
        "Saved. 1 refused prompt within 48 h starts a cooldown of 3 h.")
    h.apiframe.script_prompt(REFUSED, "FAILED", error=POLICY_ERROR, processing_s=6)
    job = await refused_job(h)
    assert "you can't start new videos on this server until" in notice(h, job)
    assert await rules({"name": "reset", "type": 5, "value": True}) == (
        "Saved. 2 refused prompts within 24 h start a cooldown of 12 h.")


async def test_a_process_without_the_guild_writes_the_strike_in_its_recorded_language(
    start: Starter,
) -> None:
    """A worker has no gateway: the guild is unknown to it, and the sentence on the failure
    card takes the language the gateway recorded for that guild (English if none)."""
    h = await start(**STRIKES)
    elsewhere = 4_000_000_000_000_000_001  # a guild this process has never seen
    assert h.bot.get_guild(elsewhere) is None
    base = await h.created_job(await h.send_sora("a quiet lake"))
    await h.bot.guild_locales.remember(elsewhere, "de")
    german = await h.bot._strike(dataclasses.replace(base, id="1" * 32, guild_id=elsewhere))
    assert german is not None and german.startswith("Diese Ablehnung zählt als Verwarnung")
    unknown = 4_000_000_000_000_000_002
    english = await h.bot._strike(dataclasses.replace(base, id="2" * 32, guild_id=unknown))
    assert english is not None and "strike" in english
