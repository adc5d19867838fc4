"""Fault injection in the fake Apiframe, and the record it keeps of every request."""

from __future__ import annotations

import json
import time

import aiohttp
import pytest

from tests.fakes.apiframe import FakeApiframe, Fault
from tests.fakes.apiframe_testkit import (
    KEY,
    VALID,
    auth,
    conforms,
    submit,
)

# -- faults and recording ------------------------------------------------------------------


async def test_status_fault_then_normal_service(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    fake.inject("POST /v2/videos/generate", Fault.status(503), times=1)
    assert (await submit(fake, http))[0] == 503
    assert (await submit(fake, http))[0] == 202
    assert fake.created_count == 1 and len(fake.requests) == 2


async def test_rate_limit_sets_retry_after(fake: FakeApiframe, http: aiohttp.ClientSession) -> None:
    fake.inject("GET /v2/jobs/{id}", Fault.rate_limit(retry_after=2), times=1)
    url = f"{fake.base_url}/v2/jobs/b2c3d4e5-f6a7-8901-bcde-f23456789012"
    async with http.get(url, headers=auth()) as response:
        assert response.status == 429 and response.headers["Retry-After"] == "2"
        conforms("ErrorResponse", await response.json())
    async with http.get(url, headers=auth()) as response:
        assert response.status == 404


async def test_reset_drops_the_connection_before_processing(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    fake.inject("POST /v2/videos/generate", Fault.reset(), times=1)
    with pytest.raises(aiohttp.ClientConnectionError):
        await submit(fake, http)
    assert fake.created_count == 0 and fake.credits == 1_000


async def test_reset_after_processing_charges_without_answering(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    fake.inject("POST /v2/videos/generate", Fault.reset(after_processing=True), times=1)
    with pytest.raises(aiohttp.ClientConnectionError):
        await submit(fake, http, **{"Idempotency-Key": "retry-me"})
    assert fake.created_count == 1
    status, answer = await submit(fake, http, **{"Idempotency-Key": "retry-me"})
    assert status == 202 and answer["jobId"] in fake.jobs and fake.created_count == 1


async def test_reset_on_get_needs_two_shots_for_aiohttp(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    # aiohttp's client silently retries an idempotent request once after a reset.
    fake.inject("GET /v2/me", Fault.reset(), times=2)
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.get(f"{fake.base_url}/v2/me", headers=auth()):
            pass
    assert [r.route for r in fake.requests] == ["GET /v2/me"] * 2


async def test_slow_answers_late(fake: FakeApiframe, http: aiohttp.ClientSession) -> None:
    fake.inject("GET /v2/me", Fault.slow(seconds=0.3), times=1)
    started = time.monotonic()
    async with http.get(f"{fake.base_url}/v2/me", headers=auth()) as response:
        assert response.status == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(TimeoutError):
        fake.inject("GET /v2/me", Fault.slow(seconds=30), times=1)
        await http.get(
            f"{fake.base_url}/v2/me", headers=auth(), timeout=aiohttp.ClientTimeout(total=0.1)
        )


async def test_malformed_success_body(fake: FakeApiframe, http: aiohttp.ClientSession) -> None:
    fake.inject("POST /v2/videos/generate", Fault.malformed(), times=1)
    async with http.post(
        f"{fake.base_url}/v2/videos/generate", json=VALID, headers=auth()
    ) as response:
        assert response.status == 202
        with pytest.raises(ValueError):
            json.loads(await response.read())
    assert fake.created_count == 0


async def test_faults_until_cleared_and_unknown_routes(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    fake.inject("GET /v2/me", Fault.status(500), times=None)
    for _ in range(3):
        async with http.get(f"{fake.base_url}/v2/me", headers=auth()) as response:
            assert response.status == 500
    fake.clear_faults()
    async with http.get(f"{fake.base_url}/v2/me", headers=auth()) as response:
        assert response.status == 200
    with pytest.raises(ValueError):
        fake.inject("GET /v2/nope", Fault.status(500))


async def test_requests_are_recorded_without_leaking_the_key(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    await submit(fake, http, **{"Idempotency-Key": "abc"})
    async with http.get(f"{fake.base_url}/v2/jobs?limit=5", headers=auth()):
        pass
    post, listing = fake.requests
    assert (post.method, post.path, post.json) == ("POST", "/v2/videos/generate", VALID)
    assert post.headers["idempotency-key"] == "abc" and post.headers["X-API-Key"] == KEY
    assert (listing.method, listing.query, listing.route) == ("GET", {"limit": "5"}, "GET /v2/jobs")
    assert KEY not in repr(post) and KEY not in repr(fake)
