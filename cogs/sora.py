"""``/sora``: the thin Discord adapter in front of :class:`bot.sora.SoraService`."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot import render
from bot.errors import UserError
from bot.sora import SoraRequest
from bot.validation import check_attachment_meta, check_start_image, parse_options

if TYPE_CHECKING:
    from bot.app import SoraBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()


class AttachmentUnreadable(UserError):
    """Discord no longer serves the attached image."""


class SoraCog(commands.Cog):
    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot

    @app_commands.command(name="sora", description="Generate a video with Sora 2 Pro")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What should happen in the video (up to 4000 characters)",
        duration="Length of the video; longer costs more",
        aspect_ratio="Landscape (16:9) or portrait (9:16)",
        resolution="Standard or high quality; high costs more",
        start_image="Optional first frame: a PNG, JPEG or WebP image",
    )
    @app_commands.choices(
        duration=[Choice(name=f"{s} seconds", value=s) for s in (4, 8, 10, 12, 15)],
    )
    @app_commands.choices(
        aspect_ratio=[
            Choice(name="16:9 landscape", value="16:9"),
            Choice(name="9:16 portrait", value="9:16"),
        ],
        resolution=[
            Choice(name="Standard", value="standard"),
            Choice(name="High (costs more)", value="high"),
        ],
    )
    async def sora(
        self,
        interaction: discord.Interaction[SoraBot],
        prompt: app_commands.Range[str, 1, 4000],
        duration: int = 4,
        aspect_ratio: str = "16:9",
        resolution: str = "standard",
        start_image: discord.Attachment | None = None,
    ) -> None:
        services = self.bot.services
        settings = services.settings
        assert interaction.guild_id is not None and interaction.channel_id is not None
        # Cheap checks first, answered ephemerally as the very first response.
        options = parse_options(prompt, duration, aspect_ratio, resolution)
        if start_image is not None:
            check_attachment_meta(start_image.size, start_image.content_type,
                                  settings.jobs.max_start_image_bytes)
        price = services.sora.price(options)
        # The guild policy's role rule needs them; a guild command's user is always a Member.
        role_ids = (
            tuple(role.id for role in interaction.user.roles)
            if isinstance(interaction.user, discord.Member) else ()
        )
        await services.sora.precheck(
            interaction.guild_id, interaction.user.id, price,
            channel_id=interaction.channel_id, role_ids=role_ids, options=options,
        )

        # Public, so the finished video can replace this "thinking…" message.
        # Errors from here on reach the member privately: the error handler removes the public
        # placeholder before answering.
        callback = await interaction.response.defer(thinking=True)
        image_url = None
        if start_image is not None:
            image_url = await self._rehost(start_image)
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
        self.bot.scheduler.wake()
        try:
            await interaction.edit_original_response(
                embed=render.status_embed(job, discord.utils.utcnow()),
                allowed_mentions=NO_MENTIONS,
            )
        except discord.HTTPException:
            log.debug("job %s: first status edit failed; the scheduler will retry", job.id)

    async def _rehost(self, attachment: discord.Attachment) -> str:
        settings = self.bot.services.settings
        try:
            data = await attachment.read()
        except (discord.HTTPException, discord.NotFound) as exc:
            log.info("start image unreadable (%s)", exc)
            raise AttachmentUnreadable(
                "I couldn't download that image from Discord (the link may have expired). "
                "Please attach it again."
            ) from None
        # Decoding a large image takes long enough to stall the gateway heartbeat.
        image = await asyncio.to_thread(
            check_start_image, data, filename=attachment.filename,
            content_type=attachment.content_type,
            max_bytes=settings.jobs.max_start_image_bytes,
        )
        return await self.bot.services.sora.upload_start_image(image)


async def setup(bot: SoraBot) -> None:
    await bot.add_cog(SoraCog(bot))
