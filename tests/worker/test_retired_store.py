"""The retired-models store on a real database, and how a provider's failure text is read.

Marking must hold under concurrent failures (jobs of one model all fail at once when it
retires): exactly one caller marks it and writes the audit entry; the rest see it marked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.apiframe.client import JobStatus, ProviderJob
from bot.apiframe.errors import is_retired_model_error
from bot.app import Store, open_store
from bot.config import Settings
from bot.jobs.events import EventKind, event_from_job
from bot.jobs.model import FailureKind
from tests.fakes.apiframe_model import RETIRED_FAILURE
from tests.support.postgres import BACKENDS, PgServer

GUILD = 1_000_000_000_000_000_001
T0 = datetime(2026, 10, 22, 12, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
async def store(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    # Wired by open_store from the config, as the bot is: a file, or a [database] url.
    database: dict[str, str] = {"path": str(tmp_path / "bot.sqlite3")}
    if request.param == "postgresql":
        server: PgServer = request.getfixturevalue("pg_server")
        database = {"url": await server.create_database()}
    settings = Settings.model_validate({
        "discord": {"token": "t"}, "apiframe": {"api_key": "afk_test"},
        "database": database,
    })
    async with open_store(settings, lambda: T0) as opened:
        yield opened


async def test_concurrent_failures_mark_a_model_once_with_one_audit_entry(store: Store) -> None:
    marks = await asyncio.gather(*(
        store.retired.mark("sora-2-pro", RETIRED_FAILURE, job_id=f"job-{n}", guild_id=GUILD)
        for n in range(8)))

    [first] = [mark for mark in marks if mark is not None]
    assert first.model == "sora-2-pro" and first.retired_at == T0
    assert first.detail == RETIRED_FAILURE and first.job_id is not None
    assert await store.retired.all() == {"sora-2-pro": first}
    [event] = await store.audit.events(GUILD)
    assert f"`{first.job_id}`" in event.text
    assert "sora-bot models --restore sora-2-pro" in event.text


async def test_restore_clears_the_mark_once(store: Store) -> None:
    await store.retired.mark("veo-3", "unknown model", job_id=None, guild_id=None)
    assert await store.retired.ids() == frozenset({"veo-3"})
    assert await store.audit.events(GUILD) == []  # no guild named: no audit entry

    restored = await store.retired.restore("veo-3")
    assert restored is not None and restored.detail == "unknown model"
    assert await store.retired.restore("veo-3") is None
    assert await store.retired.ids() == frozenset()
    # Marked again later (it failed again): a new mark, alerted again.
    assert await store.retired.mark("veo-3", "again", job_id=None, guild_id=GUILD) is not None


@pytest.mark.parametrize("text", [
    RETIRED_FAILURE,
    "Provider returned an error: Model not found.",
    "The model sora-2 has been retired on 2026-09-24",
    "model_not_found",
    "unknown model 'veo-3.1-preview'",
    "The requested model does not exist",
    "This model is no longer available",
    "model was shut down",
])
def test_a_gone_model_is_recognised(text: str) -> None:
    assert is_retired_model_error(text)


@pytest.mark.parametrize("text", [
    None, "", "GPU worker crashed", "model overloaded, try again later",
    "the model is temporarily unavailable", "Unknown model parameter: seed",
    "the model removed the watermark", "Provider returned an error: content policy violation",
    "job not found",
])
def test_a_passing_error_is_not_a_retirement(text: str | None) -> None:
    assert not is_retired_model_error(text)


def test_a_running_job_failing_on_its_model_is_a_model_retired_event() -> None:
    def failed(error: str) -> ProviderJob:
        return ProviderJob.model_validate({
            "id": "af-1", "status": JobStatus.FAILED, "model": "sora-2-pro", "error": error,
            "createdAt": "2026-10-22T12:00:00.000Z"})

    event = event_from_job(failed(RETIRED_FAILURE))
    assert (event.kind, event.failure) == (EventKind.FAILED, FailureKind.MODEL_RETIRED)
    assert event_from_job(failed("GPU worker crashed")).failure is FailureKind.PROVIDER_ERROR
    # Moderation wins when a text says both: never blame the model for a refused prompt.
    both = "content policy violation: model not found for safety reasons"
    assert event_from_job(failed(both)).failure is FailureKind.CONTENT_POLICY
