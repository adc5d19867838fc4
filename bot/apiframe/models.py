"""Typed request and response models for the Apiframe v2 API.

Shapes follow Apiframe's OpenAPI document (``components.schemas``) as bundled with the official
Node SDK (https://github.com/apiframe-ai/apiframe-nodejs-sdk/blob/main/openapi.json; the
document's ``info.license`` says "Proprietary", but the SDK repository shipping it is MIT).
Response models ignore unknown fields so a server that adds one does not break the bot; the
request model forbids them because the server rejects unknown fields with a 400.

Nullable fields the OpenAPI lists as required default to ``None``: a missing nullable field says
the same thing as ``null``, and being lenient there costs nothing. Non-nullable required fields
(ids, status, model, timestamps) are enforced.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel
from yarl import URL

from bot.apiframe.errors import MalformedResponse

Duration = Literal[4, 8, 10, 12, 15]
AspectRatio = Literal["16:9", "9:16"]
Resolution = Literal["standard", "high"]
WebhookEvent = Literal["progress", "completed", "failed"]


class JobStatus(StrEnum):
    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        """No further change will happen (the SDK's ``waitFor`` stops on these)."""
        return self in _TERMINAL


_TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class SoraParams(BaseModel):
    """The ``soraParams`` block of ``POST /v2/videos/generate``; ``None`` fields are omitted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    duration: Duration | None = None
    aspect_ratio: AspectRatio | None = None
    resolution: Resolution | None = None
    start_image: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class _Response(BaseModel):
    # populate_by_name lets tests and fakes build models with the Python names too.
    model_config = ConfigDict(
        extra="ignore", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class JobAccepted(_Response):
    """The 202 body of a job-creating POST (a replayed key may report a later status)."""

    job_id: str
    status: JobStatus


def _http_url(value: Any) -> str | None:
    """``value`` if it is an absolute http(s) URL with a usable host, else None."""
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        return None
    try:
        host = URL(value).host
    except ValueError:
        return None
    if not host or any(c.isspace() for c in value):
        return None
    return value


class ProviderJob(_Response):
    """``GET /v2/jobs/{id}`` and the items of ``GET /v2/jobs`` (Apiframe's job, not ours)."""

    # Error messages name the contract's schema ("Job"), not this class.
    model_config = ConfigDict(title="Job")

    id: str
    status: JobStatus
    model: str
    progress: int | None = None
    result: Any = None
    error: str | None = None
    credit_cost: int | None = None
    # The docs show "sent"; the OpenAPI says pending/delivered/failed. Keep whatever arrives.
    webhook_status: str | None = None
    created_at: datetime
    completed_at: datetime | None = None
    expired: bool | None = None
    input: dict[str, Any] | None = None

    @field_validator("progress", mode="before")
    @classmethod
    def _cosmetic_progress(cls, value: Any) -> int | None:
        """Progress only feeds the status card: clamp it, or drop a value that is no number.

        Failing the whole answer for it would fail every poll, and a finished job would run
        to the bot's timeout and be refunded.
        """
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if not math.isfinite(value):
            return None
        return min(100, max(0, math.floor(value)))

    # Fields the bot never acts on: an odd value is dropped rather than failing the poll.
    @field_validator("credit_cost", mode="before")
    @classmethod
    def _informational_cost(cls, value: Any) -> int | None:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @field_validator("expired", mode="before")
    @classmethod
    def _informational_flag(cls, value: Any) -> bool | None:
        return value if isinstance(value, bool) else None

    @field_validator("webhook_status", mode="before")
    @classmethod
    def _informational_text(cls, value: Any) -> str | None:
        return value if isinstance(value, str) else None

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def video_url(self) -> str | None:
        """The result video's URL, whichever documented ``result`` shape the server used.

        Newer docs send ``{"videoUrl": url}``, older docs a bare URL string, and multi-output
        video models ``{"videos": [url, ...]}`` (first item). Anything else, or a non-http(s)
        value, gives ``None`` so the caller treats the job as having no usable result.
        """
        result = self.result
        if isinstance(result, str):
            return _http_url(result)
        if isinstance(result, dict):
            direct = _http_url(result.get("videoUrl"))
            if direct is not None:
                return direct
            videos = result.get("videos")
            if isinstance(videos, list) and videos:
                return _http_url(videos[0])
        return None


class JobPage(_Response):
    """One page of ``GET /v2/jobs``; pass ``next_cursor`` back to get the next one."""

    jobs: list[ProviderJob]
    next_cursor: str | None = None
    has_more: bool


class MeUser(_Response):
    id: str
    email: str
    role: str


class MeTeam(_Response):
    id: str
    name: str
    plan: str
    credits: int = Field(ge=0)
    customer_id: str | None = None
    # Only in the docs' example, not in the OpenAPI.
    max_concurrent_jobs: int | None = None


class MeApiKey(_Response):
    id: str
    name: str
    prefix: str | None = None


class Me(_Response):
    """``GET /v2/me``: the caller, its team (may be null) and the key in use."""

    user: MeUser
    team: MeTeam | None = None
    api_key: MeApiKey | None = None

    @property
    def credits(self) -> int | None:
        """The team balance, or ``None`` for a user without a team."""
        return self.team.credits if self.team is not None else None


class Upload(_Response):
    """The 201 body of ``POST /v2/uploads``: a short-lived (1-2 h) CDN URL."""

    id: str
    url: str
    kind: Literal["image", "video", "audio"]
    content_type: str
    byte_size: int = Field(ge=0)
    expires_at: datetime


PricingMode = Literal["flat", "per-second", "per-output"]
Modality = Literal["image", "video", "music"]
_PRICING_MODES: frozenset[str] = frozenset({"flat", "per-second", "per-output"})


def _finite_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


class CatalogEntry(_Response):
    """One model of ``GET /v2/models`` (the contract's deliberately loose ``ModelCatalogEntry``).

    Only ``id`` is acted on (a generate names it, config is checked against it), so it is
    strict: a non-empty string without whitespace, or the whole listing is malformed. The rest
    is for display (``sora-bot models``): an odd value is dropped, unknown fields are ignored.
    Costs are in Apiframe's credits, not the bot's.
    """

    model_config = ConfigDict(title="ModelCatalogEntry")

    id: str = Field(min_length=1, pattern=r"^\S+$")
    label: str | None = None
    modality: str | None = None
    description: str | None = None
    pricing_mode: PricingMode | None = None
    cost_min: float | None = None
    cost_max: float | None = None

    @field_validator("label", "modality", "description", mode="before")
    @classmethod
    def _informational_text(cls, value: Any) -> str | None:
        return value if isinstance(value, str) else None

    @field_validator("pricing_mode", mode="before")
    @classmethod
    def _known_mode(cls, value: Any) -> str | None:
        return value if isinstance(value, str) and value in _PRICING_MODES else None

    @field_validator("cost_min", "cost_max", mode="before")
    @classmethod
    def _informational_cost(cls, value: Any) -> float | None:
        return _finite_number(value)

    @property
    def display_name(self) -> str:
        return self.label or self.id


class ModelCatalog(_Response):
    """Apiframe's live catalog (``GET /v2/models``), in the server's order.

    What it is for: ``sora-bot models`` prints it beside the configured models, ``sora-bot
    check`` warns about enabled models it lacks (:meth:`missing`), and the scheduler, after a
    :class:`~bot.apiframe.errors.ModelUnavailable`, can confirm a model is gone before marking
    it unavailable. Ids are unique (a duplicate makes the answer malformed: which entry would
    a lookup mean?).
    """

    model_config = ConfigDict(title="ModelCatalog")

    models: tuple[CatalogEntry, ...]

    @field_validator("models")
    @classmethod
    def _unique_ids(cls, models: tuple[CatalogEntry, ...]) -> tuple[CatalogEntry, ...]:
        seen: set[str] = set()
        for entry in models:
            if entry.id in seen:
                raise ValueError(f"duplicate model id {entry.id!r}")
            seen.add(entry.id)
        return models

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(entry.id for entry in self.models)

    def get(self, model_id: str) -> CatalogEntry | None:
        return next((entry for entry in self.models if entry.id == model_id), None)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self.ids

    def missing(self, model_ids: Iterable[str]) -> tuple[str, ...]:
        """The given ids (e.g. the enabled models) the catalog does not list, in their order."""
        return tuple(dict.fromkeys(m for m in model_ids if m not in self.ids))

    def of_modality(self, modality: str) -> ModelCatalog:
        """Only entries of ``modality`` (entries that do not say are kept)."""
        kept = tuple(e for e in self.models if e.modality in (None, modality))
        return ModelCatalog(models=kept)


M = TypeVar("M", bound=BaseModel)


def parse_model(model: type[M], payload: Any, where: str) -> M:
    """Validate a decoded response body; any mismatch is a :class:`MalformedResponse`."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(part) for part in first["loc"]) or "(body)"
        name = model.model_config.get("title") or model.__name__
        # Only the location and pydantic's message: the offending input is not echoed.
        raise MalformedResponse(
            f"Apiframe sent an unexpected {name} for {where}: {loc}: {first['msg']}"
        ) from None
