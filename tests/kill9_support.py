"""Observation helpers for the kill -9 proof (tests/test_kill9.py, kill9_campaign.py,
kill9_verdict.py).

* reading the bot's database from the outside (plain ``sqlite3`` in a worker thread; WAL lets
  a reader in beside the running bot, and after a SIGKILL the file is read as it was left; or,
  on PostgreSQL, through a Database the test opened, as one more process on that server);
* mapping what the fakes saw (generate requests, CDN downloads, Discord uploads and messages)
  to jobs, and naming the step each unfinished job was at when the process died;
* the fake Apiframe's clock, waiting, and starting the bot up to its gateway session.

Nothing here changes the bot's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.db.database import Database
from bot.delivery.cards import FAILURE_ID, RESULT_ID
from tests.conftest import BotProcess, start_bot
from tests.fakes.apiframe import FakeApiframe
from tests.fakes.discord import FakeDiscord, RecordedRequest, StoredMessage
from tests.fakes.discord_messages import card_texts, is_v2

GENERATE = "POST /v2/videos/generate"
CDN_VIDEO = "GET /cdn/videos/{name}"
#: Where the bot posts an outcome: the status message (interaction token) or the channel.
TOKEN_EDIT = "/webhooks/{app}/{token}/messages/{message_id}"
CHANNEL_POST = "/channels/{channel_id}/messages"
INTERACTION_CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"
CONTENT_POLICY = "Provider returned an error: content policy violation"

TOKEN_LIFETIME = 15 * 60
TOKEN_MARGIN = 60
USERS = (410_000_000_000_000_001, 410_000_000_000_000_002, 410_000_000_000_000_003)
Job = dict[str, Any]


# -- the database --------------------------------------------------------------------------


#: Where the bot's database is: its SQLite file, or an open Database (PostgreSQL, say).
Source = Path | Database


def _read(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, params)]


async def _fetch(source: Source, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows from the SQLite file (read beside the bot) or through the bot's Database surface
    (the same statements, as any other process on that database reads them)."""
    if isinstance(source, Database):
        return await source.fetchall(sql, params)
    return await asyncio.to_thread(_read, source, sql, params)


async def read_jobs(source: Source) -> list[Job]:
    if isinstance(source, Path) and not source.exists():
        return []
    return await _fetch(source, "SELECT * FROM jobs ORDER BY created_at")


async def read_journal(source: Source) -> list[dict[str, Any]]:
    return await _fetch(source, "SELECT * FROM ledger_journal ORDER BY id")


async def read_balance(source: Source, guild_id: int) -> int:
    rows = await _fetch(source, "SELECT balance FROM guild_balances WHERE guild_id = ?",
                        (guild_id,))
    return int(rows[0]["balance"])


def is_terminal(job: Job) -> bool:
    return job["state"] == "delivered" or (
        job["state"] == "refunded" and job["notified_at"] is not None
    )


# -- what the fakes saw, per job -------------------------------------------------------------


def nonce(job: Job, purpose: str) -> str:
    """The nonce the publisher puts on a channel post (bot/delivery/publisher.py ``job_nonce``)."""
    return (purpose + str(job["id"]))[:25]


def fake_jobs_for_key(apiframe: FakeApiframe, key: str) -> list[str]:
    return [job.id for job in apiframe.jobs.values() if job.idempotency_key == key]


def generate_requests_by_key(apiframe: FakeApiframe) -> Counter[str]:
    return Counter(
        r.headers.get("Idempotency-Key", "") for r in apiframe.requests if r.route == GENERATE
    )


def cdn_requested(
    apiframe: FakeApiframe, apiframe_job_id: str | None, since: datetime | None = None
) -> bool:
    name = f"/cdn/videos/{apiframe_job_id}.mp4"
    return any(
        r.route == CDN_VIDEO and r.path == name and (since is None or r.at >= since)
        for r in apiframe.requests
    )


def has_files(record: RecordedRequest) -> bool:
    return bool(record.files)


def carries_notice(record: RecordedRequest) -> bool:
    """A request with a failure notice in it: a V2 failure card (its container's id), or the
    text of a card from before V2 (render.failure_text ends with "(Job <id>)")."""
    body = record.json if isinstance(record.json, dict) else {}
    cards = [c for c in body.get("components") or [] if isinstance(c, dict)]
    return "(Job " in str(body.get("content") or "") or any(
        c.get("id") == FAILURE_ID for c in cards)


def failure_notice(body: dict[str, Any], job_id: str) -> bool:
    """Whether a message body is the job's failure notice: its V2 failure card, or the text
    of a card posted before V2 cards."""
    if f"(Job {job_id})" in str(body.get("content") or ""):
        return True
    cards = [c for c in body.get("components") or [] if isinstance(c, dict)]
    return any(c.get("id") == FAILURE_ID for c in cards) and job_id in json.dumps(cards)


def outcome_posts(discord: FakeDiscord, job: Job, purpose: str) -> list[RecordedRequest]:
    """Requests that carried this job's result (``d``) or failure notice (``f``): an edit of
    its interaction's message, or a channel message with its nonce."""
    found = []
    for record in discord.requests:
        body = record.json if isinstance(record.json, dict) else {}
        if purpose == "d" and not record.files:
            continue
        if purpose == "f" and not failure_notice(body, str(job["id"])):
            continue
        token_edit = record.interaction_id == job["interaction_id"] and record.method == "PATCH"
        channel = record.method == "POST" and body.get("nonce") == nonce(job, purpose)
        if token_edit or channel:
            found.append(record)
    return found


#: Reply status per request (by ``id``), as it was at some instant (0: not answered yet).
Statuses = dict[int, int]


