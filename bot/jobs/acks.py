"""Acknowledged interactions that have no job yet (the owner of the ``open_acks`` table; whether
an interaction has a job, it asks the jobs table's owner, :func:`bot.jobs.store.has_job`).

From just before the public "thinking…" acknowledgement to the job row there is slow work
(reading and uploading a start image). A process killed there charged nothing, but the member's
placeholder would think forever; the next run finds the row and says so. The row is removed in
the transaction that writes the job (:meth:`AckStore.close_in`), so no run can see a job
without its acknowledgement closed, nor a closed acknowledgement without a job or a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.clock import Clock, to_db_time
from bot.db.database import Database, Transaction
from bot.jobs.store import has_job


@dataclass(frozen=True, slots=True)
class OpenAck:
    interaction_id: int
    application_id: int
    token: str
    expires_at: datetime

    def __repr__(self) -> str:  # the token is a credential
        return f"<OpenAck {self.interaction_id}>"


class AckStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db, self._clock = db, clock

    async def open(self, ack: OpenAck) -> None:
        async with self._db.transaction() as tx:
            # ON CONFLICT, not SQLite's INSERT OR REPLACE: both backends take it.
            await tx.execute(
                "INSERT INTO open_acks (interaction_id, application_id, token,"
                " expires_at, created_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (interaction_id) DO UPDATE SET application_id ="
                " excluded.application_id, token = excluded.token,"
                " expires_at = excluded.expires_at, created_at = excluded.created_at",
                (ack.interaction_id, ack.application_id, ack.token,
                 to_db_time(ack.expires_at), to_db_time(self._clock())),
            )

    async def close(self, interaction_id: int) -> None:
        async with self._db.transaction() as tx:
            await self.close_in(tx, interaction_id)

    @staticmethod
    async def close_in(tx: Transaction, interaction_id: int) -> None:
        """Forget the acknowledgement inside ``tx`` (the job row's transaction)."""
        await tx.execute("DELETE FROM open_acks WHERE interaction_id = ?", (interaction_id,))

    async def orphans(self) -> list[OpenAck]:
        """Acknowledgements left by an earlier run that never became a job."""
        rows = await self._db.fetchall(
            f"SELECT * FROM open_acks AS a WHERE NOT {has_job('a.interaction_id')}"  # noqa: S608
            " ORDER BY created_at"
        )
        return [
            OpenAck(int(r["interaction_id"]), int(r["application_id"]), str(r["token"]),
                    datetime.fromisoformat(r["expires_at"]))
            for r in rows
        ]

    async def forget_recorded(self) -> None:
        """Drop rows whose job was written (a run killed just before closing them)."""
        async with self._db.transaction() as tx:
            await tx.execute(
                f"DELETE FROM open_acks WHERE {has_job('open_acks.interaction_id')}"  # noqa: S608
            )
