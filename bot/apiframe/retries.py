"""The Apiframe client's retry loop: one policy for every API call and download.

Which failures are retried, and after how long, is :func:`bot.apiframe.errors.retry_delay`
(the SDK's policy: 429 with its ``Retry-After``, 5xx and transport errors only when the call
is idempotent, full-jitter backoff); this loop counts the retries, logs each and waits.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.apiframe.errors import ApiframeError, retry_delay

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Retries:
    """At most ``max_retries`` retries; ``jitter`` and ``sleep`` are injectable for tests."""

    max_retries: int
    max_retry_after: float
    jitter: Callable[[], float]
    sleep: Callable[[float], Awaitable[object]]

    async def run(self, attempt: Callable[[], Awaitable[T]], *, idempotent: bool,
                  where: str) -> T:
        """``attempt()`` until it succeeds, fails for good, or the retries are spent."""
        retries = 0
        while True:
            try:
                return await attempt()
            except ApiframeError as exc:
                delay = retry_delay(
                    exc,
                    retries,
                    idempotent=idempotent,
                    jitter=self.jitter,
                    max_retry_after=self.max_retry_after,
                )
                if delay is None or retries >= self.max_retries:
                    raise
                retries += 1
                log.warning(
                    "Apiframe %s: %s; retry %d/%d in %.2fs",
                    where,
                    exc,
                    retries,
                    self.max_retries,
                    delay,
                )
                await self.sleep(delay)
