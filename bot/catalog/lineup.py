"""What the operator offers: the enabled video models, each with its price grid, its defaults
and the values members may choose. One generic mechanism over the catalog; no class per model.

:func:`build_lineup` reads plain config data (``[video]``, ``[video.models."<id>"]`` and
``[pricing."<id>"]``, see config.example.toml) against the catalog and raises
:class:`LineupError` naming the config key for an unknown model, an option or value the model
does not have, or a price grid with a hole. The result is a pure value: build it once.

A member chooses at most four things besides the prompt and a start image, the *slots*
(:data:`SLOTS`): duration, aspect ratio, quality (the model's ``resolution``, else its
``mode``) and sound (its audio switch). Every other option is the operator's, in ``defaults``.
Every slot the model has, and every price axis, is always sent with an explicit value (the
member's, else the operator's default, else the first value offered; 16:9 first for an aspect
ratio), so the price charged is the price of exactly what was asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.catalog.options import OptionRefused, Scalar, echo, label, show
from bot.catalog.video import Catalog, VideoModel
from bot.errors import one_of
from bot.i18n.catalog import Listing, Phrase

#: The member's choices in /video, in the order a command shows them.
SLOTS: tuple[str, ...] = ("duration", "aspect_ratio", "quality", "audio")
#: The grid key of a model priced at one flat amount (``price_by = []``).
FLAT = "flat"
#: The parameter blocks whose models default to the seed's grid axes.
_SORA_AXES: tuple[str, ...] = ("resolution", "duration")
_PREFERRED_RATIO = "16:9"


def got(value: object) -> object:
    """:func:`echo` for the catalog: `` (got 7)`` in the reader's language, or nothing."""
    return Phrase("refusal.got", params={"value": show(value)}) if echo(value) else ""


class LineupError(ValueError):
    """A config problem in the video lineup: ``key`` is the TOML key to fix."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


def slot_option(model: VideoModel, slot: str) -> str | None:
    """The option of ``model`` that fills a member's slot, if it has one."""
    if slot == "quality":
        for name in ("resolution", "mode"):
            if model.option(name) is not None:
                return name
        return None
    if slot == "audio":
        return model.audio
    return slot if model.option(slot) is not None else None


def _same(a: object, b: object) -> bool:
    """Equal and of the same kind: ``True`` is not ``1``, ``5.0`` is not ``5``."""
    return type(a) is type(b) and a == b


def _among(value: object, values: Sequence[Scalar]) -> bool:
    return any(_same(value, allowed) for allowed in values)


def token(name: str, value: object) -> str:
    """How one axis value is spelled in a grid key: ``8s``, ``high``, ``generate_audio`` or
    ``no_generate_audio``."""
    if isinstance(value, bool):
        return name if value else f"no_{name}"
    if name == "duration":
        return f"{show(value)}s"
    return show(value)


