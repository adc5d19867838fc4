"""The configuration models: the example file loads, and every mistake is one clear line."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import get_args

import pytest

from bot.apiframe.models import AspectRatio, Duration, Resolution
from bot.config import (
    ASPECT_RATIOS,
    DEFAULT_PRICING,
    DURATIONS,
    ENV_APIFRAME_KEY,
    ENV_DISCORD_TOKEN,
    RESOLUTIONS,
    ConfigError,
    load_settings,
    parse_settings,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"
SEED_GRID = {
    "standard-4s": 12,
    "high-4s": 20,
    "standard-8s": 24,
    "high-8s": 40,
    "standard-10s": 30,
    "high-10s": 50,
    "standard-12s": 36,
    "high-12s": 60,
    "standard-15s": 45,
    "high-15s": 75,
}
DISCORD_SECRET = "MTIz.discord-secret-token-value"
APIFRAME_SECRET = "afk_secret_key_value_123456"
# The example ships placeholders, which are refused: the operator's real secrets stand in.
SECRETS_ENV = {ENV_DISCORD_TOKEN: DISCORD_SECRET, ENV_APIFRAME_KEY: APIFRAME_SECRET}


def minimal() -> dict[str, dict[str, object]]:
    return {"discord": {"token": DISCORD_SECRET}, "apiframe": {"api_key": APIFRAME_SECRET}}


def test_example_file_loads_with_documented_defaults() -> None:
    settings = load_settings(EXAMPLE, env=SECRETS_ENV)
    assert settings.discord.api_base_url == "https://discord.com/api/v10"
    assert settings.discord.gateway_url == "wss://gateway.discord.gg/"
    assert settings.apiframe.base_url == "https://api.apiframe.ai"
    assert settings.apiframe.model == "sora-2-pro"
    assert settings.pricing["sora-2-pro"] == SEED_GRID
    assert settings.pricing["sora-2"]["high-15s"] == 15
    assert settings.ledger.starting_credits == 0
    assert settings.database.path == Path("data/sora-bot.sqlite3")


def test_example_file_sets_every_key_the_models_know() -> None:
    """A key added to the models but not documented in the example is a test failure."""
    raw = tomllib.loads(EXAMPLE.read_text())
    settings = load_settings(EXAMPLE, env=SECRETS_ENV)
    for section, model in settings:
        if section == "pricing":
            continue
        fields = set(type(model).model_fields)
        documented = set(raw.get(section, {}))
        # Optional keys whose presence changes behaviour are documented commented out.
        undocumented = fields - documented - {"dev_guild_id", "shard_count", "shard_ids", "url"}
        assert not undocumented, f"[{section}] keys not in config.example.toml: {undocumented}"
    for commented in ("# dev_guild_id", "# shard_count", "# shard_ids", "# url = "):
        assert commented in EXAMPLE.read_text()


def test_defaults_match_the_seed_grid() -> None:
    settings = parse_settings(minimal(), env={})
    assert settings.pricing == DEFAULT_PRICING
    sora = settings.lineup.offer("sora-2-pro")
    assert sora.price({"resolution": "high", "duration": 15}) == 75
    assert sora.price({"resolution": "standard", "duration": 4}) == 12
    assert settings.pricing["sora-2"]["standard-8s"] == 8


def _set(section: str, **values: object):  # type: ignore[no-untyped-def]
    return lambda c: c.setdefault(section, {}).update(values)


def _pop(section: str, key: str):  # type: ignore[no-untyped-def]
    return lambda c: c[section].pop(key)


def _grid(**changes: object) -> dict[str, object]:
    grid: dict[str, object] = {**SEED_GRID, **changes}
    return {k: v for k, v in grid.items() if v is not None}


MISTAKES = [
    (_set("discord", tokn="x"), "discord.tokn: unknown key"),
    (_set("extra", a=1), "extra: unknown key"),
    (
        _pop("discord", "token"),
        f"discord.token: required key is missing (or set {ENV_DISCORD_TOKEN})",
    ),
    (
        _pop("apiframe", "api_key"),
        f"apiframe.api_key: required key is missing (or set {ENV_APIFRAME_KEY})",
    ),
    (_set("apiframe", api_key="sk-wrong"), "apiframe.api_key: must start with 'afk_'"),
    (_set("apiframe", poll_interval_seconds=0), "apiframe.poll_interval_seconds"),
    (_set("apiframe", base_url="ftp://x"), "apiframe.base_url: must be an http(s) URL"),
    (_set("discord", gateway_url="http://x"), "discord.gateway_url: must be a ws(s) URL"),
    (_set("ledger", starting_credits=-1), "ledger.starting_credits"),
    (_set("ledger", starting_credits=1.5), "ledger.starting_credits"),
    (
        _set("ledger", starting_credits=10, max_balance=5),
        "starting_credits must not exceed max_balance",
    ),
    (_set("pricing", **{"sora-2-pro": _grid(**{"high-5s": 3})}), "unknown variant 'high-5s'"),
    (_set("pricing", **{"sora-2-pro": _grid(**{"high-15s": None})}), "missing prices for high-15s"),
    (_set("pricing", **{"sora-2-pro": _grid(**{"high-4s": 0})}), "pricing.sora-2-pro.high-4s"),
    (_set("pricing", **{"sora-2-pro": _grid(**{"high-4s": 2.5})}), "pricing.sora-2-pro.high-4s"),
    (_set("apiframe", model="sora-3"), "apiframe.model: 'sora-3' is not a Sora model"),
    (_set("logging", level="LOUD"), "logging.level: must be one of"),
    (
        _set("discord", token="put-your-discord-bot-token-here"),
        "discord.token: still the placeholder from config.example.toml",
    ),
    (
        _set("apiframe", api_key="afk_put-your-apiframe-key-here"),
        "apiframe.api_key: still the placeholder from config.example.toml",
    ),
    (
        _set("moderation", moderators_can_mint="yes"),
        "moderation.moderators_can_mint: must be true or false, without quotes",
    ),
    (_set("moderation", moderators_can_mint="off"), "moderation.moderators_can_mint: must be"),
    (_set("moderation", moderators_can_mint=1), "moderation.moderators_can_mint: must be"),
    (_set("apiframe", max_retries="3"), "apiframe.max_retries: must be a whole number"),
    (_set("apiframe", max_retries=2.0), "apiframe.max_retries: must be a whole number"),
    (_set("apiframe", poll_interval_seconds="7"), "apiframe.poll_interval_seconds: must be a"),
    (_set("jobs", timeout_minutes=True), "jobs.timeout_minutes: must be a number"),
    (_set("apiframe", model=5), "apiframe.model: must be text in quotes"),
    (_set("moderation", owner_ids=["1"]), "moderation.owner_ids.0: must be a whole number"),
    (_set("database", path=5), "database.path: must be a file path in quotes"),
    (_set("ledger", max_balance=2**53), "ledger.max_balance"),
]


@pytest.mark.parametrize(("mutate", "expected"), MISTAKES)
def test_every_mistake_is_one_line_naming_the_key(mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    raw = minimal()
    mutate(raw)
    with pytest.raises(ConfigError) as info:
        parse_settings(raw, env={})
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert DISCORD_SECRET not in message and APIFRAME_SECRET not in message


def test_toml_integers_stand_for_floats_and_strings_for_paths() -> None:
    raw = minimal()
    raw["apiframe"]["poll_interval_seconds"] = 5
    raw["database"] = {"path": "var/bot.sqlite3"}
    raw["moderation"] = {"owner_ids": [7, 8]}
    settings = parse_settings(raw, env={})
    assert settings.apiframe.poll_interval_seconds == 5.0
    assert settings.database.path == Path("var/bot.sqlite3")
    assert settings.moderation.owner_ids == (7, 8)


def test_wrong_secret_is_not_echoed() -> None:
    raw = minimal()
    raw["apiframe"]["api_key"] = "sk-live-very-secret-value"
    with pytest.raises(ConfigError) as info:
        parse_settings(raw, env={})
    assert "very-secret" not in str(info.value)


def test_environment_overrides_secrets() -> None:
    raw = minimal()
    env = {ENV_DISCORD_TOKEN: "env-token-value", ENV_APIFRAME_KEY: "afk_from_env"}
    settings = parse_settings(raw, env=env)
    assert settings.discord.token.get_secret_value() == "env-token-value"
    assert settings.apiframe.api_key.get_secret_value() == "afk_from_env"
    # Secrets in env alone are enough.
    settings = parse_settings({}, env=env)
    assert settings.apiframe.api_key.get_secret_value() == "afk_from_env"


def test_secrets_do_not_leak_through_repr() -> None:
    settings = parse_settings(minimal(), env={})
    text = repr(settings) + str(settings) + settings.model_dump_json()
    assert DISCORD_SECRET not in text and APIFRAME_SECRET not in text


def test_file_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[discord\ntoken = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad, env={})
    typo = tmp_path / "typo.toml"
    typo.write_text(EXAMPLE.read_text().replace("poll_interval_seconds", "poll_intervall_seconds"))
    with pytest.raises(ConfigError) as info:
        load_settings(typo, env=SECRETS_ENV)
    assert str(info.value).startswith(f"{typo}: apiframe.poll_intervall_seconds: unknown key")


def test_the_wire_literals_are_the_configured_choices() -> None:
    # The Literals are Apiframe's contract and the tuples are what the bot offers: a value
    # added to one and not the other would be offered but refused, or allowed but never offered.
    assert get_args(Duration) == DURATIONS
    assert get_args(AspectRatio) == ASPECT_RATIOS
    assert get_args(Resolution) == RESOLUTIONS
