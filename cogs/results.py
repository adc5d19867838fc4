"""The buttons under a delivered video: Reroll, Edit prompt, Extend, Details, Delete.

One :class:`ResultButton` DynamicItem matches every ``sora:r:<action>:<job_id>`` custom_id
(format in :mod:`bot.delivery.buttons`), so clicks work on messages from before a restart: the
job row, not any in-memory view, holds what a click needs. Reroll, Edit and Extend start a new
job through :func:`cogs.adapters.launch`, so they are checked and charged exactly like /sora.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.catalog.lineup import Offer
from bot.catalog.options import OptionRefused
from bot.delivery import render
from bot.delivery.buttons import CUSTOM_ID_PATTERN, custom_id
from bot.delivery.cards import Words
from bot.errors import UserError
from bot.jobs.model import Job, JobState
from bot.launch.port import ImageInput
from bot.request import VideoOptions
from cogs.adapters import launch
from cogs.errors import report_error

if TYPE_CHECKING:
    from bot.app import SoraBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
#: The English words of the refusals below (the catalog's ``cards`` domain gives every
#: language's, the member's at run time); kept here for logs and tests.
UNKNOWN_JOB = "I have no record of that video any more, so this button can't do anything."
DELETE_REFUSED = ("Only the member who asked for this video or a moderator (Manage Messages) "
                  "can delete it.")
DELETED = "Deleted. Credits are not refunded for a delivered video."
NOT_ITS_MESSAGE = "This button can only delete its own video's message; nothing was deleted."

Interaction = discord.Interaction["SoraBot"]


def refusal(bot: SoraBot, key: str, **params: object) -> UserError:
    """A refusal the error handler shows in the member's language (English in the log)."""
    return UserError(bot.services.texts.text("en", key, **params), key=key, params=params)


async def _offer(bot: SoraBot, job: Job) -> Offer:
    """The job's model as offered now; refused plainly, naming what this server may use
    instead, once the operator no longer offers it. (A model the operator offers but this
    server may not use, or the provider retired, is refused by the launch's own check.)"""
    offer = bot.services.settings.lineup.get(job.model)
    if offer is not None:
        return offer
    usable = ", ".join(o.label for o in await bot.launcher.offers_for(job.guild_id))
    # One key when nothing else is usable, else the two sentences as one message.
    texts = bot.services.texts
    words = texts.text("en", "card.results.not_offered", model=job.model)
    if usable:
        words += " " + texts.text("en", "card.results.use_instead", models=usable)
    raise OptionRefused(words, key="card.results.not_offered" if not usable else None,
                        params={"model": job.model})


def options_of(bot: SoraBot, job: Job, prompt: str | None = None) -> VideoOptions:
    """The job's settings (with another prompt), validated like a fresh request for its
    model. Only the member's choices are passed: the operator's defaults are applied again
    by the launcher (as they are now), and a value no longer offered is refused."""
    options = job.options
    choices = bot.launcher.offer(job.model).choices
    return bot.launcher.options(job.model, options.prompt if prompt is None else prompt,
                                {k: v for k, v in options.values if k in choices})


async def _job(bot: SoraBot, interaction: Interaction, job_id: str) -> Job:
    # A custom_id is only as trustworthy as the message it sits on: keep guilds apart.
    job = await bot.launcher.job_for(interaction.guild_id, job_id)
    if job is None:
        raise refusal(bot, "card.results.unknown_job")
    return job


async def _may_spend(bot: SoraBot, interaction: Interaction, job: Job, what: str) -> None:
    """Only the requester may spend credits from their video, unless the guild opened it."""
    if interaction.user.id == job.user_id:
        return
    if (await bot.services.rules.get(job.guild_id)).buttons_open:
        return
    raise refusal(bot, f"card.results.only_requester_{what}", mention=f"<@{job.user_id}>")


def _may_delete(interaction: Interaction, job: Job) -> bool:
    perms = interaction.permissions
    return (interaction.user.id == job.user_id or perms.manage_messages
            or perms.manage_guild)


# -- actions -----------------------------------------------------------------------------


async def reroll(bot: SoraBot, interaction: Interaction, job: Job) -> None:
    await _may_spend(bot, interaction, job, "reroll")
    await _offer(bot, job)
    await launch(bot, interaction, options_of(bot, job), model=job.model,
                 image_url=job.start_image_url)


async def edit(bot: SoraBot, interaction: Interaction, job: Job) -> None:
    await _may_spend(bot, interaction, job, "edit")
    await _offer(bot, job)
    await interaction.response.send_modal(
        EditPromptModal(bot, job, Words(bot.services.texts, interaction.locale)))


async def extend(bot: SoraBot, interaction: Interaction, job: Job) -> None:
    await _may_spend(bot, interaction, job, "extend")
    offer = await _offer(bot, job)
    if not offer.takes_image:
        # Only on result cards posted before the button was left out for such models.
        raise OptionRefused(bot.services.texts.text("en", "card.results.no_extend",
                                                    model=offer.label),
                            key="card.results.no_extend", params={"model": offer.label})
    result_url = job.result_url
    if result_url is None:
        raise refusal(bot, "card.results.no_result")

    async def fetch_frame() -> bytes:
        return await bot.services.frames.of(result_url)

    # launch() reads the image after its public acknowledgement, so the download and the
    # decode do not race Discord's three-second deadline. The true size is unknown until
    # then: 1 passes the cheap declared-size check, and the PNG's bytes are judged after.
    # The launcher puts it into the model's own image field (image, start_image …).
    image = ImageInput(read=fetch_frame, filename=f"video-{job.id}-last-frame.png",
                       content_type="image/png", size=1)
    await launch(bot, interaction, options_of(bot, job), image, model=job.model)


