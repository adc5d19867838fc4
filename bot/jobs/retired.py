"""Models the provider said are retired or unknown: the owner of the ``retired_models`` table.

A model is marked the first time a job of it fails that way (a generate refused on ``model``,
or a running job failing with the provider's "model not found"), and stays refused for new
requests until an operator restores it (``sora-bot models --restore ID``), in case it was a
blip. Marking is one ``INSERT … ON CONFLICT DO NOTHING``: under any number of concurrent
failures exactly one caller marks it, and only that one writes the audit entry (in the same
transaction) and raises the operator's log alert.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.audit.trail import AuditLog
from bot.clock import Clock, from_db_time, to_db_time
from bot.db.database import Database, Row
from bot.db.errors import explain, translate


@dataclass(frozen=True, slots=True)
class RetiredModel:
    model: str
    retired_at: datetime
    #: What the provider said (its error text), for the operator.
    detail: str
    #: The job whose failure showed it, if any.
    job_id: str | None

    @classmethod
    def from_row(cls, row: Row) -> RetiredModel:
        at = from_db_time(row["retired_at"])
        assert at is not None
        return cls(str(row["model"]), at, str(row["detail"]), row["job_id"])


def operator_advice(model: str) -> str:
    """What an operator should do about a model the provider refused (one sentence)."""
    return (f"remove {model!r} from [video] enabled (and [apiframe] model if /sora uses it), "
            f"or run `sora-bot models --restore {model}` if this was a passing error")


def _audit_text(model: str, job_id: str | None, detail: str) -> str:
    job = f" (job `{job_id}`)" if job_id else ""
    return (f"⚠️ The video service says model `{model}` is retired or unknown{job}: "
            f"\"{detail[:200]}\". Its running jobs are refunded and members can no longer "
            "choose it. Bot operator: " + operator_advice(model) + ".")


class RetiredModels:
    """Mark, list and restore the models the provider refused."""

    def __init__(self, db: Database, clock: Clock, audit: AuditLog) -> None:
        self._db, self._clock, self._audit = db, clock, audit

    async def mark(
        self, model: str, detail: str, *, job_id: str | None, guild_id: int | None
    ) -> RetiredModel | None:
        """Mark ``model`` retired; the new mark, or None if it was already marked.

        With ``guild_id`` (the guild whose job hit it), the first mark is also an audit entry
        of that guild, written in the same transaction.
        """
        text = (detail or "no detail given")[:1000]
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                "INSERT INTO retired_models (model, retired_at, detail, job_id)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (model) DO NOTHING RETURNING *",
                (model, to_db_time(self._clock()), text, job_id),
            )
            if row is None:
                return None
            if guild_id is not None:
                await self._audit.record(tx, guild_id, _audit_text(model, job_id, text))
        return RetiredModel.from_row(row)

    async def all(self) -> dict[str, RetiredModel]:
        """Every marked model by id."""
        rows = await self._db.fetchall(
            "SELECT * FROM retired_models ORDER BY retired_at, model", ())
        return {str(row["model"]): RetiredModel.from_row(row) for row in rows}

    async def ids(self) -> frozenset[str]:
        rows = await self._db.fetchall("SELECT model FROM retired_models", ())
        return frozenset(str(row["model"]) for row in rows)

    async def restore(self, model: str) -> RetiredModel | None:
        """Clear ``model``'s mark; the mark removed, or None if it had none."""
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                "DELETE FROM retired_models WHERE model = ? RETURNING *", (model,))
        return RetiredModel.from_row(row) if row is not None else None


def read_retired(path: Path) -> dict[str, RetiredModel]:
    """The marks in the database file, read without writing anything (``sora-bot models`` and
    ``check`` may run beside the bot, or before its first start): {} if there is no file yet
    or its schema predates the table. A :class:`bot.db.errors.DatabaseError` if unreadable.
    """
    if not path.exists():
        return {}
    # As bot/db/check.py does: without a -wal file nobody has it open, so read it "immutable"
    # (no -wal/-shm files left behind); with one, a running bot may be writing.
    immutable = not Path(f"{path}-wal").exists()
    uri = path.resolve().as_uri() + "?mode=ro" + ("&immutable=1" if immutable else "")
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            known = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                                 " AND name = 'retired_models'").fetchone()
            rows = conn.execute("SELECT * FROM retired_models ORDER BY retired_at, model"
                                ).fetchall() if known else []
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise explain(path, translate(exc)) from None
    return {str(row["model"]): RetiredModel.from_row(dict(row)) for row in rows}
