"""Webhook signing and delivery, as Apiframe's official SDK verifies them (reference §13)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import aiohttp

from tests.fakes.apiframe_model import FakeJob, JobState, WebhookDelivery, iso

SIGNATURE_HEADER = "X-Webhook-Signature"
EVENT_HEADER = "X-Webhook-Event"


def sign(api_key: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 over the raw body, keyed by the RAW SHA-256 of the key."""
    secret = hashlib.sha256(api_key.encode("utf-8")).digest()
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(api_key: str, body: bytes, header: str) -> bool:
    """The SDK's check: optional ``sha256=`` prefix, constant-time compare."""
    expected = sign(api_key, body).removeprefix("sha256=")
    given = header.removeprefix("sha256=")
    return len(given) == len(expected) and hmac.compare_digest(given, expected)


def pending_events(job: FakeJob, state: JobState) -> list[str]:
    """Events owed for ``job`` since the last tick, in delivery order."""
    if job.webhook_url is None or job.notified_terminal:
        return []
    if state.status == "COMPLETED":
        return ["completed"]
    if state.status == "FAILED":
        return ["failed"]
    if state.status == "CANCELLED":
        # No "cancelled" event is documented; the job just goes quiet.
        return []
    if state.status == "PROCESSING" and state.progress != job.notified_progress:
        return ["progress"]
    return []


def payload(job: FakeJob, state: JobState, event: str, result: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"event": event, "jobId": job.id, "status": state.status}
    if event == "progress":
        return {**base, "progress": state.progress, "model": job.model}
    if event == "failed":
        return {**base, "error": job.error_text, "model": job.model}
    assert state.terminal_at is not None
    return {
        **base,
        "progress": 100,
        "result": result,
        "model": job.model,
        "creditCost": job.cost,
        "completedAt": iso(state.terminal_at),
    }


async def deliver(
    session: aiohttp.ClientSession,
    api_key: str,
    job: FakeJob,
    event: str,
    data: dict[str, Any],
    timeout_s: float,
) -> WebhookDelivery:
    """POST one signed event; never raises, the outcome is in the returned record."""
    assert job.webhook_url is not None
    body = json.dumps(data, separators=(",", ":")).encode("utf-8")
    signature = sign(api_key, body)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature,
        EVENT_HEADER: event,
        "User-Agent": "Apiframe-Webhooks/fake",
    }
    try:
        async with session.post(
            job.webhook_url,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as response:
            await response.read()
            status: int | None = response.status
            error = None
    except (aiohttp.ClientError, TimeoutError) as exc:
        status, error = None, type(exc).__name__
    return WebhookDelivery(job.id, event, job.webhook_url, body, signature, status, error)
