"""Wake-ups: the port through which new work reaches the schedulers without polling the table.

Two calls. ``notify()`` says that work appeared: a job row was committed, a webhook event was
stored. ``wait(seconds)`` returns when a notify arrived (True) or after that many seconds
(False). The scheduler (bot/worker/scheduler.py) runs ``wait`` as a duty of its loop and looks
at the queue whenever it returns True; with nothing to say, it falls back to its idle pace
(at most ``MAX_IDLE`` between scans), so a lost notify only delays, never strands, a job.

:class:`LocalWakeups` (an asyncio.Event) is the implementation when one process does
everything, or when processes share a SQLite file: SQLite has no channel between processes,
so there each scheduler sees another's new jobs at its next idle scan. A backend with one
(PostgreSQL's LISTEN/NOTIFY) offers the same two calls, notifying every process, this one
included.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from bot.waiting import wait_set


class Wakeups(Protocol):
    def notify(self) -> None:
        """Work appeared; call after the transaction that wrote it committed. Never blocks
        and never raises (a backend sends in the background and logs its own failures)."""

    async def wait(self, seconds: float) -> bool:
        """Until a notify (True) or ``seconds`` have passed (False). One waiter per process."""


class LocalWakeups:
    """Wake-ups within one process."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def wait(self, seconds: float) -> bool:
        woken = await wait_set(self._event, seconds)
        # Cleared after the wait, so a notify that came while nobody waited is not lost.
        self._event.clear()
        return woken
