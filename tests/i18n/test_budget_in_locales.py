"""/budget answers each moderator in their Discord's language, refusals included."""

from __future__ import annotations

from typing import Any

from tests.cogs.test_budget_cog import MODERATOR, group, moderated, sub
from tests.fakes.discord import StoredMessage
from tests.sora_harness import STARTING_CREDITS, SoraHarness, Starter, integer, string


async def budget(h: SoraHarness, option: dict[str, Any], locale: str) -> StoredMessage:
    iid, _token = await h.discord.send_slash_command(h.guild, MODERATOR, "budget",
                                                     options=[option], locale=locale)
    return await h.reply(iid, ephemeral=True)


def fields(message: StoredMessage) -> dict[str, str]:
    (embed,) = message.embeds
    return {f["name"]: f["value"] for f in embed["fields"]}


async def test_moderators_read_budget_in_their_language(start: Starter) -> None:
    h = await moderated(start, moderation={"moderators_can_mint": True})
    done = await budget(h, sub("grant", integer("amount", 25), string("reason", "Turnier")), "de")
    assert done.content == (f"Erledigt: **Gutschrift** +25 Credits (Turnier). Kontostand jetzt "
                            f"**{STARTING_CREDITS + 25}** (Journaleintrag #2).")
    frozen = await budget(h, sub("freeze"), "es-ES")
    assert frozen.content.startswith("El gasto está **congelado**: nadie puede crear un vídeo "
                                     "hasta `/presupuesto descongelar`.")
    rules = await budget(h, group("limits", sub("show")), "pt-BR")
    shown = fields(rules)
    assert rules.embeds[0]["title"] == "Regras de gastos"
    assert shown["Gastos"] == "**congelados**"
    assert shown["Limite diário por membro"] == "sem limite"
    # A refusal from the ledger, in French: a deduction larger than the balance.
    refused = await budget(h, sub("deduct", integer("amount", 10_000), string("reason", "x")),
                           "fr")
    assert refused.content == (f"Impossible de retirer 10000 crédits : le serveur n'en a que "
                               f"{STARTING_CREDITS + 25}. Rien n'a changé (un retrait n'est "
                               "jamais tronqué).")
    assert refused.allowed_mentions == {"parse": []}


async def test_a_rules_refusal_in_german(start: Starter) -> None:
    h = await moderated(start)
    refused = await budget(h, group("limits", sub("model", string("model", "no-such-model"))),
                           "de")
    assert refused.content == ("„no-such-model“ ist kein Modell dieses Bots. Wähl aus "
                               "sora-2-pro (sora-2-pro).")
