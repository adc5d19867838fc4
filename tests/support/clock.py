"""The one test clock: set or moved by hand, so a test decides what "now" is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: A Tuesday noon (UTC): the ISO week began the day before, the month earlier still.
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    """Reads ``now``; with a ``tick``, every reading first advances by it (distinct times)."""

    now: datetime = T0
    tick: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        self.now += self.tick
        return self.now
