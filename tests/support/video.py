"""/video in tests: a valid lineup config for any catalog model, and the command and its
autocomplete sent as Discord sends them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.catalog.lineup import slot_option
from bot.catalog.video import Catalog, VideoModel
from tests.sora_harness import MEMBER, SoraHarness, attachment, string

CATALOG = Catalog.load()


@dataclass(frozen=True)
class Priced:
    """One model to enable: one ``flat`` price, or ``per_second`` times its duration."""

    model: str
    flat: int = 10
    per_second: int | None = None
    label: str | None = None
    #: ``[video.models."<id>".offer]``: option -> the values members may choose.
    offer: Mapping[str, Sequence[Any]] = field(default_factory=dict)


def durations(model: VideoModel, offer: Mapping[str, Sequence[Any]]) -> list[Any]:
    if "duration" in offer:
        return list(offer["duration"])
    option = model.option("duration")
    values = option.finite_values() if option is not None else None
    assert values, f"{model.id} has no listed durations to price"
    return list(values)


def lineup(*priced: Priced, default: str | None = None,
           sora: bool = True) -> dict[str, dict[str, Any]]:
    """Config sections enabling these models (after sora-2-pro unless ``sora`` is False), each
    with a valid grid; pass them to ``start(**lineup(...))``."""
    enabled = (["sora-2-pro"] if sora else []) + [p.model for p in priced]
    sections: dict[str, dict[str, Any]] = {"video": {"enabled": enabled}}
    if default is not None:
        sections["video"]["default"] = default
    for p in priced:
        model = CATALOG.model(p.model)
        table: dict[str, Any] = {"label": p.label or model.id}
        if p.per_second is None:
            table["price_by"] = []
            grid = {"flat": p.flat}
        else:
            table["price_by"] = ["duration"]
            grid = {f"{d}s": p.per_second * d for d in durations(model, p.offer)}
        sections[f'video.models."{p.model}"'] = table
        if p.offer:
            sections[f'video.models."{p.model}".offer'] = {k: list(v) for k, v in p.offer.items()}
        sections[f'pricing."{p.model}"'] = grid
    return sections


def first_of_each_family(models: Iterable[VideoModel]) -> list[VideoModel]:
    seen: dict[str, VideoModel] = {}
    for model in models:
        seen.setdefault(model.family, model)
    return list(seen.values())


def slot_values(model_id: str, slot: str) -> tuple[Any, ...]:
    """Every value the catalog lists for one member slot of a model (empty: no such slot)."""
    model = CATALOG.model(model_id)
    name = slot_option(model, slot)
    option = model.option(name) if name else None
    values = option.finite_values() if option is not None else None
    return tuple(values or ())


async def send_video(
    h: SoraHarness, prompt: Any = "a red fox running through fresh snow at dawn", *,
    user_id: int = MEMBER, start_image: dict[str, Any] | None = None,
    raw: Sequence[dict[str, Any]] = (), **choices: Any,
) -> int:
    """``/video`` with these options as typed text (omitted when None), plus ``raw`` wire
    options as they are; its interaction id."""
    options = [string("prompt", prompt)]
    options += [string(name, value) for name, value in choices.items() if value is not None]
    options += list(raw)
    if start_image is not None:
        options.append(attachment("start_image", start_image))
    iid, _token = await h.discord.send_slash_command(h.guild, user_id, "video", options=options)
    return iid


async def suggestions(h: SoraHarness, focused: str, typed: str = "",
                      **filled: str) -> list[dict[str, Any]]:
    """What the bot suggests for ``focused`` while the member types ``typed`` there, with the
    other options already ``filled``."""
    options = [string(name, value) for name, value in filled.items()]
    options.append({**string(focused, typed), "focused": True})
    iid, _token = await h.discord.send_autocomplete(h.guild, MEMBER, "video", options)
    await h.until(lambda: h.discord.interactions[iid].acknowledged,
                  what=f"suggestions for {focused}")
    found = h.discord.interactions[iid].autocomplete_choices
    assert found is not None
    return found
