"""What an operator sees when start-up or a CLI command fails: one line naming what to fix.

Every test runs ``python -m bot`` as a real subprocess (tests/conftest.py ``run_cli``) against
the loopback fakes, real SQLite files and, where needed, a loopback proxy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.db.database import Database, load_migrations
from bot.jobs.store import JobDeliveries
from bot.ledger.store import Ledger
from tests.conftest import APIFRAME_KEY, DISCORD_TOKEN, run_cli, start_bot
from tests.fakes.apiframe import FakeApiframe
from tests.fakes.discord import FakeDiscord

#: The jobs table's answer to which reserves are still held (the bot wires the same).
HELD = JobDeliveries()

GUILD = 424242424242424242
NEWEST = len(load_migrations())


def one_error_line(err: str) -> str:
    """The single line an operator gets: no traceback, nothing else on stderr."""
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0]


# The bot's own log at its quietest level: what is left on stderr is what the operator sees.
QUIET = {"level": "WARNING"}


def db_path(tmp_path: Path) -> Path:
    """Where ``write_config`` puts the database."""
    return tmp_path / "data" / "bot.sqlite3"


async def make_database(path: Path) -> None:
    db = await Database.open(path)
    try:
        await Ledger(db, held_jobs=HELD, max_balance=1000, starting_credits=5).balance(GUILD)
    finally:
        await db.close()


def corrupt(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 100)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make the database file and its folder unwritable, for root too (immutable flag)."""
    folder = path.parent
    if os.geteuid() != 0:
        for item, mode in ((path, 0o444), (folder, 0o555)):
            item.chmod(mode)
        try:
            yield
        finally:
            folder.chmod(0o755)
            path.chmod(0o644)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)], check=False).returncode:
        pytest.skip("running as root without a working chattr: cannot make a file read-only")
    try:
        subprocess.run([chattr, "+i", str(folder)], check=True)
        try:
            yield
        finally:
            subprocess.run([chattr, "-i", str(folder)], check=True)
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


