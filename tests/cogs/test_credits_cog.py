"""``/credits`` through the in-process bot: balance, the member's spending against the caps,
their running videos and the price grid."""

from __future__ import annotations

from tests.fakes.discord import StoredMessage
from tests.sora_harness import MEMBER, STARTING_CREDITS, SoraHarness, Starter

OTHER = 2_000_000_000_000_000_009


async def credits(h: SoraHarness, user_id: int = MEMBER) -> StoredMessage:
    iid, _token = await h.discord.send_slash_command(h.guild, user_id, "credits")
    return await h.reply(iid, ephemeral=True)


def fields(message: StoredMessage) -> dict[str, str]:
    (embed,) = message.embeds
    return {f["name"]: f["value"] for f in embed["fields"]}


async def test_credits_shows_balance_spending_jobs_and_prices(start: Starter) -> None:
    h = await start()
    await h.services.rules.update(h.guild.id, actor="test", daily_cap=100, weekly_cap=300)
    job = await h.created_job(await h.send_sora(duration=8))  # standard-8s: 24 credits

    answer = await credits(h)
    shown = fields(answer)
    assert answer.allowed_mentions == {"parse": []}
    assert shown["Server balance"] == str(STARTING_CREDITS - 24)
    assert shown["You spent today (UTC)"] == "24 of 100 (76 left)"
    assert shown["You spent this week"] == "24 of 300 (276 left)"
    assert f"`{job.id}`" in shown["Your running videos"]
    grid = shown["Prices (sora-2-pro, credits)"]
    assert " 4s       12       20" in grid and "15s       45       75" in grid

    # Another member sees the same server balance but none of that spending or job.
    other = fields(await credits(h, OTHER))
    assert other["Server balance"] == str(STARTING_CREDITS - 24)
    assert other["You spent today (UTC)"] == "0 of 100 (100 left)"
    assert other["Your running videos"] == "none"


async def test_credits_marks_what_the_rules_forbid_and_a_freeze(start: Starter) -> None:
    h = await start()
    await h.services.rules.update(h.guild.id, actor="test", max_resolution="standard",
                                   max_duration=8)
    await h.services.rules.set_frozen(h.guild.id, True, actor="test")
    answer = await credits(h)
    grid = fields(answer)["Prices (sora-2-pro, credits)"]
    assert " 8s       24        -" in grid and "10s        -        -" in grid
    assert fields(answer)["You spent today (UTC)"] == "0 (no cap)"
    assert "frozen" in answer.embeds[0]["description"]
