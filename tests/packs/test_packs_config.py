"""``[packs]``: strict, one line naming the key, and off by default."""

from __future__ import annotations

from typing import Any

import pytest

from bot.config import ConfigError, parse_settings

SECRETS = {"discord": {"token": "a-real-looking-token"}, "apiframe": {"api_key": "afk_real"}}
SKU = 1_300_000_000_000_000_001


def settings(packs: Any) -> Any:
    return parse_settings({**SECRETS, "packs": packs}, env={})


def test_packs_are_off_unless_configured() -> None:
    assert parse_settings(SECRETS, env={}).packs.skus == ()


def test_a_pack_maps_a_sku_to_credits() -> None:
    packs = settings({"skus": [{"sku_id": SKU, "credits": 500, "label": "500 credits"}]}).packs
    assert packs.credits_for(SKU) == 500
    assert packs.credits_for(SKU + 1) is None
    assert packs.label_for(SKU) == "500 credits"


@pytest.mark.parametrize(("packs", "message"), [
    ({"skus": [{"sku_id": SKU, "credits": 0}]},
     "packs.skus.0.credits: Input should be greater than 0"),
    ({"skus": [{"sku_id": SKU, "credits": "500"}]},
     "packs.skus.0.credits: must be a whole number, without quotes"),
    ({"skus": [{"sku_id": str(SKU), "credits": 5}]},
     "packs.skus.0.sku_id: must be a whole number, without quotes"),
    ({"skus": [{"sku_id": 42, "credits": 5}]},
     "packs.skus.0.sku_id: Input should be greater than or equal to 1000000000000000"),
    ({"skus": [{"sku_id": SKU, "credits": 5, "price": 3}]},
     "packs.skus.0.price: unknown key (check the spelling against config.example.toml)"),
    ({"sku": []}, "packs.sku: unknown key (check the spelling against config.example.toml)"),
    ({"skus": [{"sku_id": SKU, "credits": 5}, {"sku_id": SKU, "credits": 9}]},
     f"packs.skus: SKU {SKU} is listed twice; give each SKU one credit amount"),
    ({"skus": [{"sku_id": SKU + n, "credits": 5} for n in range(6)]},
     "packs.skus: at most 5 packs (one row of buttons under /credits)"),
])
def test_bad_packs_are_refused_in_one_line(packs: Any, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        settings(packs)
    assert str(refused.value) == message
    assert "\n" not in str(refused.value)
