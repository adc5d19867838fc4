"""The "Animate into video" message context menu: an image already in the channel becomes the
start image of a job of any model this server may use that takes one; the job then runs like
any other (through :func:`cogs.adapters.launch`).

With several such models the member first picks one in a private message; then a modal asks
for the prompt and that model's choices (:mod:`cogs.animate_modal`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.i18n.catalog import Voice
from cogs.animate_modal import AnimateModal, ModelPickView
from cogs.animate_views import find_images

if TYPE_CHECKING:
    from bot.app import SoraBot

MENU_NAME = "Animate into video"
NO_MENTIONS = discord.AllowedMentions.none()


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
        voice = Voice(self.bot.services.texts, interaction.locale)
        if not images:
            await interaction.response.send_message(voice.say("animate.no_image"),
                                                    ephemeral=True,
                                                    allowed_mentions=NO_MENTIONS)
            return
        launcher = self.bot.launcher
        guild_id = interaction.guild_id or 0  # a guild-only command
        # Only models that take a start image can animate one.
        offers = [offer for offer in await launcher.offers_for(guild_id) if offer.takes_image]
        modal_id = f"sora:animate:{interaction.id}"
        if not offers:
            await interaction.response.send_message(voice.say("animate.no_model"),
                                                    ephemeral=True,
                                                    allowed_mentions=NO_MENTIONS)
        elif len(offers) == 1:
            await interaction.response.send_modal(
                AnimateModal(self.bot, self.menu, images, offers[0], custom_id=modal_id,
                             voice=voice))
        else:
            default = await launcher.default_for(guild_id)
            view = ModelPickView(self.bot, self.menu, images, offers,
                                 default.id if default is not None else None,
                                 modal_id=modal_id, voice=voice)
            await interaction.response.send_message(voice.say("animate.pick_model"), view=view,
                                                    ephemeral=True,
                                                    allowed_mentions=NO_MENTIONS)


async def setup(bot: SoraBot) -> None:
    await bot.add_cog(AnimateCog(bot))
