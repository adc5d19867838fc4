"""Wake-ups between processes over PostgreSQL's LISTEN/NOTIFY: the PostgreSQL side of the
scheduler's ``Wakeups`` port (bot/worker/wakeups.py), with the same two calls.

``notify()`` sends one NOTIFY on :data:`CHANNEL` in the background; every process listening
on the database, this one included, sees it, and its ``wait()`` returns True. The listener
holds one connection of its own (a pooled one would stop hearing once returned). If that
connection is lost, ``wait`` only times out: the scheduler falls back to its idle scan, so a
lost notify delays a job and never strands it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

from bot.db.pg_text import translate
from bot.waiting import wait_set

log = logging.getLogger(__name__)

#: The one channel: "work appeared" (a job row committed, a webhook event stored).
CHANNEL = "sora_work"


class PostgresWakeups:
    """Open with :meth:`bot.db.postgres.PostgresDatabase.wakeups`; close when done."""

    def __init__(self, listener: asyncpg.Connection, pool: asyncpg.Pool) -> None:
        self._listener, self._pool = listener, pool
        self._event = asyncio.Event()
        self._sending: set[asyncio.Task[None]] = set()
        self._closing = False

    @classmethod
    async def start(cls, url: str, pool: asyncpg.Pool) -> PostgresWakeups:
        listener = await asyncpg.connect(dsn=url, timeout=10)
        wakeups = cls(listener, pool)
        await listener.add_listener(CHANNEL, wakeups._heard)
        listener.add_termination_listener(wakeups._lost)
        return wakeups

    def _heard(self, *_: Any) -> None:
        self._event.set()

    def _lost(self, *_: Any) -> None:
        if self._closing:  # our own close, at shutdown
            return
        log.warning("the LISTEN connection to PostgreSQL was lost; new jobs are seen at the "
                    "scheduler's idle scan until the process restarts")

    def notify(self) -> None:
        """Work appeared (call after its transaction committed); never blocks or raises."""
        task = asyncio.get_running_loop().create_task(self._send())
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self) -> None:
        try:
            await self._pool.execute("SELECT pg_notify($1, '')", CHANNEL)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("could not notify the other processes: %s", translate(exc))

    async def wait(self, seconds: float) -> bool:
        """Until a notify from any process (True) or ``seconds`` have passed (False)."""
        woken = await wait_set(self._event, seconds)
        # Cleared after the wait, so a notify that came while nobody waited is not lost.
        self._event.clear()
        return woken

    async def close(self) -> None:
        """Send what is pending, then stop listening."""
        self._closing = True
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
        with contextlib.suppress(asyncpg.InterfaceError, OSError):
            await self._listener.remove_listener(CHANNEL, self._heard)
        await self._listener.close()
