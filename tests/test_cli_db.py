"""``sora-bot db migrate-to``: a SQLite store copied into PostgreSQL, verified, and refused
where it would lose or mix data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.config import load_settings
from bot.db.database import Database
from bot.db.postgres import PostgresDatabase
from tests.conftest import run_cli
from tests.conftest_ledger import journal_sum, stored_balance
from tests.support.clock import FakeClock
from tests.support.postgres import PASSWORD, PgServer
from tests.support.stores import build_stores, make_job

GUILD, OTHER = 111_111_111_111_111_111, 222_222_222_222_222_222


async def _fill(config: Path) -> None:
    settings = load_settings(config, env={})
    db = await Database.open(settings.database.path)
    try:
        stores = build_stores(db, settings, FakeClock())
        await stores.ledger.grant(GUILD, 100, actor="user:1", reason="launch")
        await stores.ledger.grant(OTHER, 50, actor="user:1", reason=None)
        await stores.policy.update(GUILD, actor="user:1", daily_cap=60)
        for n in range(3):
            await stores.jobs.create(make_job(guild_id=GUILD, user_id=7 + n),
                                     max_per_guild=10, max_per_member=10)
        await stores.policy.set_roles(GUILD, [42, 43], actor="user:1")
        first = (await db.fetchall("SELECT id FROM jobs ORDER BY created_at, id"))[0]["id"]
        await stores.ledger.refund(str(first), actor="system", reason="failed")
    finally:
        await db.close()


async def test_migrate_to_copies_every_guild_and_job_and_checks_the_books(
    write_config: Callable[..., Path], pg_server: PgServer
) -> None:
    config = write_config()
    await _fill(config)
    url = await pg_server.create_database()
    code, out, err = await run_cli(config, "db", "migrate-to", url)
    assert code == 0, err
    assert "verified: 2 guild(s), each balance == sum of its journal" in out
    assert PASSWORD not in out + err

    async with await PostgresDatabase.connect(url) as db:
        assert await stored_balance(db, GUILD) == await journal_sum(db, GUILD) == 100 - 24
        assert await stored_balance(db, OTHER) == await journal_sum(db, OTHER) == 50
        jobs = await db.fetchall("SELECT state FROM jobs")
        assert len(jobs) == 3
        settings = load_settings(config, env={})
        stores = build_stores(db, settings, FakeClock())
        policy = await stores.policy.get(GUILD)
        assert policy.daily_cap == 60 and policy.allowed_role_ids == {42, 43}
        # The journal's ids go on after the copied ones, and a copied refund stays single.
        entry = await stores.ledger.grant(OTHER, 1, actor="user:1", reason="after the move")
        copied = await db.fetchone("SELECT MAX(id) AS top FROM ledger_journal WHERE id < ?",
                                   (entry.id,))
        assert copied is not None and entry.id == copied["top"] + 1
        refunded = await db.fetchone("SELECT job_id FROM ledger_journal WHERE kind = 'refund'")
        assert refunded is not None
        assert await stores.ledger.refund(str(refunded["job_id"]), actor="system",
                                          reason=None) is None

    code, out, err = await run_cli(config, "db", "migrate-to", url)
    assert code == 1
    assert err.count("\n") == 1 and "is not empty" in err and PASSWORD not in err


async def test_migrate_to_refuses_in_one_line_without_the_password(
    write_config: Callable[..., Path], pg_server: PgServer, tmp_path: Path
) -> None:
    config = write_config()
    code, _, err = await run_cli(config, "db", "migrate-to", pg_server.url("x"))
    assert code == 1 and "does not exist: there is nothing to migrate" in err
    await _fill(config)
    for url, says in (
        ("mysql://sora:hunter2@db/sora", "the target URL must start with postgresql://"),
        ("postgresql://sora:hunter2@127.0.0.1:1/sora", "PostgreSQL at 127.0.0.1:1 is unreachable"),
    ):
        code, _, err = await run_cli(config, "db", "migrate-to", url)
        assert code == 1 and says in err, err
        assert err.count("\n") == 1 and "hunter2" not in err
