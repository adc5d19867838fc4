"""The Apiframe error hierarchy and the mapping from an HTTP response to an error.

Modelled on the official v2 SDK (``src/errors.ts``): one subclass per documented status, each
carrying ``status``, a bounded ``body`` and the ``x-request-id`` when the server sent one.
Callers branch on the type, never on message text.

Every message and body here is built from text the client has already scrubbed of the API key
(see :func:`redact`), so ``str(exc)``/``repr(exc)`` are safe to log.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

#: Longest response-body excerpt kept on an error; enough to debug, too short to flood a log.
MAX_ERROR_BODY = 500
BACKOFF_BASE = 0.25
BACKOFF_CAP = 8.0
#: Longest server ``error`` text quoted in a message.
_MAX_MESSAGE_TEXT = 200


class ApiframeError(Exception):
    """Base of every error raised by the Apiframe client."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: str = "",
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        #: HTTP status, or ``None`` when no response arrived (transport errors).
        self.status = status
        #: The start of the response body, key-free, at most :data:`MAX_ERROR_BODY` chars.
        self.body = body[:MAX_ERROR_BODY]
        self.request_id = request_id

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, message={self.message!r})"


class AuthError(ApiframeError):
    """401 (missing/invalid key) or 403 (inactive key, no permission)."""


class ProviderOutOfCredits(ApiframeError):
    """402: the Apiframe team balance cannot pay for the job."""

    def __init__(
        self,
        message: str,
        *,
        required: int | None,
        available: int | None,
        status: int | None = 402,
        body: str = "",
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, body=body, request_id=request_id)
        self.required = required
        self.available = available


class ValidationFailed(ApiframeError):
    """400: the request failed the server's schema; ``details`` maps JSON paths to messages."""

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, list[str]] | None = None,
        status: int | None = 400,
        body: str = "",
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, body=body, request_id=request_id)
        self.details: dict[str, list[str]] = details or {}


class NotFound(ApiframeError):
    """404: unknown job (or one owned by another user), or an expired CDN asset."""


class Conflict(ApiframeError):
    """409: an Idempotency-Key was replayed with a different body."""


