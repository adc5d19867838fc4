"""What ``/video`` offers a member, as plain data: the usable models with their price range,
the values of each choice with the price each leads to, and the member's typed text turned back
into option values.

Discord's autocomplete only suggests: a member (or a raw interaction) can send any text. So
:func:`chosen` turns that text into the option values it names without judging them, and the
launcher's ``options`` checks them against the lineup and the catalog like every entry point's.
Pure functions over :class:`bot.catalog.lineup.Offer`; the cog only wraps them in Discord types.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.catalog.lineup import Offer
from bot.catalog.options import BooleanOption, OptionRefused, Scalar, show
from bot.catalog.video import VideoModel

#: The /video parameters a member picks from the model's values, and the lineup slot each
#: fills (see bot/catalog/lineup.py SLOTS).
PARAMETERS: Mapping[str, str] = {
    "duration": "duration", "aspect_ratio": "aspect_ratio", "quality": "quality",
    "sound": "audio",
}
#: Discord shows at most 25 suggestions, each name and value at most 100 characters.
MAX_SUGGESTIONS = 25
_MAX_TEXT = 100
ON, OFF = "on", "off"
_TRUE = frozenset({"on", "true", "yes", "sound", "1"})
_FALSE = frozenset({"off", "false", "no", "silent", "0"})
#: ``8``, ``8s``, ``8 sec``, ``8 seconds``: a duration as a member may type it.
_SECONDS = re.compile(r"([0-9]{1,9})\s*(?:s|secs?|seconds?)?")


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One autocomplete entry: what the member reads, and the text Discord sends back."""

    name: str
    value: str


def credits(low: int, high: int) -> str:
    """``12 credits``, or a range such as 12 to 60."""
    return f"{low} credits" if low == high else f"{low}–{high} credits"


def extra_inputs(model: VideoModel) -> tuple[str, ...]:
    """Required inputs of ``model`` besides a start image: none of them can be given here
    (Kling 3.0 Motion Control's reference ``video``), so such a model cannot be started."""
    return tuple(name for name in model.required if name != model.start_image)


def needs_image(model: VideoModel) -> bool:
    """Whether ``model`` makes nothing without a start image (Midjourney video)."""
    return model.start_image is not None and model.start_image in model.required


def check_inputs(offer: Offer, *, with_image: bool) -> None:
    """Refuse, before anything is charged, a request the model could never be sent: a model
    needing an input no entry point takes, or one needing a start image sent without."""
    extra = extra_inputs(offer.model)
    if extra:
        raise OptionRefused(
            f"{offer.label} needs a reference {', '.join(extra)}, which this bot cannot send. "
            "Choose another model; nothing was charged.", key="refusal.needs_reference",
            params={"model": offer.label, "inputs": ", ".join(extra)})
    if needs_image(offer.model) and not with_image:
        raise OptionRefused(f"{offer.label} needs a start image: attach one as start_image.",
                            key="refusal.needs_start_image", params={"model": offer.label})


def startable(offers: Iterable[Offer]) -> tuple[Offer, ...]:
    """The offers /video can start (it cannot send a reference video, for one)."""
    return tuple(offer for offer in offers if not extra_inputs(offer.model))


def find_offer(offers: Iterable[Offer], typed: str) -> Offer | None:
    """The offer whose id, else label, is ``typed`` (a member may type a label and send it
    without picking the suggestion)."""
    text = typed.strip()
    candidates = tuple(offers)
    for offer in candidates:
        if offer.id == text:
            return offer
    folded = text.casefold()
    return next((offer for offer in candidates if offer.label.casefold() == folded), None)


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def _matching(suggestions: list[Suggestion], typed: str, *,
              by_name: bool = False) -> list[Suggestion]:
    """The suggestions whose value (or name, with ``by_name``: a model's label) contains what
    the member typed; all of them when none does, so a wrong value typed is answered with the
    right ones. (Not the value names: "6 credits" would match a typed "6".)"""
    folded = typed.strip().casefold()
    hits = [s for s in suggestions if folded in s.value.casefold()
            or (by_name and folded in s.name.casefold())]
    return (hits or suggestions)[:MAX_SUGGESTIONS]