@dataclass(frozen=True, eq=False)
class Offer:
    """One enabled model as this bot offers it."""

    model: VideoModel
    #: What members see (config ``label``, else the model id).
    label: str
    #: The options whose values change the price, in grid-key order.
    price_by: tuple[str, ...]
    #: Grid key (e.g. ``high-8s``; ``flat`` without axes) -> credits.
    prices: Mapping[str, int]
    #: The operator's values, sent unless the member chooses another.
    defaults: Mapping[str, Scalar]
    #: Option name -> the values a member may choose, for each slot the model offers.
    choices: Mapping[str, tuple[Scalar, ...]]
    #: Slot -> option name, for the slots in :attr:`choices`.
    slots: Mapping[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.model.id

    @property
    def takes_image(self) -> bool:
        return self.model.start_image is not None

    def fallback(self, name: str) -> Scalar:
        """The value sent for a slot nobody chose."""
        if name in self.defaults:
            return self.defaults[name]
        values = self.choices[name]
        if name == "aspect_ratio" and _PREFERRED_RATIO in values:
            return _PREFERRED_RATIO
        return values[0]

    def resolve(self, chosen: Mapping[str, object]) -> dict[str, Scalar]:
        """The option values to send for the member's ``chosen`` ones (option name ->
        value): each must be a choice this bot offers; every slot and axis gets a value.
        :class:`OptionRefused` (nothing charged) otherwise."""
        params: dict[str, Scalar] = dict(self.defaults)
        for name, value in chosen.items():
            if name not in self.choices:
                raise OptionRefused(
                    f"{self.label} has no choice of {label(name).lower()}{echo(value)}.",
                    key="refusal.no_such_choice",
                    params={"model": self.label, "option": label(name).lower(),
                            "got": got(value)},
                )
            offered = self.choices[name]
            if not _among(value, offered):
                unit = " seconds" if name == "duration" else ""
                raise OptionRefused(
                    f"{label(name)} for {self.label} must be "
                    f"{one_of(tuple(show(v) for v in offered))}{unit}{echo(value)}.",
                    key="refusal.option_value_seconds" if unit else "refusal.option_value",
                    params={"option": Phrase(f"option.{name}", fallback=label(name)),
                            "model": self.label, "got": got(value),
                            "choices": Listing(tuple(show(v) for v in offered))},
                )
            assert isinstance(value, str | int | float | bool)
            params[name] = value
        for name in self.choices:
            params.setdefault(name, self.fallback(name))
        self.model.check(params)
        return params

    def grid_key(self, params: Mapping[str, object]) -> str:
        if not self.price_by:
            return FLAT
        return "-".join(token(axis, params.get(axis)) for axis in self.price_by)

    def price(self, params: Mapping[str, object]) -> int:
        """Credits for exactly these option values (as :meth:`resolve` made them)."""
        key = self.grid_key(params)
        if key not in self.prices:
            raise OptionRefused(f"{self.label} has no price for {key}; nothing was charged.",
                                key="refusal.no_price",
                                params={"model": self.label, "variant": key})
        return self.prices[key]

    def price_range(self) -> tuple[int, int]:
        values = list(self.prices.values())
        return min(values), max(values)

    def describe(self, params: Mapping[str, object]) -> str:
        """``High · 8 s · 16:9 · sound``: the member's choices in a line."""
        parts: list[str] = []
        quality = self.slots.get("quality")
        if quality and quality in params:
            parts.append(show(params[quality]).capitalize())
        if "duration" in params:
            parts.append(f"{show(params['duration'])} s")
        if "aspect_ratio" in params:
            parts.append(show(params["aspect_ratio"]))
        audio = self.slots.get("audio")
        if audio and audio in params:
            parts.append("sound" if params[audio] else "silent")
        return " · ".join(parts)


@dataclass(frozen=True, eq=False)
class Lineup:
    """The enabled models in config order, the default, and the model /sora runs."""

    offers: Mapping[str, Offer]
    default: str
    #: The Sora model /sora runs (``apiframe.model``), None if it is not enabled.
    sora: str | None

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self.offers)

    def get(self, model_id: str) -> Offer | None:
        return self.offers.get(model_id)

    def offer(self, model_id: str) -> Offer:
        found = self.offers.get(model_id)
        if found is None:
            raise OptionRefused(
                f"The video model “{model_id[:60]}” is not offered here. Choose one of "
                f"{', '.join(self.offers)}.",
                key="refusal.not_offered",
                params={"model": model_id[:60], "models": ", ".join(self.offers)},
            )
        return found


def _as_scalar(key: str, value: object) -> Scalar:
    if not isinstance(value, str | int | float | bool):
        raise LineupError(key, "must be text, a number or true/false")
    return value