class RateLimited(ApiframeError):
    """429: ``retry_after`` is the server's requested wait in seconds, if it sent one."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None,
        status: int | None = 429,
        body: str = "",
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, body=body, request_id=request_id)
        self.retry_after = retry_after


class ServerError(ApiframeError):
    """Any 5xx (503 is the documented queue/database outage)."""


class TransportError(ApiframeError):
    """No usable response: connection refused/reset, DNS failure, TLS error."""


class ApiframeTimeout(TransportError, TimeoutError):
    """The request did not finish within the configured timeout."""


class MalformedResponse(ApiframeError):
    """A success status whose body is not the JSON document the contract promises."""


class ResponseTooLarge(ApiframeError):
    """A download (or JSON body) exceeded the size the caller allowed."""


class DownloadRefused(ApiframeError):
    """A result download the rules forbid: a host not allowed, a redirect leaving the allowed
    hosts, a non-public address, too many redirects, or a body that is not an MP4.

    Never retried, and the URL must not be offered as a link instead: the message names the
    reason (and the config key to change), never the URL with its query.
    """


def check_size(length: int | None, limit: int, where: str) -> None:
    """Refuse a body whose declared ``Content-Length`` is over ``limit``."""
    if length is not None and length > limit:
        raise ResponseTooLarge(f"{where} is {length} bytes, over the {limit}-byte limit")


def redact(text: str, secret: str) -> str:
    """``text`` with every occurrence of ``secret`` masked."""
    return text.replace(secret, "***") if secret else text


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # RFC 9110 HTTP-dates are always GMT; parsedate returns naive for "-0000".
        return None
    return max(0.0, when.timestamp() - now)


def _server_text(payload: Any) -> str | None:
    if isinstance(payload, dict):
        text = payload.get("error")
        if isinstance(text, str) and text.strip():
            return " ".join(text.split())[:_MAX_MESSAGE_TEXT]
    return None


def _details(payload: Any) -> dict[str, list[str]]:
    raw = payload.get("details") if isinstance(payload, dict) else None
    if not isinstance(raw, dict):
        return {}
    out: dict[str, list[str]] = {}
    for key, value in raw.items():
        items = value if isinstance(value, list) else [value]
        out[str(key)] = [str(item) for item in items]
    return out


def _int_field(payload: Any, name: str) -> int | None:
    value = payload.get(name) if isinstance(payload, dict) else None
    # bool is an int subclass; a JSON true is not a credit amount.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def error_for_response(
    *,
    status: int,
    text: str,
    where: str,
    retry_after: str | None,
    request_id: str | None,
    now: float,
) -> ApiframeError:
    """The typed error for a non-success response. ``text`` must already be redacted."""
    try:
        payload: Any = json.loads(text) if text else None
    except ValueError:
        payload = None
    server_text = _server_text(payload)
    message = f"Apiframe returned {status} for {where}"
    if server_text:
        message += f": {server_text}"
    common: dict[str, Any] = {"status": status, "body": text, "request_id": request_id}

    if status == 400:
        return ValidationFailed(message, details=_details(payload), **common)
    if status in (401, 403):
        return AuthError(message, **common)
    if status == 402:
        required = _int_field(payload, "creditsRequired")
        available = _int_field(payload, "creditsAvailable")
        if required is not None and available is not None:
            message += f" (required {required}, available {available})"
        return ProviderOutOfCredits(message, required=required, available=available, **common)
    if status == 404:
        return NotFound(message, **common)
    if status == 409:
        return Conflict(message, **common)
    if status == 429:
        return RateLimited(message, retry_after=parse_retry_after(retry_after, now), **common)
    if 500 <= status <= 599:
        return ServerError(message, **common)
    return ApiframeError(message, **common)


def retry_delay(
    exc: ApiframeError,
    retries: int,
    *,
    idempotent: bool,
    jitter: Callable[[], float],
    max_retry_after: float,
) -> float | None:
    """Seconds to wait before retry number ``retries + 1``, or ``None`` for "do not retry".

    The SDK's policy: 429 always (``Retry-After`` exactly, unless it exceeds
    ``max_retry_after``); 5xx except 501, timeouts and transport failures only when the call
    is ``idempotent``; otherwise full-jitter exponential backoff.
    """
    backoff = jitter() * min(BACKOFF_CAP, BACKOFF_BASE * 2.0**retries)
    if isinstance(exc, RateLimited):
        if exc.retry_after is None:
            return backoff
        return exc.retry_after if exc.retry_after <= max_retry_after else None
    if not idempotent:
        return None
    if isinstance(exc, ServerError) and exc.status != 501:
        return backoff
    if isinstance(exc, TransportError):
        return backoff
    return None


class ModelUnavailable(ValidationFailed):
    """A generate refused because of its ``model``: retired by the provider, or never offered.

    Apiframe documents no separate answer for a retired model: its schema is a union keyed by
    ``model``, so a model it no longer has fails validation like a typo would, a 400 whose
    ``details`` name the ``model`` path. (Other 400s name the prompt or a parameter block.)

    A :class:`ValidationFailed`, so code that knows only that type still refunds the job; the
    scheduler catches this first to refund with a plain message, mark ``model`` unavailable for
    new requests and alert the operator. ``GET /v2/models`` (``ApiframeClient.list_models``)
    confirms whether the model is gone from the live catalog.
    """

    def __init__(
        self,
        message: str,
        *,
        model: str,
        details: dict[str, list[str]] | None = None,
        status: int | None = 400,
        body: str = "",
        request_id: str | None = None,
    ) -> None:
        super().__init__(
            message, details=details, status=status, body=body, request_id=request_id
        )
        #: The model id the request named.
        self.model = model


def refused_model(exc: ValidationFailed, model: str) -> ValidationFailed:
    """``exc`` as a :class:`ModelUnavailable` when the server refused ``model`` itself."""
    if "model" not in exc.details:
        return exc
    return ModelUnavailable(
        f"{exc.message} (model {model!r} is retired or unknown)",
        model=model,
        details=exc.details,
        status=exc.status,
        body=exc.body,
        request_id=exc.request_id,
    )


# A running job's failure is free text ("Provider returned an error: <reason>"); no source
# documents the words for a retired model, so this looks for the ones providers use (a resold
# Sora API answered "model not found" after OpenAI's shutdown). Narrow on purpose: the text
# must name the model AND say it is gone; "model overloaded" or "model busy" is a passing
# error, not a retirement, and must not take a model away from every guild.
_GONE_MODEL = re.compile(
    r"\b(?:unknown|unsupported|retired|deprecated|decommissioned|discontinued)\s+model\b"
    r"(?!\s*(?:param|option|input|setting|field|argument|value))"
    r"|\bmodel_(?:not_found|retired|deprecated)\b"
    r"|\bmodel\b[^.;:]{0,60}?\b(?:not\s+found|does\s+not\s+exist|doesn'?t\s+exist"
    r"|retired|deprecated|decommissioned|discontinued"
    r"|(?:has|have|was|been|is)\s+(?:been\s+)?(?:removed|shut\s+down|withdrawn)"
    r"|no\s+longer\s+(?:available|supported|exists?|offered))\b",
    re.IGNORECASE,
)


def is_retired_model_error(text: str | None) -> bool:
    """Whether a job's failure text says its model is retired or unknown to the provider."""
    return bool(text) and _GONE_MODEL.search(text or "") is not None
