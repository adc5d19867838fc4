"""docker-compose.yml (PostgreSQL, one gateway, two workers) against the bot itself: no Docker
here, so what can be checked without it is checked: every bot service runs a command the CLI
has, gets its secrets and database from the variables the config reads, waits for a healthy
PostgreSQL, and the database URL it builds is one the config accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.__main__ import build_parser
from bot.config import ENV_APIFRAME_KEY, ENV_DATABASE_URL, ENV_DISCORD_TOKEN, parse_settings

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yml"


def services() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # merges the x-bot anchor
    found: dict[str, Any] = loaded["services"]
    return found


def cli_commands() -> set[str]:
    parser = build_parser()
    [sub] = [a for a in parser._actions if a.dest == "command"]
    assert sub.choices is not None
    return set(sub.choices)


def test_postgresql_one_gateway_and_two_workers() -> None:
    found = services()
    assert found["postgres"]["image"].startswith("postgres:15")
    assert found["gateway"]["command"] == ["gateway"]
    assert found["worker"]["command"] == ["worker"]
    assert found["worker"]["deploy"]["replicas"] == 2
    assert {"gateway", "worker"} <= cli_commands()


def test_every_bot_service_gets_its_secrets_and_waits_for_the_database() -> None:
    for name in ("gateway", "worker"):
        service = services()[name]
        assert set(service["environment"]) == {ENV_DISCORD_TOKEN, ENV_APIFRAME_KEY,
                                               ENV_DATABASE_URL}, name
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "./config.toml:/config/config.toml:ro" in service["volumes"]


def test_the_database_url_it_builds_is_accepted_by_the_config() -> None:
    template = services()["worker"]["environment"][ENV_DATABASE_URL]
    url = template.replace("${SORA_DB_PASSWORD:?set SORA_DB_PASSWORD}", "s3cret")
    settings = parse_settings(
        {"discord": {"token": "x.y.z"}, "apiframe": {"api_key": "afk_test"}},
        env={ENV_DATABASE_URL: url})
    assert settings.database.url is not None
    assert settings.database.url.get_secret_value() == "postgresql://sora:s3cret@postgres:5432/sora"
