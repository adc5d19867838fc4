"""State of the fake Apiframe: clock, faults, jobs and recorded requests (no HTTP here)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal

from multidict import CIMultiDict

Status = Literal["QUEUED", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED"]
Outcome = Literal["COMPLETED", "FAILED", "CANCELLED"]
TERMINAL: frozenset[str] = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
WEBHOOK_EVENTS: frozenset[str] = frozenset({"progress", "completed", "failed"})
IDEMPOTENCY_WINDOW = timedelta(hours=24)
DEFAULT_FAILURE = "Provider returned an error: content policy violation"
# What a running job of a retired model reports. No source documents it: this follows the docs'
# only failure text ("Provider returned an error: <reason>") with the reason a resold Sora API
# gave after OpenAI's shutdown ("model not found", reference/video-models.md).
RETIRED_FAILURE = "Provider returned an error: model not found"

#: Route keys accepted by ``FakeApiframe.inject``.
ROUTES: frozenset[str] = frozenset(
    {
        "POST /v2/videos/generate",
        "GET /v2/jobs/{id}",
        "GET /v2/jobs",
        "GET /v2/me",
        "GET /v2/models",
        "POST /v2/uploads",
        "GET /cdn/videos/{name}",
        "GET /cdn/uploads/{id}",
    }
)

_RESOLUTIONS = ("standard", "high")
_DURATIONS = (4, 8, 10, 12, 15)
# Copied from the docs-v2 grid (reference §3.4, §17); the bot's own copy lives in bot/config.py.
_PRO = {"standard": (12, 24, 30, 36, 45), "high": (20, 40, 50, 60, 75)}
DEFAULT_COSTS: Mapping[str, Mapping[str, int]] = MappingProxyType(
    {
        "sora-2-pro": MappingProxyType(
            {f"{res}-{d}s": _PRO[res][i] for res in _RESOLUTIONS for i, d in enumerate(_DURATIONS)}
        ),
        "sora-2": MappingProxyType({f"{res}-{d}s": d for res in _RESOLUTIONS for d in _DURATIONS}),
    }
)

#: The docs' example instant; a fixed start keeps timestamps in assertions stable.
DEFAULT_EPOCH = datetime(2026, 3, 15, 10, 0, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    """Apiframe's timestamp form: UTC, milliseconds, ``Z``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class FakeClock:
    """Time that moves only when a test says so; listeners run on every advance."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or DEFAULT_EPOCH
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start
        self._listeners: list[Callable[[], None]] = []

    @classmethod
    def starting_now(cls) -> FakeClock:
        return cls(datetime.now(UTC))

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._now += timedelta(seconds=seconds)
        for listener in list(self._listeners):
            listener()

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)


FaultKind = Literal["status", "rate_limit", "reset", "slow", "malformed"]


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour; build with the class methods."""

    kind: FaultKind
    status_code: int = 0
    error: str = ""
    retry_after: int | None = None
    seconds: float = 0.0
    after_processing: bool = False

    @classmethod
    def status(cls, code: int, error: str | None = None) -> Fault:
        """Answer ``code`` with ``{"error": ...}`` instead of handling the request."""
        if not 400 <= code <= 599:
            raise ValueError("a status fault needs a 4xx/5xx code")
        return cls("status", status_code=code, error=error or _REASONS.get(code, "Server error"))

    @classmethod
    def rate_limit(cls, retry_after: int | None = 1) -> Fault:
        """429 with ``Retry-After: <seconds>`` (omitted when ``retry_after`` is None)."""
        if retry_after is not None and retry_after < 0:
            raise ValueError("retry_after must be >= 0")
        return cls(
            "rate_limit", status_code=429, retry_after=retry_after, error="Rate limit exceeded"
        )

    @classmethod
    def reset(cls, after_processing: bool = False) -> Fault:
        """Drop the TCP connection (RST) with no response; ``after_processing`` handles it first.

        The second form is the nasty one: the job exists and is charged but the client
        never hears about it, which is what Idempotency-Key is for. Note that aiohttp's client
        silently retries an idempotent request (GET/HEAD) once after a reset, so a GET only
        fails visibly with ``times=2`` or more.
        """
        return cls("reset", after_processing=after_processing)

    @classmethod
    def slow(cls, seconds: float, after_processing: bool = False) -> Fault:
        """Wait ``seconds`` of real time, then answer normally.

        ``after_processing`` handles the request first and holds only the answer: a client
        killed meanwhile has, say, created a job it never heard about.
        """
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        return cls("slow", seconds=seconds, after_processing=after_processing)

    @classmethod
    def malformed(cls) -> Fault:
        """The route's success status with a truncated body (JSON cut short; MP4 cut short)."""
        return cls("malformed")


