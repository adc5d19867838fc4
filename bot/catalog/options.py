"""The kinds of option a video model's parameter block has, and the one check of a value.

Each option of the catalog (bot/catalog/models.json) is one of these kinds, read from the
contract by tools/gen_catalog.py: a ``choice`` among listed values, a numeric ``range``, a
``boolean``, ``text``, a ``url``, a ``list`` of one kind, or an ``object`` of named fields.
:meth:`problem` says in plain words what is wrong with a value, or None; the model
(bot/catalog/video.py) turns that into the member's message. Checks are never looser than the
contract: a value they accept, Apiframe accepts (they may be stricter: ``5.0`` for ``5``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from bot.errors import UserError, one_of
from bot.i18n.catalog import Listing, Phrase, Words

Scalar = str | int | float | bool
#: How many values of a range a member could be offered as a list (Discord's choice limit).
MAX_LISTED = 25
#: Values longer than this are not echoed back: a member's text may be huge.
_ECHO_MAX = 40


class OptionRefused(UserError):
    """A video option's value is not one the model accepts; nothing has been charged."""


def label(name: str) -> str:
    """``aspect_ratio`` → ``Aspect ratio``: how a refusal names an option."""
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def show(value: object) -> str:
    """A value as a member would type it (``true``, ``16:9``, ``8``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def echo(value: object) -> str:
    """`` (got 7)`` for a short scalar; nothing for long text or containers."""
    if isinstance(value, Scalar) and len(show(value)) <= _ECHO_MAX:
        return f" (got {show(value)})"
    return ""


def utf16_len(text: str) -> int:
    """Length as Apiframe's Node backend counts it: an emoji outside the BMP counts twice."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Option(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    #: The contract's default, if it gives one (sent only when the caller passes it).
    default: JsonValue = None
    #: The unit a refusal says after the values ("seconds" for a duration).
    unit: str | None = None
    description: str | None = None

    def _unit(self) -> str:
        return f" {self.unit}" if self.unit else ""

    def _unit_words(self) -> object:
        """The unit after a refusal's values, in the reader's language (the catalog's only
        unit is seconds); its English keeps the leading space, as :meth:`_unit` does."""
        return Phrase("problem.unit_seconds") if self.unit == "seconds" else self._unit()

    def finite_values(self) -> tuple[Scalar, ...] | None:
        """Every accepted value, when they are few enough to list (for menus); else None."""
        return None


class ChoiceOption(_Option):
    """One of the listed values (an ``enum``, a ``const``, or ``anyOf`` of those)."""

    kind: Literal["choice"]
    values: tuple[Scalar, ...]

    def finite_values(self) -> tuple[Scalar, ...]:
        return self.values

    def accepts(self, value: object) -> bool:
        for allowed in self.values:
            if isinstance(allowed, bool) or isinstance(value, bool):
                if value is allowed:
                    return True
            # An int is refused where the contract lists a float and vice versa: 5.0 is not
            # what a member typed for "5" (Discord sends integers as integers).
            elif type(value) is type(allowed) and value == allowed:
                return True
        return False

    def problem(self, value: object) -> str | None:
        if self.accepts(value):
            return None
        english = f"must be {one_of(tuple(show(v) for v in self.values))}{self._unit()}"
        return Words(english, "problem.one_of",
                     values=Listing([show(v) for v in self.values]), unit=self._unit_words())


