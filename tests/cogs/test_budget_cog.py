"""``/budget`` through the in-process bot and the fake Discord: permissions, money, paging,
export, minting rights."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from bot.i18n.catalog import load
from bot.jobs.model import JobState
from bot.ledger.export import render_csv
from cogs.budget_views import PAGE_SIZE
from tests.fakes.discord import StoredMessage
from tests.fakes.discord_models import FakeChannel
from tests.fakes.discord_payloads import role_object
from tests.sora_harness import MEMBER, STARTING_CREDITS, SoraHarness, Starter, integer, string

SUB_COMMAND, SUB_COMMAND_GROUP, BOOLEAN, USER, CHANNEL, ROLE = 1, 2, 5, 6, 7, 8
MODERATOR = 2_000_000_000_000_000_002
STRANGER = 2_000_000_000_000_000_003


def sub(name: str, *options: dict[str, Any]) -> dict[str, Any]:
    """A SUB_COMMAND option carrying its own options, as Discord nests them."""
    return {"name": name, "type": SUB_COMMAND, "options": list(options)}


def group(name: str, *subcommands: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "type": SUB_COMMAND_GROUP, "options": list(subcommands)}


async def budget(h: SoraHarness, user_id: int, option: dict[str, Any]) -> StoredMessage:
    """Send ``/budget <option>`` as ``user_id``; return the bot's (ephemeral) answer."""
    iid, _token = await h.discord.send_slash_command(h.guild, user_id, "budget",
                                                     options=[option])
    return await h.reply(iid, ephemeral=True)


async def moderated(start: Starter, **sections: dict[str, Any]) -> SoraHarness:
    h = await start(**sections)
    h.guild.add_member(MODERATOR, permissions="MANAGE_GUILD")
    return h


def resolved_channel(channel: FakeChannel) -> dict[str, Any]:
    """A channel as an interaction's ``resolved.channels`` carries it (a partial object)."""
    return {"id": str(channel.id), "name": channel.name, "type": channel.type,
            "permissions": str(1 << 10), "guild_id": str(channel.guild_id), "parent_id": None,
            "position": channel.position, "flags": 0, "nsfw": False, "topic": channel.topic,
            "last_message_id": None, "rate_limit_per_user": 0}


def text(message: StoredMessage) -> str:
    parts = [message.content]
    for embed in message.embeds:
        parts.append(str(embed.get("title", "")))
        parts.append(str(embed.get("description", "")))
        parts.extend(f"{f['name']}: {f['value']}" for f in embed.get("fields", []))
    return "\n".join(parts)


async def test_member_without_manage_server_is_refused_and_nothing_changes(
    start: Starter,
) -> None:
    h = await moderated(start)
    before = await h.journal()
    grant = await budget(h, MEMBER, sub("grant", integer("amount", 100), string("reason", "x")))
    limits = await budget(h, MEMBER, group("limits", sub("set", integer("daily_cap", 5))))
    freeze = await budget(h, MEMBER, sub("freeze"))
    for answer in (grant, limits, freeze):
        assert "Manage Server" in answer.content
        assert answer.allowed_mentions == {"parse": []}
    assert await h.journal() == before
    policy = await h.services.rules.get(h.guild.id)
    assert policy.daily_cap is None and not policy.frozen


async def test_grant_deduct_set_are_journaled_with_the_moderator(start: Starter) -> None:
    h = await moderated(start)
    answer = await budget(h, MODERATOR, sub("grant", integer("amount", 250),
                                            string("reason", "monthly top-up")))
    assert f"Balance now **{STARTING_CREDITS + 250}**" in answer.content
    await budget(h, MODERATOR, sub("deduct", integer("amount", 50), string("reason", "oops")))
    answer = await budget(h, MODERATOR, sub("set", integer("amount", 1000),
                                            string("reason", "reset")))
    assert "Balance now **1000**" in answer.content
    assert await h.balance() == 1000
    entries = await h.services.store.ledger.history(h.guild.id, limit=3)
    assert [(e.kind.value, e.delta, e.actor, e.reason) for e in reversed(entries)] == [
        ("grant", 250, f"user:{MODERATOR}", "monthly top-up"),
        ("deduct", -50, f"user:{MODERATOR}", "oops"),
        ("set", 1000 - (STARTING_CREDITS + 200), f"user:{MODERATOR}", "reset"),
    ]