_REASONS = {
    400: "Bad request",
    401: "Invalid API key",
    403: "Forbidden",
    404: "Not found",
    429: "Rate limit exceeded",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service temporarily unavailable",
    504: "Gateway timeout",
}


@dataclass
class ArmedFault:
    fault: Fault
    remaining: int | None  # None: until cleared


@dataclass(frozen=True)
class JobScript:
    """How one job will behave on the fake clock."""

    outcome: Outcome = "COMPLETED"
    error: str | None = None
    queued_s: float = 5.0
    processing_s: float = 60.0

    def __post_init__(self) -> None:
        if self.outcome not in TERMINAL:
            raise ValueError(f"outcome must be one of {sorted(TERMINAL)}")
        if self.queued_s < 0 or self.processing_s < 0:
            raise ValueError("durations must be >= 0")


@dataclass(frozen=True)
class JobState:
    status: Status
    progress: int | None
    terminal_at: datetime | None


@dataclass
class FakeJob:
    id: str
    owner_key: str
    model: str
    input: dict[str, Any]
    cost: int
    created_at: datetime
    script: JobScript
    webhook_url: str | None = None
    webhook_events: frozenset[str] = WEBHOOK_EVENTS
    idempotency_key: str | None = None
    cancelled_at: datetime | None = None
    #: When the model was retired under this running job (it fails then, refunded).
    retired_at: datetime | None = None
    refunded: bool = False
    #: None without a webhookUrl; "pending" until the first delivery attempt.
    webhook_status: str | None = None
    notified_progress: int | None = None
    notified_terminal: bool = False

    def state_at(self, now: datetime) -> JobState:
        if self.cancelled_at is not None and now >= self.cancelled_at:
            return JobState("CANCELLED", None, self.cancelled_at)
        if self.retired_at is not None and now >= self.retired_at:
            return JobState("FAILED", None, self.retired_at)
        elapsed = (now - self.created_at).total_seconds()
        script = self.script
        if elapsed < script.queued_s:
            return JobState("QUEUED", 0, None)
        if elapsed < script.queued_s + script.processing_s:
            fraction = (elapsed - script.queued_s) / script.processing_s
            return JobState("PROCESSING", min(99, 1 + int(99 * fraction)), None)
        ended = self.created_at + timedelta(seconds=script.queued_s + script.processing_s)
        if script.outcome == "COMPLETED":
            return JobState("COMPLETED", 100, ended)
        return JobState(script.outcome, None, ended)

    @property
    def error_text(self) -> str:
        if self.retired_at is not None:
            return RETIRED_FAILURE
        return self.script.error or DEFAULT_FAILURE


@dataclass
class RecordedRequest:
    """One request as the fake received it (faulted ones included)."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDict[str]
    json: Any = None
    body: bytes = b""
    route: str | None = None
    at: datetime = field(default_factory=lambda: DEFAULT_EPOCH)

    def __repr__(self) -> str:
        # The API key is a secret even in a fake: keep it out of pytest failure output.
        shown = {
            name: "<redacted>" if name.lower() == "x-api-key" else value
            for name, value in self.headers.items()
        }
        return f"RecordedRequest({self.method} {self.path} query={self.query} headers={shown})"


@dataclass(frozen=True)
class FakeUser:
    """The user behind one API key (each key is one user of the single fake team)."""

    user_id: str
    email: str
    role: str
    key_id: str
    key_name: str


@dataclass(frozen=True)
class IdempotencyEntry:
    job_id: str
    body: Any
    at: datetime


@dataclass(frozen=True)
class UploadRecord:
    id: str
    kind: str
    content_type: str
    byte_size: int
    expires_at: datetime
    owner_key: str


@dataclass(frozen=True)
class WebhookDelivery:
    """One webhook POST attempt made by ``FakeApiframe.tick``."""

    job_id: str
    event: str
    url: str
    body: bytes
    signature: str
    status: int | None  # HTTP status, or None when the connection failed
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300
