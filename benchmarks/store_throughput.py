"""Transactions per second of the /sora reserve (``JobStore.create``) and of ``Ledger.reserve``,
each against plain ``sqlite3`` doing the same writes in the same run.

Run from the repository root::

    .venv/bin/python benchmarks/store_throughput.py [transactions] [rounds]

Every configuration gets its own fresh database file, migrated by the bot (so the ledger's
triggers and indexes are there for the baseline too), with the same durability: WAL and
``synchronous = FULL`` (one fsync per commit). One caller, one transaction after another:

- plain ``sqlite3``, reserve + journal: ``BEGIN IMMEDIATE``, the conditional balance
  ``UPDATE … RETURNING``, the journal ``INSERT``, ``COMMIT`` (the baseline of Ledger.reserve);
- plain ``sqlite3``, reserve + journal + job row: the same plus the ``jobs`` ``INSERT`` (the
  baseline of JobStore.create, which also checks the guild's policy and in-flight limits and
  writes an audit event in that transaction);
- ``Ledger.reserve`` and ``JobStore.create`` as the bot calls them.

Jobs are spread over 50 guilds so the in-flight counts stay realistic. The ratio printed is
the bot's transactions/s over the baseline's (1.00x: as fast as plain sqlite3).
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.audit.trail import AuditLog  # noqa: E402
from bot.config import parse_settings  # noqa: E402
from bot.db.database import Database  # noqa: E402
from bot.jobs.store import JobDeliveries, JobHistory, JobStore  # noqa: E402
from bot.ledger.store import Ledger  # noqa: E402
from bot.policy.store import PolicyStore  # noqa: E402
from bot.request import Origin, VideoOptions, VideoRequest  # noqa: E402

GUILDS = 50
PRICE = 12
RICH = 10**12
SETTINGS = parse_settings(
    {"discord": {"token": "x.y.z"}, "apiframe": {"api_key": "afk_bench"},
     "ledger": {"starting_credits": RICH, "max_balance": 2 * RICH}},
    env={},
)


def now() -> datetime:
    return datetime.now(UTC)


def guild_of(i: int) -> int:
    return 100_000_000_000_000_000 + i % GUILDS


def request(i: int) -> VideoRequest:
    origin = Origin(
        guild_id=guild_of(i), channel_id=2002, user_id=7 + i % 997, role_ids=(),
        application_id=3003, interaction_id=10_000 + i, interaction_token="bench-token",  # noqa: S106
        token_expires_at=now() + timedelta(minutes=15), attachment_size_limit=10 << 20,
    )
    return VideoRequest(origin=origin, model="sora-2-pro",
                        options=VideoOptions.sora("a cat", 4, "16:9", "standard"), price=PRICE)


async def fresh(folder: Path, name: str) -> Database:
    return await seed(await Database.open(folder / f"{name}.sqlite3"))


async def seed(db: Database) -> Database:
    """Every guild exists first (as in a running bot), with plenty of credits (either
    backend: benchmarks/store_pg.py seeds PostgreSQL with it too)."""
    async with db.transaction() as tx:
        for i in range(GUILDS):
            t = now().isoformat()
            await tx.execute(
                "INSERT INTO guild_balances (guild_id, balance, created_at, updated_at)"
                " VALUES (?, ?, ?, ?)", (guild_of(i), RICH, t, t))
            await tx.execute(
                "INSERT INTO ledger_journal (guild_id, kind, delta, balance_after, actor,"
                " created_at) VALUES (?, 'initial', ?, ?, 'system', ?)",
                (guild_of(i), RICH, RICH, t))
    return db


JOB_INSERT = (
    "INSERT INTO jobs (id, guild_id, channel_id, user_id, application_id,"
    " interaction_id, interaction_token, token_expires_at, status_message_id,"
    " attachment_size_limit, model, prompt, duration, aspect_ratio, resolution,"
    " start_image_url, price, idempotency_key, state, next_action_at, deadline_at,"
    " created_at, updated_at, start_image_note, params)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING *"
)


def plain(path: Path, count: int, with_job: bool) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    for pragma in ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON",
                   "busy_timeout = 5000"):
        conn.execute(f"PRAGMA {pragma}")
    started = time.perf_counter()
    for i in range(count):
        job_id, guild, t = uuid.uuid4().hex, guild_of(i), now().isoformat()
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute(
            "UPDATE guild_balances SET balance = balance - ?, updated_at = ?"
            " WHERE guild_id = ? AND balance >= ? RETURNING balance",
            (PRICE, t, guild, PRICE)).fetchone()
        dict(conn.execute(
            "INSERT INTO ledger_journal (guild_id, kind, delta, balance_after, actor, reason,"
            " job_id, created_at) VALUES (?, 'reserve', ?, ?, ?, ?, ?, ?) RETURNING *",
            (guild, -PRICE, row["balance"], "user:7", "sora-2-pro 4s", job_id, t)).fetchone())
        if with_job:
            r = request(i)
            dict(conn.execute(JOB_INSERT, (
                job_id, guild, 2002, r.user_id, 3003, 10_000 + i, "bench-token", t, None,
                10 << 20, "sora-2-pro", "a cat", 4, "16:9", "standard", None, PRICE,
                f"sora-{job_id}", "reserved", t, t, t, t, None, r.options.to_json(),
            )).fetchone())
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return count / elapsed


def operations(db: Database) -> dict[str, Callable[[int], Awaitable[object]]]:
    """The two transactions measured, as the bot calls them; ``i`` picks guild and member."""
    ledger = Ledger.from_config(db, SETTINGS.ledger, held_jobs=JobDeliveries(), clock=now)
    policy = PolicyStore(db, settings=SETTINGS, clock=now, jobs=JobHistory())
    jobs = JobStore(db, ledger, timeout=timedelta(hours=1), clock=now, policy=policy,
                    audit=AuditLog(db, now))
    return {
        "reserve": lambda i: ledger.reserve(guild_of(i), PRICE, job_id=uuid.uuid4().hex,
                                            actor="user:7", reason="sora-2-pro 4s"),
        "create": lambda i: jobs.create(request(i), max_per_guild=10**6, max_per_member=10**6),
    }


async def bot_rate(db: Database, name: str, count: int) -> float:
    run = operations(db)[name]
    started = time.perf_counter()
    for i in range(count):
        await run(i)
    return count / (time.perf_counter() - started)


async def measure(folder: Path, count: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    for name in ("plain-reserve", "plain-create", "reserve", "create"):
        db = await fresh(folder, name)
        try:
            if not name.startswith("plain"):
                figures[name] = await bot_rate(db, name, count)
        finally:
            await db.close()
        if name.startswith("plain"):
            figures[name] = plain(folder / f"{name}.sqlite3", count, name == "plain-create")
    return figures


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(measure(Path(tmp) / "warm", 50))  # warm-up: imports, page cache
        for run in range(rounds):
            # Each round measures the baselines and the bot back to back, so a ratio compares
            # like with like on a shared machine; the figure is the median round's.
            runs.append(asyncio.run(measure(Path(tmp) / str(run), count)))
    print(f"{count} transactions each, one caller, WAL + synchronous=FULL, {rounds} rounds"
          " (median; range across rounds)\n")
    print(f"{'configuration':<44} {'tx/s':>8} {'vs baseline':>12} {'range':>12}")
    rows = (
        ("plain sqlite3: reserve + journal (baseline)", "plain-reserve", "plain-reserve"),
        ("Ledger.reserve", "reserve", "plain-reserve"),
        ("plain sqlite3: + job row (baseline)", "plain-create", "plain-create"),
        ("JobStore.create", "create", "plain-create"),
    )
    for label, name, base in rows:
        ratios = sorted(r[name] / r[base] for r in runs)
        rate = statistics.median(r[name] for r in runs)
        print(f"{label:<44} {rate:>8.0f} {statistics.median(ratios):>11.2f}x "
              f"{ratios[0]:>5.2f}-{ratios[-1]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
