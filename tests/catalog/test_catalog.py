"""The packaged catalog against the vendored contract: every model is there, what it says
about each one is what the contract says, and what it builds the contract accepts."""

from __future__ import annotations

import hashlib

import pytest

from bot.apiframe.models import SoraParams
from bot.catalog.options import ChoiceOption, OptionRefused, RangeOption, label, show
from bot.catalog.video import Catalog, UnknownModel, VideoModel
from bot.config import ASPECT_RATIOS, DURATIONS, RESOLUTIONS
from tests.catalog import contract
from tests.catalog.samples import IMAGE_URL, invalid, valid

CATALOG = Catalog.load()
MODELS = CATALOG.models


def by_id(model_id: str) -> VideoModel:
    return CATALOG.model(model_id)


def test_every_video_model_of_the_contract_is_in_the_catalog() -> None:
    assert len(MODELS) == 41
    assert sorted(CATALOG.ids) == sorted(contract.contract_ids())
    assert list(CATALOG.ids) == sorted(CATALOG.ids)
    digest = hashlib.sha256(contract.CONTRACT.read_bytes()).hexdigest()
    assert CATALOG.contract.sha256 == digest


def test_sora_2_pro_has_exactly_the_seed_options() -> None:
    sora = by_id("sora-2-pro")
    assert sora.params == "soraParams" and sora.family == "sora"
    assert [option.name for option in sora.options] == [
        "aspect_ratio", "duration", "resolution", "start_image"]
    duration, ratio, resolution = (sora.option(n) for n in ("duration", "aspect_ratio",
                                                            "resolution"))
    assert isinstance(duration, ChoiceOption) and duration.values == (4, 8, 10, 12, 15)
    assert isinstance(ratio, ChoiceOption) and ratio.values == ("16:9", "9:16")
    assert isinstance(resolution, ChoiceOption) and resolution.values == ("standard", "high")
    assert (sora.start_image, sora.end_image, sora.audio) == ("start_image", None, None)
    assert (sora.prompt_min, sora.prompt_max, sora.required) == (1, 4000, ())
    # /sora's own constants are the contract's values, in the same order.
    assert (duration.values, ratio.values, resolution.values) == (
        DURATIONS, ASPECT_RATIOS, RESOLUTIONS)


def test_sora_params_from_the_catalog_are_what_sora_sends_today() -> None:
    options = {"duration": 12, "aspect_ratio": "9:16", "resolution": "high"}
    built = by_id("sora-2-pro").to_params(options, IMAGE_URL)
    sent = SoraParams(duration=12, aspect_ratio="9:16", resolution="high",
                      start_image=IMAGE_URL).to_wire()
    assert built == sent


def test_kling_3_takes_any_whole_duration_from_3_to_15_seconds() -> None:
    kling = by_id("kling-3.0")
    duration = kling.option("duration")
    assert isinstance(duration, RangeOption)
    assert (duration.integer, duration.minimum, duration.maximum) == (True, 3, 15)
    assert duration.finite_values() == tuple(range(3, 16))
    for seconds in (3, 7, 15):
        assert kling.check({"duration": seconds}) == {"duration": seconds}
    for refused in (2, 16, 7.5, True, "7"):
        with pytest.raises(OptionRefused, match="from 3 to 15 seconds"):
            kling.check({"duration": refused})
    assert (kling.start_image, kling.end_image, kling.audio) == (
        "start_image", "end_image", "generate_audio")


@pytest.mark.parametrize("model", [m for m in MODELS if m.family == "veo"], ids=str)
def test_veo_takes_image_and_last_frame(model: VideoModel) -> None:
    assert (model.start_image, model.end_image) == ("image", "last_frame")
    assert model.to_params({"last_frame": IMAGE_URL}, IMAGE_URL) == {
        "image": IMAGE_URL, "last_frame": IMAGE_URL}


def test_veo_refuses_a_7_second_duration_naming_the_option_and_the_values() -> None:
    with pytest.raises(OptionRefused) as refused:
        by_id("veo-3").check({"duration": 7})
    assert str(refused.value) == "Duration for veo-3 must be 4, 6 or 8 seconds (got 7)."
    # veo-2 is the one Veo that has 7 s: the catalog reads each branch, not each family.
    assert by_id("veo-2").check({"duration": 7}) == {"duration": 7}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.id)
