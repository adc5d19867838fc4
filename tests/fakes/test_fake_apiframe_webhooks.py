"""Webhooks from the fake: the SDK's signature scheme and delivery on ``tick()``."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.fakes.apiframe import FakeApiframe
from tests.fakes.apiframe_webhooks import sign, verify

KEY = "afk_test_key_0000000000"
# Reference §13.4, computed with the official SDK's method.
VECTOR_KEY = "afk_0000000000000000000000000000000000000000"
VECTOR_BODY = b'{"jobId":"abc","status":"COMPLETED"}'
VECTOR_SIG = "sha256=58e6d7af820911d918b1b43ade255ec260002ca8b24ba46dd057a99d192c89f4"
VECTOR_HEX_KEYED = "2cb660473e59908c969f761f7444eda6c9067d13d2d83a0057fb8fb5197c60af"


@dataclass
class Receiver:
    url: str = ""
    status: int = 204
    hits: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        return [(headers["X-Webhook-Event"], json.loads(body)) for headers, body in self.hits]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def hook(request: web.Request) -> web.Response:
        state.hits.append((dict(request.headers), await request.read()))
        return web.Response(status=state.status)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield state
    await runner.cleanup()


@pytest.fixture
async def fake() -> AsyncIterator[FakeApiframe]:
    async with FakeApiframe(api_key=KEY) as server:
        yield server


async def submit(fake: FakeApiframe, **extra: Any) -> str:
    body = {"prompt": "p", "model": "sora-2-pro", **extra}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{fake.base_url}/v2/videos/generate", json=body, headers={"X-API-Key": KEY}
        ) as response,
    ):
        assert response.status == 202
        job_id: str = (await response.json())["jobId"]
        return job_id


def test_signature_matches_the_reference_vector() -> None:
    assert hashlib.sha256(VECTOR_KEY.encode()).hexdigest() == (
        "382a5d4e99097be0aae13d079c926456aecf0f08d668a01a0da17badbfcf7ccb"
    )
    assert sign(VECTOR_KEY, VECTOR_BODY) == VECTOR_SIG
    assert verify(VECTOR_KEY, VECTOR_BODY, VECTOR_SIG)
    assert verify(VECTOR_KEY, VECTOR_BODY, VECTOR_SIG.removeprefix("sha256="))
    assert not verify(VECTOR_KEY, VECTOR_BODY, "sha256=" + VECTOR_HEX_KEYED)
    assert not verify(VECTOR_KEY, VECTOR_BODY + b" ", VECTOR_SIG)
    assert not verify(VECTOR_KEY, VECTOR_BODY, VECTOR_SIG[:-2])


async def test_tick_delivers_signed_progress_then_completed(
    fake: FakeApiframe, receiver: Receiver
) -> None:
    job_id = await submit(fake, webhookUrl=receiver.url)
    assert fake.jobs[job_id].webhook_status == "pending"
    assert await fake.tick() == []  # still QUEUED: nothing to say
    fake.clock.advance(20)
    await fake.tick()
    await fake.tick()  # no change since the last tick: no duplicate
    fake.clock.advance(20)
    await fake.tick()
    fake.clock.advance(60)
    await fake.tick()
    events = receiver.events()
    assert [name for name, _ in events] == ["progress", "progress", "completed"]
    first, second = events[0][1]["progress"], events[1][1]["progress"]
    assert 0 < first < second < 100
    assert events[0][1] == {
        "event": "progress",
        "jobId": job_id,
        "status": "PROCESSING",
        "progress": first,
        "model": "sora-2-pro",
    }
    assert events[2][1] == {
        "event": "completed",
        "jobId": job_id,
        "status": "COMPLETED",
        "progress": 100,
        "result": {"videoUrl": f"{fake.base_url}/cdn/videos/{job_id}.mp4"},
        "model": "sora-2-pro",
        "creditCost": 12,
        "completedAt": "2026-03-15T10:01:05.000Z",
    }
    secret = hashlib.sha256(KEY.encode()).digest()
    for headers, body in receiver.hits:
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        assert headers["X-Webhook-Signature"] == expected
        assert headers["Content-Type"] == "application/json"
    assert fake.jobs[job_id].webhook_status == "delivered"
    assert len(fake.webhook_deliveries) == 3 and all(d.ok for d in fake.webhook_deliveries)


async def test_only_subscribed_events_are_sent(fake: FakeApiframe, receiver: Receiver) -> None:
    fake.script_next_job(outcome="FAILED", error="Provider timeout")
    job_id = await submit(fake, webhookUrl=receiver.url, webhookEvents=["failed"])
    for _ in range(4):
        fake.clock.advance(20)
        await fake.tick()
    assert receiver.events() == [
        (
            "failed",
            {
                "event": "failed",
                "jobId": job_id,
                "status": "FAILED",
                "error": "Provider timeout",
                "model": "sora-2-pro",
            },
        )
    ]


async def test_failed_delivery_is_recorded(fake: FakeApiframe, receiver: Receiver) -> None:
    receiver.status = 500
    fake.script_next_job(queued_s=0, processing_s=1)
    job_id = await submit(fake, webhookUrl=receiver.url, webhookEvents=["completed"])
    fake.clock.advance(1)
    (delivery,) = await fake.tick()
    assert (delivery.status, delivery.ok) == (500, False)
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{fake.base_url}/v2/jobs/{job_id}", headers={"X-API-Key": KEY}) as response,
    ):
        assert (await response.json())["webhookStatus"] == "failed"


async def test_unreachable_receiver_does_not_break_tick(fake: FakeApiframe) -> None:
    fake.script_next_job(queued_s=0, processing_s=0)
    job_id = await submit(fake, webhookUrl="http://127.0.0.1:9/hook")
    (delivery,) = await fake.tick()
    assert delivery.status is None and delivery.error
    assert fake.jobs[job_id].webhook_status == "failed"


async def test_jobs_without_webhook_url_send_nothing(
    fake: FakeApiframe, receiver: Receiver
) -> None:
    job_id = await submit(fake)
    fake.clock.advance(100)
    assert await fake.tick() == []
    assert fake.jobs[job_id].webhook_status is None and receiver.hits == []
