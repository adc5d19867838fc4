"""Time for the whole bot: the injectable clock and the database's timestamp format.

The bottom floor: it imports nothing from ``bot``, so any module may use it without a cycle.
Tests pass their own :data:`Clock`; production passes :func:`utc_now`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: What every service takes to read the time (tests pass a controllable one).
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_db_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_db_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
