"""kill -9 proof: nothing is lost, charged twice or posted twice, wherever the process dies.

The real bot runs as a subprocess (``python -m bot run``) against both loopback fakes. Each
round starts it, sends a few /sora commands, then SIGKILLs it at the step chosen for that
round: before submit; after Apiframe created the job but before the bot recorded it;
mid-download; after Discord posted the video (or the failure notice) but before the bot
recorded it; during start-up; or at a random instant. Slow faults in the fakes hold those
steps open long enough to aim at. A final run finishes everything and is stopped with SIGTERM.
The verdict comes from the database and from what the fakes saw, not from the bot's logs.

The plan is drawn from a seeded RNG and the seed is printed; ``KILL9_SEED=<n>`` replays the
same plan (real time still varies, so kill instants differ slightly).

Then, deterministically, the case the random campaign reaches only by luck: the status message
was edited with the interaction token, the process died before recording it, and the token
lapsed before the restart (one case is a known gap, marked xfail).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from bot.config import load_settings
from bot.db.database import Database
from bot.jobs.store import JobDeliveries
from bot.ledger.store import Ledger
from tests.conftest import APIFRAME_KEY, DISCORD_TOKEN, start_bot
from tests.fakes.apiframe import FakeApiframe, Fault, JobScript
from tests.fakes.apiframe_model import Outcome
from tests.fakes.apiframe_testkit import VALID, submit
from tests.fakes.discord import FakeDiscord, FakeGuild
from tests.kill9_campaign import Campaign, sora_options
from tests.kill9_support import (
    CHANNEL_POST,
    CONTENT_POLICY,
    GENERATE,
    TOKEN_EDIT,
    TOKEN_LIFETIME,
    TOKEN_MARGIN,
    USERS,
    Job,
    apiframe_time_running,
    carries_notice,
    failure_notices,
    has_files,
    is_terminal,
    landed,
    outcome_posts,
    read_jobs,
    result_messages,
    start_connected,
    until,
    until_job,
)
from tests.kill9_verdict import MUST_HIT, CampaignRecord, DatabaseState, hit_points, verify

GRANT = 50_000
#: Rounds added for steps no planned round hit.
EXTRA_ROUNDS = 3

LATER_TARGETS = ("mid-ack", "after submit", "mid-download", "mid-upload", "upload in flight",
                 "mid-notice", "start-up", "random")


def plan_seed() -> int:
    raw = os.environ.get("KILL9_SEED")
    return int(raw) if raw else random.SystemRandom().randrange(2**32)


async def prepare(
    fake_discord: FakeDiscord, fake_apiframe: FakeApiframe, write_config: Callable[..., Path]
) -> tuple[FakeGuild, Path, Path]:
    """A guild with credits and a config with fast polling; returns (guild, config, db)."""
    fake_apiframe.video_size = 200_000
    fake_apiframe.default_script = JobScript("COMPLETED", None, 1, 4)
    guild = fake_discord.add_guild("Kill Nine")
    config = write_config(
        apiframe={"poll_interval_seconds": 0.2},
        jobs={"progress_edit_interval_seconds": 1, "max_in_flight_per_guild": 100,
              "max_in_flight_per_member": 100, "token_margin_seconds": TOKEN_MARGIN,
              # Longer than the slowest held token edit below (8 s), shorter than the waits.
              "token_grace_seconds": 10},
        # The production level: at DEBUG discord.py itself logs webhook URLs (tokens).
        logging={"level": "INFO"},
        # The campaign's members send refused prompts again and again: strike cooldowns
        # would refuse requests mid-campaign (tests/policy/test_strikes_*.py test them).
        policy={"strike_limit": 0},
    )
    settings = load_settings(config)
    db = await Database.open(settings.database.path)
    try:
        await Ledger.from_config(db, settings.ledger, held_jobs=JobDeliveries()).grant(
            guild.id, GRANT, actor="operator:kill9", reason="test budget"
        )
    finally:
        await db.close()
    return guild, config, settings.database.path


async def test_kill9_loses_nothing_and_repeats_nothing(
    fake_discord: FakeDiscord, fake_apiframe: FakeApiframe,
    write_config: Callable[..., Path],
) -> None:
    seed = plan_seed()
    print(f"\nkill -9 campaign, seed {seed} (KILL9_SEED={seed} replays the plan)")
    guild, config, db_path = await prepare(fake_discord, fake_apiframe, write_config)
    campaign = Campaign(fake_discord, fake_apiframe, guild, config, db_path, seed)
    targets = ["before submit", *campaign.rng.sample(LATER_TARGETS, len(LATER_TARGETS))]

    async with apiframe_time_running(fake_apiframe):
        for number, target in enumerate(targets):
            await campaign.round(number, target)
        # A round can miss its step (say, a loaded machine answered too slowly): aim again.
        for _ in range(EXTRA_ROUNDS):
            hit = hit_points(campaign.reports)
            missed = [target for point, target in MUST_HIT.items() if not hit[point]]
            if not missed:
                break
            await campaign.round(len(campaign.reports), missed[0])
        await campaign.finish()

    record = CampaignRecord(seed, GRANT, campaign.sent, campaign.reports)
    state = await DatabaseState.read(db_path, guild.id)
    print(verify(fake_discord, fake_apiframe, record, state, "".join(campaign.logs)))


@pytest.mark.parametrize(("outcome", "applied"), [
    ("COMPLETED", "before the kill"),
    ("FAILED", "before the kill"),
    # Discord applies the killed run's edit only after the restart: the grace period covers it.
    ("COMPLETED", "after the restart"),
])
async def test_kill_during_a_token_edit_then_the_token_lapsed(
    outcome: Outcome, applied: str, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe,
    write_config: Callable[..., Path],
) -> None:
    """The outcome went out by editing the status message with the token; the bot died before
    recording it; by the restart the token is too old to use. The retry must not show the
    outcome a second time, whenever Discord applied the edit."""
    guild, config, db_path = await prepare(fake_discord, fake_apiframe, write_config)
    usable = 4.0  # seconds the bot may still use the token after the /sora arrives
    purpose = "d" if outcome == "COMPLETED" else "f"
    late = applied == "after the restart"
    fake_discord.inject_delay("PATCH", TOKEN_EDIT, 8 if late else 60, times=5,
                              after_processing=not late,
                              when=has_files if outcome == "COMPLETED" else carries_notice)
    fake_apiframe.script_next_job(outcome, error=CONTENT_POLICY if outcome == "FAILED" else None,
                                  queued_s=0, processing_s=1)

    def edit_sent(job: Job) -> bool:
        posts = outcome_posts(fake_discord, job, purpose)
        return any(r.status == 0 for r in posts) if late else landed(posts)

    async with apiframe_time_running(fake_apiframe):
        bot = await start_connected(config, fake_discord)
        try:
            sent_at = time.monotonic()
            options = sora_options(random.Random(3), "kill9: a token edit, then a restart")
            iid, _ = await fake_discord.send_slash_command(
                guild, USERS[0], "sora", options, age=TOKEN_LIFETIME - TOKEN_MARGIN - usable
            )
            job = await until_job(db_path, edit_sent)
            assert time.monotonic() - sent_at < usable, "precondition: edited with the token"
        finally:
            bot.proc.kill()
            await bot.wait()
        assert job["interaction_id"] == iid and not is_terminal(job)
        await asyncio.sleep(max(0.0, sent_at + usable + 0.5 - time.monotonic()))

        bot = await start_bot(config, "run")
        try:
            await until_job(db_path, is_terminal, timeout=20)
            bot.proc.terminate()
            assert await bot.wait() == 0, bot.stderr[-4000:]
        finally:
            if bot.proc.returncode is None:
                bot.proc.kill()
                await bot.wait()
        # The dead process's edit, if still held, lands now.
        posts = outcome_posts(fake_discord, job, purpose)
        await asyncio.wait_for(until(lambda: all(r.status != 0 for r in posts)), 10)

    (job,) = await read_jobs(db_path)
    shown = result_messages(fake_discord, job) + failure_notices(fake_discord, job)
    assert len(shown) == 1, (
        f"{len(shown)} visible outcomes for one job: "
        f"{[(m.id, m.nonce, m.content[:60], len(m.attachments)) for m in shown]}")
    assert fake_discord.validation_errors == []


# -- the fake features this proof relies on ---------------------------------------------------


async def test_fake_discord_delay_after_processing_posts_before_answering(
    fake_discord: FakeDiscord,
) -> None:
    guild = fake_discord.add_guild()
    fake_discord.inject_delay("POST", CHANNEL_POST, 0.3, after_processing=True)
    # A delay whose condition rejects the request does not hold it.
    fake_discord.inject_delay("POST", CHANNEL_POST, 30, when=has_files)
    url = f"{fake_discord.api_base_url}/channels/{guild.channel_id}/messages"
    headers = {"Authorization": f"Bot {DISCORD_TOKEN}"}
    async with aiohttp.ClientSession() as http:
        task = asyncio.create_task(http.post(url, json={"content": "hi"}, headers=headers))
        await asyncio.wait_for(until(lambda: bool(fake_discord.messages[guild.channel_id])), 5)
        assert not task.done()  # posted, but the answer is still held
        async with await task as response:
            assert response.status == 200
        started = time.monotonic()
        async with http.post(url, json={"content": "again"}, headers=headers) as response:
            assert response.status == 200
        assert time.monotonic() - started < 5


async def test_fake_apiframe_slow_after_processing_and_scripts_by_prompt(
    fake_apiframe: FakeApiframe,
) -> None:
    fake_apiframe.script_next_job("FAILED")
    fake_apiframe.script_prompt(VALID["prompt"], "CANCELLED")
    fake_apiframe.inject(GENERATE, Fault.slow(0.5, after_processing=True))
    async with aiohttp.ClientSession() as http:
        headers = {"key": APIFRAME_KEY, "Idempotency-Key": "k1"}
        task = asyncio.create_task(submit(fake_apiframe, http, **headers))
        await asyncio.wait_for(until(lambda: fake_apiframe.created_count == 1), 5)
        assert not task.done()  # created, but the answer is still held
        status, body = await task
    assert status == 202
    assert fake_apiframe.jobs[body["jobId"]].script.outcome == "CANCELLED"
    assert fake_apiframe.next_script().outcome == "FAILED"  # the queue was left alone
