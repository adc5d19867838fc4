"""ApiframeClient against the loopback fake Apiframe (tests/fakes/apiframe.py).

Retry waits go through an injected ``sleep`` that records instead of sleeping, and jitter
comes from an injected ``random``, so every wait is asserted exactly. Edge cases the fake
has no knob for (HTTP-date Retry-After, 409, 501, redirects, chunked oversize downloads,
schema violations) are in test_apiframe_edges.py.
"""

from __future__ import annotations

import logging
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from bot.apiframe.client import ApiframeClient
from bot.apiframe.download_guard import DownloadGate, DownloadPolicy
from bot.apiframe.errors import (
    ApiframeError,
    ApiframeTimeout,
    AuthError,
    MalformedResponse,
    NotFound,
    ProviderOutOfCredits,
    ResponseTooLarge,
    ServerError,
    TransportError,
    ValidationFailed,
)
from bot.apiframe.models import JobStatus, SoraParams
from tests.fakes.apiframe import FakeApiframe, Fault

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
PARAMS = SoraParams(duration=4, aspect_ratio="16:9", resolution="standard")

MakeClient = Callable[..., ApiframeClient]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
async def downloads() -> AsyncIterator[DownloadGate]:
    """The fake's CDN is on 127.0.0.1: that host and loopback addresses allowed explicitly."""
    async with DownloadGate(DownloadPolicy(frozenset({"127.0.0.1"}), allow_private=True)) as gate:
        yield gate


@pytest.fixture
def make_client(
    session: aiohttp.ClientSession,
    fake_apiframe: FakeApiframe,
    waits: list[float],
    downloads: DownloadGate,
) -> MakeClient:
    async def record(seconds: float) -> None:
        waits.append(seconds)

    def make(**overrides: Any) -> ApiframeClient:
        kwargs: dict[str, Any] = {
            "api_key": SecretStr(fake_apiframe.api_key),
            "base_url": fake_apiframe.base_url,
            "timeout": 5.0,
            "max_retries": 2,
            "sleep": record,
            "random": lambda: 0.5,
            "downloads": downloads,
        }
        kwargs.update(overrides)
        return ApiframeClient(session, **kwargs)

    return make


@pytest.fixture
def client(make_client: MakeClient) -> ApiframeClient:
    return make_client()


def header(request: Any, name: str) -> str | None:
    return {k.lower(): v for k, v in request.headers.items()}.get(name.lower())


def hits(fake: FakeApiframe, method: str, path_prefix: str) -> list[Any]:
    return [r for r in fake.requests if r.method == method and r.path.startswith(path_prefix)]


async def submit(client: ApiframeClient, key: str | None = None) -> str:
    accepted = await client.generate(
        prompt="a lighthouse at dusk",
        model="sora-2-pro",
        params_field="soraParams", params=PARAMS.to_wire(),
        idempotency_key=key or str(uuid.uuid4()),
    )
    return accepted.job_id


# ----------------------------------------------------------------------------- generate


