"""``sora-bot models`` and ``check``'s model line, run as real subprocesses against the fakes.

The fake's ``GET /v2/models`` lists every video model of the vendored contract (41) until a
test retires one, as providers retire models (issue 10).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.apiframe.models import ModelCatalog
from bot.catalog.video import Catalog
from bot.cli_models import model_rows
from bot.config import DEFAULT_PRICING
from tests.conftest import APIFRAME_KEY, DISCORD_TOKEN, run_cli
from tests.fakes.apiframe import FakeApiframe
from tests.fakes.apiframe_schema import video_models


def table(out: str) -> dict[str, str]:
    """The rows of ``models``' table by model id (the first word of each row)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("MODEL "))
    rows = [line for line in lines[start + 1:] if line and not line.startswith("/sora uses")]
    return {row.split()[0]: row for row in rows}


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
    assert "/sora, priced" in rows["sora-2-pro"]
    assert "priced" in rows["sora-2"] and "/sora" not in rows["sora-2"]
    assert rows["veo-3"].split()[-2:] == ["10", "-"]  # flat, unpriced, not /sora
    assert not any("NOT LIVE" in row or "not in the bot's catalog" in row for row in rows.values())
    # Aligned: every row's CONFIG cell starts under the header's.
    header = next(line for line in out.splitlines() if line.startswith("MODEL "))
    column = header.index("CONFIG")
    assert rows["sora-2-pro"][column:].startswith("/sora, priced")
    assert rows["sora-2"][column:].startswith("priced")
    assert out.splitlines()[-1] == "/sora uses sora-2-pro: live"
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
    [line] = err.splitlines()
    assert line.startswith("error: model 'sora-2-pro' ([apiframe] model)")
    assert "retired" in line and "sora-bot models" in line


async def test_check_says_whether_the_configured_model_is_live(
    write_config: Callable[..., Path], fake_apiframe: FakeApiframe
) -> None:
    config = write_config()
    code, out, err = await run_cli(config, "check")
    assert code == 0, err
    assert out.splitlines()[-1] == "model: ok, sora-2-pro is in Apiframe's live video catalog"

    fake_apiframe.retire("sora-2-pro")
    code, out, err = await run_cli(config, "check")
    assert code == 1
    assert err == ""
    lines = out.splitlines()
    assert lines[3].startswith("apiframe: ok")  # the key still works: only the model is gone
    assert len(lines) == 5
    assert lines[4].startswith("model: WARNING: model 'sora-2-pro'")
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
    rows = {r.id: r for r in model_rows(live, Catalog.load(), "sora-2-pro", ["sora-2-pro"])}
    assert rows["veo-9"].notes == "not in the bot's catalog" and rows["veo-9"].live
    assert (rows["veo-9"].label, rows["veo-9"].cost, rows["veo-9"].config) == ("veo-9", "-", "-")
    assert rows["sora-2-pro"].notes == "" and rows["sora-2-pro"].cost == "2.5"
    assert rows["sora-2-pro"].config == "/sora, priced"