@pytest.mark.parametrize(
    ("command", "amount", "expected"),
    [
        ("grant", 0, "greater than zero"),
        ("grant", -5, "greater than zero"),
        ("deduct", 2.5, "whole number"),
        ("grant", "12", "whole number"),
        ("grant", 10**9, "above the limit"),
        ("deduct", STARTING_CREDITS + 1, f"only has {STARTING_CREDITS}"),
        ("set", -1, "zero or more"),
    ],
)
async def test_invalid_amounts_are_refused_clearly(
    start: Starter, command: str, amount: Any, expected: str
) -> None:
    h = await moderated(start, ledger={"max_balance": 100_000})
    before = await h.journal()
    answer = await budget(h, MODERATOR, sub(command, integer("amount", amount),
                                            string("reason", "test")))
    assert expected in answer.content, answer.content
    assert "error code" not in answer.content
    assert await h.journal() == before


async def test_only_the_owner_mints_when_moderators_may_not(start: Starter) -> None:
    h = await moderated(start, moderation={"moderators_can_mint": False})
    before = await h.journal()
    refused = await budget(h, MODERATOR, sub("grant", integer("amount", 10),
                                             string("reason", "please")))
    assert "owner" in refused.content.lower()
    upward = await budget(h, MODERATOR, sub("set", integer("amount", STARTING_CREDITS + 1),
                                            string("reason", "please")))
    assert "owner" in upward.content.lower()
    assert await h.journal() == before
    # Taking credits away and setting downward stay with the moderators.
    await budget(h, MODERATOR, sub("deduct", integer("amount", 10), string("reason", "r")))
    await budget(h, MODERATOR, sub("set", integer("amount", 100), string("reason", "r")))
    assert await h.balance() == 100
    # The application's owner (who also owns this guild) may still mint.
    owner = h.discord.owner_id
    answer = await budget(h, owner, sub("grant", integer("amount", 7), string("reason", "gift")))
    assert "Balance now **107**" in answer.content


async def test_configured_owner_ids_may_mint(start: Starter) -> None:
    h = await start(moderation={"moderators_can_mint": False, "owner_ids": [MODERATOR]})
    h.guild.add_member(MODERATOR, permissions="MANAGE_GUILD")
    await budget(h, MODERATOR, sub("grant", integer("amount", 5), string("reason", "ok")))
    assert await h.balance() == STARTING_CREDITS + 5


def buttons(message: StoredMessage) -> dict[str, dict[str, Any]]:
    return {c["label"]: c for row in message.components for c in row["components"]}


async def press(h: SoraHarness, user_id: int, message: StoredMessage, label: str) -> int:
    custom_id = buttons(message)[label]["custom_id"]
    iid, _token = await h.discord.send_component(h.guild, user_id, custom_id, message)
    await h.acked(iid)
    return iid


async def test_history_pages_newest_first_and_only_the_invoker_can_page(
    start: Starter,
) -> None:
    h = await moderated(start)
    for n in range(1, 2 * PAGE_SIZE + 3):  # 22 grants + the starting entry: three pages
        await h.services.store.ledger.grant(h.guild.id, n, actor=f"user:{MODERATOR}",
                                            reason=f"grant {n}")
    every = await h.services.store.ledger.history(h.guild.id, limit=100)
    ids = [f"`#{e.id}`" for e in every]  # newest first

    page = await budget(h, MODERATOR, sub("history"))
    shown = page.embeds[0]["description"]
    assert [i in shown for i in ids[:PAGE_SIZE + 1]] == [True] * PAGE_SIZE + [False]
    assert shown.index(ids[0]) < shown.index(ids[1])
    assert buttons(page)["Previous"].get("disabled") is True

    before = page.embeds[0]["description"]
    stranger = await press(h, STRANGER, page, "Next")
    refusal = await h.reply(stranger, ephemeral=True)
    assert refusal.content == load().text("en-US", "budget.not_yours")
    assert page.embeds[0]["description"] == before

    await press(h, MODERATOR, page, "Next")
    await h.until(lambda: "Page 2" in str(page.embeds[0]["footer"]), what="page 2")
    assert ids[PAGE_SIZE] in page.embeds[0]["description"]
    await press(h, MODERATOR, page, "Next")
    await h.until(lambda: "Page 3" in str(page.embeds[0]["footer"]), what="page 3")
    assert ids[-1] in page.embeds[0]["description"]
    assert buttons(page)["Next"].get("disabled") is True
    await press(h, MODERATOR, page, "Previous")
    await h.until(lambda: "Page 2" in str(page.embeds[0]["footer"]), what="back to page 2")


