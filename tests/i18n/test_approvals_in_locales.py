"""A preview speaks the member's language; the card for moderators speaks the server's."""

from __future__ import annotations

from bot.policy.held import custom_id
from tests.fakes.discord import StoredMessage
from tests.policy.test_approvals import (
    audit_request,
    click_reply,
    gated,
    request_id_of,
    with_audit_channel,
)
from tests.sora_harness import MEMBER, Starter


def labels(message: StoredMessage) -> list[str]:
    return [c["label"] for row in message.components for c in row["components"]]


async def test_a_preview_is_in_the_members_language(start: Starter) -> None:
    h = await gated(start, preview_above=1)
    iid = await h.send_sora(locale="es-ES")
    preview = await h.reply(iid, ephemeral=True)
    (embed,) = preview.embeds
    assert embed["title"] == "¿Confirmas este vídeo?"
    assert {f["name"] for f in embed["fields"]} >= {"Precio", "Tu límite diario"}
    assert labels(preview) == ["Confirmar", "Cancelar"]
    assert embed["footer"]["text"].startswith("No se cobra nada hasta que confirmes.")
    # Confirmed once; a second Confirm (a stale client) is told in its own language.
    first, _token = await h.discord.send_component(
        h.guild, MEMBER, custom_id("confirm", request_id_of(preview)), preview)
    await h.created_job(first)
    again, _token = await h.discord.send_component(
        h.guild, MEMBER, custom_id("confirm", request_id_of(preview)), preview, locale="fr")
    late = await h.reply(again, ephemeral=True)
    assert late.content == ("Cette demande a déjà été traitée ou a expiré ; rien n'a été "
                            "facturé. Relance /sora.")


async def test_the_approval_card_is_in_the_servers_language(start: Starter) -> None:
    h = await gated(start, approval_above=1)
    audit = await with_audit_channel(h)
    asked = await h.send_sora(locale="pt-BR", guild_locale="de")
    told = await h.reply(asked, ephemeral=True)
    assert told.content.startswith("Este vídeo custa 12 créditos, então um moderador precisa")
    held = await audit_request(h, audit)
    (embed,) = held.message.embeds
    assert embed["title"] == "Video wartet auf Freigabe"
    assert labels(held.message) == ["Freigeben", "Ablehnen"]
    # A member (not a moderator) pressing Approve is told in their own language.
    iid, _token = await h.discord.send_component(
        h.guild, MEMBER, custom_id("approve", held.request_id), held.message, locale="fr",
        guild_locale="de")
    answer = await click_reply(h, iid, audit)
    assert answer.content == ("Seuls les membres ayant la permission Gérer le serveur peuvent "
                              "valider ou refuser les demandes.")
