"""The kill -9 campaign (tests/test_kill9.py): rounds of start the bot, send /sora, SIGKILL
it at an aimed step, and name the step each kill landed on.

Slow faults in the fakes hold a step open long enough to aim at; the aim is checked from the
database and the fakes' logs, and the kill report is built from the state the kill left.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.conftest import start_bot
from tests.fakes.apiframe import FakeApiframe, Fault
from tests.fakes.apiframe_model import Outcome
from tests.fakes.discord import FakeDiscord, FakeGuild, RecordedRequest
from tests.kill9_support import (
    CDN_VIDEO,
    CHANNEL_POST,
    CONTENT_POLICY,
    GENERATE,
    INTERACTION_CALLBACK,
    TOKEN_EDIT,
    TOKEN_LIFETIME,
    TOKEN_MARGIN,
    USERS,
    Job,
    KillReport,
    Source,
    carries_notice,
    cdn_requested,
    fake_jobs_for_key,
    has_files,
    is_terminal,
    kill_points,
    landed,
    outcome_posts,
    read_jobs,
    snapshot,
    start_connected,
)

#: How long a fault holds a step open so a kill can land inside it (real seconds).
HOLD = 1.5
#: How long Discord takes to apply an upload it received in full: short, like Discord, so
#: a dead process's upload lands before its successor could retry (test_kill9's xfail).
IN_FLIGHT_HOLD = 0.4
#: Longest wait for a round's target step before killing anyway.
AIM_LIMIT = 6.0

def sora_options(rng: random.Random, prompt: str) -> list[dict[str, Any]]:
    return [
        {"name": "prompt", "type": 3, "value": prompt},
        {"name": "duration", "type": 4, "value": rng.choice((4, 8, 10, 12, 15))},
        {"name": "aspect_ratio", "type": 3, "value": rng.choice(("16:9", "9:16"))},
        {"name": "resolution", "type": 3, "value": rng.choice(("standard", "high"))},
    ]


def interaction_age(rng: random.Random) -> float:
    """Most tokens are fresh; some are already too old for the bot to use (results go to the
    channel with a nonce) and some lapse a few seconds into the job."""
    roll = rng.random()
    if roll < 0.2:
        return TOKEN_LIFETIME - TOKEN_MARGIN + 15  # unusable at once; Discord-valid 45 s more
    if roll < 0.4:
        return TOKEN_LIFETIME - TOKEN_MARGIN - rng.uniform(2, 8)
    return 0.0


class Campaign:
    """Rounds of start → /sora → SIGKILL at an aimed step, with what each kill hit."""

    def __init__(
        self, discord: FakeDiscord, apiframe: FakeApiframe, guild: FakeGuild, config: Path,
        db_path: Source, seed: int,
    ) -> None:
        self.discord, self.apiframe, self.guild = discord, apiframe, guild
        self.config, self.db_path, self.seed = config, db_path, seed
        self.rng = random.Random(seed)
        self.sent: list[int] = []
        self.planned: dict[int, Outcome] = {}
        self.logs: list[str] = []
        self.reports: list[KillReport] = []
        #: When the current round's process started work (fake Discord / Apiframe time).
        self._since, self._since_af = 0.0, apiframe.clock.now()
        self._first_of_round = 0
        self._upload_held = asyncio.Event()
        # One CANCELLED early; about one in six FAILED on content policy; the rest COMPLETED.
        planned: list[Outcome] = ["COMPLETED", "CANCELLED"]
        planned += ["FAILED" if self.rng.random() < 0.17 else "COMPLETED" for _ in range(500)]
        self._outcomes = iter(planned)

    async def send_sora(
        self, outcome: Outcome | None = None, guild: FakeGuild | None = None
    ) -> None:
        """One /sora in ``guild`` (default: the campaign's) whose Apiframe job will end as
        ``outcome`` (default: the planned mix)."""
        rng = self.rng
        planned = next(self._outcomes) if outcome is None else outcome
        prompt = f"kill9 #{len(self.sent)}: a lighthouse at dusk, slow pan"
        # By prompt, not by queue: a /sora killed before it became a job must not shift
        # its outcome onto the next one.
        self.apiframe.script_prompt(
            prompt, planned, error=CONTENT_POLICY if planned == "FAILED" else None,
            queued_s=rng.uniform(0.5, 2), processing_s=rng.uniform(2, 15),
        )
        iid, _ = await self.discord.send_slash_command(
            guild or self.guild, rng.choice(USERS), "sora", sora_options(rng, prompt),
            age=interaction_age(rng),
        )
        self.sent.append(iid)
        self.planned[iid] = planned

    def arm(self, target: str) -> None:
        if target == "before submit":
            self.apiframe.inject(GENERATE, Fault.slow(HOLD), times=None)
        elif target == "after submit":
            self.apiframe.inject(GENERATE, Fault.slow(HOLD, after_processing=True), times=None)
        elif target == "mid-download":
            self.apiframe.inject(CDN_VIDEO, Fault.slow(HOLD), times=None)
        elif target == "mid-ack":  # the defer is done at Discord; the bot awaits the answer
            self.discord.inject_delay("POST", INTERACTION_CALLBACK, HOLD, times=100,
                                      after_processing=True)
        elif target == "upload in flight":
            # Held before Discord handles it (which it still does once the bot is dead); the
            # window is short, so the fake itself says when an upload is being held.
            self._upload_held.clear()
            def upload_held(record: RecordedRequest) -> bool:
                if has_files(record):
                    self._upload_held.set()
                return has_files(record)

            for method, path in (("PATCH", TOKEN_EDIT), ("POST", CHANNEL_POST)):
                self.discord.inject_delay(method, path, IN_FLIGHT_HOLD, times=100,
                                          when=upload_held)
        elif target in ("mid-upload", "mid-notice"):
            when = carries_notice if target == "mid-notice" else has_files
            for method, path in (("PATCH", TOKEN_EDIT), ("POST", CHANNEL_POST)):
                self.discord.inject_delay(method, path, HOLD, times=100, after_processing=True,
                                          when=when)

    def disarm(self) -> None:
        self.apiframe.clear_faults()
        self.discord.delays.clear()

    def _at(self, target: str, job: Job) -> bool:
        """Whether ``job`` is at ``target`` because of this round's process (not a leftover)."""
        state = job["state"]
        if target in ("before submit", "after submit"):
            created = bool(fake_jobs_for_key(self.apiframe, job["idempotency_key"]))
            return state == "reserved" and created == (target == "after submit")
        if target == "mid-download":
            return (state == "completed"
                    and cdn_requested(self.apiframe, job["apiframe_job_id"], self._since_af)
                    and not outcome_posts(self.discord, job, "d"))
        if target == "mid-upload":
            return state == "completed" and landed(outcome_posts(self.discord, job, "d"),
                                                   self._since)
        if target == "mid-notice":
            return (state == "refunded" and job["notified_at"] is None
                    and landed(outcome_posts(self.discord, job, "f"), self._since))
        return False

    async def aim(self, target: str) -> tuple[bool, float]:
        """Wait until some job is at ``target`` (or AIM_LIMIT passes); (hit, seconds waited)."""
        started = time.monotonic()
        if target == "upload in flight":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._upload_held.wait(), AIM_LIMIT)
            return self._upload_held.is_set(), time.monotonic() - started
        while (waited := time.monotonic() - started) < AIM_LIMIT:
            jobs = await read_jobs(self.db_path)
            if target == "mid-ack":
                if self.unanswered(jobs):
                    return True, waited
            elif any(self._at(target, job) for job in jobs):
                return True, waited
            await asyncio.sleep(0.02)
        return False, waited

    def unanswered(self, jobs: list[Job], *, acknowledged: bool = True) -> int:
        """This round's /sora commands without a job row, (not) acknowledged."""
        with_job = {j["interaction_id"] for j in jobs}
        return sum(1 for iid in self.sent[self._first_of_round:] if iid not in with_job
                   and self.discord.interactions[iid].acknowledged == acknowledged)

    async def round(self, number: int, target: str) -> KillReport:
        self._first_of_round = len(self.sent)
        if target == "start-up":  # die while resuming, before the gateway is connected
            bot = await start_bot(self.config, "run")
        else:
            bot = await start_connected(self.config, self.discord)
        try:
            if target == "start-up":
                waited = self.rng.uniform(0.3, 2.0)
                await asyncio.sleep(waited)
                hit = True
            else:
                self._since, self._since_af = self.discord.now(), self.apiframe.clock.now()
                self.arm(target)
                # The notice target needs failures in flight; others take the planned mix.
                outcome: Outcome | None = "FAILED" if target == "mid-notice" else None
                for _ in range(self.rng.randint(2, 4)):
                    await self.send_sora(outcome)
                if target == "random":
                    waited = self.rng.uniform(0.2, 4.0)
                    await asyncio.sleep(waited)
                    hit = True
                else:
                    hit, waited = await self.aim(target)
                    if target != "upload in flight":  # that window is short
                        await asyncio.sleep(self.rng.uniform(0, 0.2))
        finally:
            bot.proc.kill()
            statuses = snapshot(self.discord)
            await bot.wait()
            self.logs.append(bot.stderr)
            self.disarm()
        jobs = await read_jobs(self.db_path)
        unfinished = [j for j in jobs if not is_terminal(j)]
        points = kill_points(
            unfinished, self.apiframe, self.discord, statuses,
            stranded=self.unanswered(jobs), unacknowledged=self.unanswered(jobs, acknowledged=False)
        )
        report = KillReport(number, target, waited, hit, points)
        self.reports.append(report)
        print(report.line())
        return report

    async def finish(self, timeout: float = 30.0) -> None:
        """Run until every job is terminal, then stop with SIGTERM (which must exit 0)."""
        bot = await start_connected(self.config, self.discord)
        try:
            # If every /sora planned to fail was killed before it became a job, one more
            # of each kind, so both refund paths are always proven.
            accepted = {self.planned[j["interaction_id"]] for j in await read_jobs(self.db_path)}
            needed: tuple[Outcome, ...] = ("CANCELLED", "FAILED")
            for outcome in needed:
                if outcome not in accepted:
                    await self.send_sora(outcome)
            deadline = time.monotonic() + timeout
            while not all(is_terminal(j) for j in await read_jobs(self.db_path)):
                if time.monotonic() > deadline:
                    states = Counter(j["state"] for j in await read_jobs(self.db_path))
                    raise AssertionError(f"seed {self.seed}: jobs never finished: {states}\n"
                                         f"{bot.stderr[-6000:]}")
                await asyncio.sleep(0.1)
            bot.proc.terminate()
            code = await bot.wait()
            assert code == 0, f"exit {code} after SIGTERM:\n{bot.stderr[-4000:]}"
        finally:
            if bot.proc.returncode is None:
                bot.proc.kill()
                await bot.wait()
            self.logs.append(bot.stderr)
