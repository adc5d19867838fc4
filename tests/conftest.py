"""Shared fixtures: the stores on a real database file, both loopback fakes, and a config file
that points the bot at them.

A test module changes the stores' settings (or the clock's start) by overriding the
``settings`` (or ``clock``) fixture; everything built on them follows.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.audit.trail import AuditLog
from bot.budget import BudgetService
from bot.config import Settings
from bot.db.database import Database
from bot.db.postgres import PostgresDatabase
from bot.jobs.store import JobStore
from bot.ledger.store import Ledger
from bot.policy.store import PolicyStore
from tests.fakes.apiframe import FakeApiframe
from tests.fakes.apiframe_testkit import KEY as TESTKIT_KEY
from tests.fakes.discord import FakeDiscord
from tests.support.clock import FakeClock
from tests.support.postgres import PgServer, session_server, unavailable
from tests.support.stores import Stores, build_stores, settings_with

DISCORD_TOKEN = "MTAx.fake-bot-token.for-tests-only"
APIFRAME_KEY = "afk_test_key_0000000000000000"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: runs on SQLite alone where a folder runs tests on both "
        "backends (it reads the file with sqlite3, or tests SQLite's own behaviour)")


@pytest.fixture(scope="session")
def pg_session() -> Iterator[PgServer | str]:
    """The session's throwaway PostgreSQL (started on first use), or why there is none."""
    yield from session_server()


@pytest.fixture
def pg_server(pg_session: PgServer | str) -> PgServer:
    if isinstance(pg_session, str):
        unavailable(pg_session)
    assert isinstance(pg_session, PgServer)
    return pg_session


@pytest.fixture
def backend() -> str:
    """Which backend ``db`` opens: SQLite, unless a folder's conftest parametrizes this over
    both (tests.support.postgres.both_backends), or ``SORA_TEST_BACKEND=postgresql`` sends
    every other test that opens it to PostgreSQL."""
    return os.environ.get("SORA_TEST_BACKEND", "sqlite")


@pytest.fixture
async def db(tmp_path: Path, backend: str, request: pytest.FixtureRequest
             ) -> AsyncIterator[Database]:
    """A migrated database (a real file, or a new database on a real PostgreSQL server),
    closed after the test."""
    if backend == "postgresql":
        server: PgServer = request.getfixturevalue("pg_server")
        url = await server.create_database()
        database: Database = await PostgresDatabase.connect(url)
    else:
        database = await Database.open(tmp_path / "store.sqlite3")
    try:
        yield database
    finally:
        await database.close()
        if backend == "postgresql":
            await server.drop_database(url)


@pytest.fixture
def clock() -> FakeClock:
    """Stands at ``tests.support.clock.T0`` until the test moves it."""
    return FakeClock()


@pytest.fixture
def settings() -> Settings:
    """The config's defaults (no starting credits, a 1,000,000 balance limit)."""
    return settings_with()


@pytest.fixture
def stores(db: Database, settings: Settings, clock: FakeClock) -> Stores:
    return build_stores(db, settings, clock)


@pytest.fixture
def ledger(stores: Stores) -> Ledger:
    return stores.ledger


@pytest.fixture
def audit(stores: Stores) -> AuditLog:
    return stores.audit


@pytest.fixture
def policy(stores: Stores) -> PolicyStore:
    return stores.policy


@pytest.fixture
def jobs(stores: Stores) -> JobStore:
    return stores.jobs


@pytest.fixture
def budget(stores: Stores) -> BudgetService:
    return stores.budget


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client, for tests that speak to a fake on the wire themselves."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def fake() -> AsyncIterator[FakeApiframe]:
    """The fake Apiframe on its own, with a small team balance (modules may override)."""
    async with FakeApiframe(api_key=TESTKIT_KEY, credits=1_000) as server:
        yield server


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(token=DISCORD_TOKEN)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def fake_apiframe() -> AsyncIterator[FakeApiframe]:
    fake = FakeApiframe(api_key=APIFRAME_KEY, credits=10_000)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def render_toml(sections: dict[str, dict[str, Any]]) -> str:
    """A tiny TOML writer for flat tables of strings, numbers, booleans and lists of those."""
    lines: list[str] = []
    for name, table in sections.items():
        lines.append(f"[{name}]")
        for key, value in table.items():
            if isinstance(value, bool):
                rendered = "true" if value else "false"
            elif isinstance(value, int | float):
                rendered = repr(value)
            elif isinstance(value, list | tuple):
                rendered = "[" + ", ".join(
                    repr(int(v)) if isinstance(v, int) else f'"{v}"' for v in value) + "]"
            else:
                rendered = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
            lines.append(f"{key} = {rendered}")
        lines.append("")
    return "\n".join(lines)


