"""``sora-bot db migrate-to postgresql://…``: move the bot's SQLite file to PostgreSQL.

Every table is copied as it is (balances, the whole journal, jobs, guild settings, held
requests, the audit outbox, retired models, open acknowledgements), not only unfinished jobs:
the max_balance rule counts a reserve as held until its job's row says it was delivered, so a
delivered job left behind would turn into held credits on the new server. Only duty leases,
which belong to running processes, stay behind.

The source is read inside one SQLite write transaction (a consistent snapshot; a bot still
running on the file waits), and the target is written in one PostgreSQL transaction, checked
before COMMIT: the same rows per table, and per guild balance == Σ journal == the source's
balance. Anything else rolls back and the target stays empty. A target that already holds
data is refused.
"""

from __future__ import annotations

from typing import TextIO

from bot.cli_ops import OperatorError
from bot.config import Settings
from bot.db.database import Database, DatabaseError, Row, Transaction
from bot.db.pg_text import parse_url
from bot.db.postgres import PostgresDatabase

#: Parents before children (the journal and the policy lists refer to their guild's row).
TABLES = ("guild_balances", "ledger_journal", "guild_policies", "guild_policy_roles",
          "guild_policy_channels", "audit_settings", "audit_events", "jobs",
          "pending_requests", "open_acks", "retired_models", "entitlements", "pack_offers",
          # Content-policy strikes, cooldowns, strike settings and word lists (0016).
          "member_strikes", "member_cooldowns", "guild_strike_rules", "guild_words",
          # Each guild's language, for cards a process without the gateway posts (0017).
          "guild_locales")
#: Identity columns whose sequence must continue after the copied ids.
_IDENTITIES = ("ledger_journal", "audit_events")
_BATCH = 200


async def migrate_to(settings: Settings, url: str, out: TextIO) -> int:
    if settings.database.url is not None:
        raise OperatorError("the config already points at PostgreSQL (database.url); "
                            "migrate-to copies the SQLite file named by database.path")
    path = settings.database.path
    if not path.exists():
        raise OperatorError(f"{path} does not exist: there is nothing to migrate")
    try:
        target_name = str(parse_url(url))
    except ValueError as exc:
        raise OperatorError(str(exc).replace("database.url", "the target URL")) from None
    source = await Database.open(path, busy_timeout_ms=settings.database.busy_timeout_ms)
    try:
        try:
            target = await PostgresDatabase.connect(url)
        except DatabaseError as exc:  # one line naming the server, not the SQLite file
            raise OperatorError(str(exc)) from None
        try:
            if target.schema_version != source.schema_version:
                raise OperatorError(
                    f"{path} is at schema {source.schema_version}, {target_name} at "
                    f"{target.schema_version}: run the same release on both")
            async with source.transaction() as src, target.transaction() as dst:
                counts = await _copy(src, dst, target_name)
                guilds = await _verify(src, dst, counts)
        finally:
            await target.close()
    finally:
        await source.close()
    copied = ", ".join(f"{n} {table}" for table, n in counts.items() if n)
    print(f"copied {path} to {target_name}: {copied or 'no rows'}", file=out)
    print(f"verified: {guilds} guild(s), each balance == sum of its journal", file=out)
    print(f"next: set database.url to {target_name} (with its password) and remove "
          "database.path", file=out)
    return 0


async def _copy(src: Transaction, dst: Transaction, target: str) -> dict[str, int]:
    for table in TABLES:
        if await dst.fetchone(f"SELECT 1 AS x FROM {table} LIMIT 1"):  # noqa: S608
            raise OperatorError(f"{target} is not empty ({table} has rows); migrate into a "
                                "new, empty database")
    counts: dict[str, int] = {}
    for table in TABLES:
        rows = await src.fetchall(f"SELECT * FROM {table}")  # noqa: S608
        counts[table] = len(rows)
        if rows:
            await _insert(dst, table, rows)
    for table in _IDENTITIES:
        await dst.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608
            f" COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)")
    return counts


async def _insert(dst: Transaction, table: str, rows: list[Row]) -> None:
    columns = list(rows[0])
    names = ", ".join(columns)
    one = "(" + ", ".join("?" * len(columns)) + ")"
    for start in range(0, len(rows), _BATCH):
        chunk = rows[start:start + _BATCH]
        await dst.execute(
            f"INSERT INTO {table} ({names}) VALUES "  # noqa: S608
            + ", ".join([one] * len(chunk)),
            [row[c] for row in chunk for c in columns])


_BOOKS = ("SELECT b.guild_id, b.balance, COALESCE(SUM(j.delta), 0) AS total"
          " FROM guild_balances AS b LEFT JOIN ledger_journal AS j ON j.guild_id = b.guild_id"
          " GROUP BY b.guild_id, b.balance ORDER BY b.guild_id")


async def _verify(src: Transaction, dst: Transaction, counts: dict[str, int]) -> int:
    for table, expected in counts.items():
        row = await dst.fetchone(f"SELECT COUNT(*) AS n FROM {table}")  # noqa: S608
        if row is None or int(row["n"]) != expected:
            raise OperatorError(f"{table}: {expected} rows read but "
                                f"{row and row['n']} written; nothing was committed")
    before = {int(r["guild_id"]): int(r["balance"]) for r in await src.fetchall(_BOOKS)}
    after = await dst.fetchall(_BOOKS)
    for row in after:
        guild, balance, total = int(row["guild_id"]), int(row["balance"]), int(row["total"])
        if balance != total or before.get(guild) != balance:
            raise OperatorError(
                f"guild {guild}: balance {balance}, journal sum {total}, source balance "
                f"{before.get(guild)}; nothing was committed")
    if len(after) != len(before):
        raise OperatorError("the guild balances differ in number; nothing was committed")
    return len(after)
