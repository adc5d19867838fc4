"""A loopback fake of Apiframe v2 that speaks the real wire protocol (reference §18).

    fake = FakeApiframe(api_key="afk_test_key_0000000000", credits=10_000)
    await fake.start()            # or: async with FakeApiframe() as fake:
    ... fake.base_url ...         # "http://127.0.0.1:<port>"
    await fake.stop()

Jobs run on ``fake.clock`` (time moves only on ``fake.clock.advance(s)``); ``await fake.tick()``
sends the webhooks owed since the last tick. Faults are armed per route with ``fake.inject``.
The route handlers live in ``apiframe_jobs`` and ``apiframe_files``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any, Literal

import aiohttp
from aiohttp import web

from tests.fakes import apiframe_catalog, apiframe_files, apiframe_jobs
from tests.fakes.apiframe_http import error, malformed_json, record, reset_connection
from tests.fakes.apiframe_model import (
    ROUTES,
    TERMINAL,
    ArmedFault,
    FakeClock,
    FakeJob,
    FakeUser,
    Fault,
    IdempotencyEntry,
    JobScript,
    JobState,
    Outcome,
    RecordedRequest,
    UploadRecord,
    WebhookDelivery,
    iso,
)
from tests.fakes.apiframe_webhooks import deliver, payload, pending_events
from tests.fakes.mp4 import build_mp4, padded_size_ok

__all__ = [
    "FakeApiframe",
    "FakeClock",
    "FakeJob",
    "Fault",
    "JobScript",
    "RecordedRequest",
    "WebhookDelivery",
]

DEFAULT_API_KEY = "afk_test_key_0000000000"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeApiframe:
    """One team with one or more API keys, its jobs, uploads and a CDN."""

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        credits: int = 10_000,
        costs: Mapping[str, Any] | None = None,
        clock: FakeClock | None = None,
        webhook_timeout_s: float = 5.0,
    ) -> None:
        self.api_key = api_key
        self.credits = credits
        self.costs = apiframe_catalog.normalise_costs(costs)
        self.clock = clock or FakeClock()
        self.clock.subscribe(self.settle)
        self.users: dict[str, FakeUser] = {}
        self.add_api_key(api_key, role="ADMIN", email="owner@example.com")
        self.inactive_keys: set[str] = set()
        self.requests: list[RecordedRequest] = []
        self.jobs: dict[str, FakeJob] = {}
        self.created_count = 0
        self.uploads: dict[str, bytes] = {}
        self.upload_records: dict[str, UploadRecord] = {}
        self.result_shape: Literal["object", "string"] = "object"
        #: Where result URLs point, e.g. "http://localhost:<port>" (None: this server's CDN).
        self.result_base: str | None = None
        #: When set, the CDN answers every video with a 302 to this base + the same path.
        self.cdn_redirect: str | None = None
        #: When set, the CDN serves these bytes as the video instead of a real MP4.
        self.cdn_body: bytes | None = None
        #: When set, maps the true progress to what GET /v2/jobs/{id} reports (e.g. 42.5).
        self.report_progress: Callable[[int | None], Any] | None = None
        #: Seconds after completion when ``expired`` turns true and the CDN answers 404.
        self.retention_s: float | None = 24 * 3600
        self.default_script = JobScript()
        #: Models taken out of service by ``retire`` (gone from /v2/models, refused by generate).
        self.retired: set[str] = set()
        #: Extra (or overriding) fields merged into a model's ``GET /v2/models`` entry.
        self.catalog_extras: dict[str, dict[str, Any]] = {}
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.webhook_timeout_s = webhook_timeout_s
        self.idempotency: dict[tuple[str, str], IdempotencyEntry] = {}
        self.mp4 = build_mp4()
        self._video_size = 5 * 1024 * 1024
        self._scripts: deque[JobScript] = deque()
        self._prompt_scripts: dict[str, JobScript] = {}
        self._faults: dict[str, list[ArmedFault]] = {}
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._base_url: str | None = None
        self._stopping = asyncio.Event()

    def __repr__(self) -> str:
        return f"<FakeApiframe {self._base_url or 'stopped'} jobs={len(self.jobs)}>"

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("already started")
        app = web.Application(middlewares=[self._middleware], client_max_size=8 * 1024 * 1024)
        apiframe_jobs.add_routes(app, self)
        apiframe_files.add_routes(app, self)
        apiframe_catalog.add_routes(app, self)
        # handler_cancellation: a client that gives up (timeout, reset) ends the handler too.
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        self._runner, self._base_url = runner, f"http://{host}:{port}"
        self._stopping.clear()
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        self._stopping.set()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeApiframe:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("FakeApiframe.start() has not been awaited")
        return self._base_url

    # -- knobs -------------------------------------------------------------------------

    @property
    def video_size(self) -> int:
        return self._video_size

    @video_size.setter
    def video_size(self, size: int) -> None:
        if not padded_size_ok(self.mp4, size):
            raise ValueError(f"video_size must be {len(self.mp4)} or >= {len(self.mp4) + 8}")
        self._video_size = size

    def add_api_key(self, key: str, role: str = "MEMBER", email: str | None = None) -> None:
        """Another valid key (another user of the same team, sharing its credits)."""
        number = len(self.users) + 1
        self.users[key] = FakeUser(
            user_id=f"00000000-0000-4000-8000-{number:012d}",
            email=email or f"user{number}@example.com",
            role=role,
            key_id=f"00000000-0000-4000-9000-{number:012d}",
            key_name=f"Test Key {number}",
        )

    def script_next_job(
        self,
        outcome: Outcome = "COMPLETED",
        error: str | None = None,
        queued_s: float = 5,
        processing_s: float = 60,
    ) -> None:
        """Queue how the next created job behaves (later jobs use ``default_script``)."""
        self._scripts.append(JobScript(outcome, error, queued_s, processing_s))

    def cancel(self, job_id: str) -> None:
        """Turn a running job CANCELLED now (Apiframe has no cancel route; this is the fake's)."""
        job = self.jobs[job_id]
        if job.state_at(self.clock.now()).status in {"COMPLETED", "FAILED", "CANCELLED"}:
            raise ValueError("job already finished")
        job.cancelled_at = self.clock.now()
        self.settle()

    def retire(self, model: str) -> None:
        """Take ``model`` out of service now, as providers retire models (e.g. Sora, Veo 3.1).

        From now on ``GET /v2/models`` no longer lists it and a generate naming it is refused
        as an unknown model is (400 on ``model``; the contract's schema would no longer have
        its branch). Its running jobs turn FAILED now with ``RETIRED_FAILURE`` and are refunded
        (every failed job is); finished jobs keep their outcome.
        """
        if model not in apiframe_catalog.live_models(self):
            raise ValueError(f"{model!r} is not a live model of the vendored contract")
        self.retired.add(model)
        now = self.clock.now()
        for job in self.jobs.values():
            if job.model == model and job.state_at(now).status not in TERMINAL:
                job.retired_at = now
        self.settle()

    def inject(self, route: str, fault: Fault, times: int | None = 1) -> None:
        """Arm ``fault`` for the next ``times`` requests to ``route`` (None: until cleared)."""
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; expected one of {sorted(ROUTES)}")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        self._faults.setdefault(route, []).append(ArmedFault(fault, times))

    def clear_faults(self) -> None:
        self._faults.clear()

    # -- job bookkeeping -----------------------------------------------------------------

    def script_prompt(
        self,
        prompt: str,
        outcome: Outcome = "COMPLETED",
        error: str | None = None,
        queued_s: float = 5,
        processing_s: float = 60,
    ) -> None:
        """How every job created with exactly this prompt behaves (before the queue is asked).

        Unlike the queue this survives requests that never arrive, e.g. from a killed client.
        """
        self._prompt_scripts[prompt] = JobScript(outcome, error, queued_s, processing_s)

    def next_script(self, body: Mapping[str, Any] | None = None) -> JobScript:
        if body is not None and str(body.get("prompt")) in self._prompt_scripts:
            return self._prompt_scripts[str(body.get("prompt"))]
        return self._scripts.popleft() if self._scripts else self.default_script

    def settle(self) -> None:
        """Refund every job that has turned FAILED or CANCELLED, exactly once."""
        now = self.clock.now()
        for job in self.jobs.values():
            if not job.refunded and job.state_at(now).status in {"FAILED", "CANCELLED"}:
                job.refunded = True
                self.credits += job.cost

    def is_expired(self, job: FakeJob, state: JobState) -> bool:
        return (
            state.status == "COMPLETED"
            and state.terminal_at is not None
            and self.retention_s is not None
            and self.clock.now() >= state.terminal_at + timedelta(seconds=self.retention_s)
        )

    def result_for(self, job: FakeJob) -> Any:
        url = f"{self.result_base or self.base_url}/cdn/videos/{job.id}.mp4"
        return {"videoUrl": url} if self.result_shape == "object" else url

    def job_json(self, job: FakeJob, *, with_input: bool = True) -> dict[str, Any]:
        state = job.state_at(self.clock.now())
        completed = state.status == "COMPLETED"
        body: dict[str, Any] = {
            "id": job.id,
            "status": state.status,
            "model": job.model,
            "progress": (
                state.progress if self.report_progress is None
                else self.report_progress(state.progress)
            ),
            "result": self.result_for(job) if completed else None,
            "error": job.error_text if state.status == "FAILED" else None,
            "creditCost": 0 if state.status in {"FAILED", "CANCELLED"} else job.cost,
            "webhookStatus": job.webhook_status,
            "createdAt": iso(job.created_at),
            "completedAt": iso(state.terminal_at) if state.terminal_at else None,
            "expired": self.is_expired(job, state),
        }
        if with_input:
            body["input"] = job.input
        return body

    async def tick(self) -> list[WebhookDelivery]:
        """POST the webhook events owed since the last tick; returns the attempts made."""
        if self._session is None:
            raise RuntimeError("FakeApiframe.start() has not been awaited")
        self.settle()
        made: list[WebhookDelivery] = []
        for job in list(self.jobs.values()):
            state = job.state_at(self.clock.now())
            for event in pending_events(job, state):
                if event == "progress":
                    job.notified_progress = state.progress
                else:
                    job.notified_terminal = True
                if event not in job.webhook_events:
                    continue
                result = self.result_for(job) if state.status == "COMPLETED" else None
                delivery = await deliver(
                    self._session,
                    job.owner_key,
                    job,
                    event,
                    payload(job, state, event, result),
                    self.webhook_timeout_s,
                )
                job.webhook_status = "delivered" if delivery.ok else "failed"
                made.append(delivery)
        self.webhook_deliveries.extend(made)
        return made

    # -- HTTP plumbing -----------------------------------------------------------------

    def authenticate(self, request: web.Request) -> str | web.Response:
        """The caller's key, or the documented 401/403 response."""
        key = request.headers.get("X-API-Key")
        if not key:
            return error(401, "API key is required")
        if key not in self.users:
            return error(401, "Invalid API key")
        if key in self.inactive_keys:
            return error(403, "API key is inactive")
        return key

    def _take_fault(self, route: str | None) -> Fault | None:
        armed = self._faults.get(route or "")
        if not armed:
            return None
        head = armed[0]
        if head.remaining is not None:
            head.remaining -= 1
            if head.remaining == 0:
                armed.pop(0)
        return head.fault

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        canonical = resource.canonical if resource is not None else None
        method = "GET" if request.method == "HEAD" else request.method
        route = f"{method} {canonical}" if canonical else None
        self.requests.append(await record(request, route, self.clock.now()))
        self.settle()
        fault = self._take_fault(route)
        try:
            if fault is None:
                return await handler(request)
            return await self._apply(fault, request, route or "", handler)
        except web.HTTPNotFound:
            return error(404, "Not found")
        except web.HTTPMethodNotAllowed:
            return error(405, "Method not allowed")

    async def _apply(
        self, fault: Fault, request: web.Request, route: str, handler: Handler
    ) -> web.StreamResponse:
        if fault.kind == "slow":
            response = await handler(request) if fault.after_processing else None
            # Woken early by stop(), so a test's teardown never waits out the delay.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), fault.seconds)
            return response if response is not None else await handler(request)
        if fault.kind == "status":
            return error(fault.status_code, fault.error)
        if fault.kind == "rate_limit":
            response = error(429, fault.error)
            if fault.retry_after is not None:
                response.headers["Retry-After"] = str(fault.retry_after)
            return response
        if fault.kind == "reset":
            if fault.after_processing:
                await handler(request)
            return reset_connection(request)
        if route.startswith("GET /cdn/videos"):
            return await apiframe_files.truncated_video(self, request)
        return malformed_json(route)
