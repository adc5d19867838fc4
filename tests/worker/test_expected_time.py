"""Expected-time polling: a submitted job is first looked at when its variant usually finishes.

The real bot runs against the loopback fakes on a real SQLite file. Unlike most tests, the
bot's clock and Apiframe's move together here (:func:`drive`), so "a 65-second job" is 65
seconds for both, and what is counted is the fake's own request log: every provider call.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from bot.jobs.model import Job, JobState
from tests.fakes.discord import StoredMessage
from tests.fakes.discord_messages import card_texts
from tests.sora_harness import GENERATE, LIST, POLL, SoraHarness, Starter

#: The fake's default job: 5 s queued, then 60 s processing.
RUN = 65.0
INTERVAL = 7.0


def expecting(default: float, **apiframe: Any) -> dict[str, Any]:
    """Settings for expected-time polling with a ``default`` run time (no per-second part)."""
    return {"apiframe": {"poll_interval_seconds": INTERVAL, "expected_time_polling": True,
                         "default_run_seconds": default,
                         "default_run_seconds_per_video_second": 0, **apiframe}}


async def submitted(h: SoraHarness, prompt: str) -> Job:
    job = await h.created_job(await h.send_sora(prompt))
    await h.until(lambda: _is_submitted(h, job.id), what=f"job {job.id} submitted")
    return await h.job(job.id)


async def _is_submitted(h: SoraHarness, job_id: str) -> bool:
    return (await h.job(job_id)).apiframe_job_id is not None


async def drive(h: SoraHarness, job_id: str, *, seconds: float, step: float = 1.0) -> Job:
    """Move both clocks ``step`` seconds at a time (Apiframe's by exactly what the bot's
    moved, real time included) until the job leaves SUBMITTED or ``seconds`` have passed."""
    last = h.now()
    moved = 0.0
    while moved < seconds:
        job = await h.job(job_id)
        if job.state is not JobState.SUBMITTED:
            return job
        h.discord.advance(step)
        now = h.now()
        h.apiframe.clock.advance((now - last).total_seconds())
        moved += (now - last).total_seconds()
        last = now
        h.bot.scheduler.wake()
        await asyncio.sleep(0.03)
    return await h.job(job_id)


def calls_for(h: SoraHarness, job: Job) -> int:
    """Provider calls made while following ``job`` (the only job in flight)."""
    own = [r for r in h.apiframe_requests(POLL) if r.path.endswith(f"/{job.apiframe_job_id}")]
    return len(h.apiframe_requests(GENERATE)) + len(h.apiframe_requests(LIST)) + len(own)


async def test_a_first_lone_job_is_looked_at_once_at_the_default_time(start: Starter) -> None:
    h = await start(**expecting(70))
    job = await submitted(h, "a kite over the dunes")
    assert job.submitted_at is not None
    first_look = (job.next_action_at - job.submitted_at).total_seconds()
    assert 69 <= first_look <= 71  # no history yet: the configured default

    done = await drive(h, job.id, seconds=120)
    await h.run_until(job.id, JobState.DELIVERED, step=0)

    assert done.state in (JobState.COMPLETED, JobState.DELIVERED)
    # One submit and one listing (which carried the result): 2 calls, not one per interval.
    assert calls_for(h, done) <= 3
    assert len(h.apiframe_requests(LIST)) == 1
    assert (await h.job(job.id)).run_seconds is not None


async def test_a_later_job_is_looked_at_when_its_variant_usually_finishes(
    start: Starter,
) -> None:
    h = await start(**expecting(200))
    first = await submitted(h, "a tugboat at dusk")
    await drive(h, first.id, seconds=240, step=2.0)
    first = await h.run_until(first.id, JobState.DELIVERED, step=0)
    assert first.run_seconds is not None and RUN - 1 <= first.run_seconds <= RUN + 3
    before = len(h.apiframe.requests)

    second = await submitted(h, "a tugboat at dawn")
    assert second.submitted_at is not None
    first_look = (second.next_action_at - second.submitted_at).total_seconds()
    # The first job's run time, not the 200 s default.
    assert abs(first_look - first.run_seconds) < 1, first_look
    done = await drive(h, second.id, seconds=120)

    assert done.state in (JobState.COMPLETED, JobState.DELIVERED)
    # A lone 60-second job with history: one submit, one listing (and a GET at most).
    assert len(h.apiframe.requests) - before <= 3, h.apiframe.requests[before:]
    assert done.finished_at is not None
    # Found at that first look, within a step of the provider's end.
    assert (done.finished_at - second.submitted_at).total_seconds() <= RUN + 3


async def test_a_job_running_late_is_found_within_one_interval(start: Starter) -> None:
    h = await start(**expecting(30))
    job = await submitted(h, "a slow glacier")

    done = await drive(h, job.id, seconds=150)

    assert done.state in (JobState.COMPLETED, JobState.DELIVERED)
    generate = h.apiframe_requests(GENERATE)[0]
    looks = [(r.at - generate.at).total_seconds() for r in h.apiframe_requests(LIST)]
    # The first look at the expected 30 s (not at 7 s), then every interval.
    assert 29 <= looks[0] <= 32, looks
    assert all(b - a >= INTERVAL - 1.5 for a, b in itertools.pairwise(looks)), looks
    # The look that found it came within one interval (and a step) of the provider's end.
    assert RUN <= looks[-1] <= RUN + INTERVAL + 1.5, looks
    assert len(looks) <= 2 + (RUN - 30) // INTERVAL


async def test_the_card_moves_between_looks(start: Starter) -> None:
    h = await start(**expecting(120))
    job = await submitted(h, "a lantern festival")
    card = await status_card(h, job)
    first = elapsed_of(card)

    await drive(h, job.id, seconds=20)
    await h.until(lambda: elapsed_of(card) != first, what="the card's elapsed time to move")

    # Moved without a single look at the provider (the first is due at 120 s).
    assert h.apiframe_requests(LIST) == []
    assert h.apiframe_requests(POLL) == []
    estimate = field(card, "Estimate")
    assert estimate in ("about 2 min left", "about 1 min left"), estimate


async def status_card(h: SoraHarness, job: Job) -> StoredMessage:
    await h.until(lambda: _card(h, job) is not None, what="a status card")
    card = _card(h, job)
    assert card is not None
    return card


def _card(h: SoraHarness, job: Job) -> StoredMessage | None:
    for message in h.discord.messages[h.guild.channel_id]:
        if message.interaction_id == job.interaction_id and len(card_texts(message)) > 2:
            return message
    return None


def field(card: StoredMessage, name: str) -> str:
    """``Elapsed`` or ``Estimate`` of the progress card's timing line
    (``Elapsed 00:12 · about 2 min left``)."""
    elapsed, estimate = card_texts(card)[2].split(" · ", 1)
    return {"Elapsed": elapsed, "Estimate": estimate}[name]


def elapsed_of(card: StoredMessage) -> str:
    return field(card, "Elapsed")