async def test_history_filters_by_kind(start: Starter) -> None:
    h = await moderated(start)
    await budget(h, MODERATOR, sub("grant", integer("amount", 5), string("reason", "a")))
    await budget(h, MODERATOR, sub("deduct", integer("amount", 3), string("reason", "b")))
    page = await budget(h, MODERATOR, sub("history", string("kind", "deduct")))
    shown = page.embeds[0]["description"]
    assert "**deduct** -3" in shown and "**grant**" not in shown


async def test_export_round_trips_exactly_with_the_journal(start: Starter) -> None:
    h = await moderated(start)
    await budget(h, MODERATOR, sub("grant", integer("amount", 40), string("reason", "=cmd()")))
    await budget(h, MODERATOR, sub("deduct", integer("amount", 15), string("reason", 'a "b", c')))
    iid, _token = await h.discord.send_slash_command(h.guild, MODERATOR, "budget",
                                                     options=[sub("export")])
    answer = await h.reply(iid, ephemeral=True)
    assert [a["filename"] for a in answer.attachments] == [f"ledger-{h.guild.id}.csv"]
    data = h.discord.cdn.read(answer.attachments[0]["url"]).decode("utf-8")
    assert data == render_csv(await h.services.store.ledger.export(h.guild.id))
    rows = list(csv.DictReader(io.StringIO(data)))
    assert [(r["kind"], int(r["delta"]), r["job_id"] or None) for r in rows] == await h.journal()
    assert rows[1]["reason"] == "'=cmd()" and rows[2]["reason"] == 'a "b", c'


async def test_limits_set_and_show(start: Starter) -> None:
    h = await moderated(start)
    answer = await budget(h, MODERATOR, group("limits", sub(
        "set", integer("daily_cap", 100), integer("cooldown_seconds", 30),
        string("max_resolution", "standard"))))
    assert "Daily cap per member: 100 credits" in text(answer)
    policy = await h.services.rules.get(h.guild.id)
    assert (policy.daily_cap, policy.cooldown_seconds, policy.max_resolution) == (
        100, 30, "standard")
    await budget(h, MODERATOR, group("limits", sub("set", integer("daily_cap", 0))))
    assert (await h.services.rules.get(h.guild.id)).daily_cap is None


async def test_freeze_and_unfreeze(start: Starter) -> None:
    h = await moderated(start)
    await budget(h, MODERATOR, sub("freeze"))
    assert (await h.services.rules.get(h.guild.id)).frozen
    await budget(h, MODERATOR, sub("unfreeze"))
    assert not (await h.services.rules.get(h.guild.id)).frozen


async def test_balance_and_audit_settings(start: Starter) -> None:
    h = await moderated(start)
    answer = await budget(h, MODERATOR, sub("balance"))
    assert f"Balance: {STARTING_CREDITS}" in text(answer)
    answer = await budget(h, MODERATOR, sub("audit", integer("low_balance", 50)))
    assert "below 50 credits" in answer.content
    settings = await h.services.store.audit.settings(h.guild.id)
    assert settings.low_balance_threshold == 50