def snapshot(discord: FakeDiscord) -> Statuses:
    """The fake Discord's reply statuses now; take it the moment the bot is killed, since a
    held request the dead bot sent is still applied afterwards."""
    return {id(r): r.status for r in discord.requests}


def landed(
    records: list[RecordedRequest], since: float = 0.0, statuses: Statuses | None = None
) -> bool:
    def status(r: RecordedRequest) -> int:
        return r.status if statuses is None else statuses.get(id(r), 0)

    return any(200 <= status(r) < 300 and r.time >= since for r in records)


def bot_messages(discord: FakeDiscord) -> Iterable[StoredMessage]:
    for messages in discord.messages.values():
        yield from messages


def result_messages(discord: FakeDiscord, job: Job) -> list[StoredMessage]:
    """Visible messages showing this job's result: its MP4, or its result card."""
    name = f"sora-{job['id']}.mp4"
    footer = f"Job {job['id']}"
    found = []
    for message in bot_messages(discord):
        if message.ephemeral:
            continue
        has_video = any(a.get("filename") == name for a in message.attachments)
        has_card = any(
            e.get("title") == "Your video is ready"
            and footer in str((e.get("footer") or {}).get("text", ""))
            for e in message.embeds
        ) or (card_id(message) == RESULT_ID and any(footer in t for t in card_texts(message)))
        if has_video or has_card:
            found.append(message)
    return found


def failure_notices(discord: FakeDiscord, job: Job) -> list[StoredMessage]:
    """Visible messages telling the member this job failed."""
    marker = f"(Job {job['id']})"
    return [m for m in bot_messages(discord) if not m.ephemeral and (
        marker in m.content or (card_id(m) == FAILURE_ID
                                and any(str(job["id"]) in t for t in card_texts(m))))]


def card_id(message: StoredMessage) -> object:
    """The id of a V2 card's container (bot/delivery/cards.py), None for other messages."""
    return message.components[0].get("id") if is_v2(message) and message.components else None


# -- where a kill landed ---------------------------------------------------------------------


@dataclass
class KillReport:
    """What was going on when one bot process was SIGKILLed."""

    round: int
    target: str
    waited: float
    hit: bool
    points: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        seen = ", ".join(f"{name} ×{count}" for name, count in sorted(self.points.items()))
        aimed = "hit" if self.hit else "missed, killed at the time limit"
        return (f"round {self.round}: aimed at {self.target} ({aimed}) after {self.waited:.2f}s"
                f" -> {seen or 'nothing in flight'}")


def kill_points(
    jobs: list[Job], apiframe: FakeApiframe, discord: FakeDiscord, statuses: Statuses,
    *, stranded: int, unacknowledged: int,
) -> Counter[str]:
    """Name the step every unfinished job was at when the bot died, from the database and
    the fakes' logs (Discord's reply statuses as ``statuses`` held them at the kill)."""
    points: Counter[str] = Counter()
    if stranded:
        points["acknowledged, no job row yet"] += stranded
    if unacknowledged:
        points["sent, not acknowledged"] += unacknowledged
    for job in jobs:
        state = job["state"]
        if state == "reserved":
            created = fake_jobs_for_key(apiframe, job["idempotency_key"])
            points["after submit, not recorded" if created else "before submit"] += 1
        elif state == "submitted":
            points["submitted (polling)"] += 1
        elif state == "completed":
            uploads = [r for r in outcome_posts(discord, job, "d") if id(r) in statuses]
            if landed(uploads, statuses=statuses):
                points["mid-upload (posted, not recorded)"] += 1
            elif uploads:
                points["mid-upload (in flight)"] += 1
            elif cdn_requested(apiframe, job["apiframe_job_id"]):
                points["mid-download"] += 1
            else:
                points["completed, before download"] += 1
        elif state == "failed":
            points["failed, before refund"] += 1
        elif state == "refunded" and job["notified_at"] is None:
            posted = landed(outcome_posts(discord, job, "f"), statuses=statuses)
            name = "mid-notice (posted, not recorded)" if posted else "refunded, before notice"
            points[name] += 1
    return points


# -- time -------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def apiframe_time_running(
    apiframe: FakeApiframe, *, step: float = 0.5, every: float = 0.1
) -> AsyncIterator[None]:
    """Move the fake Apiframe's clock ``step`` seconds every ``every`` real seconds."""

    async def drive() -> None:
        while True:
            await asyncio.sleep(every)
            apiframe.clock.advance(step)

    task = asyncio.create_task(drive())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- waiting ------------------------------------------------------------------------------


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


async def until_job(
    db_path: Source, condition: Callable[[Job], bool], timeout: float = 10.0
) -> Job:
    """The first job row for which ``condition`` holds, polling the database."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for job in await read_jobs(db_path):
            if condition(job):
                return job
        await asyncio.sleep(0.02)
    raise AssertionError(f"no job reached the condition in {timeout}s: {await read_jobs(db_path)}")


# -- the bot process --------------------------------------------------------------------------


async def start_connected(config: Path, discord: FakeDiscord) -> BotProcess:
    """Start ``sora-bot run`` and return once its gateway session has the guilds.

    Interactions work from then on; ``on_ready`` ("Ready as") only follows after discord.py's
    2 s guild-ready wait, which would make every round 2 s longer.
    """
    gateway = discord.gateway
    previous = gateway.current
    bot = await start_bot(config, "run")
    deadline = time.monotonic() + 20
    while True:
        current = gateway.current
        if current is not None and current is not previous and current.seq >= 1 + len(
            discord.guilds
        ):
            return bot
        if bot.proc.returncode is not None or time.monotonic() > deadline:
            bot.proc.kill()
            await bot.wait()
            raise AssertionError(f"the bot never connected:\n{bot.stderr[-4000:]}")
        await asyncio.sleep(0.02)
