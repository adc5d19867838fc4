"""What /video suggests and how it reads typed text, over a real lineup built from the catalog."""

from __future__ import annotations

from typing import Any

import pytest

from bot.catalog.lineup import Lineup, build_lineup
from bot.catalog.options import OptionRefused
from bot.launch import choices
from bot.launch.choices import Suggestion
from tests.support.video import CATALOG


def make_lineup(**models: dict[str, Any]) -> Lineup:
    """Models enabled in this order; each table is its ``video.models`` config plus a
    ``grid`` (default: one flat price of 10)."""
    tables = {model_id: {k: v for k, v in cfg.items() if k != "grid"}
              for model_id, cfg in models.items()}
    grids = {model_id: cfg.get("grid", {"flat": 10}) for model_id, cfg in models.items()}
    for model_id, cfg in tables.items():
        cfg.setdefault("price_by", ["duration"] if "grid" in models[model_id] else [])
    return build_lineup(CATALOG, sora_model="sora-2-pro", enabled=list(models), default=None,
                        models=tables, pricing=grids)


LINEUP = make_lineup(**{
    "veo-3": {"label": "Veo 3", "grid": {"4s": 40, "6s": 60, "8s": 80}},
    "kling-3.0": {"label": "Kling 3.0"},
    "grok-imagine-video": {},
    "midjourney-video": {"label": "Midjourney"},
    "kling-3.0-motion-control": {},
})
VEO, KLING = LINEUP.offer("veo-3"), LINEUP.offer("kling-3.0")
GROK = LINEUP.offer("grok-imagine-video")


def test_models_are_named_with_their_prices_and_unstartable_ones_left_out() -> None:
    assert choices.model_suggestions(LINEUP.offers.values()) == [
        Suggestion("Veo 3 — 40–80 credits", "veo-3"),
        Suggestion("Kling 3.0 — 10 credits", "kling-3.0"),
        Suggestion("grok-imagine-video — 10 credits", "grok-imagine-video"),
        Suggestion("Midjourney — 10 credits · needs a start image", "midjourney-video"),
    ]
    assert [s.value for s in choices.model_suggestions(LINEUP.offers.values(), "KLING")] == [
        "kling-3.0"]


def test_a_model_is_found_by_its_id_or_its_label() -> None:
    offers = LINEUP.offers.values()
    assert choices.find_offer(offers, "veo-3") is VEO
    assert choices.find_offer(offers, " veo 3 ") is VEO
    assert choices.find_offer(offers, "veo") is None


def test_each_value_is_priced_when_it_changes_the_price() -> None:
    assert choices.slot_suggestions(VEO, "duration") == [
        Suggestion("4 seconds · 40 credits", "4"), Suggestion("6 seconds · 60 credits", "6"),
        Suggestion("8 seconds · 80 credits", "8")]
    # Not a price axis: no price on it.
    assert choices.slot_suggestions(VEO, "quality") == [
        Suggestion("720p", "720p"), Suggestion("1080p", "1080p")]
    assert choices.slot_suggestions(VEO, "sound") == [
        Suggestion("Off", "off"), Suggestion("On", "on")]
    assert [s.value for s in choices.slot_suggestions(KLING, "duration")] == [
        str(d) for d in range(3, 16)]
    assert choices.slot_suggestions(GROK, "sound") == []


def test_the_other_choices_filled_in_set_the_price_shown() -> None:
    sora = make_lineup(**{"sora-2-pro": {"price_by": ["resolution", "duration"], "grid": {
        f"{q}-{d}s": (2 if q == "high" else 1) * d
        for q in ("standard", "high") for d in (4, 8, 10, 12, 15)}}}).offer("sora-2-pro")
    high = choices.slot_suggestions(sora, "duration", others={"quality": "high"})
    bogus = choices.slot_suggestions(sora, "duration", others={"quality": "ultra"})
    assert high[0] == Suggestion("4 seconds · 8 credits", "4")
    assert bogus[0] == Suggestion("4 seconds · 4 credits", "4")  # ignored: the default


@pytest.mark.parametrize(("parameter", "typed", "expected"), [
    ("duration", "8", {"duration": 8}),
    ("duration", " 8s ", {"duration": 8}),
    ("duration", "8 seconds", {"duration": 8}),
    ("duration", "7", {"duration": 7}),  # read as a number, for the lineup to refuse
    ("duration", "eight", {"duration": "eight"}),
    ("quality", "1080P", {"resolution": "1080p"}),
    ("sound", "on", {"generate_audio": True}),
    ("sound", "OFF", {"generate_audio": False}),
    ("sound", "maybe", {"generate_audio": "maybe"}),
])
def test_typed_text_is_read_as_the_option_value_it_names(
    parameter: str, typed: str, expected: dict[str, Any],
) -> None:
    assert choices.chosen(VEO, {parameter: typed}) == expected


def test_typed_values_are_still_judged_by_the_lineup() -> None:
    with pytest.raises(OptionRefused, match=r"Duration for Veo 3 must be 4, 6 or 8 seconds"):
        VEO.resolve(choices.chosen(VEO, {"duration": "7"}))
    with pytest.raises(OptionRefused, match="has no choice of sound"):
        GROK.resolve(choices.chosen(GROK, {"sound": "on"}))
    assert VEO.resolve(choices.chosen(VEO, {"duration": "6", "sound": "on"})) == {
        "duration": 6, "generate_audio": True, "resolution": "720p"}


def test_inputs_a_model_needs_are_checked_before_anything_is_charged() -> None:
    midjourney = LINEUP.offer("midjourney-video")
    motion = LINEUP.offer("kling-3.0-motion-control")
    with pytest.raises(OptionRefused, match="needs a start image"):
        choices.check_inputs(midjourney, with_image=False)
    choices.check_inputs(midjourney, with_image=True)
    with pytest.raises(OptionRefused, match="needs a reference video"):
        choices.check_inputs(motion, with_image=True)
    choices.check_inputs(VEO, with_image=False)
    assert choices.startable(LINEUP.offers.values()) == tuple(
        o for o in LINEUP.offers.values() if o is not motion)
