"""What a job is: its states, failure kinds, the row as a value, the limit refusal.

No storage here (:mod:`bot.jobs.store` owns the ``jobs`` table), so anything that
reads a job can import this without importing the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.clock import from_db_time
from bot.db.database import Row
from bot.policy.rules import PolicyRefusal
from bot.request import VideoOptions


class JobState(StrEnum):
    RESERVED = "reserved"
    SUBMITTED = "submitted"
    COMPLETED = "completed"
    DELIVERED = "delivered"
    FAILED = "failed"
    REFUNDED = "refunded"


#: States whose jobs still occupy a slot against the in-flight limits.
IN_FLIGHT: tuple[JobState, ...] = (JobState.RESERVED, JobState.SUBMITTED, JobState.COMPLETED)


class FailureKind(StrEnum):
    CONTENT_POLICY = "content_policy"
    PROVIDER_ERROR = "provider_error"
    PROVIDER_OUT_OF_CREDITS = "provider_out_of_credits"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    RESULT_UNAVAILABLE = "result_unavailable"
    #: Made, but Discord would take it nowhere (no channel permission, DMs closed, or every
    #: post attempt failed) and no earlier attempt shows it.
    UNDELIVERABLE = "undeliverable"
    #: The result's URL, a redirect, its address or its bytes broke the download rules.
    RESULT_REFUSED = "result_refused"
    #: The provider said the model is retired or unknown (it is then refused for new jobs).
    MODEL_RETIRED = "model_retired"


class JobLimitReached(PolicyRefusal):
    """Too many jobs in flight for the guild or the member; nothing was charged."""

    def __init__(self, *, scope: str, running: int, limit: int) -> None:
        self.scope, self.running, self.limit = scope, running, limit
        who = "You have" if scope == "member" else "This server has"
        super().__init__(
            "member_jobs" if scope == "member" else "guild_jobs",
            f"{who} {running} video{'s' if running != 1 else ''} in progress (the limit is "
            f"{limit}). Please wait for one to finish.",
            key="refusal.jobs_member" if scope == "member" else "refusal.jobs_guild",
            params={"count": running, "limit": limit},
        )


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    guild_id: int
    channel_id: int
    user_id: int
    application_id: int
    interaction_id: int
    interaction_token: str | None
    token_expires_at: datetime
    status_message_id: int | None
    attachment_size_limit: int
    model: str
    prompt: str
    duration: int
    aspect_ratio: str
    resolution: str
    start_image_url: str | None
    price: int
    idempotency_key: str
    state: JobState
    apiframe_job_id: str | None
    progress: int | None
    progress_shown_at: datetime | None
    result_url: str | None
    failure_kind: FailureKind | None
    failure_detail: str | None
    delivery_mode: str | None
    delivered_message_id: int | None
    attempts: int
    next_action_at: datetime
    deadline_at: datetime
    created_at: datetime
    submitted_at: datetime | None
    finished_at: datetime | None
    delivered_at: datetime | None
    notified_at: datetime | None
    # Last and defaulted: added by later migrations, after the rest of the row.
    start_image_note: str | None = None
    token_post_at: datetime | None = None
    result_post_at: datetime | None = None
    #: The option values sent in the model's block, as JSON (see :attr:`options`).
    params: str | None = None
    #: The scheduler process holding the job's current step, and until when (migration 0013).
    lease_owner: str | None = None
    lease_until: datetime | None = None
    #: Seconds from submission to completion, once completed (migration 0014).
    run_seconds: float | None = None
    #: How the status card was first posted: ``embed`` (jobs from before the card_locale
    #: migration, whose cards stay embeds) or ``v2`` (Components V2, every job since).
    card: str = "v2"

    def __repr__(self) -> str:  # the interaction token is a credential: keep it out of logs
        return f"<Job {self.id} {self.state} guild={self.guild_id} af={self.apiframe_job_id}>"

    @classmethod
    def from_row(cls, row: Row) -> Job:
        data: dict[str, Any] = dict(row)
        for key in ("token_expires_at", "next_action_at", "deadline_at", "created_at"):
            data[key] = datetime.fromisoformat(data[key])
        for key in ("progress_shown_at", "submitted_at", "finished_at", "delivered_at",
                    "notified_at", "token_post_at", "result_post_at", "lease_until"):
            data[key] = from_db_time(data[key])
        data["state"] = JobState(data["state"])
        data["failure_kind"] = FailureKind(data["failure_kind"]) if data["failure_kind"] else None
        data.pop("updated_at", None)
        return cls(**data)

    @property
    def options(self) -> VideoOptions:
        """The prompt and option values this job was asked with (to run it again)."""
        if self.params is None:
            return VideoOptions.sora(self.prompt, self.duration, self.aspect_ratio,
                                     self.resolution)
        return VideoOptions.from_json(self.prompt, self.params)

    def token_usable(self, now: datetime, margin: timedelta) -> bool:
        """Whether the interaction token will still be valid ``margin`` from now."""
        return self.interaction_token is not None and now + margin < self.token_expires_at
