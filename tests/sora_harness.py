"""Run the real :class:`SoraBot` in the test's event loop against both loopback fakes.

The bot's clock *is* the fake Discord's clock (real time plus ``fake_discord.time_offset``),
so ``fake_discord.advance(960)`` expires interaction tokens for Discord, discord.py and the
job scheduler alike. Apiframe's clock is separate and moves only when a test advances it
(:meth:`SoraHarness.run_until` does that in steps while the scheduler polls).

Usage in a test module::

    @pytest.fixture
    async def start(fake_discord, fake_apiframe, write_config):
        async with harness_factory(fake_discord, fake_apiframe, write_config) as starter:
            yield starter

    async def test_x(start):
        h = await start(jobs={"max_in_flight_per_member": 1})   # FAST config + overrides
        iid = await h.send_sora("a cat", duration=8)
        job = await h.created_job(iid)
        job = await h.run_until(job.id, JobState.DELIVERED)
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from bot.app import Services, SoraBot, open_services
from bot.config import load_settings
from bot.jobs.model import Job, JobState
from tests.conftest import APIFRAME_KEY, DISCORD_TOKEN
from tests.fakes.apiframe import FakeApiframe
from tests.fakes.apiframe_model import RecordedRequest as ApiframeRequest
from tests.fakes.discord import FakeDiscord, FakeGuild, StoredMessage
from tests.fakes.discord_harness import connected_client

STRING, INTEGER, ATTACHMENT = 3, 4, 11
EPHEMERAL = 1 << 6
MEMBER = 2_000_000_000_000_000_001
STARTING_CREDITS = 500
GENERATE = "POST /v2/videos/generate"
UPLOAD = "POST /v2/uploads"
POLL = "GET /v2/jobs/{id}"
#: The job listing the batched poller reads (one call looks at up to 100 jobs).
LIST = "GET /v2/jobs"
CHANNEL_MESSAGES = "/channels/{channel_id}/messages"
CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"
ORIGINAL = "/webhooks/{webhook_id}/{webhook_token}/messages/@original"

#: Test settings: fast polls and edits, no client-side retries (the scheduler's own retry
#: path is what is under test), and a small video so deliveries take milliseconds.
FAST: dict[str, dict[str, Any]] = {
    "apiframe": {"poll_interval_seconds": 0.2, "max_retries": 0},
    "jobs": {"progress_edit_interval_seconds": 1, "token_margin_seconds": 30},
    "ledger": {"starting_credits": STARTING_CREDITS},
    "logging": {"level": "INFO"},
}
SMALL_VIDEO = 64 * 1024


def png(width: int = 64, height: int = 48) -> bytes:
    """A real, decodable PNG (the bot checks magic bytes *and* decodes)."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(out, format="PNG")
    return out.getvalue()


