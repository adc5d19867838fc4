"""The cards members see, as Components V2 messages, through the real client and the fake
Discord: the result with its video inline and its buttons, the progress and failure cards,
the guild's language, and cards posted before V2 that keep their form."""

from __future__ import annotations

from datetime import timedelta

import discord

from bot.delivery import render
from bot.delivery.cards import FAILURE_ID, PROGRESS_ID, RESULT_ID
from bot.delivery.publisher import JobPublisher
from bot.jobs.model import FailureKind, JobState
from tests.delivery.test_results import STRANGER, click, delivered
from tests.fakes.discord_messages import buttons, card_text, card_texts, gallery_urls, is_v2
from tests.fakes.discord_payloads import guild_create
from tests.sora_harness import MEMBER, STARTING_CREDITS, SoraHarness, Starter

WEBHOOK_MESSAGE = "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"


def container_id(message_components: list[dict[str, object]]) -> object:
    [container] = message_components
    return container.get("id")


async def test_a_result_is_one_v2_card_with_the_video_inline_and_buttons(
    start: Starter,
) -> None:
    h = await start()
    prompt = "a heron lifts off a misty lake <@&1234> @everyone"
    job, message = await delivered(h, prompt=prompt, duration=8)

    assert [m.id for m in h.channel_messages()] == [message.id]
    assert is_v2(message) and message.content == "" and message.embeds == []
    assert container_id(message.components) == RESULT_ID
    # The gallery shows the file uploaded with this very message.
    name = f"sora-{job.id}.mp4"
    assert gallery_urls(message) == [f"attachment://{name}"]
    assert [a["filename"] for a in message.attachments] == [name]
    wire = h.discord.message_json(message)
    [item] = wire["components"][0]["components"][1]["items"]
    assert item["media"]["attachment_id"] == message.attachments[0]["id"]
    text = card_text(message)
    assert prompt in card_texts(message)
    assert render.variant_text(job) in text and f"Cost: {job.price} credits" in text
    assert f"Requested by <@{MEMBER}>" in text and job.apiframe_job_id in text
    # Echoed text never pings: the edit allowed no mentions at all.
    assert message.allowed_mentions is not None and message.allowed_mentions["parse"] == []
    assert [label for label, _ in buttons(message)] == [
        "Reroll", "Edit prompt", "Extend", "Details", "Delete"]

    details = await click(h, message, "details", job.id, user_id=STRANGER)
    assert job.id in str((await h.reply(details, ephemeral=True)).embeds[0]["fields"])
    assert h.discord.validation_errors == []


async def test_the_progress_card_is_v2_and_shows_the_bar(start: Starter) -> None:
    h = await start()
    h.apiframe.script_next_job(queued_s=1, processing_s=60)
    job = await h.created_job(await h.send_sora("a slow sunrise", duration=8))
    job = await h.run_until(job.id, JobState.SUBMITTED, step=0)

    def card() -> list[str]:
        status = h.discord.get_message(job.status_message_id or 0)
        return card_texts(status) if status is not None and is_v2(status) else []

    await h.until(lambda: any("%" in t for t in card()), what="the progress card")
    status = h.discord.get_message(job.status_message_id or 0)
    assert status is not None and status.embeds == [] and status.content == ""
    assert container_id(status.components) == PROGRESS_ID
    texts = card()
    assert texts[0] in ("### Queued", "### Rendering")
    assert texts[1].startswith(render.BAR_EMPTY * 20) and texts[1].endswith(" 0%")
    assert texts[2].startswith("Elapsed ") and "a slow sunrise" in texts
    assert f"{job.price} credits" in texts[3] and job.id in texts[-1]
    assert buttons(status) == []
    assert h.discord.validation_errors == []


async def test_a_failure_card_is_v2_and_says_the_credits_came_back(start: Starter) -> None:
    h = await start()
    h.apiframe.script_next_job("FAILED", error="content policy violation", processing_s=6)
    job = await h.created_job(await h.send_sora("something the provider refuses"))

    job = await h.run_until(job.id, JobState.REFUNDED)

    assert job.failure_kind is FailureKind.CONTENT_POLICY
    assert await h.balance() == STARTING_CREDITS
    status = h.discord.get_message(job.status_message_id or 0)
    assert status is not None and is_v2(status) and status.attachments == []
    assert container_id(status.components) == FAILURE_ID
    texts = card_texts(status)
    assert texts[0] == "### No video this time"
    assert "content policy rejected this prompt" in texts[1]
    assert texts[2] == f"{job.price} credits were refunded to this server."
    assert "content policy violation" not in card_text(status)  # internal detail: logged only
    assert h.discord.validation_errors == []


async def set_guild_locale(h: SoraHarness, locale: str) -> None:
    """The server's language changes: Discord sends GUILD_UPDATE."""
    h.guild.preferred_locale = locale  # type: ignore[attr-defined]
    await h.discord.gateway.dispatch("GUILD_UPDATE", guild_create(h.guild, h.discord.users))
    await h.until(lambda: str(h.bot.get_guild(h.guild.id).preferred_locale) == locale,
                  what="the guild update")


