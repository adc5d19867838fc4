"""``sora-bot models`` and ``check``'s model lines, run as real subprocesses against the fakes.

The fake's ``GET /v2/models`` lists every video model of the vendored contract (41) until a
test retires one, as providers retire models (issue 10). The bot's own retired marks live in
its database (bot/jobs/retired.py): ``models`` and ``check`` read them without writing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.apiframe.models import ModelCatalog
from bot.app import open_store
from bot.catalog.video import Catalog
from bot.cli_models import model_rows
from bot.config import DEFAULT_PRICING, Settings, load_settings
from bot.db.database import load_migrations
from bot.db.pg_text import parse_url
from tests.conftest import APIFRAME_KEY, DISCORD_TOKEN, run_cli
from tests.fakes.apiframe import FakeApiframe
from tests.fakes.apiframe_schema import video_models
from tests.support.postgres import PASSWORD, PgServer


def table(out: str) -> dict[str, str]:
    """The rows of ``models``' table by model id (the first word of each row)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("MODEL "))
    rows = [line for line in lines[start + 1:] if line and not line.startswith("enabled: ")]
    return {row.split()[0]: row for row in rows}


def lineup_lines(out: str) -> list[str]:
    """The closing lines of ``models``: one per enabled model."""
    return [line for line in out.splitlines() if line.startswith("enabled: ")]


#: /sora's model and Sora 2 enabled side by side (Sora 2 keeps its built-in grid).
TWO: dict[str, dict[str, Any]] = {
    "video": {"enabled": ["sora-2-pro", "sora-2"]},
    'video.models."sora-2"': {"label": "Sora 2"},
}


async def test_models_lists_every_live_model_and_marks_the_configured_one(
    write_config: Callable[..., Path],
) -> None:
    code, out, err = await run_cli(write_config(), "models")
    assert code == 0, err
    assert err == ""
    assert out.splitlines()[0].endswith(": 41 live")
    rows = table(out)
    assert sorted(rows) == sorted(video_models())
    assert len(video_models()) == 41
    # The fake labels "sora-2-pro" "Sora 2 Pro", prices it per second from 12 to 75.
    assert rows["sora-2-pro"].split()[:6] == ["sora-2-pro", "Sora", "2", "Pro", "per-second",
                                              "12-75"]
    assert "enabled, default, /sora, priced" in rows["sora-2-pro"]
    assert "priced" in rows["sora-2"] and "/sora" not in rows["sora-2"]
    assert "enabled" not in rows["sora-2"]
    assert rows["veo-3"].split()[-2:] == ["10", "-"]  # flat, unpriced, not /sora
    assert not any("NOT LIVE" in row or "not in the bot's catalog" in row or "RETIRED" in row
                   for row in rows.values())
    # Aligned: every row's CONFIG cell starts under the header's.
    header = next(line for line in out.splitlines() if line.startswith("MODEL "))
    column = header.index("CONFIG")
    assert rows["sora-2-pro"][column:].startswith("enabled, default, /sora, priced")
    assert rows["sora-2"][column:].startswith("priced")
    assert lineup_lines(out) == ["enabled: sora-2-pro [/sora, default]: live"]
    assert out.splitlines()[-1] == "enabled: sora-2-pro [/sora, default]: live"
    assert APIFRAME_KEY not in out + err and DISCORD_TOKEN not in out + err


async def test_a_grid_for_a_model_not_in_the_catalog_is_refused_in_one_line(
    write_config: Callable[..., Path],
) -> None:
    grid = dict(DEFAULT_PRICING["sora-2-pro"])
    config = write_config(**{
        "pricing.sora-2-pro": grid, "pricing.sora-2": dict(DEFAULT_PRICING["sora-2"]),
        "pricing.sora-9": grid,
    })
    code, out, err = await run_cli(config, "models")
    assert code == 1 and out == ""
    [line] = err.splitlines()
    assert line.endswith("""pricing."sora-9": unknown video model 'sora-9'""")