async def details(bot: SoraBot, interaction: Interaction, job: Job) -> None:
    offer = bot.services.settings.lineup.get(job.model)
    words = Words(bot.services.texts, interaction.locale)
    await interaction.response.send_message(embed=details_embed(job, words, offer),
                                            ephemeral=True, allowed_mentions=NO_MENTIONS)


async def delete(bot: SoraBot, interaction: Interaction, job: Job) -> None:
    if not _may_delete(interaction, job):
        raise refusal(bot, "card.results.delete_refused")
    message = interaction.message
    if message is None:
        raise refusal(bot, "card.results.already_gone")
    # The custom_id chose the job, and so who may delete; the message comes separately with
    # the click. Only the message the job's own result was recorded in may go.
    if (job.state is not JobState.DELIVERED or job.delivered_message_id != message.id
            or message.channel.id != job.channel_id):
        log.warning("job %s: delete refused for message %s (the job's result is message %s)",
                    job.id, message.id, job.delivered_message_id)
        raise refusal(bot, "card.results.not_its_message")
    try:
        await message.delete()
    except discord.NotFound:
        raise refusal(bot, "card.results.already_gone") from None
    log.info("job %s: result message deleted by user %s", job.id, interaction.user.id)
    await interaction.response.send_message(
        bot.services.texts.text(interaction.locale, "card.results.deleted"), ephemeral=True,
        allowed_mentions=NO_MENTIONS)


Action = Callable[["SoraBot", Interaction, Job], Awaitable[None]]
ACTIONS: dict[str, Action] = {
    "reroll": reroll, "edit": edit, "extend": extend, "details": details, "delete": delete,
}


def _when(moment: Any) -> str:
    return f"<t:{int(moment.timestamp())}:f>" if moment is not None else "—"


def details_embed(job: Job, words: Words, offer: Offer | None = None) -> discord.Embed:
    """Everything about the job: model, full prompt, options, price, both job ids, timings
    (an ephemeral reply, in the clicking member's language)."""
    embed = discord.Embed(title=words("card.details.title"),
                          description=render.clip(job.prompt, 4096))
    embed.add_field(name=words("card.details.video"), value=render.variant_text(job, offer))
    embed.add_field(name=words("card.details.price"), value=words.credits(job.price))
    embed.add_field(name=words("card.details.requested_by"), value=f"<@{job.user_id}>")
    embed.add_field(name=words("card.details.start_image"),
                    value=words("card.details.yes" if job.start_image_url else "card.details.none"))
    embed.add_field(name=words("card.details.job"), value=f"`{job.id}`", inline=False)
    embed.add_field(name=words("card.details.provider_job"),
                    value=f"`{job.apiframe_job_id or '—'}`", inline=False)
    embed.add_field(
        name=words("card.details.timings"),
        value=words("card.details.timeline", requested=_when(job.created_at),
                    submitted=_when(job.submitted_at), finished=_when(job.finished_at),
                    delivered=_when(job.delivered_at)),
        inline=False,
    )
    return embed


# -- Discord glue -------------------------------------------------------------------------


class EditPromptModal(discord.ui.Modal, title="Edit prompt"):
    """The prompt, pre-filled; submitting starts a new job with the other settings kept."""

    def __init__(self, bot: SoraBot, job: Job, words: Words) -> None:
        super().__init__(custom_id=f"sora:r:edit-modal:{job.id}",
                         title=words("card.edit.title"))
        self.bot, self.job = bot, job
        self.prompt: discord.ui.TextInput[EditPromptModal] = discord.ui.TextInput(
            label=words("card.edit.prompt"), style=discord.TextStyle.paragraph,
            default=job.prompt, min_length=1, max_length=4000,
        )
        self.add_item(self.prompt)

    async def on_submit(self, interaction: Interaction) -> None:  # type: ignore[override]
        options = options_of(self.bot, self.job, self.prompt.value)
        await launch(self.bot, interaction, options, model=self.job.model,
                     image_url=self.job.start_image_url)

    async def on_error(  # type: ignore[override]
        self, interaction: Interaction, error: Exception
    ) -> None:
        await report_error(interaction, error)


class ResultButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CUSTOM_ID_PATTERN):
    """Any result button; the action and the job come from its custom_id."""

    def __init__(self, action: str, job_id: str) -> None:
        super().__init__(discord.ui.Button(custom_id=custom_id(action, job_id)))
        self.action, self.job_id = action, job_id

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ResultButton:
        return cls(match["action"], match["job_id"])

    async def callback(self, interaction: Interaction) -> None:  # type: ignore[override]
        try:
            job = await _job(interaction.client, interaction, self.job_id)
            await ACTIONS[self.action](interaction.client, interaction, job)
        except Exception as exc:  # every failure is answered here, none is raised
            await report_error(interaction, exc)


class ResultsCog(commands.Cog):
    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ResultButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ResultButton)


async def setup(bot: SoraBot) -> None:
    await bot.add_cog(ResultsCog(bot))
