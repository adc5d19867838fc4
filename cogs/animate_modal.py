"""The steps of "Animate into video" after the image is found: which model (a private select,
skipped when only one model can animate an image here), then that model's options modal.

The modal is built from the model's :class:`bot.catalog.lineup.Offer`: one select per member
choice (duration, aspect ratio, quality, sound) listing only the values the operator offers,
which are values the model accepts. The submission is still re-validated by the launcher
(:meth:`bot.launch.usecase.Launcher.options`): a raw interaction can carry anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.catalog.lineup import SLOTS, Offer, token
from bot.catalog.options import Scalar, show
from bot.i18n.catalog import Listing, Voice
from bot.launch.port import ImageInput
from bot.launch.validation import InvalidRequest
from cogs.adapters import launch
from cogs.animate_views import FoundImage
from cogs.errors import handle_app_command_error

if TYPE_CHECKING:
    from bot.app import SoraBot

#: Discord's caps: a modal's top-level components, a select's options, a title, a description.
MAX_MODAL_ITEMS = 5
MAX_CHOICES = 25
TITLE_LIMIT = 45
DESCRIPTION_LIMIT = 100
#: The English words (the catalog's ``animate.no_model`` / ``animate.pick_model``).
NO_MODEL = ("No video model this server may use can start from an image right now, so there is "
            "nothing to animate it with. Ask a moderator which models are available.")
PICK_MODEL = "Which video model should animate this image?"
#: Aspect ratios with words (the /sora choices' and this menu's own).
_ASPECT_KEYS = {"16:9": "choice.landscape", "9:16": "choice.portrait", "1:1": "animate.square"}


def credits_range(voice: Voice, low: int, high: int) -> str:
    if low == high:
        return voice.say("animate.credits", low=low)
    return voice.say("animate.credits_range", low=low, high=high)


def _value_name(voice: Voice, name: str, value: Scalar, offer: Offer) -> str:
    """How one value reads in a select: ``8 seconds``, ``16:9 landscape``, ``With sound``."""
    if isinstance(value, bool):
        return voice.say("animate.with_sound" if value else "animate.silent")
    if name == "duration":
        if isinstance(value, int):
            return voice.count("choice.seconds", value)
        return f"{show(value)} s"
    if name == "aspect_ratio":
        key = _ASPECT_KEYS.get(show(value))
        return voice.say(key) if key else show(value)
    if name != offer.slots.get("quality"):
        return show(value)
    # Sora's standard/high have words (the /budget choices'); other qualities are names.
    key = f"choice.resolution.{show(value)}"
    return (voice.say(key) if voice.texts.has(key) else show(value)).capitalize()


def wire(value: Scalar) -> str:
    """A value as a select option carries it (``true`` / ``false`` for a switch)."""
    return show(value)


def _grid(offer: Offer) -> list[tuple[dict[str, Scalar], int]]:
    """Every priced combination of the axes' values with its price (the operator's grid)."""
    combos: list[dict[str, Scalar]] = [{}]
    for axis in offer.price_by:
        values = offer.choices.get(axis) or (offer.defaults[axis],)
        combos = [{**combo, axis: value} for combo in combos for value in values]
    return [(combo, offer.prices[offer.grid_key(combo)]) for combo in combos
            if offer.grid_key(combo) in offer.prices]


def price_hint(voice: Voice, offer: Offer, name: str, value: Scalar) -> str | None:
    """What choosing ``value`` costs: ``Standard 24 credits · High 40 credits`` when one other
    choice changes the price, else the range; None when the option does not change it."""
    if name not in offer.price_by:
        return None
    rows = [(combo, price) for combo, price in _grid(offer)
            if token(name, combo[name]) == token(name, value)]
    if not rows:
        return None
    others = [axis for axis in offer.price_by
              if axis != name and len(offer.choices.get(axis, ())) > 1]
    if len(others) == 1 and len(rows) <= 4:
        other = others[0]
        return " · ".join(f"{_value_name(voice, other, combo[other], offer)} "
                          f"{voice.say('animate.credits', low=price)}"
                          for combo, price in rows)[:DESCRIPTION_LIMIT]
    prices = [price for _combo, price in rows]
    return credits_range(voice, min(prices), max(prices))


def modal_title(voice: Voice, offer: Offer) -> str:
    """``Animate · Veo 3.1 Fast · 40-120 credits``, the label cut to fit Discord's 45."""
    price = credits_range(voice, *offer.price_range())
    room = TITLE_LIMIT - len(voice.say("animate.title", model="", price=price))
    label = offer.label if len(offer.label) <= room else offer.label[: max(room - 1, 0)] + "…"
    return voice.say("animate.title", model=label, price=price)[:TITLE_LIMIT]


def _select(custom_id: str, options: list[discord.SelectOption]
            ) -> discord.ui.Select[AnimateModal]:
    return discord.ui.Select(custom_id=custom_id, options=options, min_values=1, max_values=1)


