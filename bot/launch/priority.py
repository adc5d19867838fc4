"""Acknowledge first: under a burst, every interaction's acknowledgement comes before the slow
work behind any one of them.

Discord gives an interaction 3 s to be acknowledged and fails it for the member after that;
what follows the acknowledgement (re-hosting an image, reserving, the status card, the
submit) has minutes. On one event loop they compete for the same CPU, so 200 members pressing
/sora together would see the last "thinking…" behind the first hundred jobs' work. The work
behind an acknowledgement waits (at most ``max_wait`` seconds, so a sustained stream of
interactions cannot starve it) until no interaction is still being acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class AckFirst:
    def __init__(self, max_wait: float = 1.0) -> None:
        self._max_wait = max_wait
        self._open = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    @contextlib.contextmanager
    def acknowledging(self) -> Iterator[None]:
        """Around the checks and the acknowledgement of one interaction."""
        self._open += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self._open -= 1
            if not self._open:
                self._quiet.set()

    async def settle(self) -> None:
        """Wait until no interaction is being acknowledged (or ``max_wait`` has passed)."""
        if not self._open:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._max_wait):
                await self._quiet.wait()
