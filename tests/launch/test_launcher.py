"""The launch use case on its own: a real database, no Discord, a port that records each step.

The end-to-end tests (tests/sora_harness.py) show what members see; these pin down the order
the use case keeps: refusals before any acknowledgement, a held request before any money, and
a job only after the public acknowledgement whose message shows its status.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.app import Store, make_apiframe_client, make_start_image_service, open_store
from bot.config import Settings
from bot.errors import UserError
from bot.jobs.model import Job, JobState
from bot.launch.port import NO_AUDIT_CHANNEL, PreviewFacts
from bot.launch.usecase import Launcher
from bot.ledger.types import InsufficientCredits
from bot.policy.held import PendingKind, PendingRequest
from bot.request import Origin, VideoOptions

GUILD, CHANNEL, MEMBER = 1001, 2002, 3003
STATUS_MESSAGE = 9009
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
OPTIONS = VideoOptions.sora("a cat on a skateboard", 4, "16:9", "standard")


@dataclass
class RecordingPort:
    """A :class:`bot.launch.port.DiscordPort` that writes down what the use case asked of it."""

    calls: list[str] = field(default_factory=list)
    previews: list[tuple[PendingRequest, PreviewFacts]] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)

    async def acknowledge(self) -> int | None:
        self.calls.append("acknowledge")
        return STATUS_MESSAGE

    async def acknowledge_privately(self) -> None:
        self.calls.append("acknowledge_privately")

    async def show_status(self, job: Job) -> None:
        self.calls.append("show_status")

    async def show_preview(self, held: PendingRequest, facts: PreviewFacts) -> None:
        self.calls.append("show_preview")
        self.previews.append((held, facts))

    async def post_approval(self, channel_id: int, held: PendingRequest) -> int | None:
        self.calls.append("post_approval")
        return 7007

    async def answer(self, text: str) -> None:
        self.calls.append("answer")
        self.answers.append(text)


@dataclass
class Rig:
    launcher: Launcher
    store: Store
    wakes: list[None]


def origin(interaction_id: int = 4004) -> Origin:
    return Origin(guild_id=GUILD, channel_id=CHANNEL, user_id=MEMBER, role_ids=(),
                  application_id=5005, interaction_id=interaction_id,
                  interaction_token="token", token_expires_at=T0 + timedelta(minutes=15),
                  attachment_size_limit=10 * 1024 * 1024)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    settings = Settings.model_validate({
        "discord": {"token": "t"}, "apiframe": {"api_key": "afk_test"},
        "database": {"path": str(tmp_path / "bot.sqlite3")},
        "ledger": {"starting_credits": 0},
    })
    wakes: list[None] = []
    images = make_start_image_service(settings)
    try:
        async with open_store(settings, lambda: T0) as store, aiohttp.ClientSession() as http:
            launcher = Launcher(
                settings=settings, ledger=store.ledger, jobs=store.jobs, policy=store.policy,
                pending=store.pending, acks=store.acks, audit=store.audit,
                apiframe=make_apiframe_client(settings, http), images=images,
                wake=lambda: wakes.append(None),
            )
            yield Rig(launcher, store, wakes)
    finally:
        images.close()


async def grant(rig: Rig, amount: int) -> None:
    await rig.store.ledger.grant(GUILD, amount, actor="operator", reason="test")


async def test_a_refusal_comes_before_any_acknowledgement(rig: Rig) -> None:
    port = RecordingPort()
    with pytest.raises(InsufficientCredits):
        await rig.launcher.launch(origin(), OPTIONS, port, model="sora-2-pro")
    assert port.calls == []
    assert await rig.store.db.fetchall("SELECT * FROM open_acks") == []
    assert await rig.store.db.fetchall("SELECT id FROM jobs") == []


async def test_above_the_preview_threshold_the_request_is_held_and_nothing_reserved(
    rig: Rig,
) -> None:
    price = rig.launcher.price("sora-2-pro", OPTIONS)
    await grant(rig, price * 3)
    await rig.store.policy.update(GUILD, actor="user:1", preview_above=price - 1)
    port = RecordingPort()

    assert await rig.launcher.launch(origin(), OPTIONS, port, model="sora-2-pro") is None

    assert port.calls == ["acknowledge_privately", "show_preview"]
    [(held, facts)] = port.previews
    assert (held.kind, held.price, held.user_id, held.options) == (
        PendingKind.PREVIEW, price, MEMBER, OPTIONS)
    assert facts.balance == price * 3
    assert await rig.store.ledger.balance(GUILD) == price * 3
    assert await rig.store.db.fetchall("SELECT id FROM jobs") == []
    assert rig.wakes == []


async def test_approval_without_an_audit_channel_is_refused_before_acknowledging(
    rig: Rig,
) -> None:
    price = rig.launcher.price("sora-2-pro", OPTIONS)
    await grant(rig, price)
    await rig.store.policy.update(GUILD, actor="user:1", approval_above=price - 1)
    port = RecordingPort()
    with pytest.raises(UserError) as refusal:
        await rig.launcher.launch(origin(), OPTIONS, port, model="sora-2-pro")
    assert str(refusal.value) == NO_AUDIT_CHANNEL
    assert port.calls == []


async def test_below_the_thresholds_the_job_is_reserved_and_enqueued(rig: Rig) -> None:
    price = rig.launcher.price("sora-2-pro", OPTIONS)
    await grant(rig, price + 5)
    port = RecordingPort()

    job = await rig.launcher.launch(origin(), OPTIONS, port, model="sora-2-pro")

    assert job is not None
    assert port.calls == ["acknowledge", "show_status"]
    assert (job.state, job.price, job.status_message_id) == (
        JobState.RESERVED, price, STATUS_MESSAGE)
    assert (job.guild_id, job.channel_id, job.user_id, job.prompt) == (
        GUILD, CHANNEL, MEMBER, OPTIONS.prompt)
    assert rig.wakes == [None]
    assert await rig.store.ledger.balance(GUILD) == 5
    # The acknowledgement's note for a crashed run went with the job row.
    assert await rig.store.db.fetchall("SELECT * FROM open_acks") == []
    assert await rig.launcher.job_for(GUILD, job.id) == job
    assert await rig.launcher.job_for(GUILD + 1, job.id) is None