class RangeOption(_Option):
    """A number between optional bounds, whole or not (Kling 3.0's duration: 3 to 15)."""

    kind: Literal["range"]
    integer: bool
    minimum: int | float | None = None
    maximum: int | float | None = None

    def finite_values(self) -> tuple[Scalar, ...] | None:
        if not self.integer or self.minimum is None or self.maximum is None:
            return None
        low, high = math.ceil(self.minimum), math.floor(self.maximum)
        return tuple(range(low, high + 1)) if 0 < high - low + 1 <= MAX_LISTED else None

    def _wanted(self) -> str:
        what = "a whole number" if self.integer else "a number"
        kind = "whole" if self.integer else "number"
        low, high = self.minimum, self.maximum
        params: dict[str, object] = {}
        if low is not None and high is not None:
            what += f" from {show_number(low)} to {show_number(high)}"
            kind += "_between"
            params = {"low": show_number(low), "high": show_number(high)}
        elif low is not None:
            what += f" of at least {show_number(low)}"
            kind += "_at_least"
            params = {"low": show_number(low)}
        elif high is not None:
            what += f" of at most {show_number(high)}"
            kind += "_at_most"
            params = {"high": show_number(high)}
        return Words(f"must be {what}{self._unit()}", f"problem.{kind}", **params,
                     unit=self._unit_words())

    def problem(self, value: object) -> str | None:
        if not _is_number(value) or (self.integer and type(value) is not int):
            return self._wanted()
        assert isinstance(value, int | float)
        if not math.isfinite(value):
            return self._wanted()
        if (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            return self._wanted()
        return None


def show_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class BooleanOption(_Option):
    """On or off (``generate_audio``, ``loop``, ``camera_fixed`` …)."""

    kind: Literal["boolean"]

    def finite_values(self) -> tuple[Scalar, ...]:
        return (False, True)

    def problem(self, value: object) -> str | None:
        if isinstance(value, bool):
            return None
        return Words("must be true or false", "problem.boolean")


class TextOption(_Option):
    """Free text, maybe bounded in length (counted as Apiframe does) or by a pattern."""

    kind: Literal["text"]
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    #: The pattern in words, when the generator knows them ("width:height, such as 16:9").
    hint: str | None = None

    def problem(self, value: object) -> str | None:
        if not isinstance(value, str):
            return Words("must be text", "problem.text")
        try:
            length = utf16_len(value)
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: JSON can carry it, Apiframe cannot
            return Words("contains characters that cannot be sent", "problem.unsendable")
        if self.max_length is not None and length > self.max_length:
            return Words(f"must be at most {self.max_length:,} characters long",
                         "problem.text_at_most", limit=self.max_length)
        if self.min_length is not None and length < self.min_length:
            return Words(f"must be at least {self.min_length:,} characters long",
                         "problem.text_at_least", limit=self.min_length)
        if self.pattern is not None and not _matches(self.pattern, value):
            shape = self.hint or f"the pattern {self.pattern}"
            return Words(f"must be written as {shape}", "problem.pattern", shape=shape)
        return None


def _matches(pattern: str, value: str) -> bool:
    # The contract's patterns are ECMAScript: \d is ASCII only (re.ASCII), and "$" does not
    # match before a final newline as Python's does, so a line break is refused outright.
    if "$" in pattern and "\n" in value:
        return False
    return re.search(pattern, value, re.ASCII) is not None


class UrlOption(_Option):
    """A link (``format: uri``): a start image, an end frame, a reference video …"""

    kind: Literal["url"]

    def problem(self, value: object) -> str | None:
        # Stricter than the contract's "uri" on purpose: only http(s) links with a host,
        # which is all the bot ever sends (uploads and Discord attachments).
        if (
            isinstance(value, str)
            and value.startswith(("https://", "http://"))
            and value.split("//", 1)[1].split("/", 1)[0]
            and not any(ch.isspace() or ord(ch) < 0x20 for ch in value)
        ):
            return None
        return Words("must be a link (https://…)", "problem.link")


class ListOption(_Option):
    """A list whose items all have one kind (reference images, Luma's camera concepts)."""

    kind: Literal["list"]
    items: ModelOption
    min_items: int | None = None
    max_items: int | None = None

    def problem(self, value: object) -> str | None:
        if not isinstance(value, list | tuple):
            return Words("must be a list", "problem.list")
        if self.max_items is not None and len(value) > self.max_items:
            return Words(f"can hold at most {self.max_items} items", "problem.list_at_most",
                         limit=self.max_items)
        if self.min_items is not None and len(value) < self.min_items:
            return Words(f"needs at least {self.min_items} items", "problem.list_at_least",
                         limit=self.min_items)
        for position, item in enumerate(value, start=1):
            problem = self.items.problem(item)
            if problem is not None:
                return Words(f"has an item ({position}) that {problem}", "problem.item",
                             position=position, problem=problem)
        return None


class ObjectOption(_Option):
    """A group of named fields (Kling 3.0 Omni's shots: a prompt and a duration each)."""

    kind: Literal["object"]
    options: tuple[ModelOption, ...]
    required: tuple[str, ...] = ()

    def problem(self, value: object) -> str | None:
        if not isinstance(value, Mapping):
            return Words("must be a group of fields", "problem.group")
        return fields_problem(self.options, self.required, value)


def fields_problem(
    options: tuple[ModelOption, ...], required: tuple[str, ...], value: Mapping[str, object]
) -> str | None:
    """What is wrong with a group of fields (unknown, missing or refused), or None."""
    by_name = {option.name: option for option in options}
    for key in value:
        if key not in by_name:
            field = str(key)[:_ECHO_MAX]
            return Words(f"has no field “{field}”", "problem.no_field", field=field)
    for name in required:
        if name not in value:
            return Words(f"needs “{name}”", "problem.needs_field", field=name)
    for key, item in value.items():
        problem = by_name[str(key)].problem(item)
        if problem is not None:
            return Words(f"has “{key}” that {problem}", "problem.field", field=key,
                         problem=problem)
    return None


#: Any option of a model's block; its ``kind`` says which class (``finite_values()`` lists
#: what a menu may offer, ``problem(value)`` says what is wrong with a value).
ModelOption = Annotated[
    ChoiceOption | RangeOption | BooleanOption | TextOption | UrlOption | ListOption
    | ObjectOption,
    Field(discriminator="kind"),
]
ListOption.model_rebuild()
ObjectOption.model_rebuild()