def test_a_block_of_defaults_or_first_values_is_valid_for_the_contract(model: VideoModel) -> None:
    options = {o.name: valid(o) for o in model.options if o.name != model.start_image}
    if model.start_image not in model.required:
        block = model.to_params(options)
        assert set(block) == {o.name for o in model.options} - {model.start_image}
        assert contract.errors(model.id, model.params, block) == []
    if model.start_image is not None:
        with_image = model.to_params(options, IMAGE_URL)
        assert with_image[model.start_image] == IMAGE_URL
        assert contract.errors(model.id, model.params, with_image) == []


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.id)
def test_a_value_outside_the_allowed_set_is_refused_as_the_contract_refuses_it(
    model: VideoModel,
) -> None:
    refused = 0
    for option in model.options:
        value = invalid(option)
        if value is None:
            continue
        assert contract.errors(model.id, model.params, {option.name: value}) != []
        with pytest.raises(OptionRefused) as error:
            model.check({option.name: value})
        assert str(error.value).startswith(f"{label(option.name)} for {model.id} ")
        if isinstance(option, ChoiceOption):  # the message offers every allowed value
            assert all(show(v) in str(error.value) for v in option.values)
        if isinstance(option, RangeOption) and None not in (option.minimum, option.maximum):
            assert f"from {option.minimum} to {option.maximum}" in str(error.value)
        refused += 1
    assert refused >= 1  # every model has at least one bounded option


def test_options_a_model_does_not_have_are_refused() -> None:
    with pytest.raises(OptionRefused, match="sora-2-pro has no option “generate_audio”"):
        by_id("sora-2-pro").check({"generate_audio": True})
    assert contract.errors("sora-2-pro", "soraParams", {"generate_audio": True}) != []


def test_start_images_go_only_where_the_model_takes_one() -> None:
    with pytest.raises(OptionRefused, match="grok-imagine-video does not take a start image"):
        by_id("grok-imagine-video").to_params({}, IMAGE_URL)
    with pytest.raises(OptionRefused, match="midjourney-video needs a start image"):
        by_id("midjourney-video").to_params({"motion": "low"})
    with pytest.raises(OptionRefused, match="two start images"):
        by_id("sora-2-pro").to_params({"start_image": IMAGE_URL}, IMAGE_URL)
    with pytest.raises(OptionRefused, match="incomplete: it needs “video”"):
        by_id("kling-3.0-motion-control").to_params({}, IMAGE_URL)


def test_what_a_prompt_alone_or_with_an_image_can_make() -> None:
    prompt_only = {m.id for m in MODELS if not m.text_to_video}
    assert prompt_only == {"kling-3.0-motion-control", "midjourney-video"}
    assert by_id("midjourney-video").image_to_video
    assert not by_id("kling-3.0-motion-control").image_to_video
    assert not by_id("wan-2.7-r2v").image_to_video and by_id("wan-2.7-r2v").params_required


def test_the_prompt_limit_is_each_model_s_own() -> None:
    hailuo = by_id("hailuo-02")
    assert hailuo.prompt_max == 2000 and by_id("wan-2.7").prompt_max == 5000
    assert hailuo.check_prompt("  " + "a" * 2000 + " ") == "a" * 2000
    with pytest.raises(OptionRefused, match="the limit is 2,000"):
        hailuo.check_prompt("a" * 2001)
    with pytest.raises(OptionRefused, match="the limit is 2,000"):
        hailuo.check_prompt("\U0001f3ac" * 1001)  # 2002 UTF-16 units, as Apiframe counts
    with pytest.raises(OptionRefused, match="empty"):
        hailuo.check_prompt("   ")


def test_lookup_by_id_and_by_family() -> None:
    assert CATALOG.find("sora-3") is None
    with pytest.raises(UnknownModel, match="no video model “sora-3”"):
        CATALOG.model("sora-3")
    families = CATALOG.families()
    assert [m.id for m in families["veoParams"]] == [
        "veo-2", "veo-3", "veo-3-fast", "veo-3.1", "veo-3.1-fast", "veo-3.1-lite"]
    assert sum(len(group) for group in families.values()) == 41


def test_a_catalog_naming_an_option_it_does_not_list_is_refused() -> None:
    text = CATALOG.model_dump_json().replace('"end_image":null', '"end_image":"tail"', 1)
    with pytest.raises(ValueError, match="'tail' is not one of its options"):
        Catalog.parse(text)


def test_the_start_image_link_is_checked_like_any_option() -> None:
    with pytest.raises(OptionRefused, match="Image for veo-3 must be a link"):
        by_id("veo-3").to_params({}, "file:///etc/passwd")


def test_values_are_taken_as_typed_like_sora_s_own_checks() -> None:
    # /sora refuses 8.0 and True for 8 and 1 (Discord sends integers as integers); so does
    # the catalog, although the contract's "number" would let 8.0 through.
    sora = by_id("sora-2-pro")
    for refused in (8.0, "8", True):
        with pytest.raises(OptionRefused, match="must be 4, 8, 10, 12 or 15 seconds"):
            sora.check({"duration": refused})
    assert sora.check({"duration": 8}) == {"duration": 8}


def test_patterns_are_read_as_apiframe_s_javascript_reads_them() -> None:
    veo = by_id("veo-3")
    assert veo.check({"aspect_ratio": "21:9"}) == {"aspect_ratio": "21:9"}
    # Python's "$" matches before a final newline and its \\d matches any digit; ECMAScript's
    # do not, so Apiframe would refuse these.
    for refused in ("16:9\n", "١٦:٩"):
        with pytest.raises(OptionRefused, match="written as width:height, such as 16:9"):
            veo.check({"aspect_ratio": refused})
