"""Apiframe webhooks through the bot's listener: a job finished by webhook alone, refusals that
change nothing, a webhook racing a poll, and polling taking over when webhooks stop."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from bot.jobs.events import event_from_job
from bot.jobs.model import IN_FLIGHT, Job, JobState
from tests.conftest import APIFRAME_KEY
from tests.fakes.apiframe_model import Fault, WebhookDelivery
from tests.fakes.apiframe_webhooks import sign
from tests.sora_harness import GENERATE, LIST, POLL, SoraHarness, Starter
from tests.web.conftest import free_port, snapshot, web_section


async def submitted(h: SoraHarness, prompt: str = "a heron lifting off a lake") -> Job:
    iid = await h.send_sora(prompt)
    job = await h.created_job(iid)

    async def is_submitted() -> bool:
        return (await h.job(job.id)).state is JobState.SUBMITTED

    await h.until(is_submitted, what="the job to be submitted")
    return await h.job(job.id)


async def tick(h: SoraHarness, seconds: float) -> list[WebhookDelivery]:
    """Move Apiframe's clock and let it send what it owes."""
    h.apiframe.clock.advance(seconds)
    return await h.apiframe.tick()


async def until_state(h: SoraHarness, job_id: str, state: JobState) -> Job:
    """Wait for the job to reach ``state``; a finished job also waits for its lease to be
    released (the worker's last write), so a snapshot taken next is the settled one."""
    settles = state not in IN_FLIGHT

    async def reached() -> bool:
        job = await h.job(job_id)
        return job.state is state and not (settles and job.lease_owner is not None)

    await h.until(reached, timeout=10, what=f"job {job_id} to reach {state}")
    return await h.job(job_id)


def webhook_url(h: SoraHarness) -> str:
    body = h.apiframe_requests(GENERATE)[-1].json
    assert isinstance(body, dict)
    return str(body["webhookUrl"])


async def post(url: str, body: bytes, signature: str | None = None) -> int:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Webhook-Signature"] = signature
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        return r.status


async def test_a_job_finished_by_webhooks_alone(
    start: Starter, caplog: pytest.LogCaptureFixture
) -> None:
    h = await start(web=web_section(free_port()))
    job = await submitted(h)
    body = h.apiframe_requests(GENERATE)[0].json
    assert body["webhookEvents"] == ["progress", "completed", "failed"]
    query = parse_qs(urlsplit(body["webhookUrl"]).query)
    assert query["job"] == [job.id] and len(query["token"][0]) == 32

    deliveries = await tick(h, 30)  # halfway: a progress event moves the card
    assert [d.event for d in deliveries] == ["progress"] and deliveries[0].ok
    progressed = await h.job(job.id)
    assert progressed.state is JobState.SUBMITTED and (progressed.progress or 0) > 0

    deliveries = await tick(h, 40)
    assert [d.event for d in deliveries] == ["completed"] and deliveries[0].ok
    done = await until_state(h, job.id, JobState.DELIVERED)
    assert done.result_url is not None
    assert len(h.apiframe_requests(POLL)) <= 1  # at most one confirming GET
    assert len(h.apiframe_requests(GENERATE)) == 1
    assert [kind for kind, _d, _j in await h.journal()].count("refund") == 0
    assert h.bot.webhooks is not None and h.bot.webhooks.healthy()
    assert query["token"][0] not in caplog.text  # the URL's token is a secret too