async def test_refund_a_delivered_job_once(start: Starter) -> None:
    h = await moderated(start)
    job = await h.created_job(await h.send_sora(duration=8))
    await h.run_until(job.id, JobState.DELIVERED)
    assert await h.balance() == STARTING_CREDITS - job.price
    answer = await budget(h, MODERATOR, sub("refund", string("job", job.id),
                                            string("reason", "blurry")))
    assert f"Balance now **{STARTING_CREDITS}**" in answer.content
    again = await budget(h, MODERATOR, sub("refund", string("job", job.id),
                                           string("reason", "twice")))
    assert "already refunded" in again.content
    assert await h.balance() == STARTING_CREDITS
    assert [k for k, _d, j in await h.journal() if j == job.id] == ["reserve", "refund"]


async def test_limits_roles_and_channels_take_resolved_options(start: Starter) -> None:
    h = await moderated(start)
    role = h.guild.add_role("Creators")
    channel = h.guild.channels[h.guild.channel_id]
    iid, _token = await h.discord.send_slash_command(
        h.guild, MODERATOR, "budget",
        options=[group("limits", sub("role", {"name": "role", "type": ROLE,
                                              "value": str(role.id)}))],
        resolved={"roles": {str(role.id): role_object(h.guild, role.id)}},
    )
    assert f"<@&{role.id}>" in text(await h.reply(iid))
    iid, _token = await h.discord.send_slash_command(
        h.guild, MODERATOR, "budget",
        options=[group("limits", sub("channel", {"name": "channel", "type": CHANNEL,
                                                 "value": str(channel.id)}))],
        resolved={"channels": {str(channel.id): resolved_channel(channel)}},
    )
    await h.reply(iid)
    policy = await h.services.rules.get(h.guild.id)
    assert policy.allowed_role_ids == {role.id}
    assert policy.allowed_channel_ids == {channel.id}
    await budget(h, MODERATOR, group("limits", sub("role")))  # no role: everyone again
    assert (await h.services.rules.get(h.guild.id)).allowed_role_ids == frozenset()


async def test_audit_channel_is_set_from_a_channel_option(start: Starter) -> None:
    h = await moderated(start)
    channel = h.guild.channels[h.guild.channel_id]
    iid, _token = await h.discord.send_slash_command(
        h.guild, MODERATOR, "budget",
        options=[sub("audit", {"name": "channel", "type": CHANNEL, "value": str(channel.id)})],
        resolved={"channels": {str(channel.id): resolved_channel(channel)}},
    )
    assert f"Audit channel: <#{channel.id}>" in (await h.reply(iid)).content
    assert (await h.services.store.audit.settings(h.guild.id)).channel_id == channel.id
    await budget(h, MODERATOR, sub("audit", {"name": "off", "type": BOOLEAN, "value": True}))
    assert (await h.services.store.audit.settings(h.guild.id)).channel_id is None


async def test_history_filters_by_member(start: Starter) -> None:
    h = await moderated(start)
    await budget(h, MODERATOR, sub("grant", integer("amount", 5), string("reason", "mine")))
    owner = h.discord.owner_id
    await budget(h, owner, sub("grant", integer("amount", 6), string("reason", "theirs")))
    iid, _token = await h.discord.send_slash_command(
        h.guild, MODERATOR, "budget",
        options=[sub("history", {"name": "member", "type": USER, "value": str(owner)})],
        resolved={"users": {str(owner): h.discord.users[owner]}},
    )
    shown = (await h.reply(iid)).embeds[0]["description"]
    assert "+6" in shown and "+5" not in shown


async def test_budget_is_a_guild_only_group_hidden_from_members_without_manage_server(
    start: Starter,
) -> None:
    h = await start()
    command = h.bot.tree.get_command("budget")
    assert command is not None
    payload = command.to_dict(h.bot.tree)
    assert int(payload["default_member_permissions"]) == 1 << 5  # MANAGE_GUILD
    assert payload["contexts"] == [0]  # guilds only
    names = {o["name"] for o in payload["options"]}
    assert names == {"balance", "grant", "deduct", "set", "refund", "history", "export",
                     "freeze", "unfreeze", "audit", "limits", "strikes", "words"}
