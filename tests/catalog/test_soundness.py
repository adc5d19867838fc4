"""Whatever the catalog's check accepts, the contract accepts: a member can never be let
through with a value Apiframe would refuse (after the credits were reserved)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.catalog.options import ModelOption, OptionRefused
from bot.catalog.video import Catalog, VideoModel
from tests.catalog import contract
from tests.catalog.samples import IMAGE_URL, valid

MODELS = Catalog.load().models

_scalars = st.one_of(
    st.integers(min_value=-3, max_value=20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(["16:9", "16:9\n", "١٦:٩", "720p", "pro", "https://a.example/x.png",
                     "https://", "ftp://a/b", "", " ", "x" * 2600]),
    st.text(max_size=12),
)


def values_for(option: ModelOption) -> st.SearchStrategy[Any]:
    """Mostly near what the option allows, sometimes anything."""
    near: list[Any] = [valid(option)]
    listed = option.finite_values()
    if listed:
        near += list(listed)
    return st.one_of(st.sampled_from(near), _scalars, st.lists(_scalars, max_size=10))


@st.composite
def requests(draw: st.DrawFn) -> tuple[VideoModel, dict[str, Any], str | None]:
    model = draw(st.sampled_from(MODELS))
    chosen = draw(st.lists(st.sampled_from(model.options), unique_by=lambda o: o.name,
                           max_size=len(model.options)))
    image = draw(st.sampled_from([None, IMAGE_URL, "https://a b/x.png"]))
    return model, {option.name: draw(values_for(option)) for option in chosen}, image


@settings(max_examples=600, deadline=None)
@given(requests())
def test_a_block_the_catalog_accepts_is_one_the_contract_accepts(
    request: tuple[VideoModel, dict[str, Any], str | None],
) -> None:
    model, options, image = request
    try:
        block = model.to_params(options, image)
    except OptionRefused:
        return
    assert contract.errors(model.id, model.params, block) == []
