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
UNKNOWN_JOB = "I have no record of that video any more, so this button can't do anything."
NO_RESULT = "That video has no result I can read, so it can't be extended."
DELETE_REFUSED = ("Only the member who asked for this video or a moderator (Manage Messages) "
                  "can delete it.")
DELETED = "Deleted. Credits are not refunded for a delivered video."
ALREADY_GONE = "That message is already gone."
NOT_ITS_MESSAGE = "This button can only delete its own video's message; nothing was deleted."

Interaction = discord.Interaction["SoraBot"]


async def _offer(bot: SoraBot, job: Job) -> Offer:
    """The job's model as offered now; refused plainly, naming what this server may use
    instead, once the operator no longer offers it. (A model the operator offers but this
    server may not use, or the provider retired, is refused by the launch's own check.)"""
    offer = bot.services.settings.lineup.get(job.model)
    if offer is not None:
        return offer
    usable = ", ".join(o.label for o in await bot.launcher.offers_for(job.guild_id))
    raise OptionRefused(f"{job.model} is not offered on this bot any more, so this video can't "
                        "be made again with it. " + (f"You can use {usable} instead (/video)."
                                                     if usable else ""))


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
        raise UserError(UNKNOWN_JOB)
    return job


async def _may_spend(bot: SoraBot, interaction: Interaction, job: Job, what: str) -> None:
    """Only the requester may spend credits from their video, unless the guild opened it."""
    if interaction.user.id == job.user_id:
        return
    if (await bot.services.rules.get(job.guild_id)).buttons_open:
        return
    raise UserError(f"Only <@{job.user_id}>, who asked for this video, can {what} it.")


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
    await interaction.response.send_modal(EditPromptModal(bot, job))


async def extend(bot: SoraBot, interaction: Interaction, job: Job) -> None:
    await _may_spend(bot, interaction, job, "extend")
    offer = await _offer(bot, job)
    if not offer.takes_image:
        # Only on result cards posted before the button was left out for such models.
        raise OptionRefused(f"{offer.label} does not take a start image, so its videos can't "
                            "be extended.")
    result_url = job.result_url
    if result_url is None:
        raise UserError(NO_RESULT)

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
    await interaction.response.send_message(embed=details_embed(job, offer), ephemeral=True,
                                            allowed_mentions=NO_MENTIONS)


async def delete(bot: SoraBot, interaction: Interaction, job: Job) -> None:
    del bot
    if not _may_delete(interaction, job):
        raise UserError(DELETE_REFUSED)
    message = interaction.message
    if message is None:
        raise UserError(ALREADY_GONE)
    # The custom_id chose the job, and so who may delete; the message comes separately with
    # the click. Only the message the job's own result was recorded in may go.
    if (job.state is not JobState.DELIVERED or job.delivered_message_id != message.id
            or message.channel.id != job.channel_id):
        log.warning("job %s: delete refused for message %s (the job's result is message %s)",
                    job.id, message.id, job.delivered_message_id)
        raise UserError(NOT_ITS_MESSAGE)
    try:
        await message.delete()
    except discord.NotFound:
        raise UserError(ALREADY_GONE) from None
    log.info("job %s: result message deleted by user %s", job.id, interaction.user.id)
    await interaction.response.send_message(DELETED, ephemeral=True,
                                            allowed_mentions=NO_MENTIONS)


Action = Callable[["SoraBot", Interaction, Job], Awaitable[None]]
ACTIONS: dict[str, Action] = {
    "reroll": reroll, "edit": edit, "extend": extend, "details": details, "delete": delete,
}


def _when(moment: Any) -> str:
    return f"<t:{int(moment.timestamp())}:f>" if moment is not None else "—"


def details_embed(job: Job, offer: Offer | None = None) -> discord.Embed:
    """Everything about the job: model, full prompt, options, price, both job ids, timings."""
    embed = discord.Embed(title="Video details", description=render.clip(job.prompt, 4096))
    embed.add_field(name="Video", value=render.variant_text(job, offer))
    embed.add_field(name="Price", value=render.credits(job.price))
    embed.add_field(name="Requested by", value=f"<@{job.user_id}>")
    embed.add_field(name="Start image", value="yes" if job.start_image_url else "none")
    embed.add_field(name="Job", value=f"`{job.id}`", inline=False)
    embed.add_field(name="Apiframe job", value=f"`{job.apiframe_job_id or '—'}`", inline=False)
    embed.add_field(
        name="Timings",
        value=(f"requested {_when(job.created_at)}\nsubmitted {_when(job.submitted_at)}\n"
               f"finished {_when(job.finished_at)}\ndelivered {_when(job.delivered_at)}"),
        inline=False,
    )
    return embed


# -- Discord glue -------------------------------------------------------------------------


class EditPromptModal(discord.ui.Modal, title="Edit prompt"):
    """The prompt, pre-filled; submitting starts a new job with the other settings kept."""

    def __init__(self, bot: SoraBot, job: Job) -> None:
        super().__init__(custom_id=f"sora:r:edit-modal:{job.id}")
        self.bot, self.job = bot, job
        self.prompt: discord.ui.TextInput[EditPromptModal] = discord.ui.TextInput(
            label="Prompt", style=discord.TextStyle.paragraph, default=job.prompt,
            min_length=1, max_length=4000,
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