def _offer(
    model: VideoModel, cfg: Mapping[str, Any], grid: Mapping[str, int] | None
) -> Offer:
    base = f'video.models."{model.id}"'
    price_by = tuple(cfg.get("price_by", _SORA_AXES if model.params == "soraParams" else ()))
    defaults = {name: _as_scalar(f"{base}.defaults.{name}", value)
                for name, value in dict(cfg.get("defaults", {})).items()}
    restrict = dict(cfg.get("offer", {}))

    slots: dict[str, str] = {}
    choices: dict[str, tuple[Scalar, ...]] = {}
    for slot in SLOTS:
        name = slot_option(model, slot)
        if name is None:
            continue
        option = model.option(name)
        assert option is not None
        values = option.finite_values()
        if name in restrict:
            wanted = tuple(_as_scalar(f"{base}.offer.{name}", v) for v in restrict[name])
            for value in wanted:
                problem = option.problem(value)
                if problem is not None or (values is not None and not _among(value, values)):
                    allowed = (one_of(tuple(show(v) for v in values)) if values is not None
                               else problem or "another value")
                    raise LineupError(f"{base}.offer.{name}",
                                      f"{model.id} has no {name} {show(value)!r} (it takes "
                                      f"{allowed})")
            if not wanted:
                raise LineupError(f"{base}.offer.{name}", "must list at least one value")
            values = wanted
        if values is None:
            continue  # free text without a list from the operator: not a member choice
        slots[slot], choices[name] = name, tuple(values)
    for name in restrict:
        if name not in choices:
            raise LineupError(f"{base}.offer.{name}",
                              f"not a choice members make for {model.id} (its choices are "
                              f"{', '.join(choices) or 'none'}; fix other options in defaults)")

    for name, value in defaults.items():
        key = f"{base}.defaults.{name}"
        option = model.option(name)
        if option is None:
            raise LineupError(key, f"{model.id} has no option {name!r} (its options are "
                                   f"{', '.join(o.name for o in model.options)})")
        if name == model.start_image:
            raise LineupError(key, "the start image is the member's to give")
        problem = option.problem(value)
        if problem is None and name in choices and not _among(value, choices[name]):
            problem = f"must be {one_of(tuple(show(v) for v in choices[name]))}"
        if problem is not None:
            raise LineupError(key, f"{problem} for {model.id}{echo(value)}")

    axis_values: list[tuple[Scalar, ...]] = []
    for axis in price_by:
        key = f"{base}.price_by"
        if model.option(axis) is None:
            raise LineupError(key, f"{model.id} has no option {axis!r}")
        if axis in choices:
            axis_values.append(choices[axis])
        elif axis in defaults:
            axis_values.append((defaults[axis],))
        else:
            raise LineupError(key, f"{axis!r} is neither a member choice nor in defaults, so "
                                   "its value would be unknown")
    if len(set(price_by)) != len(price_by):
        raise LineupError(f"{base}.price_by", "lists an option twice")

    keys = [FLAT] if not price_by else ["-".join(token(a, v) for a, v in zip(price_by, combo,
                                                                            strict=True))
                                        for combo in _product(axis_values)]
    pkey = f'pricing."{model.id}"'
    if grid is None:
        raise LineupError(pkey, f"no price grid; it needs {', '.join(keys[:4])}"
                                f"{' …' if len(keys) > 4 else ''}")
    unknown = [k for k in grid if k not in keys]
    if unknown:
        raise LineupError(pkey, f"unknown variant {unknown[0]!r} (expected e.g. {keys[0]!r})")
    missing = [k for k in keys if k not in grid]
    if missing:
        raise LineupError(pkey, f"missing prices for {', '.join(missing)}")
    return Offer(model=model, label=str(cfg.get("label") or model.id), price_by=price_by,
                 prices=dict(grid), defaults=defaults, choices=choices, slots=slots)


def _product(axes: list[tuple[Scalar, ...]]) -> list[tuple[Scalar, ...]]:
    combos: list[tuple[Scalar, ...]] = [()]
    for values in axes:
        combos = [(*combo, value) for combo in combos for value in values]
    return combos


def build_lineup(
    catalog: Catalog, *, sora_model: str, enabled: Sequence[str] | None, default: str | None,
    models: Mapping[str, Mapping[str, Any]], pricing: Mapping[str, Mapping[str, int]],
) -> Lineup:
    """The lineup the config describes; :class:`LineupError` naming the key otherwise."""
    sora = catalog.find(sora_model)
    if sora is None or sora.params != "soraParams":
        soras = ", ".join(m.id for m in catalog.models if m.params == "soraParams")
        raise LineupError("apiframe.model", f"{sora_model!r} is not a Sora model ({soras}); "
                                            "enable other models under [video]")
    ids = tuple(enabled) if enabled is not None else (sora_model,)
    if not ids:
        raise LineupError("video.enabled", "enable at least one model")
    for position, model_id in enumerate(ids):
        if catalog.find(model_id) is None:
            raise LineupError(f"video.enabled[{position}]",
                              f"unknown video model {model_id!r} (see `sora-bot models`)")
        if model_id in ids[:position]:
            raise LineupError(f"video.enabled[{position}]", f"{model_id!r} is listed twice")
    for model_id in models:
        if model_id not in ids:
            raise LineupError(f'video.models."{model_id}"',
                              "not in video.enabled (enable it, or remove this table)")
    for model_id in pricing:
        if catalog.find(model_id) is None:
            raise LineupError(f'pricing."{model_id}"', f"unknown video model {model_id!r}")
    offers: dict[str, Offer] = {}
    for model_id in ids:
        offers[model_id] = _offer(catalog.model(model_id), models.get(model_id, {}),
                                  pricing.get(model_id))
    chosen = default if default is not None else ids[0]
    if chosen not in offers:
        raise LineupError("video.default", f"{chosen!r} is not one of video.enabled")
    return Lineup(offers=offers, default=chosen,
                  sora=sora_model if sora_model in offers else None)
