"""Acknowledged interactions that have no job yet (the owner of the ``open_acks`` table; whether
an interaction has a job, it asks the jobs table's owner, :func:`bot.jobs.store.has_job`).

From just before the public "thinking…" acknowledgement to the job row there is slow work
(reading and uploading a start image). A process killed there charged nothing, but the member's
placeholder would think forever; the next run finds the row and says so. The row is removed in
the transaction that writes the job (:meth:`AckStore.close_in`), so no run can see a job
without its acknowledgement closed, nor a closed acknowledgement without a job or a refusal.

With several gateway processes on one database, a starting process must not take another
live process's rows for its own orphans (it would tell that process's members their request
failed while it is being worked on). So each row names the process that opened it (``owner``,
a name stable across that process's restarts, such as its shard range), and a starting
process retires only its own rows, rows from before owners were recorded, and anyone's older
than the interaction token's life: by then no process can still answer that interaction.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock, to_db_time
from bot.db.database import Database, Transaction
from bot.jobs.store import has_job

#: Discord's interaction token lives this long; an acknowledgement older than that is nobody's.
TOKEN_LIFE = timedelta(minutes=15)

@dataclass(frozen=True, slots=True)
class OpenAck:
    interaction_id: int
    application_id: int
    token: str
    expires_at: datetime
    #: The member's Discord locale, for the note a lost request leaves (None: English).
    locale: str | None = None

    def __repr__(self) -> str:  # the token is a credential
        return f"<OpenAck {self.interaction_id}>"


class AckStore:
    def __init__(self, db: Database, clock: Clock, *, owner: str = "main") -> None:
        """``owner``: this process's name, the same across its restarts and different from
        every other process that answers interactions on this database."""
        self._db, self._clock, self._owner = db, clock, owner
        #: Acknowledgements waiting for the next write, and the task writing them.
        self._waiting: list[tuple[OpenAck, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def open(self, ack: OpenAck) -> None:
        """Note ``ack`` durably (committed) before the interaction is acknowledged.

        Calls made while a write is under way share the next one (a group commit): a burst of
        interactions is written in a few transactions rather than one each, each of which
        would wait its turn for the write lock, so the last of them would be acknowledged
        hundreds of milliseconds late (benchmarks/ack_burst.py; Discord allows 3 s). A caller
        cancelled meanwhile may still find its row written, as before: the next run tidies
        an acknowledgement that never became a job.
        """
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((ack, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting(), name="open-acks")
        await asyncio.shield(done)

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                async with self._db.transaction() as tx:
                    for ack, _ in batch:
                        # ON CONFLICT, not SQLite's INSERT OR REPLACE: both backends take it.
                        await tx.execute(
                            "INSERT INTO open_acks (interaction_id, application_id, token,"
                            " expires_at, created_at, owner, locale)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?)"
                            " ON CONFLICT (interaction_id) DO UPDATE SET application_id ="
                            " excluded.application_id, token = excluded.token,"
                            " expires_at = excluded.expires_at,"
                            " created_at = excluded.created_at, owner = excluded.owner,"
                            " locale = excluded.locale",
                            (ack.interaction_id, ack.application_id, ack.token,
                             to_db_time(ack.expires_at), to_db_time(self._clock()),
                             self._owner, ack.locale),
                        )
            except Exception as exc:  # each caller gets it, as if it had written alone
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def close(self, interaction_id: int) -> None:
        async with self._db.transaction() as tx:
            await self.close_in(tx, interaction_id)

    @staticmethod
    async def close_in(tx: Transaction, interaction_id: int) -> None:
        """Forget the acknowledgement inside ``tx`` (the job row's transaction)."""
        await tx.execute("DELETE FROM open_acks WHERE interaction_id = ?", (interaction_id,))

    async def orphans(self) -> list[OpenAck]:
        """Acknowledgements left by an earlier run of this process that never became a job
        (and anyone's too old for a process to still be answering)."""
        rows = await self._db.fetchall(
            f"SELECT * FROM open_acks AS a WHERE NOT {has_job('a.interaction_id')}"  # noqa: S608
            " AND (a.owner IS NULL OR a.owner = ? OR a.created_at <= ?) ORDER BY created_at",
            (self._owner, to_db_time(self._clock() - TOKEN_LIFE)),
        )
        return [
            OpenAck(int(r["interaction_id"]), int(r["application_id"]), str(r["token"]),
                    datetime.fromisoformat(r["expires_at"]), r["locale"])
            for r in rows
        ]

    async def forget_recorded(self) -> None:
        """Drop rows whose job was written (a run killed just before closing them)."""
        async with self._db.transaction() as tx:
            await tx.execute(
                f"DELETE FROM open_acks WHERE {has_job('open_acks.interaction_id')}"  # noqa: S608
            )
