"""Every Apiframe video model as data: what it accepts, checked by one generic validator.

:meth:`Catalog.load` reads the packaged catalog (``models.json``, generated from the vendored
contract by tools/gen_catalog.py; never edit it by hand). It is for every layer that needs to
know a model: operator config (is this id a model, is this grid value an option value?),
``/video`` (which options and values to offer, built from :meth:`ModelOption.finite_values`),
the server-side check of a raw interaction (:meth:`VideoModel.check`), and the request body
(:meth:`VideoModel.to_params` builds the ``<family>Params`` block of
``POST /v2/videos/generate``). Build one at start-up and inject it; it holds no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources

from pydantic import BaseModel, ConfigDict, model_validator

from bot.catalog.options import (
    ModelOption,
    OptionRefused,
    echo,
    fields_problem,
    label,
    show,
    utf16_len,
)
from bot.errors import UserError
from bot.i18n.catalog import Listing, Phrase

CATALOG_FILE = "models.json"


class UnknownModel(UserError):
    """A model id that the catalog does not have."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VideoModel(_Frozen):
    """One model of ``POST /v2/videos/generate`` (one branch of the contract's ``oneOf``)."""

    id: str
    #: The request field that carries its options: ``soraParams``, ``veoParams`` …
    params: str
    #: Whether the request must carry that block even when it is empty.
    params_required: bool
    #: The prompt's length limits, counted in UTF-16 units as Apiframe counts.
    prompt_min: int
    prompt_max: int
    #: The option that takes a start image (``start_image``, ``image``), if any.
    start_image: str | None
    #: The option that takes an end frame (``end_image``, ``last_frame``), if any.
    end_image: str | None
    #: The boolean option that switches on generated sound (``generate_audio`` …), if any.
    audio: str | None
    #: Every option of the block, sorted by name.
    options: tuple[ModelOption, ...]
    #: Options the block must carry (Midjourney's ``start_image``, …).
    required: tuple[str, ...]

    @model_validator(mode="after")
    def _names_are_options(self) -> VideoModel:
        names = [option.name for option in self.options]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.id}: an option is listed twice")
        for role in (self.start_image, self.end_image, self.audio, *self.required):
            if role is not None and role not in names:
                raise ValueError(f"{self.id}: {role!r} is not one of its options")
        return self

    @property
    def family(self) -> str:
        """The family its block names: ``sora``, ``veo``, ``kling``, ``wan27R2v`` …"""
        return self.params.removesuffix("Params")

    @property
    def text_to_video(self) -> bool:
        """Whether a prompt alone (with any optional options) makes a video."""
        return not self.required

    @property
    def image_to_video(self) -> bool:
        """Whether a prompt and a start image (with any optional options) make a video."""
        return self.start_image is not None and set(self.required) <= {self.start_image}

    def option(self, name: str) -> ModelOption | None:
        return next((option for option in self.options if option.name == name), None)

    def _refuse(self, name: str, problem: str, value: object) -> OptionRefused:
        got = echo(value)
        return OptionRefused(
            f"{label(name)} for {self.id} {problem}{got}.", key="refusal.option_problem",
            params={"option": Phrase(f"option.{name}", fallback=label(name)), "model": self.id,
                    "problem": problem,
                    "got": Phrase("refusal.got", params={"value": show(value)}) if got else ""})

    def check(self, options: Mapping[str, object]) -> dict[str, object]:
        """``options`` as a new dict, if every one is an option of this model with a value it
        accepts; else :class:`OptionRefused` naming the option and what it accepts.

        For a raw interaction's values (Discord's choices are only a client-side hint).
        Missing options are fine here; :meth:`to_params` checks that required ones are there.
        """
        known = {option.name: option for option in self.options}
        for name, value in options.items():
            option = known.get(name)
            if option is None:
                raise OptionRefused(
                    f"{self.id} has no option “{name[:40]}”. Its options are "
                    f"{', '.join(sorted(known)) or 'none'}.", key="refusal.no_such_option",
                    params={"model": self.id, "option": name[:40],
                            "options": Listing(sorted(known), ",") if known
                            else Phrase("problem.none")})
            problem = option.problem(value)
            if problem is not None:
                raise self._refuse(name, problem, value)
        return dict(options)

    def to_params(
        self, options: Mapping[str, object], start_image_url: str | None = None
    ) -> dict[str, object]:
        """The ``<params>`` block of the generate request, checked: the options plus the start
        image in this model's image field. Send it under :attr:`params` (even when empty if
        :attr:`params_required`). Raises :class:`OptionRefused` for a value, a missing
        required option, or a start image this model cannot take.
        """
        block = dict(options)
        if start_image_url is not None:
            if self.start_image is None:
                raise OptionRefused(f"{self.id} does not take a start image.",
                                    key="refusal.model_takes_no_image", params={"model": self.id})
            if self.start_image in block:
                raise OptionRefused(f"{self.id} was given two start images.",
                                    key="refusal.two_start_images", params={"model": self.id})
            block[self.start_image] = start_image_url
        block = self.check(block)  # the image's link too
        problem = fields_problem(self.options, self.required, block)
        if problem is not None:
            if self.start_image is not None and problem == f"needs “{self.start_image}”":
                raise OptionRefused(f"{self.id} needs a start image.",
                                    key="refusal.model_needs_image", params={"model": self.id})
            raise OptionRefused(f"The options for {self.id} are incomplete: it {problem}.",
                                key="refusal.options_incomplete",
                                params={"model": self.id, "problem": problem})
        return block

    def check_prompt(self, prompt: str) -> str:
        """The prompt trimmed, if its length fits this model; else :class:`OptionRefused`."""
        text = prompt.strip()
        length = utf16_len(text)
        if length < self.prompt_min:
            raise OptionRefused("The prompt is empty. Describe the video you want.",
                                key="refusal.prompt_empty")
        if length > self.prompt_max:
            raise OptionRefused(
                f"The prompt is too long for {self.id} ({length:,} characters, counting each "
                f"emoji or rare symbol as two); the limit is {self.prompt_max:,}.",
                key="refusal.prompt_too_long_for",
                params={"model": self.id, "length": length, "limit": self.prompt_max},
            )
        return text


