"""Start a video from any interaction: the one path shared by /sora and later entry points
(the message context menu, result buttons, approvals).

It runs the cheap checks before acknowledging (so a refusal is the first, private response),
then a public "thinking…" acknowledgement whose message becomes the job's status message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord

from bot import render
from bot.errors import UserError
from bot.jobs import Job
from bot.sora import SoraRequest
from bot.validation import SoraOptions, check_attachment_meta, check_start_image

if TYPE_CHECKING:
    from bot.app import SoraBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()


class AttachmentUnreadable(UserError):
    """Discord no longer serves the image."""


@dataclass(frozen=True, slots=True)
class ImageInput:
    """A start image still on Discord: what Discord says of it, and how to fetch it."""

    read: Callable[[], Awaitable[bytes]]
    filename: str
    content_type: str | None
    size: int

    @classmethod
    def from_attachment(cls, attachment: discord.Attachment) -> ImageInput:
        return cls(read=attachment.read, filename=attachment.filename,
                   content_type=attachment.content_type, size=attachment.size)


def member_role_ids(interaction: discord.Interaction[SoraBot]) -> tuple[int, ...]:
    """The invoker's roles, for the guild policy's role rule."""
    user = interaction.user
    return tuple(role.id for role in user.roles) if isinstance(user, discord.Member) else ()


async def launch(
    bot: SoraBot,
    interaction: discord.Interaction[SoraBot],
    options: SoraOptions,
    image: ImageInput | None = None,
) -> Job:
    """Check, acknowledge publicly, re-host the image, reserve and enqueue one job."""
    services = bot.services
    settings = services.settings
    if interaction.guild_id is None or interaction.channel_id is None:
        raise UserError("Videos can only be made in a server channel.")
    if image is not None:
        check_attachment_meta(image.size, image.content_type,
                              settings.jobs.max_start_image_bytes)
    role_ids = member_role_ids(interaction)
    await services.sora.precheck(
        interaction.guild_id, interaction.user.id, services.sora.price(options),
        channel_id=interaction.channel_id, role_ids=role_ids, options=options,
    )

    # Public, so the finished video can replace this "thinking…" message. Errors from here on
    # reach the member privately: the error handler removes the public placeholder first.
    callback = await interaction.response.defer(thinking=True)
    image_url = await _rehost(bot, image) if image is not None else None
    job = await services.sora.start(SoraRequest(
        guild_id=interaction.guild_id, channel_id=interaction.channel_id,
        user_id=interaction.user.id, application_id=interaction.application_id,
        interaction_id=interaction.id, interaction_token=interaction.token,
        token_expires_at=interaction.expires_at,
        attachment_size_limit=interaction.filesize_limit, options=options,
        status_message_id=callback.message_id if callback else None,
        start_image_url=image_url, role_ids=role_ids,
    ))
    log.info("job %s: created for guild %s by user %s (%d credits)",
             job.id, job.guild_id, job.user_id, job.price)
    bot.scheduler.wake()
    try:
        await interaction.edit_original_response(
            embed=render.status_embed(job, discord.utils.utcnow()), allowed_mentions=NO_MENTIONS,
        )
    except discord.HTTPException:
        log.debug("job %s: first status edit failed; the scheduler will retry", job.id)
    return job


async def _rehost(bot: SoraBot, image: ImageInput) -> str:
    settings = bot.services.settings
    try:
        data = await image.read()
    except discord.HTTPException as exc:
        log.info("start image unreadable (%s)", exc)
        raise AttachmentUnreadable(
            "I couldn't download that image from Discord (the link may have expired). "
            "Please attach it again."
        ) from None
    # Decoding a large image takes long enough to stall the gateway heartbeat.
    checked = await asyncio.to_thread(
        check_start_image, data, filename=image.filename, content_type=image.content_type,
        max_bytes=settings.jobs.max_start_image_bytes,
    )
    return await bot.services.sora.upload_start_image(checked)
