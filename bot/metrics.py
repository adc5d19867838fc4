"""What an operator graphs: the bot's Prometheus instruments, on a registry of their own.

One :class:`Metrics` is built in ``open_services`` and handed to the code that counts (the
Apiframe client's request path, the job store, Discord's HTTP session through a trace); the
``/metrics`` route (bot/web/ops.py) renders its registry. Nothing registers on
prometheus-client's global default registry, so two bots in one process (tests) never share
a counter, and a component built without a ``Metrics`` gets a private one nobody reads.

Labels stay bounded: a model id, a job state, an API route template (never a job id), an
error class name, an HTTP status.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

#: Job durations (created → delivered) are minutes, not milliseconds.
DURATION_BUCKETS = (15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)

#: The Content-Type of :meth:`Metrics.render`'s body.
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """The instruments, registered on ``registry`` (a fresh one unless given)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # Set at scrape time from the database (bot/web/ops.py), so a restart loses nothing.
        self.jobs = Gauge("sora_jobs", "Jobs in the database, by state.", ["state"], registry=r)
        self.scheduler_lag = Gauge(
            "sora_scheduler_lag_seconds",
            "How late the most overdue unfinished job's next step is (0: none overdue).",
            registry=r)
        self.job_duration = Histogram(
            "sora_job_duration_seconds", "From the request (job created) to the video delivered.",
            ["model"], buckets=DURATION_BUCKETS, registry=r)
        self.provider_calls = Counter(
            "sora_apiframe_requests", "HTTP requests to Apiframe (each retry counts), by route.",
            ["route"], registry=r)
        self.provider_errors = Counter(
            "sora_apiframe_errors", "Apiframe requests that failed, by route and kind of error.",
            ["route", "kind"], registry=r)
        self.credits_reserved = Counter(
            "sora_credits_reserved", "Guild credits reserved by new jobs, by model.",
            ["model"], registry=r)
        self.credits_refunded = Counter(
            "sora_credits_refunded", "Guild credits given back for failed jobs, by model.",
            ["model"], registry=r)
        self.credits_charged = Counter(
            "sora_credits_charged",
            "Guild credits kept for delivered jobs (the price the guild paid), by model.",
            ["model"], registry=r)
        self.provider_billed = Counter(
            "sora_provider_credits_billed",
            "Apiframe credits billed for finished jobs (their creditCost), by model.",
            ["model"], registry=r)
        self.discord_errors = Counter(
            "sora_discord_http_errors",
            "Discord HTTP answers of 400 or more, and requests that got no answer (status"
            " 'none'), by status.", ["status"], registry=r)

    @contextmanager
    def provider_call(self, route: str) -> Iterator[None]:
        """Count one attempt at an Apiframe ``route``, and its failure by kind (the error's
        class name: ``RateLimited``, ``ServerError``, ``ApiframeTimeout`` …)."""
        self.provider_calls.labels(route=route).inc()
        try:
            yield
        except Exception as exc:
            self.provider_errors.labels(route=route, kind=type(exc).__name__).inc()
            raise

    def render(self) -> bytes:
        """The registry in Prometheus's text format."""
        return generate_latest(self.registry)

    def discord_trace(self) -> aiohttp.TraceConfig:
        """A trace for discord.py's HTTP session (``Client(http_trace=...)``): counts every
        failed Discord request in one place, bot-token REST and interaction webhooks alike."""
        trace = aiohttp.TraceConfig()
        errors = self.discord_errors

        async def on_end(_session: aiohttp.ClientSession, _ctx: SimpleNamespace,
                         params: aiohttp.TraceRequestEndParams) -> None:
            if params.response.status >= 400:
                errors.labels(status=str(params.response.status)).inc()

        async def on_exception(_session: aiohttp.ClientSession, _ctx: SimpleNamespace,
                               _params: aiohttp.TraceRequestExceptionParams) -> None:
            errors.labels(status="none").inc()

        trace.on_request_end.append(on_end)
        trace.on_request_exception.append(on_exception)
        return trace