async def test_a_retired_configured_model_fails_models_in_one_line(
    write_config: Callable[..., Path], fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.retire("sora-2-pro")
    code, out, err = await run_cli(write_config(), "models")
    assert code == 1
    assert out.splitlines()[0].endswith(": 40 live")
    assert "NOT LIVE (retired?)" in table(out)["sora-2-pro"]
    assert "/sora" in table(out)["sora-2-pro"]
    assert lineup_lines(out) == [
        "enabled: sora-2-pro [/sora, default]: NOT LIVE in Apiframe's catalog"]
    [line] = err.splitlines()
    assert line.startswith("error: model 'sora-2-pro' ([apiframe] model)")
    assert "retired" in line and "sora-bot models" in line


async def test_check_says_whether_the_configured_model_is_live(
    write_config: Callable[..., Path], fake_apiframe: FakeApiframe
) -> None:
    config = write_config()
    code, out, err = await run_cli(config, "check")
    assert code == 0, err
    assert out.splitlines()[-1] == (
        "models: ok, every enabled model (sora-2-pro) is in Apiframe's live video catalog")

    fake_apiframe.retire("sora-2-pro")
    code, out, err = await run_cli(config, "check")
    assert code == 1
    assert err == ""
    lines = out.splitlines()
    assert lines[3].startswith("apiframe: ok")  # the key still works: only the model is gone
    assert len(lines) == 5
    assert lines[4].startswith("models: WARNING: model 'sora-2-pro' ([apiframe] model)")
    assert "[pricing.<model>]" in lines[4] and "sora-bot models" in lines[4]


async def test_models_fails_in_one_line_when_apiframe_is_unreachable(
    write_config: Callable[..., Path],
) -> None:
    config = write_config(apiframe={"base_url": "http://127.0.0.1:9", "max_retries": 0})
    code, out, err = await run_cli(config, "models")
    assert code == 1
    assert out == ""
    [line] = err.splitlines()
    assert line.startswith("error: apiframe: cannot list the video models at http://127.0.0.1:9")
    assert line.endswith("check apiframe.base_url and the network")


def test_a_live_model_the_bot_does_not_know_is_flagged_but_listed() -> None:
    """Apiframe adds models faster than the contract is re-vendored: list them, say so."""
    live = ModelCatalog.model_validate({"models": [
        {"id": "sora-2-pro", "label": "Sora 2 Pro", "costMin": 2.5, "costMax": 2.5},
        {"id": "veo-9", "pricingMode": "per-second"},
    ]})
    settings = Settings.model_validate({
        "discord": {"token": "t"}, "apiframe": {"api_key": "afk_test"},
        "video": {**TWO["video"], "models": {"sora-2": TWO['video.models."sora-2"']}}})
    rows = {r.id: r for r in model_rows(live, Catalog.load(), settings.lineup, ["sora-2-pro"])}
    assert rows["veo-9"].notes == "not in the bot's catalog" and rows["veo-9"].live
    assert (rows["veo-9"].label, rows["veo-9"].cost, rows["veo-9"].config) == ("veo-9", "-", "-")
    assert rows["sora-2-pro"].notes == "" and rows["sora-2-pro"].cost == "2.5"
    assert rows["sora-2-pro"].config == "enabled, default, /sora, priced"
    # An enabled model Apiframe does not list comes after the live ones, flagged.
    assert list(rows)[-1] == "sora-2" and not rows["sora-2"].live
    assert (rows["sora-2"].notes, rows["sora-2"].config) == ("NOT LIVE (retired?)", "enabled")


async def test_an_enabled_model_missing_from_the_live_catalog_is_flagged_one_line_each(
    write_config: Callable[..., Path], fake_apiframe: FakeApiframe
) -> None:
    config = write_config(**TWO)
    fake_apiframe.retire("sora-2")

    code, out, err = await run_cli(config, "models")
    assert code == 1
    assert "NOT LIVE (retired?)" in table(out)["sora-2"] and "enabled" in table(out)["sora-2"]
    assert lineup_lines(out) == [
        "enabled: sora-2-pro [/sora, default]: live",
        "enabled: sora-2 ('Sora 2'): NOT LIVE in Apiframe's catalog",
    ]
    [line] = err.splitlines()
    assert line.startswith("error: model 'sora-2' ([video] enabled) is not in Apiframe's live")
    assert "remove it from [video] enabled" in line

    code, out, err = await run_cli(config, "check")
    assert (code, err) == (1, "")
    [warning] = [line for line in out.splitlines() if line.startswith("models:")]
    assert warning.startswith("models: WARNING: model 'sora-2' ([video] enabled)")

    fake_apiframe.retire("sora-2-pro")
    code, out, _err = await run_cli(config, "check")
    assert code == 1
    warnings = [line for line in out.splitlines() if line.startswith("models:")]
    assert [w.split()[3] for w in warnings] == ["'sora-2-pro'", "'sora-2'"]


async def mark_retired(config: Path, model: str, job_id: str) -> Settings:
    """Mark ``model`` retired in the bot's database as the running bot does."""
    settings = load_settings(config, env={})
    async with open_store(settings, lambda: datetime(2026, 10, 22, 9, 30, tzinfo=UTC)) as store:
        assert await store.retired.mark(model, "Provider returned an error: model not found",
                                        job_id=job_id, guild_id=None) is not None
    return settings


async def test_a_model_marked_retired_is_shown_and_restored(
    write_config: Callable[..., Path],
) -> None:
    config = write_config(**TWO)
    settings = await mark_retired(config, "sora-2", "job-42")
    db = settings.database.path
    before = db.stat().st_mtime_ns

    code, out, err = await run_cli(config, "models")
    assert code == 0, err  # live at Apiframe: the mark keeps members off it, nothing fails
    assert "RETIRED here since 2026-10-22" in table(out)["sora-2"]
    [line] = [line for line in lineup_lines(out) if line.startswith("enabled: sora-2 ")]
    assert line.startswith("enabled: sora-2 ('Sora 2'): live; RETIRED here: model 'sora-2' was"
                           " marked retired on 2026-10-22 09:30 UTC by job job-42")
    assert line.endswith("`sora-bot models --restore sora-2`")
    code, out, err = await run_cli(config, "check")
    assert code == 0, err
    [warning] = [line for line in out.splitlines() if "WARNING" in line]
    assert warning.startswith("models: WARNING: model 'sora-2' was marked retired")
    # Both read the database without writing it.
    assert db.stat().st_mtime_ns == before and not Path(f"{db}-wal").exists()

    code, out, err = await run_cli(config, "models", "--restore", "sora-2")
    assert (code, err) == (0, "")
    assert out == ("restored sora-2 (marked retired on 2026-10-22 09:30 UTC): members may "
                   "choose it again\n")
    code, out, err = await run_cli(config, "models", "--restore", "sora-2")
    assert (code, out, err) == (0, "sora-2 is not marked retired; nothing changed\n", "")
    code, out, _err = await run_cli(config, "models")
    assert code == 0 and "RETIRED" not in out


async def test_models_check_and_restore_read_the_marks_on_postgresql(
    write_config: Callable[..., Path], pg_server: PgServer,
) -> None:
    url = await pg_server.create_database()
    config = write_config(**TWO)
    # The same config with [database] url instead of path.
    lines = [f'url = "{url}"' if line.startswith("path = ") and "sqlite3" in line else line
             for line in config.read_text().splitlines()]
    config.write_text("\n".join(lines) + "\n")
    await mark_retired(config, "sora-2", "job-42")

    code, out, err = await run_cli(config, "models")
    assert code == 0, err
    assert "RETIRED here since 2026-10-22" in table(out)["sora-2"]
    code, out, err = await run_cli(config, "check")
    assert code == 0, err
    assert f"database: ok ({parse_url(url)}), schema version" in out  # no password
    assert f"schema version {len(load_migrations())}" in out and PASSWORD not in out
    assert any(line.startswith("models: WARNING: model 'sora-2' was marked retired")
               for line in out.splitlines())
    code, out, err = await run_cli(config, "models", "--restore", "sora-2")
    assert (code, err) == (0, "") and out.startswith("restored sora-2")


async def test_restore_without_a_database_creates_none(
    write_config: Callable[..., Path],
) -> None:
    config = write_config()
    db = load_settings(config, env={}).database.path
    code, out, err = await run_cli(config, "models", "--restore", "veo-3")
    assert (code, err) == (0, "")
    assert out == f"veo-3 is not marked retired ({db} does not exist yet); nothing changed\n"
    assert not db.exists()