class AnimateModal(discord.ui.Modal):
    """The prompt, the model's choices and (with several) which image."""

    def __init__(
        self, bot: SoraBot, menu: app_commands.ContextMenu, images: Sequence[FoundImage],
        offer: Offer, *, custom_id: str, voice: Voice,
    ) -> None:
        super().__init__(title=modal_title(voice, offer), custom_id=custom_id, timeout=900)
        self.bot, self.menu, self.images, self.offer = bot, menu, list(images), offer
        self.voice = voice
        self.prompt: discord.ui.TextInput[AnimateModal] = discord.ui.TextInput(
            custom_id="prompt", style=discord.TextStyle.paragraph, min_length=1,
            max_length=min(4000, offer.model.prompt_max),
            placeholder=voice.say("animate.prompt_placeholder"),
        )
        self.add_item(discord.ui.Label(text=voice.say("animate.prompt"), component=self.prompt))
        # A choice with a single value is no choice: it is sent as is. Discord allows five
        # rows, so with several images the last slots (sound first) keep the operator's
        # default rather than crowd out the image.
        room = MAX_MODAL_ITEMS - 1 - (1 if len(self.images) > 1 else 0)
        #: Option name -> (select, the values its wire strings stand for).
        self.selects: dict[str, tuple[discord.ui.Select[AnimateModal], dict[str, Scalar]]] = {}
        for slot in SLOTS:
            name = offer.slots.get(slot)
            if name is None or len(offer.choices[name]) < 2 or len(self.selects) >= room:
                continue
            values = offer.choices[name][:MAX_CHOICES]
            default = offer.fallback(name)
            select = _select(name, [
                discord.SelectOption(label=_value_name(voice, name, value, offer)[:100],
                                     value=wire(value), default=wire(value) == wire(default),
                                     description=price_hint(voice, offer, name, value))
                for value in values
            ])
            self.selects[name] = (select, {wire(value): value for value in values})
            priced = voice.say("animate.priced") if name in offer.price_by else None
            self.add_item(discord.ui.Label(text=voice.say(f"animate.slot.{slot}"),
                                           component=select, description=priced))
        self.image: discord.ui.Select[AnimateModal] | None = None
        if len(self.images) > 1:
            self.image = _select("image", [
                discord.SelectOption(label=found.label, value=str(n), default=n == 0)
                for n, found in enumerate(self.images)
            ])
            self.add_item(discord.ui.Label(text=voice.say("animate.image"),
                                           component=self.image))

    def _chosen_image(self) -> ImageInput:
        if self.image is None:
            return self.images[0].image
        value = self.image.values[0] if self.image.values else ""
        if not value.isdecimal() or not 0 <= int(value) < len(self.images):
            raise InvalidRequest(f"Choose one of the message's {len(self.images)} images.",
                                 key="animate.choose_image", params={"count": len(self.images)})
        return self.images[int(value)].image

    def chosen(self) -> dict[str, object]:
        """The member's choices as the model's values; anything else stays the raw string,
        which the launcher refuses (nothing charged)."""
        out: dict[str, object] = {}
        for name, (select, values) in self.selects.items():
            if select.values:
                raw = select.values[0]
                out[name] = values.get(raw, raw)
        return out

    async def on_submit(self, interaction: discord.Interaction[SoraBot]) -> None:  # type: ignore[override]
        launcher = self.bot.launcher
        options = launcher.options(self.offer.id, self.prompt.value, self.chosen())
        await launch(self.bot, interaction, options, self._chosen_image(), model=self.offer.id)

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction[SoraBot], error: Exception
    ) -> None:
        # Same table-driven replies as /sora: the modal is part of the context-menu command.
        await handle_app_command_error(
            interaction, app_commands.CommandInvokeError(self.menu, error)
        )


class ModelPickView(discord.ui.View):
    """The private first step when several models can animate an image: choosing one opens
    its modal. In memory only: it lives as long as the private message's interaction."""

    def __init__(
        self, bot: SoraBot, menu: app_commands.ContextMenu, images: Sequence[FoundImage],
        offers: Sequence[Offer], default: str | None, *, modal_id: str, voice: Voice,
    ) -> None:
        super().__init__(timeout=900)
        self.bot, self.menu, self.images, self.modal_id = bot, menu, list(images), modal_id
        self.voice = voice
        self.offers: Mapping[str, Offer] = {offer.id: offer for offer in offers[:MAX_CHOICES]}
        self.pick: discord.ui.Select[ModelPickView] = discord.ui.Select(
            custom_id=f"{modal_id}:model", min_values=1, max_values=1,
            placeholder=voice.say("animate.pick_placeholder"),
            options=[discord.SelectOption(label=offer.label[:100], value=offer.id,
                                          default=offer.id == default,
                                          description=credits_range(voice,
                                                                    *offer.price_range()))
                     for offer in self.offers.values()],
        )
        self.pick.callback = self._picked  # type: ignore[method-assign,assignment]
        self.add_item(self.pick)

    async def _picked(self, interaction: discord.Interaction[SoraBot]) -> None:
        model = self.pick.values[0] if self.pick.values else ""
        # Checked again now: the guild's models may have changed since the menu was opened.
        usable = {offer.id for offer in await self.bot.launcher.offers_for(
            interaction.guild_id or 0)}
        offer = self.offers.get(model)
        if offer is None or model not in usable:
            names = [o.label for o in self.offers.values()]
            raise InvalidRequest(f"Choose one of {', '.join(names)}"
                                 " (that model is not available here now).",
                                 key="animate.choose_model",
                                 params={"models": Listing(names)})
        await interaction.response.send_modal(
            AnimateModal(self.bot, self.menu, self.images, offer, custom_id=self.modal_id,
                         voice=self.voice))

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction[SoraBot], error: Exception,
        item: discord.ui.Item[ModelPickView],
    ) -> None:
        await handle_app_command_error(
            interaction, app_commands.CommandInvokeError(self.menu, error)
        )