@pytest.fixture
def write_config(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> Callable[..., Path]:
    """Write a config.toml pointing at both fakes; keyword tables override sections."""

    def write(**overrides: dict[str, Any]) -> Path:
        sections: dict[str, dict[str, Any]] = {
            "discord": {
                "token": DISCORD_TOKEN,
                "api_base_url": fake_discord.api_base_url,
                "gateway_url": fake_discord.gateway_url,
            },
            "apiframe": {
                "api_key": APIFRAME_KEY,
                "base_url": fake_apiframe.base_url,
                "request_timeout_seconds": 5,
                # Both fakes live on 127.0.0.1: the fake CDN's host and loopback addresses are
                # allowed here on purpose, never by default.
                "download_hosts": ["127.0.0.1"],
                "allow_private_addresses": True,
                # Jobs looked at from the start: most tests move Apiframe's clock apart from
                # the bot's (tests/worker/test_expected_time.py moves both and turns it on).
                "expected_time_polling": False,
            },
            "database": {"path": str(tmp_path / "data" / "bot.sqlite3")},
            "logging": {"level": "DEBUG"},
        }
        for name, table in overrides.items():
            sections.setdefault(name, {}).update(table)
        path = tmp_path / "config.toml"
        path.write_text(render_toml(sections), encoding="utf-8")
        return path

    return write


@dataclass
class BotProcess:
    """``python -m bot`` as a child process whose stderr is collected as it arrives."""

    proc: asyncio.subprocess.Process
    stderr_lines: list[str] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.stderr_lines.append(raw.decode("utf-8", "replace"))

    async def wait_for_log(self, text: str, timeout: float = 20.0) -> None:
        async def poll() -> None:
            while text not in self.stderr:
                if self.proc.returncode is not None:
                    raise AssertionError(f"bot exited ({self.proc.returncode}):\n{self.stderr}")
                await asyncio.sleep(0.05)

        try:
            await asyncio.wait_for(poll(), timeout)
        except TimeoutError:
            raise AssertionError(f"{text!r} not logged within {timeout}s:\n{self.stderr}") from None

    async def wait(self, timeout: float = 20.0) -> int:
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        if self._reader is not None:
            await self._reader
        return code


def child_env() -> dict[str, str]:
    """The environment minus the secret overrides, so only the config file counts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SORA_BOT_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def _spawn(config: Path, args: tuple[str, ...]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=child_env(),
    )


async def start_bot(config: Path, *args: str) -> BotProcess:
    proc = await _spawn(config, args)
    bot = BotProcess(proc)
    bot._reader = asyncio.create_task(bot._read())
    return bot


async def run_cli(config: Path, *args: str, timeout: float = 30.0) -> tuple[int, str, str]:
    """Run one CLI command to completion; return (exit code, stdout, stderr)."""
    proc = await _spawn(config, args)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def start(
    fake_discord: FakeDiscord,
    fake_apiframe: FakeApiframe,
    write_config: Callable[..., Path],
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """Start an in-process bot against both fakes (see tests/sora_harness.py).

    After the test: no secret or interaction token reached the log, and every request the bot
    sent and every answer the fake gave matched Discord's OpenAPI document.
    """
    # Imported here: the harness itself imports this module's constants.
    from tests.sora_harness import harness_factory, leaked_secrets

    caplog.set_level(logging.INFO)  # the bot's default level
    async with harness_factory(fake_discord, fake_apiframe, write_config) as starter:
        yield starter
    assert leaked_secrets(caplog.text, fake_discord) == []
    assert fake_discord.validation_errors == []
    assert fake_discord.response_schema_errors == []
