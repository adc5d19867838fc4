"""``/credits`` through the in-process bot: balance, the member's spending against the caps,
their running videos and the price grid of every model the server may use."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.catalog.video import Catalog
from bot.i18n.catalog import Voice, load
from bot.policy.rules import GuildPolicy, MemberSpending
from cogs.credits import credits_embed
from tests.fakes.discord import StoredMessage
from tests.sora_harness import MEMBER, STARTING_CREDITS, SoraHarness, Starter
from tests.support.lineups import HAILUO, KLING, VEO, config_sections
from tests.support.stores import settings_with

SORA_GRID = ("standard 4 s 12 · 8 s 24 · 10 s 30 · 12 s 36 · 15 s 45 | "
             "high 4 s 20 · 8 s 40 · 10 s 50 · 12 s 60 · 15 s 75")

OTHER = 2_000_000_000_000_000_009


async def credits(h: SoraHarness, user_id: int = MEMBER, locale: str = "en-US"
                  ) -> StoredMessage:
    iid, _token = await h.discord.send_slash_command(h.guild, user_id, "credits",
                                                     locale=locale)
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
    assert shown["sora-2-pro (credits)"] == SORA_GRID

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
    assert fields(answer)["sora-2-pro (credits)"] == (
        "standard 4 s 12 · 8 s 24 · 10 s – · 12 s – · 15 s – | "
        "high 4 s – · 8 s – · 10 s – · 12 s – · 15 s –")
    assert fields(answer)["You spent today (UTC)"] == "0 (no cap)"
    assert "frozen" in answer.embeds[0]["description"]


async def test_credits_lists_only_the_models_the_server_may_use(start: Starter) -> None:
    h = await start(**config_sections())
    shown = fields(await credits(h))
    assert [name for name in shown if name.endswith("(credits)")] == [
        "Sora 2 Pro (credits)", "Veo 3.1 Fast (credits)", "Kling 2.6 (credits)",
        "Hailuo 2.3 Fast (credits)"]

    await h.services.rules.set_models(h.guild.id, [HAILUO, KLING, VEO], actor="test")
    await h.services.rules.update(h.guild.id, actor="test", max_duration=8)
    shown = fields(await credits(h))
    assert "Sora 2 Pro (credits)" not in shown
    assert shown["Veo 3.1 Fast (credits)"] == (
        "720p 4 s 40 · 6 s 60 · 8 s 80 | 1080p 4 s 60 · 6 s 90 · 8 s 120")
    # Kling's 10 s is longer than the server's 8 s limit; its sound is a price axis.
    assert shown["Kling 2.6 (credits)"] == "5 s silent 20 · sound 30 | 10 s silent – · sound –"
    assert shown["Hailuo 2.3 Fast (credits)"] == "15"  # a flat model: one price


def test_many_models_stay_within_discords_embed_limits() -> None:
    ids = [m.id for m in Catalog.load().models]
    settings = settings_with(
        video={"enabled": ids, "default": ids[0],
               "models": {i: {"price_by": [], "label": f"{i} " + "x" * 30} for i in ids}},
        pricing={i: {"flat": 5} for i in ids})
    embed = credits_embed(Voice(load(), "en-US"), balance=10,
                          spending=MemberSpending(0, 0, 0), policy=GuildPolicy(1),
                          jobs=[], offers=list(settings.lineup.offers.values()),
                          now=datetime(2026, 12, 1, tzinfo=UTC))
    assert len(ids) > 25
    assert len(embed) <= 6000 and len(embed.fields) <= 25
    note = embed.fields[-1]
    shown = sum(1 for f in embed.fields if str(f.name).endswith("(credits)"))
    assert note.name == "More models"
    assert note.value == f"…and {len(ids) - shown} more; /video shows each one's price."


async def test_credits_answers_in_the_members_language(start: Starter) -> None:
    h = await start(**config_sections())
    await h.services.rules.update(h.guild.id, actor="test", daily_cap=100, max_duration=8)
    await h.services.rules.set_frozen(h.guild.id, True, actor="test")
    answer = await credits(h, locale="fr")
    (embed,) = answer.embeds
    shown = fields(answer)
    assert embed["title"] == "Crédits vidéo"
    assert embed["description"] == "Les dépenses sont **gelées** par les modérateurs en ce moment."
    assert shown["Solde du serveur"] == str(STARTING_CREDITS)
    assert shown["Dépensé aujourd'hui (UTC)"] == "0 sur 100 (reste 100)"
    assert shown["Dépensé cette semaine"] == "0 (sans plafond)"
    assert shown["Tes vidéos en cours"] == "aucune"
    assert shown["Kling 2.6 (crédits)"] == (
        "5 s muet 20 · avec son 30 | 10 s muet – · avec son –")
    # The same member in German a moment later: the language follows each interaction.
    german = fields(await credits(h, locale="de"))
    assert german["Kling 2.6 (Credits)"] == (
        "5 s ohne Ton 20 · mit Ton 30 | 10 s ohne Ton – · mit Ton –")
