"""The operator's lineup (bot/catalog/lineup.py) through the real config parser: what each
enabled model offers, what it costs, and every config mistake as one line naming its key."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.catalog.lineup import FLAT, Offer, token
from bot.catalog.options import OptionRefused
from bot.catalog.video import Catalog
from bot.config import DEFAULT_PRICING, ConfigError, Settings, parse_settings

CATALOG = Catalog.load()
BASE: dict[str, Any] = {"discord": {"token": "t"}, "apiframe": {"api_key": "afk_k"}}
VEO_GRID = {f"{r}-{d}s": d * 10 + (5 if r == "1080p" else 0)
            for r in ("720p", "1080p") for d in (4, 6, 8)}
KLING_GRID = {f"{d}s-{a}": d + (3 if a == "generate_audio" else 0)
              for d in (5, 10) for a in ("generate_audio", "no_generate_audio")}


def config(**video: Any) -> dict[str, Any]:
    """Sora plus Veo 3.1 Fast (resolution x duration), Kling 2.6 (duration x sound) and a
    flat-priced Midjourney video."""
    raw = copy.deepcopy(BASE)
    raw["video"] = {
        "enabled": ["sora-2-pro", "veo-3.1-fast", "kling-2.6", "midjourney-video"],
        "models": {
            "veo-3.1-fast": {"label": "Veo 3.1 Fast", "price_by": ["resolution", "duration"],
                             "offer": {"aspect_ratio": ["16:9", "9:16"]},
                             "defaults": {"generate_audio": False}},
            "kling-2.6": {"price_by": ["duration", "generate_audio"]},
        },
        **video,
    }
    raw["pricing"] = {"veo-3.1-fast": dict(VEO_GRID), "kling-2.6": dict(KLING_GRID),
                      "midjourney-video": {FLAT: 20}}
    return raw


def parse(raw: dict[str, Any]) -> Settings:
    return parse_settings(raw, env={})


def offer(model: str) -> Offer:
    return parse(config()).lineup.offer(model)


def test_without_a_video_section_only_the_sora_model_is_offered_at_the_seed_prices() -> None:
    lineup = parse(copy.deepcopy(BASE)).lineup
    assert lineup.ids == ("sora-2-pro",) and lineup.default == lineup.sora == "sora-2-pro"
    sora = lineup.offer("sora-2-pro")
    assert sora.choices == {"duration": (4, 8, 10, 12, 15), "aspect_ratio": ("16:9", "9:16"),
                            "resolution": ("standard", "high")}
    for key, price in DEFAULT_PRICING["sora-2-pro"].items():
        resolution, seconds = key.removesuffix("s").split("-")
        params = sora.resolve({"resolution": resolution, "duration": int(seconds)})
        assert sora.price(params) == price


def test_each_enabled_model_offers_only_the_values_it_takes() -> None:
    lineup = parse(config()).lineup
    assert lineup.ids == ("sora-2-pro", "veo-3.1-fast", "kling-2.6", "midjourney-video")
    veo = lineup.offer("veo-3.1-fast")
    assert veo.label == "Veo 3.1 Fast" and veo.takes_image
    assert veo.choices["duration"] == (4, 6, 8)
    assert veo.choices["aspect_ratio"] == ("16:9", "9:16")  # a pattern: the operator's list
    assert veo.slots == {"duration": "duration", "aspect_ratio": "aspect_ratio",
                         "quality": "resolution", "audio": "generate_audio"}
    kling = lineup.offer("kling-2.6")
    assert "resolution" not in kling.choices and kling.slots.get("quality") is None
    assert kling.choices["generate_audio"] == (False, True)
    midjourney = lineup.offer("midjourney-video")
    assert midjourney.choices == {"resolution": ("sd", "hd")}
    assert midjourney.price_range() == (20, 20)


def test_every_slot_and_axis_is_sent_explicitly_so_the_price_is_of_what_was_asked() -> None:
    veo = offer("veo-3.1-fast")
    params = veo.resolve({"duration": 6})
    assert params == {"duration": 6, "aspect_ratio": "16:9", "resolution": "720p",
                      "generate_audio": False}
    assert veo.price(params) == 60
    assert veo.price(veo.resolve({"duration": 8, "resolution": "1080p"})) == 85
    kling = offer("kling-2.6")
    loud = kling.resolve({"duration": 10, "generate_audio": True})
    assert kling.grid_key(loud) == "10s-generate_audio" and kling.price(loud) == 13


@pytest.mark.parametrize(("model", "chosen", "words"), [
    ("veo-3.1-fast", {"duration": 7}, "must be 4, 6 or 8 seconds (got 7)"),
    ("veo-3.1-fast", {"duration": True}, "(got true)"),
    ("veo-3.1-fast", {"duration": 6.0}, "(got 6.0)"),
    ("veo-3.1-fast", {"aspect_ratio": "4:3"}, "must be 16:9 or 9:16"),
    ("kling-2.6", {"resolution": "1080p"}, "has no choice of resolution"),
    ("midjourney-video", {"duration": 5}, "has no choice of duration"),
    ("veo-3.1-fast", {"negative_prompt": "x"}, "has no choice of negative prompt"),
])
def test_a_value_the_model_or_the_operator_does_not_offer_is_refused(
    model: str, chosen: dict[str, object], words: str
) -> None:
    with pytest.raises(OptionRefused, match=words.replace("(", r"\(").replace(")", r"\)")):
        offer(model).resolve(chosen)


def test_operator_defaults_are_sent_and_a_member_choice_overrides_them() -> None:
    raw = config()
    raw["video"]["models"]["veo-3.1-fast"]["defaults"] = {
        "generate_audio": True, "negative_prompt": "blur", "duration": 8}
    veo = parse(raw).lineup.offer("veo-3.1-fast")
    assert veo.resolve({}) == {"duration": 8, "aspect_ratio": "16:9", "resolution": "720p",
                               "generate_audio": True, "negative_prompt": "blur"}
    assert veo.resolve({"generate_audio": False, "duration": 4})["generate_audio"] is False


def test_an_offer_narrows_the_values_and_the_grid_only_needs_those() -> None:
    raw = config()
    raw["video"]["models"]["kling-3.0"] = {"price_by": ["duration"],
                                           "offer": {"duration": [5, 10], "mode": ["pro"]}}
    raw["video"]["enabled"].append("kling-3.0")
    raw["pricing"]["kling-3.0"] = {"5s": 30, "10s": 60}
    kling = parse(raw).lineup.offer("kling-3.0")
    assert kling.choices["duration"] == (5, 10) and kling.choices["mode"] == ("pro",)
    with pytest.raises(OptionRefused, match="must be 5 or 10 seconds"):
        kling.resolve({"duration": 7})  # the model takes 7; this bot does not offer it


def mutate(path: str, value: Any) -> dict[str, Any]:
    raw = config()
    *parents, last = path.split("/")
    table = raw
    for part in parents:
        table = table.setdefault(part, {})
    if value is KeyError:
        del table[last]
    else:
        table[last] = value
    return raw


MISTAKES = [
    ("pricing/veo-3.1-fast/1080p-8s", KeyError,
     'pricing."veo-3.1-fast": missing prices for 1080p-8s'),
    ("pricing/kling-2.6/7s-generate_audio", 9,
     "pricing.\"kling-2.6\": unknown variant '7s-generate_audio' (expected e.g. "
     "'5s-no_generate_audio')"),
    ("pricing/midjourney-video", KeyError,
     'pricing."midjourney-video": no price grid; it needs flat'),
    ("pricing/veo-9", {FLAT: 1}, "pricing.\"veo-9\": unknown video model 'veo-9'"),
    ("video/enabled", ["sora-2-pro", "veo-4"],
     "video.enabled[1]: unknown video model 'veo-4' (see `sora-bot models`)"),
    ("video/enabled", ["sora-2-pro", "sora-2-pro"],
     "video.enabled[1]: 'sora-2-pro' is listed twice"),
    ("video/enabled", [], "video.enabled: enable at least one model"),
    ("video/default", "sora-2", "video.default: 'sora-2' is not one of video.enabled"),
    ("video/models/luma-ray-2", {}, 'video.models."luma-ray-2": not in video.enabled'),
    ("video/models/veo-3.1-fast/offer", {"duration": [5]},
     "video.models.\"veo-3.1-fast\".offer.duration: veo-3.1-fast has no duration '5' (it takes "
     "4, 6 or 8)"),
    ("video/models/veo-3.1-fast/offer", {"seed": [1]},
     'video.models."veo-3.1-fast".offer.seed: not a choice members make'),
    ("video/models/veo-3.1-fast/defaults", {"image": "https://x.test/a.png"},
     'video.models."veo-3.1-fast".defaults.image: the start image is the member\'s to give'),
    ("video/models/veo-3.1-fast/defaults", {"duration": 5},
     'video.models."veo-3.1-fast".defaults.duration: must be 4, 6 or 8 seconds for '
     'veo-3.1-fast (got 5)'),
    ("video/models/veo-3.1-fast/defaults", {"colour": "red"},
     "video.models.\"veo-3.1-fast\".defaults.colour: veo-3.1-fast has no option 'colour'"),
    ("video/models/kling-2.6/price_by", ["resolution"],
     "video.models.\"kling-2.6\".price_by: kling-2.6 has no option 'resolution'"),
    ("video/models/kling-2.6/price_by", ["negative_prompt"],
     "video.models.\"kling-2.6\".price_by: 'negative_prompt' is neither a member choice nor in "
     "defaults"),
    ("video/models/kling-2.6/price_by", ["duration", "duration"],
     "video.models.\"kling-2.6\".price_by: lists an option twice"),
    ("video/models/kling-2.6/defaults", {"generate_audio": "yes"},
     'video.models."kling-2.6".defaults.generate_audio: must be true or false'),
    ("video/models/kling-2.6/colour", 1, 'video.models.kling-2.6.colour: unknown key'),
    ("apiframe/model", "veo-3", "apiframe.model: 'veo-3' is not a Sora model (sora-2, sora-2-pro)"),
]


@pytest.mark.parametrize(("path", "value", "expected"), MISTAKES,
                         ids=[m[0] + ":" + str(m[1])[:20] for m in MISTAKES])
def test_every_lineup_mistake_is_one_line_naming_its_key(
    path: str, value: Any, expected: str
) -> None:
    raw = mutate(path, value)
    if path.startswith("apiframe"):
        raw.setdefault("apiframe", {})["api_key"] = "afk_k"
    with pytest.raises(ConfigError) as info:
        parse(raw)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(expected), message


@pytest.mark.parametrize("model", CATALOG.ids)
def test_any_catalog_model_can_be_enabled_at_a_flat_price(model: str) -> None:
    raw = copy.deepcopy(BASE)
    raw["video"] = {"enabled": [model]} | (
        {"models": {model: {"price_by": []}}} if model.startswith("sora") else {})
    raw["pricing"] = {model: {FLAT: 7}}
    lineup = parse(raw).lineup
    chosen = lineup.offer(model)
    assert lineup.ids == (model,) and lineup.default == model
    assert lineup.sora == (model if model == "sora-2-pro" else None)
    params = chosen.resolve({})
    assert chosen.price(params) == 7
    # What it sends with no member choice is what the contract accepts (an image-only or
    # video-only model still needs its inputs; the launcher refuses those plainly).
    if CATALOG.model(model).text_to_video:
        CATALOG.model(model).to_params(params)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_offered_choice_resolves_to_a_block_the_contract_accepts_and_a_grid_price(
    data: st.DataObject,
) -> None:
    lineup = parse(config()).lineup
    chosen_offer = data.draw(st.sampled_from(list(lineup.offers.values())))
    chosen = {name: data.draw(st.sampled_from(values))
              for name, values in chosen_offer.choices.items()
              if data.draw(st.booleans())}
    params = chosen_offer.resolve(chosen)
    assert {k: params[k] for k in chosen} == chosen
    block = chosen_offer.model.to_params(params, "https://cdn.example/start.png"
                                         if chosen_offer.id == "midjourney-video" else None)
    assert chosen_offer.price(params) in chosen_offer.prices.values()
    assert set(block) >= set(chosen)


def test_grid_keys_spell_durations_and_switches_plainly() -> None:
    assert token("duration", 8) == "8s"
    assert token("resolution", "1080p") == "1080p"
    assert token("generate_audio", True) == "generate_audio"
    assert token("generate_audio", False) == "no_generate_audio"
