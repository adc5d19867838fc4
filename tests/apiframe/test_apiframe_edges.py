"""ApiframeClient edge cases the fake Apiframe has no knob for, and pure parsing helpers.

A scripted loopback server answers each request with the next canned handler: HTTP-date
``Retry-After``, 409/501/418, redirects, schema violations, a server echoing the key, chunked
downloads without ``Content-Length``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.apiframe.client import ApiframeClient
from bot.apiframe.download_guard import DownloadGate, DownloadPolicy
from bot.apiframe.errors import (
    ApiframeError,
    Conflict,
    DownloadRefused,
    MalformedResponse,
    NotFound,
    RateLimited,
    ResponseTooLarge,
    ServerError,
    ValidationFailed,
    parse_retry_after,
)
from bot.apiframe.models import ProviderJob


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def waits() -> list[float]:
    return []


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JOB_ID = "b2c3d4e5-f6a7-8901-bcde-f23456789012"
JOB: dict[str, Any] = {
    "id": JOB_ID,
    "status": "PROCESSING",
    "model": "sora-2-pro",
    "progress": 65,
    "result": None,
    "error": None,
    "creditCost": 12,
    "webhookStatus": None,
    "createdAt": "2026-03-15T10:00:00.000Z",
    "completedAt": None,
}
EDGE_KEY = "afk_edge_key_1234567890"


class Scripted:
    def __init__(self) -> None:
        self.script: list[Handler] = []
        self.seen: list[web.Request] = []
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.server = TestServer(app, host="127.0.0.1")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(request)
        if not self.script:
            return web.json_response({"error": "unscripted"}, status=500)
        return await self.script.pop(0)(request)

    def reply(self, status: int, body: Any = None, **headers: str) -> None:
        async def handler(_: web.Request) -> web.StreamResponse:
            if isinstance(body, str):
                return web.Response(status=status, text=body, headers=headers)
            return web.json_response(body, status=status, headers=headers)

        self.script.append(handler)

    def url(self, path: str = "") -> str:
        return str(self.server.make_url(path)).rstrip("/")


@pytest.fixture
async def scripted() -> AsyncIterator[Scripted]:
    server = Scripted()
    await server.server.start_server()
    try:
        yield server
    finally:
        await server.server.close()


@pytest.fixture
async def downloads() -> AsyncIterator[DownloadGate]:
    async with DownloadGate(DownloadPolicy(frozenset({"127.0.0.1"}), allow_private=True)) as gate:
        yield gate


@pytest.fixture
def edge_client(
    session: aiohttp.ClientSession, scripted: Scripted, waits: list[float],
    downloads: DownloadGate,
) -> ApiframeClient:
    async def record(seconds: float) -> None:
        waits.append(seconds)

    return ApiframeClient(
        session,
        api_key=EDGE_KEY,
        base_url=scripted.url(),
        timeout=5.0,
        sleep=record,
        random=lambda: 0.5,
        clock=lambda: 1_000_000_000.0,
        downloads=downloads,
    )


async def test_http_date_retry_after(
    edge_client: ApiframeClient, scripted: Scripted, waits: list[float]
) -> None:
    # The injected clock reads 2001-09-09T01:46:40Z; the server asks for 7 s later.
    scripted.reply(429, {"error": "slow down"}, **{"Retry-After": "Sun, 09 Sep 2001 01:46:47 GMT"})
    scripted.reply(200, JOB)
    assert (await edge_client.get_job(JOB_ID)).progress == 65
    assert waits == [7.0]


async def test_429_without_retry_after_backs_off(
    edge_client: ApiframeClient, scripted: Scripted, waits: list[float]
) -> None:
    scripted.reply(429, {"error": "slow down"})
    scripted.reply(429, {"error": "slow down"})
    scripted.reply(200, JOB)
    await edge_client.get_job(JOB_ID)
    assert waits == [0.125, 0.25]


async def test_retry_after_beyond_cap_raises_at_once(
    edge_client: ApiframeClient, scripted: Scripted, waits: list[float]
) -> None:
    scripted.reply(429, {"error": "slow down"}, **{"Retry-After": "3600"})
    with pytest.raises(RateLimited) as info:
        await edge_client.get_job(JOB_ID)
    assert info.value.retry_after == 3600.0
    assert waits == [] and len(scripted.seen) == 1


@pytest.mark.parametrize(
    ("status", "kind"), [(409, Conflict), (501, ServerError), (418, ApiframeError)]
)
async def test_status_mapping_without_retry(
    edge_client: ApiframeClient,
    scripted: Scripted,
    waits: list[float],
    status: int,
    kind: type[ApiframeError],
) -> None:
    scripted.reply(status, {"error": "nope"})
    with pytest.raises(kind) as info:
        await edge_client.get_job(JOB_ID)
    assert type(info.value) is kind and info.value.status == status
    assert str(info.value) == f"Apiframe returned {status} for GET /v2/jobs/{JOB_ID}: nope"
    assert waits == [] and len(scripted.seen) == 1


@pytest.mark.parametrize(
    "body",
    [
        {k: v for k, v in JOB.items() if k != "status"},  # missing required field
        {**JOB, "status": "EXPLODED"},  # not in the enum
        {**JOB, "id": 42},  # wrong type (an odd progress is tolerated: test_progress_tolerance)
        {**JOB, "createdAt": "yesterday"},
        [JOB],
        "null",
    ],
)
async def test_schema_violations_are_malformed(
    edge_client: ApiframeClient, scripted: Scripted, body: Any
) -> None:
    scripted.reply(200, body)
    with pytest.raises(MalformedResponse, match="unexpected Job"):
        await edge_client.get_job(JOB_ID)


async def test_unknown_fields_ignored_and_nullable_fields_optional(
    edge_client: ApiframeClient, scripted: Scripted
) -> None:
    required = {k: JOB[k] for k in ("id", "status", "model", "createdAt")}
    scripted.reply(200, {**required, "brandNew": {"x": 1}})
    job = await edge_client.get_job(JOB_ID)
    assert job.progress is None and job.credit_cost is None and job.expired is None


async def test_key_echoed_by_server_is_redacted(
    edge_client: ApiframeClient, scripted: Scripted
) -> None:
    scripted.reply(400, {"error": f"bad header {EDGE_KEY}", "details": {"h": [EDGE_KEY]}})
    with pytest.raises(ValidationFailed) as info:
        await edge_client.me()
    assert EDGE_KEY not in str(info.value) and EDGE_KEY not in info.value.body
    assert EDGE_KEY not in repr(info.value.details)
    assert "***" in str(info.value)


async def test_error_body_is_bounded(edge_client: ApiframeClient, scripted: Scripted) -> None:
    scripted.reply(500, "x" * 100_000)
    scripted.reply(500, "x" * 100_000)
    scripted.reply(500, "x" * 100_000)
    with pytest.raises(ServerError) as info:
        await edge_client.me()
    assert len(info.value.body) <= 500 and len(str(info.value)) < 300


async def test_redirect_not_followed_so_key_stays_home(
    edge_client: ApiframeClient, scripted: Scripted
) -> None:
    scripted.reply(302, {"error": "moved"}, Location=scripted.url("/elsewhere"))
    with pytest.raises(ApiframeError) as info:
        await edge_client.me()
    assert info.value.status == 302
    assert [r.path for r in scripted.seen] == ["/v2/me"]


async def test_job_id_is_one_path_segment(edge_client: ApiframeClient, scripted: Scripted) -> None:
    scripted.reply(404, {"error": "Job not found"})
    with pytest.raises(NotFound):
        await edge_client.get_job("../me")
    assert scripted.seen[0].raw_path == "/v2/jobs/..%2Fme"


async def test_chunked_download_cut_off_at_max_bytes(
    edge_client: ApiframeClient, scripted: Scripted, tmp_path: Path
) -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # no Content-Length: chunked
        await response.prepare(request)
        await response.write(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2")
        for _ in range(64):
            await response.write(b"\0" * 65536)
        await response.write_eof()
        return response

    scripted.script.append(endless)
    with pytest.raises(ResponseTooLarge):
        await edge_client.download_to(scripted.url("/v.mp4"), tmp_path / "v.mp4", max_bytes=300_000)
    assert list(tmp_path.iterdir()) == []
    assert "X-API-Key" not in scripted.seen[0].headers


MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


async def test_download_follows_a_redirect_on_an_allowed_host(
    edge_client: ApiframeClient, scripted: Scripted, tmp_path: Path
) -> None:
    async def video(_: web.Request) -> web.StreamResponse:
        return web.Response(body=MP4_HEAD + bytes(100), content_type="video/mp4")

    scripted.reply(302, {}, Location="/signed/v.mp4?sig=1")
    scripted.script.append(video)

    written = await edge_client.download_to(scripted.url("/v.mp4"), tmp_path / "v.mp4",
                                            max_bytes=10_000)

    assert written == len(MP4_HEAD) + 100
    assert [r.path_qs for r in scripted.seen] == ["/v.mp4", "/signed/v.mp4?sig=1"]


async def test_download_redirects_are_bounded_and_not_retried(
    edge_client: ApiframeClient, scripted: Scripted, tmp_path: Path, waits: list[float]
) -> None:
    for hop in range(10):
        scripted.reply(307, {}, Location=f"/hop{hop}.mp4")

    with pytest.raises(DownloadRefused, match="more than 5 redirects"):
        await edge_client.download_to(scripted.url("/v.mp4"), tmp_path / "v.mp4", max_bytes=1)

    assert len(scripted.seen) == 6 and waits == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("location", ["http://[::1", "file:///etc/passwd", "//localhost/v.mp4"])
async def test_download_refuses_a_redirect_it_cannot_check(
    edge_client: ApiframeClient, scripted: Scripted, tmp_path: Path, location: str
) -> None:
    scripted.reply(302, {}, Location=location)

    with pytest.raises(DownloadRefused):
        await edge_client.download_to(scripted.url("/v.mp4"), tmp_path / "v.mp4", max_bytes=1)

    assert len(scripted.seen) == 1


async def test_download_refuses_a_redirect_off_the_allowed_hosts(
    edge_client: ApiframeClient, scripted: Scripted, tmp_path: Path
) -> None:
    elsewhere = scripted.url("/v.mp4").replace("127.0.0.1", "localhost")
    scripted.reply(302, {}, Location=elsewhere)

    with pytest.raises(DownloadRefused, match="'localhost' is not in"):
        await edge_client.download_to(scripted.url("/v.mp4"), tmp_path / "v.mp4", max_bytes=1)

    assert len(scripted.seen) == 1


async def test_download_rejects_non_http_url(edge_client: ApiframeClient, tmp_path: Path) -> None:
    with pytest.raises(DownloadRefused, match="http"):
        await edge_client.download_to("file:///etc/passwd", tmp_path / "x", max_bytes=1)


@pytest.mark.parametrize(
    ("result", "url"),
    [
        (
            {"videoUrl": "https://cdn2.apiframe.ai/videos/a.mp4"},
            "https://cdn2.apiframe.ai/videos/a.mp4",
        ),
        ("https://cdn.apiframe.ai/results/a.mp4", "https://cdn.apiframe.ai/results/a.mp4"),
        ({"videos": ["https://c/1.mp4", "https://c/2.mp4"]}, "https://c/1.mp4"),
        ({"videos": []}, None),
        ({"videoUrl": "javascript:alert(1)"}, None),
        ({"images": ["https://c/1.png"]}, None),
        (None, None),
        (42, None),
    ],
)
def test_video_url_accepts_documented_shapes(result: Any, url: str | None) -> None:
    job = ProviderJob.model_validate({**JOB, "status": "COMPLETED", "result": result})
    assert job.video_url == url


@pytest.mark.parametrize(
    ("header_value", "seconds"),
    [
        ("2", 2.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-1", None),
        ("soon", None),
        (None, None),
        ("Sun, 09 Sep 2001 01:46:30 GMT", 0.0),
    ],
)
def test_parse_retry_after(header_value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header_value, now=1_000_000_000.0) == seconds
