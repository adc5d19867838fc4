"""The ``sora-bot`` command line, run as a real subprocess against both loopback fakes."""

from __future__ import annotations

import csv
import io
import json
import signal
from collections.abc import Callable
from pathlib import Path

from bot.config import load_settings
from bot.db.database import Database
from bot.jobs.store import JobDeliveries
from bot.ledger.store import Ledger
from tests.conftest import APIFRAME_KEY, DISCORD_TOKEN, run_cli, start_bot
from tests.fakes.apiframe import FakeApiframe
from tests.fakes.discord import FakeDiscord

#: The jobs table's answer to which reserves are still held (the bot wires the same).
HELD = JobDeliveries()

GUILD = 424242424242424242  # a guild id for the ledger export


async def test_run_comes_online_and_stops_cleanly_on_sigterm(
    write_config: Callable[..., Path], fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    fake_discord.add_guild(name="Test Guild")
    config = write_config()
    bot = await start_bot(config, "run")
    try:
        await fake_discord.wait_for_identify(timeout=20)
        await bot.wait_for_log("Ready as")
    except BaseException:
        bot.proc.kill()
        raise
    identify = fake_discord.identify_payloads[0]
    assert identify["token"] == DISCORD_TOKEN
    db_file = tmp_path / "data" / "bot.sqlite3"
    assert db_file.exists(), "the database (and its folder) is created on start"

    bot.proc.send_signal(signal.SIGTERM)
    assert await bot.wait() == 0, bot.stderr
    assert "Stopped cleanly" in bot.stderr
    # A clean SQLite close checkpoints and removes the WAL file.
    assert not (tmp_path / "data" / "bot.sqlite3-wal").exists()
    assert not fake_discord.connected, "the gateway websocket was closed"
    assert DISCORD_TOKEN not in bot.stderr and APIFRAME_KEY not in bot.stderr
    assert "Traceback" not in bot.stderr


async def test_run_with_a_rejected_token_fails_in_one_line(
    write_config: Callable[..., Path],
) -> None:
    config = write_config(discord={"token": "MTAx.not-the-right-token"})
    code, _, err = await run_cli(config, "run")
    assert code == 1
    assert "error: Discord rejected the token (check discord.token)" in err.splitlines()
    assert "Traceback" not in err


async def test_invalid_config_stops_start_up_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[discord]\ntoken = "x"\n[apiframe]\napi_key = "afk_x"\nmodle = "sora-2"\n')
    code, out, err = await run_cli(config, "run")
    assert code == 1
    assert (
        err == f"error: {config}: apiframe.modle: unknown key (check the spelling against "
        "config.example.toml)\n"
    )
    assert out == ""


async def test_check_reports_both_services(
    write_config: Callable[..., Path], fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.credits = 4500
    code, out, err = await run_cli(write_config(), "check")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("config: ok")
    assert lines[1].startswith("database: ")
    assert lines[2].startswith("discord: ok, logged in as")
    assert lines[3].startswith("apiframe: ok") and "4500 credits" in lines[3]
    assert APIFRAME_KEY not in out + err and DISCORD_TOKEN not in out + err


async def test_check_fails_in_one_line_on_a_bad_discord_token(
    write_config: Callable[..., Path],
) -> None:
    code, out, err = await run_cli(write_config(discord={"token": "MTAx.wrong"}), "check")
    assert code == 1
    assert out.startswith("config: ok")
    assert err.splitlines() == ["error: discord: the token was rejected (check discord.token)"]


async def test_check_fails_in_one_line_on_a_bad_apiframe_key(
    write_config: Callable[..., Path],
) -> None:
    wrong = "afk_wrong_key_99999999"
    code, _, err = await run_cli(write_config(apiframe={"api_key": wrong}), "check")
    assert code == 1
    [line] = err.splitlines()
    assert line.startswith("error: apiframe:") and "401" in line
    assert wrong not in err


async def test_check_fails_in_one_line_when_apiframe_is_unreachable(
    write_config: Callable[..., Path],
) -> None:
    config = write_config(apiframe={"base_url": "http://127.0.0.1:9", "max_retries": 0})
    code, _, err = await run_cli(config, "check")
    assert code == 1
    [line] = err.splitlines()
    assert line.startswith("error: apiframe:")


async def test_sync_publishes_globally_or_to_one_guild(
    write_config: Callable[..., Path], fake_discord: FakeDiscord
) -> None:
    config = write_config()
    code, out, err = await run_cli(config, "sync")
    assert code == 0, err
    app = fake_discord.application_id
    puts = [r for r in fake_discord.requests if r.method == "PUT"]
    assert [r.path for r in puts] == [f"/api/v10/applications/{app}/commands"]
    assert "global" in out

    guild = fake_discord.add_guild(name="Dev")
    code, out, err = await run_cli(config, "sync", "--guild", str(guild.id))
    assert code == 0, err
    puts = [r for r in fake_discord.requests if r.method == "PUT"]
    assert puts[-1].path == f"/api/v10/applications/{app}/guilds/{guild.id}/commands"
    assert f"guild {guild.id}" in out

    stranger = 424242424242424242
    code, _, err = await run_cli(config, "sync", "--guild", str(stranger))
    assert code == 1
    assert err.startswith("error: sync failed: HTTP 403") and len(err.splitlines()) == 1
    assert not fake_discord.identify_payloads, "sync never connects to the gateway"
    assert fake_discord.validation_errors == []


async def test_sync_dev_needs_a_dev_guild(write_config: Callable[..., Path]) -> None:
    code, _, err = await run_cli(write_config(), "sync", "--dev")
    assert code == 1
    assert err == "error: sync --dev needs discord.dev_guild_id in the config\n"


async def test_ledger_export_round_trips_the_journal(write_config: Callable[..., Path]) -> None:
    config = write_config()
    settings = load_settings(config, env={})
    db = await Database.open(settings.database.path)
    try:
        ledger = Ledger(db, held_jobs=HELD, max_balance=1_000_000, starting_credits=0)
        await ledger.grant(GUILD, 100, actor="user:1", reason="launch, with a comma")
        await ledger.reserve(GUILD, 12, job_id="job-1", actor="user:2")
        await ledger.refund("job-1", actor="system", reason="job failed")
        await ledger.deduct(GUILD, 30, actor="user:1", reason='quote " inside')
        entries = (await ledger.export(GUILD)).entries
    finally:
        await db.close()

    code, out, err = await run_cli(
        config, "ledger", "export", "--guild", str(GUILD), "--format", "json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["balance"] == 70
    assert [e["delta"] for e in data["entries"]] == [e.delta for e in entries]
    assert sum(e["delta"] for e in data["entries"]) == 70

    code, out, err = await run_cli(config, "ledger", "export", "--guild", str(GUILD))
    assert code == 0, err
    rows = [r for r in csv.reader(io.StringIO(out)) if r]
    text = out
    assert "launch, with a comma" in text and 'quote " inside' in {c for r in rows for c in r}
    assert "70" in text


async def test_operator_grant_and_set_are_journaled_as_the_operator(
    write_config: Callable[..., Path],
) -> None:
    config = write_config(ledger={"max_balance": 1000})
    code, out, err = await run_cli(config, "ledger", "grant", "--guild", str(GUILD), "500",
                                   "--reason", "launch budget")
    assert code == 0, err
    assert out == f"granted 500 credits to guild {GUILD}; balance 500\n"
    code, out, err = await run_cli(config, "ledger", "set", "--guild", str(GUILD), "120",
                                   "--reason", "monthly reset")
    assert code == 0, err
    assert out == f"set guild {GUILD} to 120 credits (change -380); balance 120\n"

    settings = load_settings(config, env={})
    db = await Database.open(settings.database.path)
    try:
        ledger = Ledger(db, held_jobs=HELD, max_balance=1000, starting_credits=0)
        entries = (await ledger.export(GUILD)).entries
        audited = await db.fetchall(
            "SELECT text FROM audit_events WHERE guild_id = ? ORDER BY id", (GUILD,)
        )
    finally:
        await db.close()
    assert len(audited) == 2, "each operator change is queued for the guild's audit channel"
    assert [(e.kind, e.delta, e.actor, e.reason) for e in entries[-2:]] == [
        ("grant", 500, "operator", "launch budget"), ("set", -380, "operator", "monthly reset"),
    ]
    assert sum(e.delta for e in entries) == 120


async def test_operator_changes_refuse_bad_amounts_in_one_line(
    write_config: Callable[..., Path],
) -> None:
    config = write_config(ledger={"max_balance": 1000})
    for args, expected in (
        (("grant", "--guild", str(GUILD), "0"), "greater than zero"),
        (("grant", "--guild", str(GUILD), "1001"), "1000"),
        (("set", "--guild", str(GUILD), "5000"), "1000"),
    ):
        code, out, err = await run_cli(config, "ledger", *args, "--reason", "x")
        assert code == 1, (args, out)
        [line] = err.splitlines()
        assert line.startswith("error: ") and expected in line, line
    code, _, err = await run_cli(config, "ledger", "grant", "--guild", str(GUILD), "1.5",
                                 "--reason", "x")
    assert code == 2 and "invalid int value" in err
