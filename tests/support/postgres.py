"""A throwaway PostgreSQL 15 server for the test session, and one fresh database per test.

The server runs as the ``postgres`` user (``initdb`` refuses root) in a temporary folder, on
a free port, with its socket in that folder; it stops and the folder goes at the session's
end. With ``SORA_TEST_PG_URL`` set (a server whose user may CREATE DATABASE), that server is
used instead. Without either, PostgreSQL tests fail in CI (``CI=true``) and are skipped with
the reason elsewhere.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from bot.db.database import Database
from bot.db.postgres import PostgresDatabase

BIN = Path(os.environ.get("SORA_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
#: The password of the throwaway server's superuser (TCP logins need it: scram-sha-256).
PASSWORD = "test-only-secret"
BACKENDS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class PgServer:
    """Where the session's server is: ``admin_url`` names its maintenance database."""

    admin_url: str

    def url(self, database: str) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path=f"/{database}"))

    @property
    def port(self) -> int:
        return urlsplit(self.admin_url).port or 5432

    async def create_database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)

    async def drop_database(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_postgres(*argv: str) -> list[str]:
    # initdb and postgres refuse to run as root; as another user they run as that user.
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[-3:])} failed: {done.stderr.strip()[-500:]}")


@dataclass
class _Started:
    server: PgServer
    folder: Path


def _start(*, durable: bool = False) -> _Started:
    if not (BIN / "initdb").exists():
        raise RuntimeError(f"no PostgreSQL server binaries in {BIN} (apt install "
                           "postgresql-15, or set SORA_TEST_PG_URL)")
    folder = Path(tempfile.mkdtemp(prefix="sora-pg-"))
    try:
        data, pwfile = folder / "data", folder / "pw"
        pwfile.write_text(PASSWORD, encoding="utf-8")
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        _run(_as_postgres(str(BIN / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8",
                          "--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256",
                          f"--pwfile={pwfile}"))
        port = _free_port()
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=300"
        if not durable:
            # Durability is not under test here; fsync off makes every COMMIT cheap.
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        _run(_as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"),
                          "-o", options, "-w", "-t", "60", "start"))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/postgres"
    return _Started(PgServer(url), folder)


def _stop(started: _Started) -> None:
    try:
        _run(_as_postgres(str(BIN / "pg_ctl"), "-D", str(started.folder / "data"),
                          "-m", "immediate", "-w", "stop"))
    finally:
        shutil.rmtree(started.folder, ignore_errors=True)


def unavailable(reason: str) -> None:
    """Fail in CI (a PostgreSQL test must not silently not run there), skip elsewhere."""
    message = f"PostgreSQL unavailable for the tests: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@contextmanager
def throwaway_server(*, durable: bool = False) -> Iterator[PgServer]:
    """A server for a script (benchmarks): ``durable`` keeps fsync and synchronous commit on,
    as a production server runs."""
    started = _start(durable=durable)
    try:
        yield started.server
    finally:
        _stop(started)


def session_server() -> Iterator[PgServer | str]:
    """The body of the session fixture: the server, or why there is none."""
    external = os.environ.get("SORA_TEST_PG_URL")
    if external:
        yield PgServer(external)
        return
    try:
        started = _start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        yield str(exc)
        return
    try:
        yield started.server
    finally:
        _stop(started)


def both_backends(metafunc: pytest.Metafunc) -> None:
    """For a folder's ``pytest_generate_tests``: every test there that opens ``db`` runs on
    SQLite and on PostgreSQL, except those marked ``sqlite_only`` and those that choose
    their backend themselves (``@pytest.mark.parametrize("backend", [...])``)."""
    if ("backend" not in metafunc.fixturenames
            or metafunc.definition.get_closest_marker("sqlite_only") is not None):
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0]
        if "backend" in ([n.strip() for n in names.split(",")] if isinstance(names, str)
                         else list(names)):
            return
    metafunc.parametrize("backend", BACKENDS)


async def open_again(db: Database, *, busy_timeout_ms: int = 5000) -> Database:
    """A second connection to ``db``'s store, as another process would open it."""
    if isinstance(db, PostgresDatabase):
        return await db.connect_again(busy_timeout_ms=busy_timeout_ms)
    return await Database.open(db.path, busy_timeout_ms=busy_timeout_ms)