async def test_cards_speak_the_guilds_language(start: Starter) -> None:
    h = await start()
    await set_guild_locale(h, "de")

    job, message = await delivered(h, prompt="ein Reiher über dem See")

    texts = card_texts(message)
    assert texts[0] == "### Dein Video ist fertig"
    assert f"Angefordert von <@{MEMBER}>" in texts[2] and "Kosten: " in texts[2]
    assert [label for label, _ in buttons(message)] == [
        "Neu würfeln", "Prompt bearbeiten", "Verlängern", "Details", "Löschen"]
    # Recorded for a process that has no gateway, and read from there without the guild.
    async def recorded() -> bool:
        return await h.bot.guild_locales.get(h.guild.id) == "de"

    await h.until(recorded, what="the recorded locale")
    offline = discord.Client(intents=discord.Intents.none())
    without_gateway = JobPublisher(offline, token_margin=timedelta(seconds=60),
                                   clock=h.services.clock, texts=h.services.texts,
                                   locales=h.bot.guild_locales)
    assert (await without_gateway.words(job))("card.result.title") == "Dein Video ist fertig"
    unknown = JobPublisher(offline, token_margin=timedelta(seconds=60), clock=h.services.clock)
    assert (await unknown.words(job))("card.result.title") == "Your video is ready"


async def test_a_card_posted_before_v2_keeps_its_embed_form_and_its_buttons_answer(
    start: Starter,
) -> None:
    h = await start()
    h.apiframe.script_next_job(queued_s=1, processing_s=30)
    job = await h.created_job(await h.send_sora("an old lighthouse", duration=8))

    await h.until(lambda: (s := h.discord.get_message(job.status_message_id or 0)) is not None
                  and is_v2(s), what="the status card")
    # What the version before V2 cards left behind: an embed status card, and a job row from
    # before the card_locale migration (its card column says so).
    await h.bot.scheduler.stop()
    old = h.discord.get_message(job.status_message_id or 0)
    assert old is not None
    old.flags &= ~(1 << 15)
    old.components = []
    old.embeds = [{"type": "rich", **render.status_embed(job, h.now()).to_dict()}]
    async with h.services.store.db.transaction() as tx:
        await tx.execute("UPDATE jobs SET card = 'embed' WHERE id = ?", (job.id,))
    edits_before = len(h.discord.requests_to("PATCH", WEBHOOK_MESSAGE))
    h.bot.scheduler.start()

    job = await h.run_until(job.id, JobState.DELIVERED, step=1.0, pause=0.1)

    # Every later edit kept the embed form: no V2 flag on a message that has an embed.
    edits = h.discord.requests_to("PATCH", WEBHOOK_MESSAGE)[edits_before:]
    assert edits and all(not (r.json.get("flags") or 0) & (1 << 15) for r in edits)
    assert all(r.json.get("embeds") for r in edits)
    message = h.discord.get_message(job.delivered_message_id or 0)
    assert message is not None and message.id == job.status_message_id and not is_v2(message)
    assert message.embeds[0]["title"] == "Your video is ready"
    assert [a["filename"] for a in message.attachments] == [f"sora-{job.id}.mp4"]
    assert [label for label, _ in buttons(message)] == [
        "Reroll", "Edit prompt", "Extend", "Details", "Delete"]

    details = await click(h, message, "details", job.id)
    assert job.id in str((await h.reply(details, ephemeral=True)).embeds[0]["fields"])
    assert h.discord.validation_errors == []


async def test_details_and_refusals_answer_in_the_clicking_members_language(
    start: Starter,
) -> None:
    h = await start()
    job, message = await delivered(h)

    details = await click(h, message, "details", job.id, user_id=STRANGER, locale="fr")
    embed = (await h.reply(details, ephemeral=True)).embeds[0]
    assert embed["title"] == "Détails de la vidéo"
    assert {f["name"] for f in embed["fields"]} >= {"Prix", "Tâche", "Tâche Apiframe"}

    # A refusal carries its catalog key, so the error handler can speak the member's
    # language; its English words stay for the log.
    refused = await click(h, message, "delete", job.id, user_id=STRANGER, locale="fr")
    assert (await h.reply(refused)).content.startswith(("Only the member", "Seul le membre"))


async def test_a_result_sent_by_direct_message_speaks_the_guilds_language(
    start: Starter,
) -> None:
    """The channel refuses the bot and the token has expired: the video's link goes to the
    requester privately, in the server's language, with what an admin should change."""
    h = await start()
    await set_guild_locale(h, "de")
    h.apiframe.script_next_job(queued_s=1, processing_s=4)
    job = await h.created_job(await h.send_sora("ein Reiher"))
    h.discord.advance(15 * 60 + 1)
    h.discord.deny_channel_permission(h.guild.channel_id, "SEND_MESSAGES")

    job = await h.run_until(job.id, JobState.DELIVERED)

    assert job.delivery_mode == "dm"
    [dm] = h.discord.dm_messages(MEMBER)
    assert dm.content.startswith("Dein Video ist fertig: ")
    assert f"Ich kann in <#{h.guild.channel_id}> nicht posten." in dm.content
