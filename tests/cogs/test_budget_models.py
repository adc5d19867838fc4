"""``/budget limits model`` and ``/budget limits default`` through the in-process bot, and what
a member then meets in /sora: only the models the moderators allow, checked again inside the
reserving transaction."""

from __future__ import annotations

from typing import Any

from bot.policy.rules import GuildPolicy
from tests.cogs.test_budget_cog import MODERATOR, budget, group, moderated, sub, text
from tests.fakes.apiframe_model import Fault
from tests.sora_harness import (
    GENERATE,
    MEMBER,
    STARTING_CREDITS,
    UPLOAD,
    SoraHarness,
    Starter,
    attachment,
    png,
    string,
)
from tests.support.lineups import HAILUO, KLING, SORA, VEO, config_sections


def model(value: str, **extra: Any) -> dict[str, Any]:
    return {**string("model", value), **extra}


async def lineup_harness(start: Starter) -> SoraHarness:
    return await moderated(start, **config_sections())


async def nothing_charged(h: SoraHarness) -> None:
    assert await h.job_count() == 0
    assert await h.balance() == STARTING_CREDITS
    assert [kind for kind, _delta, _job in await h.journal()] == ["initial"]
    assert h.apiframe_requests(GENERATE) == []


async def test_moderators_choose_the_models_and_the_default_and_see_them(
    start: Starter,
) -> None:
    h = await lineup_harness(start)
    shown = text(await budget(h, MODERATOR, group("limits", sub("show"))))
    assert ("Models allowed: every enabled model (Sora 2 Pro, Veo 3.1 Fast, Kling 2.6 and "
            "Hailuo 2.3 Fast)") in shown
    assert "Default model: the bot's (Sora 2 Pro)" in shown

    answer = await budget(h, MODERATOR, group("limits", sub(
        "model", model(VEO), {"name": "allowed", "type": 5, "value": False})))
    assert answer.allowed_mentions == {"parse": []}
    assert "Models allowed: Sora 2 Pro, Kling 2.6 and Hailuo 2.3 Fast" in text(answer)
    answer = await budget(h, MODERATOR, group("limits", sub("default", model(KLING))))
    assert "Default model: Kling 2.6" in text(answer)
    policy = await h.services.rules.get(h.guild.id)
    assert (policy.models, policy.default_model) == (frozenset({SORA, KLING, HAILUO}), KLING)
    assert (await h.bot.launcher.default_for(h.guild.id)).id == KLING  # type: ignore[union-attr]
    offered = [offer.id for offer in await h.bot.launcher.offers_for(h.guild.id)]
    assert offered == [SORA, KLING, HAILUO]

    await budget(h, MODERATOR, group("limits", sub("default")))  # none: the bot's again
    await budget(h, MODERATOR, group("limits", sub("model")))  # none: every model again
    policy = await h.services.rules.get(h.guild.id)
    assert (policy.models, policy.default_model) == (None, None)


async def test_an_unknown_model_is_refused_privately_naming_the_enabled_ones(
    start: Starter,
) -> None:
    h = await lineup_harness(start)
    for command in (sub("model", model("wan-2.5")), sub("default", model("wan-2.5")),
                    sub("model", model("wan-2.5"),
                        {"name": "allowed", "type": 5, "value": False})):
        answer = await budget(h, MODERATOR, group("limits", command))
        assert answer.content == (
            "“wan-2.5” is not a model this bot offers. Choose among Sora 2 Pro (sora-2-pro), "
            "Veo 3.1 Fast (veo-3.1-fast), Kling 2.6 (kling-2.6), Hailuo 2.3 Fast "
            "(hailuo-2.3-fast).")
    refused = await budget(h, MEMBER, group("limits", sub("model", model(VEO))))
    assert "Manage Server" in refused.content
    assert await h.services.rules.get(h.guild.id) == GuildPolicy(h.guild.id)


async def test_model_autocomplete_offers_the_enabled_models(start: Starter) -> None:
    h = await lineup_harness(start)
    typing = [group("limits", sub("default", model("ve", focused=True)))]
    iid, _ = await h.discord.send_autocomplete(h.guild, MODERATOR, "budget", typing)
    await h.until(lambda: h.discord.interactions[iid].autocomplete_choices is not None)
    assert h.discord.interactions[iid].autocomplete_choices == [
        {"name": "Veo 3.1 Fast (veo-3.1-fast)", "value": VEO}]


async def test_sora_is_refused_privately_where_the_moderators_disallow_it(
    start: Starter,
) -> None:
    h = await lineup_harness(start)
    await budget(h, MODERATOR, group("limits", sub("model", model(SORA),
                                                   {"name": "allowed", "type": 5,
                                                    "value": False})))
    answer = await h.reply(await h.send_sora(), ephemeral=True)
    assert answer.content == ("Sora 2 Pro is not available on this server. You can use "
                              "Veo 3.1 Fast, Kling 2.6, Hailuo 2.3 Fast instead (/video).")
    await nothing_charged(h)


async def test_a_change_landing_before_the_reservation_stops_the_request(
    start: Starter,
) -> None:
    """The precheck passed, then a moderator disallowed Sora while the start image was being
    re-hosted: the rule inside the reserving transaction refuses, and nothing is charged."""
    h = await lineup_harness(start)
    h.apiframe.inject(UPLOAD, Fault.slow(1.0))
    image = h.discord.cdn.add(png(), "start.png", "image/png")
    iid = await h.send_options([string("prompt", "a red fox running through fresh snow"),
                                attachment("start_image", image)])
    await h.until(lambda: h.apiframe_requests(UPLOAD) != [], what="the upload began")
    await h.services.rules.set_models(h.guild.id, [KLING], actor="user:1")
    answer = await h.reply(iid, ephemeral=True)
    assert answer.content == ("Sora 2 Pro is not allowed on this server. You can use Kling 2.6 "
                              "(/video). Nothing was charged.")
    assert answer.allowed_mentions is not None and answer.allowed_mentions["parse"] == []
    await nothing_charged(h)