async def test_refused_deliveries_change_nothing(start: Starter) -> None:
    h = await start(web=web_section(free_port()))
    job = await submitted(h)
    url = webhook_url(h)
    early = await tick(h, 20)
    assert [d.event for d in early] == ["progress"]
    await tick(h, 20)  # a later progress: the early one is now a replay
    before = await snapshot(h)

    completed = json.dumps({"event": "completed", "jobId": job.apiframe_job_id,
                            "status": "COMPLETED", "progress": 100,
                            "result": {"videoUrl": f"{h.apiframe.base_url}/cdn/videos/x.mp4"}
                            }).encode()
    assert await post(url, completed) == 401  # no signature
    assert await post(url, completed, "sha256=" + "0" * 64) == 401
    assert await post(url, completed, sign("afk_some_other_key_000000", completed)) == 401
    garbage = b"{not json"
    assert await post(url, garbage, sign(APIFRAME_KEY, garbage)) == 400
    huge = json.dumps({"jobId": job.apiframe_job_id, "pad": "x" * 8000}).encode()
    assert await post(url, huge, sign(APIFRAME_KEY, huge)) == 413

    async def chunks():  # no Content-Length: refused while reading, not after
        for _ in range(10):
            yield b" " * 1000

    async with aiohttp.ClientSession() as http, http.post(
        url, data=chunks(), headers={"X-Webhook-Signature": sign(APIFRAME_KEY, b"")}
    ) as response:
        assert response.status == 413
    # Signed by Apiframe's key, but not to a URL the bot issued for this Apiframe job.
    signed = sign(APIFRAME_KEY, completed)
    bare = url.split("?")[0]
    assert await post(bare, completed, signed) == 404
    assert await post(url.replace("token=", "token=0"), completed, signed) == 404
    other = completed.replace(str(job.apiframe_job_id).encode(), b"someone-elses-job")
    assert await post(url, other, sign(APIFRAME_KEY, other)) == 404
    # A captured earlier progress event, replayed: answered, and nothing moves backwards.
    assert await post(early[0].url, early[0].body, early[0].signature) == 200
    assert await snapshot(h) == before

    finished = await tick(h, 30)
    assert [d.event for d in finished] == ["completed"]
    await until_state(h, job.id, JobState.DELIVERED)
    delivered = await snapshot(h)
    # The completed event replayed after delivery: 200, and still one delivery, one charge.
    for _ in range(2):
        assert await post(finished[0].url, finished[0].body, finished[0].signature) == 200
    await asyncio.sleep(0.2)
    assert await snapshot(h) == delivered
    assert len([m for m in h.channel_messages() if m.attachments]) == 1


async def test_a_webhook_racing_a_poll_applies_once(start: Starter) -> None:
    h = await start(web=web_section(free_port()))
    job = await submitted(h)
    assert job.apiframe_job_id is not None
    h.apiframe.clock.advance(70)  # finished on Apiframe's side; nothing sent yet

    async def poll() -> None:
        remote = await h.services.apiframe.get_job(str(job.apiframe_job_id))
        await h.bot.scheduler.apply_event(event_from_job(remote))

    sent, *_ = await asyncio.gather(h.apiframe.tick(), poll(), poll())
    await until_state(h, job.id, JobState.DELIVERED)
    # Late arrivals of both routes, again side by side: the job stays delivered, once.
    await asyncio.gather(poll(), post(sent[0].url, sent[0].body, sent[0].signature))
    await asyncio.sleep(0.3)  # room for a second delivery, if one were coming
    assert (await h.job(job.id)).state is JobState.DELIVERED
    assert len([m for m in h.channel_messages() if m.attachments]) == 1
    journal = await h.journal()
    assert [(kind, j) for kind, _d, j in journal if j == job.id] == [("reserve", job.id)]
    assert await h.balance() + job.price == 500


async def test_polling_takes_over_when_webhooks_stop(start: Starter) -> None:
    # Apiframe is told to post to a port nothing listens on: every delivery fails. The slow
    # pace (600 s) would outlast the test: polling must come back once the quiet 1.5 s pass.
    web = web_section(free_port(), public_url=f"http://127.0.0.1:{free_port()}",
                      webhook_poll_interval_seconds=600, webhook_quiet_seconds=1.5)
    h = await start(web=web)
    job = await submitted(h)
    assert h.bot.webhooks is not None and h.bot.webhooks.healthy()  # presumed, at first
    failed: list[WebhookDelivery] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while (await h.job(job.id)).state is not JobState.DELIVERED:
        assert loop.time() < deadline, "polling never picked the job up"
        failed += await tick(h, 5)
        h.bot.scheduler.wake()
        await asyncio.sleep(0.1)
    assert failed and not any(d.ok for d in failed)
    assert h.apiframe_requests(LIST)  # the batched poller's listing found it finished
    assert not h.bot.webhooks.healthy()  # so new jobs are polled at the normal rate again
    assert [kind for kind, _d, _j in await h.journal()].count("refund") == 0


async def test_a_webhook_that_beats_the_submissions_answer_changes_nothing(
    start: Starter,
) -> None:
    h = await start(web=web_section(free_port()))
    # Apiframe creates the job at once but holds its 202: its first event comes first.
    h.apiframe.inject(GENERATE, Fault.slow(1.0, after_processing=True))
    iid = await h.send_sora("a kite over a windy beach")
    job = await h.created_job(iid)
    await h.until(lambda: bool(h.apiframe.jobs), what="Apiframe to create the job")
    before = await snapshot(h)
    early = await tick(h, 30)
    assert [(d.event, d.status) for d in early] == [("progress", 503)]
    assert await snapshot(h) == before and (await h.job(job.id)).state is JobState.RESERVED
    await until_state(h, job.id, JobState.SUBMITTED)  # the answer arrives; webhooks resume
    later = await tick(h, 40)
    assert [(d.event, d.status) for d in later] == [("completed", 200)]
    await until_state(h, job.id, JobState.DELIVERED)
