"""``/sora``: the thin Discord adapter in front of :class:`bot.launch.usecase.Launcher`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.app_commands import locale_str as _
from discord.ext import commands

from bot.config import DURATIONS
from bot.launch.validation import parse_options
from cogs.adapters import image_from_attachment, launch

if TYPE_CHECKING:
    from bot.app import SoraBot


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
        fit="If the start image has another shape: centre-crop it (default) or pad it",
    )
    @app_commands.choices(
        duration=[Choice(name=_(f"{s} seconds", key="choice.seconds", count=s), value=s)
                  for s in DURATIONS],
    )
    @app_commands.choices(
        aspect_ratio=[
            Choice(name=_("16:9 landscape", key="choice.landscape"), value="16:9"),
            Choice(name=_("9:16 portrait", key="choice.portrait"), value="9:16"),
        ],
        resolution=[
            Choice(name=_("Standard", key="choice.standard"), value="standard"),
            Choice(name=_("High (costs more)", key="choice.high"), value="high"),
        ],
        fit=[
            Choice(name=_("Crop to fit (centre)", key="choice.crop"), value="crop"),
            Choice(name=_("Pad with black bars", key="choice.pad"), value="pad"),
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
        fit: str = "crop",
    ) -> None:
        # Re-validated here: a raw interaction can carry any value, whatever the choices say.
        options = parse_options(prompt, duration, aspect_ratio, resolution)
        model = self.bot.launcher.sora_model()
        options = self.bot.launcher.options(model, options.prompt, options.params)
        image = image_from_attachment(start_image) if start_image is not None else None
        await launch(self.bot, interaction, options, image, model=model, fit=fit)


async def setup(bot: SoraBot) -> None:
    await bot.add_cog(SoraCog(bot))
