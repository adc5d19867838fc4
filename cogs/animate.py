"""The "Animate with Sora" message context menu: an image already in the channel becomes the
start image of a job that then runs exactly like ``/sora`` (through :func:`cogs.adapters.launch`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs.animate_views import NO_IMAGE, AnimateModal, find_images

if TYPE_CHECKING:
    from bot.app import SoraBot

MENU_NAME = "Animate with Sora"


class AnimateCog(commands.Cog):
    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot
        # Context menus cannot be declared inside a cog class, so the cog owns this one.
        self.menu: app_commands.ContextMenu = app_commands.ContextMenu(
            name=MENU_NAME, callback=self.animate,
            allowed_contexts=app_commands.AppCommandContext(guild=True),
        )

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    async def animate(
        self, interaction: discord.Interaction[SoraBot], message: discord.Message
    ) -> None:
        images = find_images(
            message, self.bot.services.http, self.bot.services.settings.jobs.max_start_image_bytes
        )
        if not images:
            await interaction.response.send_message(
                NO_IMAGE, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
            return
        modal = AnimateModal(
            self.bot, self.menu, images, custom_id=f"sora:animate:{interaction.id}"
        )
        await interaction.response.send_modal(modal)


async def setup(bot: SoraBot) -> None:
    await bot.add_cog(AnimateCog(bot))