async def test_generate_returns_202_body_and_sends_headers(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    accepted = await client.generate(
        prompt="a lighthouse at dusk",
        model="sora-2-pro",
        params_field="soraParams", params=PARAMS.to_wire(),
        idempotency_key="cmd-1",
    )
    assert accepted.status is JobStatus.QUEUED
    assert accepted.job_id in fake_apiframe.jobs
    (request,) = hits(fake_apiframe, "POST", "/v2/videos/generate")
    assert header(request, "X-API-Key") == fake_apiframe.api_key
    assert header(request, "Idempotency-Key") == "cmd-1"
    assert request.json == {
        "prompt": "a lighthouse at dusk",
        "model": "sora-2-pro",
        "soraParams": {"duration": 4, "aspect_ratio": "16:9", "resolution": "standard"},
    }


async def test_generate_omits_unset_fields_and_sends_webhook_fields(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    await client.generate(
        prompt="p",
        model="sora-2-pro",
        params_field="soraParams", params=SoraParams(duration=8).to_wire(),
        idempotency_key="cmd-2",
        webhook_url="https://example.com/hook",
        webhook_events=["completed", "failed"],
    )
    (request,) = hits(fake_apiframe, "POST", "/v2/videos/generate")
    assert request.json == {
        "prompt": "p",
        "model": "sora-2-pro",
        "soraParams": {"duration": 8},
        "webhookUrl": "https://example.com/hook",
        "webhookEvents": ["completed", "failed"],
    }


async def test_replaying_idempotency_key_returns_same_job(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    first = await submit(client, key="same-key")
    second = await submit(client, key="same-key")
    assert first == second
    assert fake_apiframe.created_count == 1


@pytest.mark.parametrize("bad", ["", "k" * 256])
async def test_rejects_bad_idempotency_key_before_sending(
    client: ApiframeClient, fake_apiframe: FakeApiframe, bad: str
) -> None:
    with pytest.raises(ValueError, match="idempotency_key"):
        await client.generate(
            prompt="p", model="sora-2-pro", params_field="soraParams", params=PARAMS.to_wire(),
        idempotency_key=bad
        )
    assert hits(fake_apiframe, "POST", "/v2/videos/generate") == []


async def test_validation_error_carries_details(client: ApiframeClient) -> None:
    with pytest.raises(ValidationFailed) as info:
        await client.generate(
            prompt="x" * 4001, model="sora-2-pro", params_field="soraParams",
            params=PARAMS.to_wire(),
        idempotency_key="v-1"
        )
    assert info.value.status == 400
    assert info.value.details, "the fake reports per-field details"
    assert all(isinstance(v, list) for v in info.value.details.values())
    assert str(info.value).startswith("Apiframe returned 400 for POST /v2/videos/generate")


async def test_insufficient_credits_carries_numbers(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.credits = 5
    with pytest.raises(ProviderOutOfCredits) as info:
        await submit(client)
    assert info.value.status == 402
    assert info.value.available == 5
    assert info.value.required is not None and info.value.required > 5
    assert f"required {info.value.required}, available 5" in str(info.value)
    assert fake_apiframe.created_count == 0


async def test_unknown_key_is_auth_error_401(
    make_client: MakeClient, fake_apiframe: FakeApiframe
) -> None:
    client = make_client(api_key=SecretStr("afk_not_a_real_key_123456"))
    with pytest.raises(AuthError) as info:
        await client.me()
    assert info.value.status == 401
    assert hits(fake_apiframe, "GET", "/v2/me"), "the request reached the fake"


async def test_inactive_key_is_auth_error_403(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.inactive_keys.add(fake_apiframe.api_key)
    with pytest.raises(AuthError) as info:
        await submit(client)
    assert info.value.status == 403


# ----------------------------------------------------------------------------- jobs


async def test_unknown_job_is_not_found(client: ApiframeClient) -> None:
    with pytest.raises(NotFound) as info:
        await client.get_job(str(uuid.uuid4()))
    assert info.value.status == 404


async def test_job_lifecycle_to_completed(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.script_next_job(outcome="COMPLETED", queued_s=5, processing_s=60)
    job_id = await submit(client)

    queued = await client.get_job(job_id)
    assert queued.status is JobStatus.QUEUED and not queued.is_terminal
    assert queued.video_url is None

    fake_apiframe.clock.advance(30)
    running = await client.get_job(job_id)
    assert running.status is JobStatus.PROCESSING
    assert running.progress is not None and 0 <= running.progress <= 100

    fake_apiframe.clock.advance(60)
    done = await client.get_job(job_id)
    assert done.status is JobStatus.COMPLETED and done.is_terminal
    assert done.video_url == f"{fake_apiframe.base_url}/cdn/videos/{job_id}.mp4"
    assert done.completed_at is not None and done.completed_at >= done.created_at
    assert done.model == "sora-2-pro"


async def test_failed_job_reports_error(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.script_next_job(
        outcome="FAILED",
        error="Provider returned an error: content policy violation",
        queued_s=1,
        processing_s=1,
    )
    job_id = await submit(client)
    fake_apiframe.clock.advance(10)
    job = await client.get_job(job_id)
    assert job.status is JobStatus.FAILED and job.is_terminal
    assert job.error == "Provider returned an error: content policy violation"
    assert job.video_url is None


async def test_legacy_string_result_shape(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.result_shape = "string"
    fake_apiframe.script_next_job(outcome="COMPLETED", queued_s=1, processing_s=1)
    job_id = await submit(client)
    fake_apiframe.clock.advance(10)
    job = await client.get_job(job_id)
    assert isinstance(job.result, str)
    assert job.video_url == f"{fake_apiframe.base_url}/cdn/videos/{job_id}.mp4"


async def test_list_jobs_pages_through_everything(client: ApiframeClient) -> None:
    created = {await submit(client) for _ in range(3)}
    page = await client.list_jobs(limit=2)
    seen = [job.id for job in page.jobs]
    assert len(seen) == 2 and page.has_more and page.next_cursor
    rest = await client.list_jobs(limit=2, cursor=page.next_cursor)
    seen += [job.id for job in rest.jobs]
    assert not rest.has_more
    assert set(seen) == created and len(seen) == 3


async def test_list_jobs_sends_filters(client: ApiframeClient, fake_apiframe: FakeApiframe) -> None:
    await client.list_jobs(status=JobStatus.QUEUED, model="sora-2-pro", limit=5)
    (request,) = hits(fake_apiframe, "GET", "/v2/jobs")
    assert dict(request.query) == {"status": "QUEUED", "model": "sora-2-pro", "limit": "5"}


# ----------------------------------------------------------------------------- me, upload


async def test_me_reports_team_credits(client: ApiframeClient, fake_apiframe: FakeApiframe) -> None:
    fake_apiframe.credits = 4321
    me = await client.me()
    assert me.credits == 4321
    assert me.team is not None and me.team.credits == 4321


async def test_upload_multipart_201(client: ApiframeClient, fake_apiframe: FakeApiframe) -> None:
    upload = await client.upload(PNG, filename="frame.png", content_type="image/png")
    assert upload.kind == "image"
    assert upload.byte_size == len(PNG)
    assert upload.url.startswith("http")
    assert fake_apiframe.uploads[upload.id] == PNG


# ----------------------------------------------------------------------------- retries


async def test_429_waits_exactly_retry_after_then_succeeds(
    client: ApiframeClient, fake_apiframe: FakeApiframe, waits: list[float]
) -> None:
    job_id = await submit(client)
    fake_apiframe.inject("GET /v2/jobs/{id}", Fault.rate_limit(retry_after=2), times=1)
    job = await client.get_job(job_id)
    assert job.id == job_id
    assert waits == [2.0]
    assert len(hits(fake_apiframe, "GET", f"/v2/jobs/{job_id}")) == 2


async def test_503_then_success_for_get(
    client: ApiframeClient, fake_apiframe: FakeApiframe, waits: list[float]
) -> None:
    fake_apiframe.inject("GET /v2/me", Fault.status(503), times=1)
    me = await client.me()
    assert me.credits == fake_apiframe.credits
    # Full jitter: random() * min(cap, 0.25 * 2**0) with random pinned at 0.5.
    assert waits == [0.125]


async def test_503_then_success_for_keyed_post_creates_one_job(
    client: ApiframeClient, fake_apiframe: FakeApiframe, waits: list[float]
) -> None:
    fake_apiframe.inject("POST /v2/videos/generate", Fault.status(503), times=1)
    job_id = await submit(client, key="retry-me")
    assert job_id in fake_apiframe.jobs
    assert fake_apiframe.created_count == 1
    assert waits == [0.125]
    posts = hits(fake_apiframe, "POST", "/v2/videos/generate")
    assert [header(r, "Idempotency-Key") for r in posts] == ["retry-me", "retry-me"]


async def test_503_for_unkeyed_post_is_not_retried(
    client: ApiframeClient, fake_apiframe: FakeApiframe, waits: list[float]
) -> None:
    fake_apiframe.inject("POST /v2/uploads", Fault.status(503), times=1)
    with pytest.raises(ServerError) as info:
        await client.upload(PNG, filename="frame.png", content_type="image/png")
    assert info.value.status == 503
    assert waits == []
    assert len(hits(fake_apiframe, "POST", "/v2/uploads")) == 1
    assert fake_apiframe.uploads == {}


async def test_429_is_retried_even_for_unkeyed_post(
    client: ApiframeClient, fake_apiframe: FakeApiframe, waits: list[float]
) -> None:
    fake_apiframe.inject("POST /v2/uploads", Fault.rate_limit(retry_after=1), times=1)
    upload = await client.upload(PNG, filename="frame.png", content_type="image/png")
    assert waits == [1.0]
    assert list(fake_apiframe.uploads) == [upload.id]


async def test_connection_reset_retried_for_get(
    client: ApiframeClient, fake_apiframe: FakeApiframe, waits: list[float]
) -> None:
    # aiohttp itself re-sends an idempotent request once, at once, when the connection
    # drops before a response (RFC 9112 §9.3.1); our backoff applies from the second drop.
    fake_apiframe.inject("GET /v2/me", Fault.reset(), times=2)
    me = await client.me()
    assert me.credits == fake_apiframe.credits
    assert waits == [0.125]
    assert len(hits(fake_apiframe, "GET", "/v2/me")) == 3


async def test_connection_resets_bounded_for_get(
    client: ApiframeClient, fake_apiframe: FakeApiframe, waits: list[float]
) -> None:
    fake_apiframe.inject("GET /v2/me", Fault.reset(), times=None)
    with pytest.raises(TransportError) as info:
        await client.me()
    assert info.value.status is None and info.value.__cause__ is None
    assert waits == [0.125, 0.25]


async def test_reset_after_processing_keyed_post_retried_without_double_job(
    client: ApiframeClient, fake_apiframe: FakeApiframe, waits: list[float]
) -> None:
    fake_apiframe.inject("POST /v2/videos/generate", Fault.reset(after_processing=True), times=1)
    job_id = await submit(client, key="lost-answer")
    assert fake_apiframe.created_count == 1 and list(fake_apiframe.jobs) == [job_id]
    assert waits == [0.125]


async def test_connection_reset_not_retried_for_unkeyed_post(
    client: ApiframeClient, fake_apiframe: FakeApiframe, waits: list[float]
) -> None:
    fake_apiframe.inject("POST /v2/uploads", Fault.reset(), times=1)
    with pytest.raises(TransportError) as info:
        await client.upload(PNG, filename="frame.png", content_type="image/png")
    assert info.value.status is None
    assert waits == []


async def test_slow_response_times_out(
    make_client: MakeClient, fake_apiframe: FakeApiframe
) -> None:
    client = make_client(timeout=0.2, max_retries=0)
    fake_apiframe.inject("GET /v2/me", Fault.slow(seconds=5), times=1)
    with pytest.raises(ApiframeTimeout) as info:
        await client.me()
    assert isinstance(info.value, TimeoutError) and isinstance(info.value, TransportError)
    assert "timed out after 0.2s" in str(info.value)


async def test_timeout_is_retried_for_get(
    make_client: MakeClient, fake_apiframe: FakeApiframe, waits: list[float]
) -> None:
    client = make_client(timeout=0.2)
    fake_apiframe.inject("GET /v2/me", Fault.slow(seconds=5), times=1)
    me = await client.me()
    assert me.credits == fake_apiframe.credits
    assert waits == [0.125]


async def test_malformed_json_is_malformed_response(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.inject("GET /v2/me", Fault.malformed(), times=1)
    with pytest.raises(MalformedResponse) as info:
        await client.me()
    assert isinstance(info.value, ApiframeError)
    assert info.value.__cause__ is None


async def test_retries_are_bounded_then_last_error_raised(
    make_client: MakeClient, fake_apiframe: FakeApiframe, waits: list[float]
) -> None:
    client = make_client(random=lambda: 1.0)
    fake_apiframe.inject("GET /v2/me", Fault.status(503), times=10)
    with pytest.raises(ServerError) as info:
        await client.me()
    assert info.value.status == 503
    assert len(hits(fake_apiframe, "GET", "/v2/me")) == 3  # max_retries + 1
    assert waits == [0.25, 0.5]  # exponential, jitter pinned at its maximum


async def test_max_retries_zero_means_one_attempt(
    make_client: MakeClient, fake_apiframe: FakeApiframe, waits: list[float]
) -> None:
    client = make_client(max_retries=0)
    fake_apiframe.inject("GET /v2/me", Fault.rate_limit(retry_after=1), times=1)
    with pytest.raises(ApiframeError) as info:
        await client.me()
    assert info.value.status == 429
    assert waits == []


# ----------------------------------------------------------------------------- downloads


async def completed_job_url(client: ApiframeClient, fake: FakeApiframe) -> str:
    fake.script_next_job(outcome="COMPLETED", queued_s=1, processing_s=1)
    job_id = await submit(client)
    fake.clock.advance(10)
    url = (await client.get_job(job_id)).video_url
    assert url is not None
    return url


async def test_download_streams_multi_megabyte_file(
    client: ApiframeClient, fake_apiframe: FakeApiframe, tmp_path: Path
) -> None:
    fake_apiframe.video_size = 6 * 1024 * 1024
    url = await completed_job_url(client, fake_apiframe)
    dest = tmp_path / "out.mp4"

    tracemalloc.start()
    try:
        written = await client.download_to(url, dest, max_bytes=50 * 1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert written == fake_apiframe.video_size == dest.stat().st_size
    assert dest.read_bytes()[4:8] == b"ftyp"
    assert peak < 3 * 1024 * 1024, f"peak {peak} bytes suggests the body was buffered"
    assert not (tmp_path / "out.mp4.part").exists()
    (cdn,) = hits(fake_apiframe, "GET", "/cdn/videos/")
    assert header(cdn, "X-API-Key") is None


async def test_download_refuses_more_than_max_bytes(
    client: ApiframeClient, fake_apiframe: FakeApiframe, tmp_path: Path
) -> None:
    fake_apiframe.video_size = 2 * 1024 * 1024
    url = await completed_job_url(client, fake_apiframe)
    dest = tmp_path / "out.mp4"
    with pytest.raises(ResponseTooLarge):
        await client.download_to(url, dest, max_bytes=fake_apiframe.video_size - 1)
    assert list(tmp_path.iterdir()) == []


async def test_download_retries_reset(
    client: ApiframeClient, fake_apiframe: FakeApiframe, tmp_path: Path, waits: list[float]
) -> None:
    url = await completed_job_url(client, fake_apiframe)
    fake_apiframe.inject("GET /cdn/videos/{name}", Fault.reset(), times=2)
    written = await client.download_to(url, tmp_path / "v.mp4", max_bytes=10**9)
    assert written == fake_apiframe.video_size
    assert waits == [0.125]


async def test_truncated_download_restarts_from_scratch(
    client: ApiframeClient, fake_apiframe: FakeApiframe, tmp_path: Path, waits: list[float]
) -> None:
    url = await completed_job_url(client, fake_apiframe)
    fake_apiframe.inject("GET /cdn/videos/{name}", Fault.malformed(), times=1)
    dest = tmp_path / "v.mp4"
    written = await client.download_to(url, dest, max_bytes=10**9)
    assert written == fake_apiframe.video_size == dest.stat().st_size
    assert waits == [0.125]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


async def test_download_of_missing_asset_is_not_found(
    client: ApiframeClient, fake_apiframe: FakeApiframe, tmp_path: Path
) -> None:
    with pytest.raises(NotFound):
        await client.download_to(
            f"{fake_apiframe.base_url}/cdn/videos/{uuid.uuid4()}.mp4",
            tmp_path / "v.mp4",
            max_bytes=10**9,
        )
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- secrets


async def test_key_absent_from_errors_repr_and_logs(
    make_client: MakeClient, fake_apiframe: FakeApiframe, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = fake_apiframe.api_key
    client = make_client()
    assert key not in repr(client) and key not in str(client)

    errors: list[ApiframeError] = []
    fake_apiframe.inject("GET /v2/me", Fault.status(503), times=5)
    fake_apiframe.inject("POST /v2/uploads", Fault.reset(), times=1)
    for call in (
        client.me,
        lambda: client.upload(PNG, filename="f.png", content_type="image/png"),
        lambda: client.get_job(str(uuid.uuid4())),
        lambda: make_client(api_key=key + "x").me(),
    ):
        with pytest.raises(ApiframeError) as info:
            await call()
        errors.append(info.value)
    fake_apiframe.inactive_keys.add(key)
    with pytest.raises(AuthError) as inactive:
        await client.me()
    errors.append(inactive.value)

    assert [type(e) for e in errors] == [
        ServerError,
        TransportError,
        NotFound,
        AuthError,
        AuthError,
    ]
    for error in errors:
        assert key not in str(error) and key not in repr(error) and key not in error.body
    assert caplog.records, "retries were logged"
    assert key not in caplog.text