def uncompressed_png(width: int, height: int) -> bytes:
    """A PNG stored without compression: about ``width * height * 3`` bytes."""
    out = io.BytesIO()
    Image.frombytes(
        "RGB", (width, height), bytes(range(256)) * (width * height * 3 // 256 + 1)
    ).save(out, format="PNG", compress_level=0)
    return out.getvalue()


def string(name: str, value: Any) -> dict[str, Any]:
    return {"name": name, "type": STRING, "value": value}


def integer(name: str, value: Any) -> dict[str, Any]:
    return {"name": name, "type": INTEGER, "value": value}


def attachment(name: str, value: dict[str, Any]) -> dict[str, Any]:
    """An attachment option; ``value`` is ``fake.cdn.add(...)``, resolved by the fake."""
    return {"name": name, "type": ATTACHMENT, "value": value}


class ConfigWriter(Protocol):
    def __call__(self, **sections: dict[str, Any]) -> Path: ...


@dataclass
class SoraHarness:
    discord: FakeDiscord
    apiframe: FakeApiframe
    services: Services
    bot: SoraBot
    guild: FakeGuild

    # -- sending /sora -------------------------------------------------------------------

    async def send_sora(
        self,
        prompt: Any = "a red fox running through fresh snow at dawn",
        *,
        user_id: int = MEMBER,
        duration: Any = None,
        aspect_ratio: Any = None,
        resolution: Any = None,
        start_image: dict[str, Any] | None = None,
        **context: Any,
    ) -> int:
        """Send ``/sora`` as Discord does (typed options, omitted when None); return its id."""
        options = [string("prompt", prompt)]
        if duration is not None:
            options.append(integer("duration", duration))
        if aspect_ratio is not None:
            options.append(string("aspect_ratio", aspect_ratio))
        if resolution is not None:
            options.append(string("resolution", resolution))
        if start_image is not None:
            options.append(attachment("start_image", start_image))
        return await self.send_options(options, user_id=user_id, **context)

    async def send_options(
        self, options: Sequence[dict[str, Any]], *, user_id: int = MEMBER, **context: Any
    ) -> int:
        """A raw ``/sora`` with exactly these wire options (hostile values welcome)."""
        iid, _token = await self.discord.send_slash_command(
            self.guild, user_id, "sora", options=options, **context
        )
        return iid

    # -- waiting ---------------------------------------------------------------------------

    @staticmethod
    async def until(
        predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 5.0, what: str = ""
    ) -> None:
        async def poll() -> None:
            while True:
                outcome = predicate()
                if not isinstance(outcome, bool):
                    outcome = await outcome
                if outcome:
                    return
                await asyncio.sleep(0.01)

        try:
            await asyncio.wait_for(poll(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or predicate}"
            ) from None

    async def acked(self, iid: int) -> None:
        await self.until(
            lambda: self.discord.interactions[iid].acknowledged,
            what=f"interaction {iid} to be acknowledged",
        )

    async def reply(self, iid: int, *, ephemeral: bool = True) -> StoredMessage:
        """The first message of this interaction (response or followup) with that ephemerality."""
        await self.until(
            lambda: self._replies(iid, ephemeral) != [], what=f"a reply to interaction {iid}"
        )
        return self._replies(iid, ephemeral)[0]

    def _replies(self, iid: int, ephemeral: bool) -> list[StoredMessage]:
        return [
            m
            for m in self.discord.messages[self.guild.channel_id]
            if m.interaction_id == iid and m.ephemeral == ephemeral and not m.loading
        ]

    async def job_of(self, iid: int) -> Job | None:
        row = await self.services.store.db.fetchone(
            "SELECT * FROM jobs WHERE interaction_id = ?", (iid,)
        )
        return Job.from_row(row) if row else None

    async def created_job(self, iid: int, timeout: float = 5.0) -> Job:
        await self.until(lambda: self._exists(iid), timeout, f"a job row for {iid}")
        job = await self.job_of(iid)
        assert job is not None
        return job

    async def _exists(self, iid: int) -> bool:
        return await self.job_of(iid) is not None

    async def job(self, job_id: str) -> Job:
        job = await self.services.store.jobs.get(job_id)
        assert job is not None, job_id
        return job

    async def run_until(
        self,
        job_id: str,
        *states: JobState,
        step: float = 2.0,
        pause: float = 0.05,
        timeout: float = 10.0,
        notified: bool = True,
    ) -> Job:
        """Move Apiframe's clock ``step`` seconds at a time until the job is in ``states``.

        A refunded job also waits for its notice (``notified_at``) unless ``notified=False``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            job = await self.job(job_id)
            if job.state in states and (
                not notified or job.state is not JobState.REFUNDED or job.notified_at
            ):
                return job
            if loop.time() > deadline:
                raise AssertionError(f"job {job_id} stuck in {job.state} (wanted {states})")
            self.apiframe.clock.advance(step)
            self.bot.scheduler.wake()
            await asyncio.sleep(pause)

    # -- reading state --------------------------------------------------------------------

    async def balance(self) -> int:
        return await self.services.store.ledger.balance(self.guild.id)

    async def journal(self) -> list[tuple[str, int, str | None]]:
        """``(kind, delta, job_id)`` of the guild's ledger journal, oldest first."""
        rows = await self.services.store.db.fetchall(
            "SELECT kind, delta, job_id FROM ledger_journal WHERE guild_id = ? ORDER BY id",
            (self.guild.id,),
        )
        return [(str(r["kind"]), int(r["delta"]), r["job_id"]) for r in rows]

    async def job_count(self) -> int:
        row = await self.services.store.db.fetchone("SELECT COUNT(*) AS n FROM jobs", ())
        assert row is not None
        return int(row["n"])

    def apiframe_requests(self, route: str) -> list[ApiframeRequest]:
        return [r for r in self.apiframe.requests if r.route == route]

    def channel_messages(self) -> list[StoredMessage]:
        """What members see in the channel: the bot's non-ephemeral messages."""
        return [m for m in self.discord.messages[self.guild.channel_id] if not m.ephemeral]

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.discord.now(), UTC)


Starter = Callable[..., Awaitable[SoraHarness]]


def leaked_secrets(log_text: str, fake_discord: FakeDiscord) -> list[str]:
    """Which credentials (bot token, API key, interaction tokens) appear in ``log_text``."""
    secrets = {"discord token": DISCORD_TOKEN, "apiframe key": APIFRAME_KEY}
    for interaction in fake_discord.interactions.values():
        secrets[f"token of interaction {interaction.id}"] = interaction.token
    return [name for name, value in secrets.items() if value in log_text]


@asynccontextmanager
async def harness_factory(
    fake_discord: FakeDiscord, fake_apiframe: FakeApiframe, write_config: ConfigWriter
) -> AsyncIterator[Starter]:
    """Yield ``start(**sections)``: write config (FAST + overrides), start the bot, connect it."""
    async with AsyncExitStack() as stack:

        async def start(**overrides: dict[str, Any]) -> SoraHarness:
            sections = {name: dict(table) for name, table in FAST.items()}
            for name, table in overrides.items():
                sections.setdefault(name, {}).update(table)
            settings = load_settings(write_config(**sections), env={})
            fake_apiframe.video_size = SMALL_VIDEO
            guild = fake_discord.add_guild("Video Club")

            def clock() -> datetime:
                return datetime.fromtimestamp(fake_discord.now(), UTC)

            services = await stack.enter_async_context(open_services(settings, clock))
            bot = SoraBot(services, run_jobs=True, guild_ready_timeout=0.1)
            await stack.enter_async_context(connected_client(fake_discord, bot))
            return SoraHarness(fake_discord, fake_apiframe, services, bot, guild)

        yield start
