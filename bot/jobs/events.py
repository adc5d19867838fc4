"""Job events: what Apiframe says happened to a job, whichever way it reached us.

Polling and webhooks (bot/web/webhooks.py) produce the same events. The scheduler turns
an event into one conditional state change in the job store, so an event that arrives twice
(or by both routes) changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from bot.apiframe.client import JobStatus, ProviderJob
from bot.apiframe.errors import is_retired_model_error
from bot.jobs.model import FailureKind


class EventKind(StrEnum):
    PROGRESS = "progress"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class JobEvent:
    apiframe_job_id: str
    kind: EventKind
    progress: int | None = None
    result_url: str | None = None
    failure: FailureKind | None = None
    detail: str | None = None
    source: str = "poll"
    #: What Apiframe billed for the job (its ``creditCost``), when the answer says.
    credit_cost: int | None = None
    #: How long the job ran by the provider's clock (``completedAt - createdAt``), if known.
    run_seconds: float | None = None


# Substrings of Apiframe's free-text error that mean the provider's moderation refused it.
_POLICY_MARKERS = ("content policy", "moderation", "safety", "policy violation", "nsfw")


def classify_error(error: str | None) -> FailureKind:
    text = (error or "").lower()
    if any(marker in text for marker in _POLICY_MARKERS):
        return FailureKind.CONTENT_POLICY
    if is_retired_model_error(error):
        return FailureKind.MODEL_RETIRED
    return FailureKind.PROVIDER_ERROR


def event_from_job(job: ProviderJob, *, source: str = "poll") -> JobEvent:
    """Translate a ``GET /v2/jobs/:id`` answer into an event."""
    event = _event_from_job(job, source)
    if job.credit_cost is not None:
        event = replace(event, credit_cost=job.credit_cost)
    if event.kind is EventKind.COMPLETED and job.completed_at is not None:
        ran = (job.completed_at - job.created_at).total_seconds()
        if ran >= 0:  # (a webhook carries neither timestamp: the scheduler's own clock counts)
            event = replace(event, run_seconds=ran)
    return event


def _event_from_job(job: ProviderJob, source: str) -> JobEvent:
    if job.status is JobStatus.COMPLETED:
        url = job.video_url
        if url is None:
            return JobEvent(job.id, EventKind.FAILED, failure=FailureKind.RESULT_UNAVAILABLE,
                            detail="COMPLETED without a usable video URL", source=source)
        return JobEvent(job.id, EventKind.COMPLETED, progress=100, result_url=url, source=source)
    if job.status is JobStatus.FAILED:
        return JobEvent(job.id, EventKind.FAILED, failure=classify_error(job.error),
                        detail=job.error, source=source)
    if job.status is JobStatus.CANCELLED:
        return JobEvent(job.id, EventKind.FAILED, failure=FailureKind.CANCELLED,
                        detail=job.error or "cancelled by the provider", source=source)
    return JobEvent(job.id, EventKind.PROGRESS, progress=job.progress or 0, source=source)


#: ``GET /v2/jobs`` answers carry ``createdAt``; a webhook does not, and no event reads it.
_NO_CREATED_AT = "1970-01-01T00:00:00Z"


def event_from_webhook(data: Mapping[str, Any]) -> JobEvent:
    """Translate a webhook payload (reference §13.2) into the event a poll would have given.

    Parsed as the job answer it mirrors, so every result shape and odd progress is read by
    the same defensive code as polling. Raises ``ValueError`` when it is not a job event.
    """
    job_id = data.get("jobId")
    if not isinstance(job_id, str) or not job_id:
        raise ValueError("no jobId")
    try:
        job = ProviderJob.model_validate({
            "id": job_id, "status": data.get("status"), "model": data.get("model") or "?",
            "progress": data.get("progress"), "result": data.get("result"),
            "error": data.get("error"), "createdAt": _NO_CREATED_AT,
        })
    except ValidationError as exc:
        raise ValueError(f"not a job event ({exc.error_count()} problem(s))") from None
    return event_from_job(job, source="webhook")
