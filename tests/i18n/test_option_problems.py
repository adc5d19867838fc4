"""A model's own option checks (bot/catalog) speak the member's language, and their English
through the catalog is exactly the exception's own text."""

from __future__ import annotations

import pytest

from bot.catalog.options import OptionRefused
from bot.catalog.video import Catalog as Models
from bot.i18n.catalog import Voice, load


def refusal(model: str, options: dict[str, object]) -> OptionRefused:
    found = Models.load().find(model)
    assert found is not None
    with pytest.raises(OptionRefused) as caught:
        found.check(options)
    return caught.value


def say(error: OptionRefused, locale: str) -> str:
    assert error.key is not None
    return Voice(load(), locale).say(error.key, **error.params)


def test_a_choice_refused_in_german_and_french() -> None:
    error = refusal("sora-2-pro", {"duration": 7})
    assert str(error) == "Duration for sora-2-pro must be 4, 8, 10, 12 or 15 seconds (got 7)."
    assert say(error, "en-US") == str(error)
    assert say(error, "de") == ("Die Dauer für sora-2-pro: muss 4, 8, 10, 12 oder 15 Sekunden"
                                " sein (gesendet: 7).")
    assert say(error, "fr") == ("La durée pour sora-2-pro : doit être 4, 8, 10, 12 ou 15"
                                " secondes (reçu : 7).")


def test_a_range_and_an_unknown_option_in_spanish() -> None:
    error = refusal("happyhorse-1.0", {"seed": "x"})
    assert say(error, "en-GB") == str(error)
    assert "debe ser un número" in say(error, "es-ES")
    unknown = refusal("sora-2-pro", {"colour": "red"})
    assert say(unknown, "en-US") == str(unknown)
    assert say(unknown, "es-ES").startswith("sora-2-pro no tiene la opción «colour»")


def test_a_nested_list_problem_in_portuguese() -> None:
    error = refusal("grok-imagine-video", {"reference_images": ["not a link"]})
    assert say(error, "en-US") == str(error)
    assert "tem um item (1) que deve ser um link" in say(error, "pt-BR")