def model_suggestions(offers: Iterable[Offer], typed: str = "") -> list[Suggestion]:
    """"<label> — <low> to <high> credits" for each model /video can start, value its id."""
    suggestions = []
    for offer in startable(offers):
        name = f"{offer.label} — {credits(*offer.price_range())}"
        if needs_image(offer.model):
            name += " · needs a start image"
        suggestions.append(Suggestion(_cut(name), offer.id))
    return _matching(suggestions, typed, by_name=True)


def value_text(value: Scalar) -> str:
    """How a value travels as autocomplete text: ``8``, ``16:9``, ``720p``, ``on``/``off``."""
    if isinstance(value, bool):
        return ON if value else OFF
    return show(value)


def value_name(slot: str, value: Scalar) -> str:
    """How a member reads a value: ``8 seconds``, ``16:9``, ``720p``, ``On``/``Off``."""
    if isinstance(value, bool):
        return "On" if value else "Off"
    if slot == "duration":
        return f"{show(value)} seconds"
    return show(value)


def _parse(offer: Offer, option: str, text: str) -> Scalar:
    """The value ``text`` names for ``option``: an offered value it spells, else the number or
    switch it reads as (for the refusal to echo), else the text itself."""
    folded = text.strip().casefold()
    for value in offer.choices[option]:
        if folded in (value_text(value).casefold(), show(value).casefold()):
            return value
    if isinstance(offer.model.option(option), BooleanOption):
        if folded in _TRUE:
            return True
        if folded in _FALSE:
            return False
        return text
    number = _SECONDS.fullmatch(folded)
    return int(number[1]) if number else text


def chosen(offer: Offer, given: Mapping[str, str | None]) -> dict[str, Scalar]:
    """Option name -> value for the /video parameters the member filled (``given``: parameter
    -> typed text). A parameter the model has no choice for keeps its own name, so the lineup
    refuses it by name (``… has no choice of sound``)."""
    result: dict[str, Scalar] = {}
    for parameter, text in given.items():
        if text is None:
            continue
        option = offer.slots.get(PARAMETERS[parameter])
        if option is None:
            result[parameter] = text
        else:
            result[option] = _parse(offer, option, text)
    return result


def _usable(offer: Offer, values: Mapping[str, Scalar]) -> dict[str, Scalar]:
    """Only the values that are among the offered ones (the rest fall back to defaults)."""
    usable: dict[str, Scalar] = {}
    for name, value in values.items():
        offered = offer.choices.get(name, ())
        if any(type(v) is type(value) and v == value for v in offered):
            usable[name] = value
    return usable


def price_of(offer: Offer, values: Mapping[str, Scalar]) -> int | None:
    """Credits for these choices (the rest at their defaults); None if they do not resolve."""
    try:
        return offer.price(offer.resolve(values))
    except OptionRefused:
        return None


def slot_suggestions(
    offer: Offer, parameter: str, typed: str = "",
    others: Mapping[str, str | None] | None = None,
) -> list[Suggestion]:
    """The values offered for one /video parameter of ``offer`` (none: the model has no such
    choice), each with the price it leads to when it changes the price: ``8 seconds · 24
    credits``, the other choices at what the member filled in (``others``) or their defaults.
    """
    slot = PARAMETERS[parameter]
    option = offer.slots.get(slot)
    if option is None:
        return []
    filled = {p: t for p, t in (others or {}).items() if p != parameter and p in PARAMETERS}
    base = _usable(offer, chosen(offer, filled))
    priced = option in offer.price_by
    suggestions = []
    for value in offer.choices[option]:
        name = value_name(slot, value)
        if priced:
            price = price_of(offer, {**base, option: value})
            if price is not None:
                name += f" · {price} credits"
        suggestions.append(Suggestion(_cut(name), value_text(value)))
    return _matching(suggestions, typed)
