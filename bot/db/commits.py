"""Where a SQLite COMMIT waits for its fsync: right on the event loop while the disk is fast,
on aiosqlite's thread while it is slow.

With ``synchronous = FULL`` every COMMIT waits for the disk. Sending it to the thread keeps the
event loop free meanwhile, but the trip there and back (a thread wake-up, then the loop's) cost
75-170 us here: as much as a fast disk's fsync itself, and a third of a whole ``/sora``
reserve (benchmarks/store_throughput.py). So the database times every COMMIT, wherever it ran,
and keeps a moving average: below :data:`INLINE_BELOW` the next COMMIT runs inline (the loop
pauses for less than a trip would cost); above it, on the thread. One slow fsync lifts the
average over the line at once; fast ones bring it back within a dozen commits.
"""

from __future__ import annotations

#: A COMMIT this fast (seconds, on average) runs inline: the loop pauses at most about this long.
INLINE_BELOW = 0.001
#: The weight of the newest COMMIT in the average.
WEIGHT = 0.2


class CommitPace:
    """The moving average of recent COMMIT times, and the choice it implies."""

    def __init__(self, inline_below: float = INLINE_BELOW, weight: float = WEIGHT) -> None:
        self._limit, self._weight = inline_below, weight
        #: Unknown until the first COMMIT, which goes to the thread.
        self._average: float | None = None

    @property
    def average(self) -> float | None:
        return self._average

    def inline(self) -> bool:
        """Whether the next COMMIT should run right on the event loop."""
        return self._average is not None and self._average < self._limit

    def note(self, seconds: float) -> None:
        """One COMMIT took ``seconds`` (its fsync included)."""
        if self._average is None:
            self._average = seconds
        else:
            self._average += self._weight * (seconds - self._average)
