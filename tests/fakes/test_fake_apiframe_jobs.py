"""The fake Apiframe's jobs on its clock: lifecycle, refunds, expiry, listing and ``/v2/me``."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.fakes.apiframe import FakeApiframe
from tests.fakes.apiframe_testkit import (
    JOB_REQUIRED,
    KEY,
    VALID,
    auth,
    conforms,
    get_job,
    submit,
)

# -- lifecycle -----------------------------------------------------------------------------


async def test_completed_lifecycle_on_the_clock(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    job_id = (await submit(fake, http))[1]["jobId"]
    seen: list[dict[str, Any]] = []
    for step in [0, 4.9, 0.1, *[6.0] * 9, 6.0]:
        fake.clock.advance(step)
        status, body = await get_job(fake, http, job_id)
        assert status == 200
        conforms("Job", body)
        assert set(body) == JOB_REQUIRED | {"result", "expired", "input"}
        seen.append(body)
    assert [b["status"] for b in seen[:2]] == ["QUEUED", "QUEUED"]
    assert {b["progress"] for b in seen[:2]} == {0}
    running = [b["progress"] for b in seen if b["status"] == "PROCESSING"]
    assert len(running) >= 5 and running == sorted(running) and len(set(running)) == len(running)
    assert all(1 <= p <= 99 for p in running)
    done = seen[-1]
    assert done["status"] == "COMPLETED" and done["progress"] == 100
    assert done["result"] == {"videoUrl": f"{fake.base_url}/cdn/videos/{job_id}.mp4"}
    assert done["creditCost"] == 40 and done["error"] is None and done["expired"] is False
    assert (done["createdAt"], done["completedAt"]) == (
        "2026-03-15T10:00:00.000Z",
        "2026-03-15T10:01:05.000Z",
    )
    assert done["input"] == VALID


async def test_legacy_string_result_shape(fake: FakeApiframe, http: aiohttp.ClientSession) -> None:
    fake.result_shape = "string"
    fake.script_next_job(queued_s=0, processing_s=1)
    job_id = (await submit(fake, http))[1]["jobId"]
    fake.clock.advance(1)
    body = (await get_job(fake, http, job_id))[1]
    assert body["result"] == f"{fake.base_url}/cdn/videos/{job_id}.mp4"
    conforms("Job", body)


async def test_failed_job_is_refunded_exactly_once(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    fake.script_next_job(outcome="FAILED", queued_s=1, processing_s=2)
    job_id = (await submit(fake, http))[1]["jobId"]
    assert fake.credits == 960
    fake.clock.advance(3)
    assert fake.credits == 1_000  # refunded as time passes, before anyone polls
    for _ in range(3):
        fake.clock.advance(100)
        body = (await get_job(fake, http, job_id))[1]
        conforms("Job", body)
    assert fake.credits == 1_000
    assert body["status"] == "FAILED" and body["result"] is None and body["creditCost"] == 0
    assert body["error"] == "Provider returned an error: content policy violation"
    assert body["completedAt"] == "2026-03-15T10:00:03.000Z"


async def test_cancelled_jobs_are_refunded_and_have_no_result(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    fake.script_next_job(outcome="CANCELLED", error="ignored")
    scripted = (await submit(fake, http))[1]["jobId"]
    by_hand = (await submit(fake, http))[1]["jobId"]
    fake.clock.advance(10)
    fake.cancel(by_hand)
    fake.clock.advance(100)
    for job_id in (scripted, by_hand):
        body = (await get_job(fake, http, job_id))[1]
        conforms("Job", body)
        assert (body["status"], body["result"], body["creditCost"]) == ("CANCELLED", None, 0)
    assert fake.credits == 1_000


async def test_custom_failure_text(fake: FakeApiframe, http: aiohttp.ClientSession) -> None:
    fake.script_next_job(outcome="FAILED", error="Provider timeout", queued_s=0, processing_s=0)
    job_id = (await submit(fake, http))[1]["jobId"]
    assert (await get_job(fake, http, job_id))[1]["error"] == "Provider timeout"


async def test_results_expire_after_retention(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    fake.script_next_job(queued_s=0, processing_s=1)
    job_id = (await submit(fake, http))[1]["jobId"]
    fake.clock.advance(1 + 24 * 3600)
    assert (await get_job(fake, http, job_id))[1]["expired"] is True
    async with http.get(f"{fake.base_url}/cdn/videos/{job_id}.mp4") as response:
        assert response.status == 404


@pytest.mark.parametrize(
    ("job_id", "status"),
    [
        ("not-a-uuid", 400),
        ("b2c3d4e5-f6a7-8901-bcde-f23456789012", 404),
    ],
)
async def test_get_job_bad_or_unknown_id(
    fake: FakeApiframe, http: aiohttp.ClientSession, job_id: str, status: int
) -> None:
    got, body = await get_job(fake, http, job_id)
    assert got == status
    conforms("ErrorResponse", body)


async def test_another_users_job_is_404(fake: FakeApiframe, http: aiohttp.ClientSession) -> None:
    fake.add_api_key("afk_someone_else")
    job_id = (await submit(fake, http))[1]["jobId"]
    assert (await get_job(fake, http, job_id, key="afk_someone_else")) == (
        404,
        {"error": "Job not found"},
    )


# -- list and me ---------------------------------------------------------------------------


async def test_list_pages_newest_first(fake: FakeApiframe, http: aiohttp.ClientSession) -> None:
    ids = []
    for _ in range(5):
        ids.append((await submit(fake, http, {"prompt": "p", "model": "sora-2"}))[1]["jobId"])
        fake.clock.advance(1)
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        async with http.get(f"{fake.base_url}/v2/jobs", params=query, headers=auth()) as r:
            body = await r.json()
        conforms("JobList", body)
        pages.append([job["id"] for job in body["jobs"]])
        if not body["hasMore"]:
            assert body["nextCursor"] is None
            break
        cursor = body["nextCursor"]
    assert pages == [ids[4:2:-1], ids[2:0:-1], ids[:1]]


async def test_list_filters(fake: FakeApiframe, http: aiohttp.ClientSession) -> None:
    await submit(fake, http, {"prompt": "p", "model": "sora-2"})
    fake.script_next_job(outcome="FAILED", queued_s=0, processing_s=0)
    failed = (await submit(fake, http))[1]["jobId"]
    query = {"status": "FAILED", "model": "sora-2-pro", "include_models": "true"}
    async with http.get(f"{fake.base_url}/v2/jobs", params=query, headers=auth()) as r:
        body = await r.json()
    assert [job["id"] for job in body["jobs"]] == [failed]
    assert body["models"] == ["sora-2-pro"]


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"status": "DONE"},
        {"cursor": "!!!"},
        {"search": "nope"},
        {"scope": "world"},
    ],
)
async def test_list_rejects_bad_queries(
    fake: FakeApiframe, http: aiohttp.ClientSession, query: dict[str, str]
) -> None:
    async with http.get(f"{fake.base_url}/v2/jobs", params=query, headers=auth()) as response:
        assert response.status == 400
        conforms("ValidationError", await response.json())


async def test_team_scope_needs_an_admin(fake: FakeApiframe, http: aiohttp.ClientSession) -> None:
    fake.add_api_key("afk_member")
    await submit(fake, http, key="afk_member")
    url = f"{fake.base_url}/v2/jobs?scope=team"
    async with http.get(url, headers=auth("afk_member")) as response:
        assert response.status == 403
    async with http.get(url, headers=auth()) as response:
        assert len((await response.json())["jobs"]) == 1


async def test_me_is_the_union_of_both_documented_shapes(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    await submit(fake, http)
    async with http.get(f"{fake.base_url}/v2/me", headers=auth()) as response:
        body = await response.json()
    conforms("Me", body)
    assert body["team"]["credits"] == 960 and body["team"]["maxConcurrentJobs"] == 10
    assert body["user"]["role"] == "ADMIN" and body["apiKey"]["prefix"] == KEY[:8]
    assert KEY not in json.dumps(body)
