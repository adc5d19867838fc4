"""``/video``: every model this server may use, with choices that follow the model picked.

Discord cannot make one option's choices depend on another's, so the model and its four
choices are autocompleted: each suggestion list is computed from the model already typed
(bot/launch/choices.py). Suggestions are only hints: what arrives is text, turned back into
option values and checked again by the launcher, as for every entry point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.app_commands import locale_str as _
from discord.ext import commands

from bot.catalog.lineup import Offer
from bot.errors import UserError
from bot.launch import choices
from cogs.adapters import image_from_attachment, launch

if TYPE_CHECKING:
    from bot.app import SoraBot

NO_MODEL = "No video model is available on this server right now."


def _as_choices(suggestions: list[choices.Suggestion]) -> list[Choice[str]]:
    return [Choice(name=s.name, value=s.value) for s in suggestions]


def _text(value: object) -> str | None:
    """A namespace value as text (None when the member has not filled that option)."""
    return None if value is None else str(value)


class VideoCog(commands.Cog):
    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot

    @app_commands.command(name="video", description="Generate a video with any model this "
                                                    "server offers")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What should happen in the video",
        model="Which video model (each shows its price range); default: the server's",
        duration="Length of the video; the choices follow the model",
        aspect_ratio="Shape of the video; the choices follow the model",
        quality="Resolution or mode; the choices follow the model",
        sound="Generated sound (on/off), for models that make it",
        start_image="Optional first frame, for models that take one: a PNG, JPEG or WebP",
        fit="If the start image has another shape: centre-crop it (default) or pad it",
    )
    @app_commands.choices(
        fit=[
            Choice(name=_("Crop to fit (centre)", key="choice.crop"), value="crop"),
            Choice(name=_("Pad with black bars", key="choice.pad"), value="pad"),
        ],
    )
    async def video(
        self,
        interaction: discord.Interaction[SoraBot],
        prompt: app_commands.Range[str, 1, 5000],
        model: str | None = None,
        duration: str | None = None,
        aspect_ratio: str | None = None,
        quality: str | None = None,
        sound: str | None = None,
        start_image: discord.Attachment | None = None,
        fit: str = "crop",
    ) -> None:
        launcher = self.bot.launcher
        model_id = await self._model_id(interaction.guild_id, _text(model))
        # Re-validated here: a raw interaction can carry any text, whatever was suggested.
        picked = choices.chosen(launcher.offer(model_id), {
            "duration": _text(duration), "aspect_ratio": _text(aspect_ratio),
            "quality": _text(quality), "sound": _text(sound),
        })
        options = launcher.options(model_id, prompt, picked)
        image = image_from_attachment(start_image) if start_image is not None else None
        await launch(self.bot, interaction, options, image, model=model_id, fit=fit)

    async def _model_id(self, guild_id: int | None, typed: str | None) -> str:
        """The model named (its id or label), else the server's default."""
        assert guild_id is not None  # guild_only
        launcher = self.bot.launcher
        if typed is not None:
            found = choices.find_offer(await launcher.offers_for(guild_id), typed)
            # Unknown here: passed on as typed, for the launcher to refuse by name.
            return found.id if found is not None else typed
        default = await launcher.default_for(guild_id)
        if default is None:
            raise UserError(NO_MODEL, key="refusal.no_model")
        return default.id

    async def _offer(self, interaction: discord.Interaction[SoraBot]) -> Offer | None:
        """The model the member has typed so far, else the server's default."""
        guild_id = interaction.guild_id
        if guild_id is None:
            return None
        launcher = self.bot.launcher
        typed = _text(interaction.namespace.model)
        if typed:
            return choices.find_offer(await launcher.offers_for(guild_id), typed)
        return await launcher.default_for(guild_id)

    async def _slot(self, interaction: discord.Interaction[SoraBot], parameter: str,
                    current: str) -> list[Choice[str]]:
        offer = await self._offer(interaction)
        if offer is None:
            return []
        namespace = interaction.namespace
        others = {name: _text(getattr(namespace, name, None)) for name in choices.PARAMETERS}
        return _as_choices(choices.slot_suggestions(offer, parameter, current, others))

    @video.autocomplete("model")
    async def _models(self, interaction: discord.Interaction[SoraBot],
                      current: str) -> list[Choice[str]]:
        if interaction.guild_id is None:
            return []
        offers = await self.bot.launcher.offers_for(interaction.guild_id)
        return _as_choices(choices.model_suggestions(offers, current))

    @video.autocomplete("duration")
    async def _durations(self, interaction: discord.Interaction[SoraBot],
                         current: str) -> list[Choice[str]]:
        return await self._slot(interaction, "duration", current)

    @video.autocomplete("aspect_ratio")
    async def _ratios(self, interaction: discord.Interaction[SoraBot],
                      current: str) -> list[Choice[str]]:
        return await self._slot(interaction, "aspect_ratio", current)

    @video.autocomplete("quality")
    async def _qualities(self, interaction: discord.Interaction[SoraBot],
                         current: str) -> list[Choice[str]]:
        return await self._slot(interaction, "quality", current)

    @video.autocomplete("sound")
    async def _sounds(self, interaction: discord.Interaction[SoraBot],
                      current: str) -> list[Choice[str]]:
        return await self._slot(interaction, "sound", current)


async def setup(bot: SoraBot) -> None:
    await bot.add_cog(VideoCog(bot))
