"""Values for catalog options built from the catalog alone: the default or first allowed value
(valid), and one just outside what the option allows (invalid)."""

from __future__ import annotations

from bot.catalog.options import (
    BooleanOption,
    ChoiceOption,
    ListOption,
    ModelOption,
    ObjectOption,
    RangeOption,
    TextOption,
    UrlOption,
)

IMAGE_URL = "https://cdn.example.com/start.png"
#: Candidates for a text option bound by a pattern; the first the option accepts is used.
_PATTERNED = ("16:9", "a")


def valid(option: ModelOption) -> object:
    """The contract's default when it gives one, else the first value the option allows."""
    if option.default is not None:
        return option.default
    if isinstance(option, ChoiceOption):
        return option.values[0]
    if isinstance(option, RangeOption):
        low = option.minimum if option.minimum is not None else option.maximum
        number = low if low is not None else 0
        return int(number) if option.integer else float(number)
    if isinstance(option, BooleanOption):
        return False
    if isinstance(option, TextOption):
        if option.pattern is not None:
            return next(text for text in _PATTERNED if option.problem(text) is None)
        return "soft light"[: option.max_length]
    if isinstance(option, UrlOption):
        return "https://cdn.example.com/input.bin"
    if isinstance(option, ListOption):
        return [valid(option.items)]
    assert isinstance(option, ObjectOption)
    return {field.name: valid(field) for field in option.options}


def invalid(option: ModelOption) -> object | None:
    """A value of the right JSON type just outside what the option allows, or None when every
    value of that type is allowed (a boolean, an unbounded number, free text)."""
    if isinstance(option, ChoiceOption):
        sample = option.values[0]
        if isinstance(sample, bool):
            return None
        if isinstance(sample, int | float):
            return max(v for v in option.values if isinstance(v, int | float)) + 1
        return "not-a-choice"
    if isinstance(option, RangeOption):
        if option.maximum is not None:
            return option.maximum + 1
        return option.minimum - 1 if option.minimum is not None else None
    if isinstance(option, TextOption):
        if option.max_length is not None:
            return "x" * (option.max_length + 1)
        return "no pattern here" if option.pattern is not None else None
    if isinstance(option, UrlOption):
        return "not a link"
    if isinstance(option, ListOption):
        if option.max_items is not None:
            return [valid(option.items)] * (option.max_items + 1)
        bad = invalid(option.items)
        return None if bad is None else [bad]
    return None