def set_user_version(path: Path, version: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA user_version = {version:d}")
    finally:
        conn.close()


def guild_rows(path: Path, guild: int) -> tuple[int, int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        balances = conn.execute(
            "SELECT COUNT(*) FROM guild_balances WHERE guild_id = ?", (guild,)
        ).fetchone()[0]
        journal = conn.execute(
            "SELECT COUNT(*) FROM ledger_journal WHERE guild_id = ?", (guild,)
        ).fetchone()[0]
    finally:
        conn.close()
    return int(balances), int(journal)


# --- Discord cannot be reached -----------------------------------------------------------


async def test_run_fails_in_one_line_when_discord_cannot_be_reached(
    write_config: Callable[..., Path],
) -> None:
    config = write_config(discord={"api_base_url": "http://127.0.0.1:9/api/v10"},
                          logging=QUIET)
    code, out, err = await run_cli(config, "run")
    assert code == 1
    assert one_error_line(err) == (
        "error: discord: cannot reach http://127.0.0.1:9/api/v10 (ClientConnectorError); "
        "check discord.api_base_url and the network"
    )
    assert DISCORD_TOKEN not in out + err


async def test_sync_fails_in_one_line_when_discord_cannot_be_reached(
    write_config: Callable[..., Path],
) -> None:
    config = write_config(discord={"api_base_url": "http://127.0.0.1:9/api/v10"})
    code, _, err = await run_cli(config, "sync")
    assert code == 1
    line = one_error_line(err)
    assert line.startswith("error: discord: cannot reach http://127.0.0.1:9/api/v10")


# --- the database file -------------------------------------------------------------------


@pytest.mark.parametrize(
    "args", [("run",), ("ledger", "grant", "--guild", str(GUILD), "5", "--reason", "x"),
             ("ledger", "export", "--guild", str(GUILD)), ("check",)],
)
async def test_a_corrupt_database_is_one_line_naming_the_file(
    write_config: Callable[..., Path], tmp_path: Path, args: tuple[str, ...]
) -> None:
    config = write_config(logging=QUIET)
    corrupt(db_path(tmp_path))
    code, _, err = await run_cli(config, *args)
    assert code == 1
    line = one_error_line(err)
    assert str(db_path(tmp_path)) in line
    assert "not a SQLite database or is damaged" in line and "backup" in line


async def test_check_runs_an_integrity_check_on_a_damaged_page(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config()
    path = db_path(tmp_path)
    await make_database(path)
    # Fill every page after the first (the header and schema) with garbage: SQLite still
    # opens the file, only an integrity check finds the damage.
    conn = sqlite3.connect(path)
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with path.open("r+b") as fh:
        fh.seek(page)
        fh.write(b"\xa5" * (path.stat().st_size - page))
    code, _, err = await run_cli(config, "check")
    assert code == 1
    line = one_error_line(err)
    assert str(path) in line and "integrity" in line and "backup" in line


async def test_a_read_only_database_is_one_line_naming_the_file(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config(logging=QUIET)
    path = db_path(tmp_path)
    await make_database(path)
    with read_only(path):
        for args in (("ledger", "grant", "--guild", str(GUILD), "5", "--reason", "x"),
                     ("run",), ("check",)):
            code, _, err = await run_cli(config, *args)
            assert code == 1, args
            line = one_error_line(err)
            assert str(path) in line and "writable" in line, line


async def test_a_newer_schema_is_one_line_naming_the_file(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config(logging=QUIET)
    path = db_path(tmp_path)
    await make_database(path)
    set_user_version(path, NEWEST + 5)
    for args in (("run",), ("ledger", "export", "--guild", str(GUILD)), ("check",)):
        code, _, err = await run_cli(config, *args)
        assert code == 1, args
        line = one_error_line(err)
        assert str(path) in line and f"schema version {NEWEST + 5}" in line, line
        assert "newer release" in line


async def test_check_reports_the_database_schema_and_creates_nothing(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config()
    path = db_path(tmp_path)
    code, out, err = await run_cli(config, "check")
    assert code == 0, err
    assert out.splitlines()[1] == f"database: {path} does not exist yet; it will be created"
    assert not path.exists() and not path.parent.exists(), "check created the database"

    await make_database(path)
    set_user_version(path, NEWEST - 1)
    before = path.read_bytes()
    code, out, err = await run_cli(config, "check")
    assert code == 0, err
    assert out.splitlines()[1] == (
        f"database: ok ({path}), integrity check passed, schema version {NEWEST - 1}"
        f" (1 migration to apply at the next start)"
    )
    assert path.read_bytes() == before, "check migrated or wrote the database"
    assert not Path(f"{path}-wal").exists()


# --- the configuration -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [("discord", "token", "put-your-discord-bot-token-here"),
     ("apiframe", "api_key", "afk_put-your-apiframe-key-here")],
)
async def test_the_example_placeholders_are_refused_offline(
    write_config: Callable[..., Path], fake_discord: FakeDiscord, fake_apiframe: FakeApiframe,
    section: str, key: str, value: str,
) -> None:
    config = write_config(**{section: {key: value}})
    for command in ("check", "run"):
        code, out, err = await run_cli(config, command)
        assert code == 1
        line = one_error_line(err)
        assert line.startswith(f"error: {config}: {section}.{key}: ") and "placeholder" in line
        assert value not in out + err
    assert fake_discord.requests == [] and not fake_discord.identify_payloads
    assert fake_apiframe.requests == []


@pytest.mark.parametrize(
    ("section", "values", "key"),
    [("moderation", {"moderators_can_mint": "yes"}, "moderation.moderators_can_mint"),
     ("moderation", {"moderators_can_mint": "off"}, "moderation.moderators_can_mint"),
     ("apiframe", {"max_retries": "3"}, "apiframe.max_retries"),
     ("database", {"busy_timeout_ms": 2.5}, "database.busy_timeout_ms")],
)
async def test_config_values_are_not_coerced(
    write_config: Callable[..., Path], section: str, values: dict[str, object], key: str
) -> None:
    code, _, err = await run_cli(write_config(**{section: values}), "check")
    assert code == 1
    line = one_error_line(err)
    assert f": {key}: must be " in line, line


async def test_toml_integers_for_seconds_and_strings_for_paths_still_load(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config(apiframe={"request_timeout_seconds": 5, "poll_interval_seconds": 7},
                          moderation={"moderators_can_mint": False, "owner_ids": [1, 2]})
    code, out, err = await run_cli(config, "check")
    assert code == 0, err
    assert str(db_path(tmp_path)) in out


# --- read-only commands write nothing ----------------------------------------------------


async def test_exporting_an_unknown_guild_writes_nothing(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config(ledger={"starting_credits": 7})
    path = db_path(tmp_path)
    code, out, err = await run_cli(config, "ledger", "export", "--guild", str(GUILD))
    assert code == 1 and out == ""
    assert one_error_line(err) == (
        f"error: {path} does not exist yet, so there is no ledger to export "
        "(it is created when the bot first starts)"
    )
    assert not path.exists()

    await make_database(path)
    stranger = GUILD + 1
    code, out, err = await run_cli(config, "ledger", "export", "--guild", str(stranger))
    assert code == 1 and out == ""
    assert one_error_line(err) == (
        f"error: guild {stranger} has no ledger: the bot has never seen it "
        "(check the id); nothing was written"
    )
    assert guild_rows(path, stranger) == (0, 0)

    code, out, err = await run_cli(config, "ledger", "export", "--guild", "0")
    assert code == 1 and out == ""
    assert one_error_line(err) == "error: Guild id must be a positive Discord snowflake."


# --- a proxy answering JSON with a charset -----------------------------------------------


@contextlib.asynccontextmanager
async def charset_proxy(upstream: str) -> AsyncIterator[str]:
    """A REST proxy that labels JSON ``application/json; charset=utf-8``, as many proxies do."""
    session = aiohttp.ClientSession(auto_decompress=False)

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with session.request(request.method, upstream + request.path_qs,
                                   headers=headers, data=body or None) as answer:
            payload = await answer.read()
            out = web.Response(body=payload, status=answer.status)
            for name, value in answer.headers.items():
                if name.lower() not in {"content-length", "transfer-encoding", "content-type",
                                        "date", "server"}:
                    out.headers[name] = value
            kind = answer.headers.get("Content-Type", "")
            out.headers["Content-Type"] = (
                "application/json; charset=utf-8" if kind.startswith("application/json") else kind
            )
            return out

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
        await session.close()


async def test_check_and_run_work_behind_a_proxy_that_adds_a_charset(
    write_config: Callable[..., Path], fake_discord: FakeDiscord, fake_apiframe: FakeApiframe,
    tmp_path: Path,
) -> None:
    async with charset_proxy(fake_discord.base_url) as discord_proxy, \
            charset_proxy(fake_apiframe.base_url) as apiframe_proxy:
        config = write_config(discord={"api_base_url": f"{discord_proxy}/api/v10"},
                              apiframe={"base_url": apiframe_proxy})
        code, out, err = await run_cli(config, "check")
        assert code == 0, err
        lines = out.splitlines()
        assert lines[2].startswith("discord: ok, logged in as")
        assert lines[3].startswith("apiframe: ok")

        fake_discord.add_guild(name="Behind a proxy")
        bot = await start_bot(config, "run")
        try:
            await bot.wait_for_log("Ready as")
        finally:
            bot.proc.terminate()
            await bot.wait()
        assert "Traceback" not in bot.stderr
    assert APIFRAME_KEY not in out + err



# --- the video lineup --------------------------------------------------------------------

VEO_WITH_A_HOLE = '''
[video]
enabled = ["sora-2-pro", "veo-3.1-fast"]

[video.models."veo-3.1-fast"]
price_by = ["resolution", "duration"]
offer = { aspect_ratio = ["16:9", "9:16"] }

[pricing."veo-3.1-fast"]
"720p-4s" = 40
"720p-6s" = 60
"720p-8s" = 80
"1080p-4s" = 60
"1080p-6s" = 90
'''


async def test_a_price_grid_with_a_hole_stops_start_up_in_one_line_naming_the_key(
    write_config: Callable[..., Path], fake_discord: FakeDiscord, fake_apiframe: FakeApiframe,
) -> None:
    config = write_config(logging=QUIET)
    config.write_text(config.read_text(encoding="utf-8") + VEO_WITH_A_HOLE, encoding="utf-8")
    for command in ("run", "check"):
        code, out, err = await run_cli(config, command)
        assert code == 1
        assert one_error_line(err) == (
            f'error: {config}: pricing."veo-3.1-fast": missing prices for 1080p-8s')
        assert APIFRAME_KEY not in out + err
    # Refused before anything is contacted or created.
    assert fake_discord.requests == [] and not fake_discord.identify_payloads
    assert fake_apiframe.requests == []
    assert not (config.parent / "data").exists()
    # The same file with the hole filled starts the checks (and passes them).
    config.write_text(config.read_text(encoding="utf-8") + '"1080p-8s" = 120\n',
                      encoding="utf-8")
    code, out, err = await run_cli(config, "check")
    assert code == 0, err