class ContractSource(_Frozen):
    """Which contract the catalog was generated from (its sha256 pins the exact file)."""

    title: str | None
    version: str | None
    sha256: str


class Catalog(_Frozen):
    """All video models of the vendored contract, sorted by id."""

    generated_by: str
    contract: ContractSource
    models: tuple[VideoModel, ...]

    @model_validator(mode="after")
    def _ids_are_unique(self) -> Catalog:
        ids = self.ids
        if len(set(ids)) != len(ids):
            raise ValueError("a model id is listed twice")
        return self

    @classmethod
    def load(cls) -> Catalog:
        """The catalog packaged with the bot (``bot/catalog/models.json``)."""
        text = resources.files(__package__ or "bot.catalog").joinpath(CATALOG_FILE)
        return cls.parse(text.read_text(encoding="utf-8"))

    @classmethod
    def parse(cls, text: str) -> Catalog:
        return cls.model_validate_json(text)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(model.id for model in self.models)

    def find(self, model_id: str) -> VideoModel | None:
        return next((model for model in self.models if model.id == model_id), None)

    def model(self, model_id: str) -> VideoModel:
        """The model with this id, or :class:`UnknownModel` (for operator config: say which
        key; for a member: a plain refusal)."""
        found = self.find(model_id)
        if found is None:
            raise UnknownModel(f"There is no video model “{model_id}”.",
                               key="refusal.unknown_model", params={"model": model_id})
        return found

    def families(self) -> dict[str, tuple[VideoModel, ...]]:
        """Models grouped by parameter block (``soraParams`` → sora-2, sora-2-pro), so one
        ``/video`` subcommand can serve every model sharing a block's field names."""
        groups: dict[str, list[VideoModel]] = {}
        for model in self.models:
            groups.setdefault(model.params, []).append(model)
        return {params: tuple(models) for params, models in sorted(groups.items())}
