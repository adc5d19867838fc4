"""Job events: what Apiframe says happened to a job, whichever way it reached us.

Polling produces them today; webhooks will produce the same events later. The scheduler turns
an event into one conditional state change in the job store, so an event that arrives twice
(or by both routes) changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

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
