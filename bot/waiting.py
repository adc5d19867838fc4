"""Waiting for an :class:`asyncio.Event` with a time limit, the one way the bot does it."""

from __future__ import annotations

import asyncio
import contextlib


async def wait_set(event: asyncio.Event, seconds: float | None) -> bool:
    """Until ``event`` is set (True) or ``seconds`` have passed (False; None: no limit).

    ``asyncio.timeout``, not ``wait_for``: on Python 3.11 ``wait_for`` returns normally when
    the event and a cancellation (a ``stop()``) land together, and a loop waiting this way
    would never end.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
        return True
    return False
