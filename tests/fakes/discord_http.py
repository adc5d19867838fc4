"""The REST front door of the fake: read and record each request, inject faults, route, reply.

Every request under ``/api/v10`` is recorded (unknown routes too, answered with Discord's
``404: Not Found``) so a test sees exactly what the bot sent. Replies carry the headers
discord.py's rate limiter reads and ``Via`` (Discord sits behind Google's load balancer;
discord.py treats a 429 *without* it as a Cloudflare ban).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from tests.fakes.apiframe_http import reset_connection
from tests.fakes.discord_models import (
    REQUEST_LIMIT,
    RecordedFile,
    RecordedRequest,
    api_relative,
    route_params,
)
from tests.fakes.discord_state import DiscordState
from tests.fakes.discord_validation import (
    Problem,
    attachment_problems,
    discord_errors,
)

_BOOL_TRUE = ("true", "True", "1")


class DiscordError(Exception):
    """An error reply in Discord's JSON shape: ``{"message", "code", "errors"?}``."""

    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message, self.errors = status, code, message, errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def not_found(code: int, message: str) -> DiscordError:
    return DiscordError(404, code, message)


def missing_permissions() -> DiscordError:
    return DiscordError(403, 50013, "Missing Permissions")


@dataclass
class Upload:
    """One ``files[n]`` part of a multipart request."""

    index: int | None
    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    via: bool = True


@dataclass
class Call:
    """A parsed request handed to a route handler."""

    request: web.Request
    record: RecordedRequest
    params: dict[str, str]
    body: Any
    uploads: list[Upload]
    operation_id: str | None

    def param(self, name: str) -> int:
        value = self.params[name]
        if not value.isdigit():
            raise not_found(0, "404: Not Found")
        return int(value)

    def flag(self, name: str) -> bool:
        return self.request.query.get(name, "") in _BOOL_TRUE


Handler = Callable[[Call], Awaitable[Reply]]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    operation_id: str | None
    bot_auth: bool = True


class RestFrontDoor:
    """Dispatches ``/api/v10/*`` to registered routes; shared checks live here."""

    def __init__(self, state: DiscordState) -> None:
        self.state = state
        self.routes: list[Route] = []

    def add(self, route: Route) -> None:
        self.routes.append(route)

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method != method:
                continue
            params = route_params(route.template, path)
            if params is not None:
                return route, params
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        state = self.state
        path = api_relative(request.path)
        record = RecordedRequest(
            request.method,
            request.path,
            dict(request.query),
            redacted_headers(request),
            None,
            [],
            state.now(),
        )
        state.requests.append(record)
        record.interaction_id = self._interaction_id(path)
        operation_id = None
        delay = None
        try:
            body, uploads = await _read_body(request)
            record.json = body
            record.files = [
                RecordedFile(u.field, u.filename, u.content_type, len(u.data)) for u in uploads
            ]
            delay = state.take_delay(record)
            if delay is not None and not delay.after_processing:
                await state.hold(delay.seconds)
            fault = state.take_fault(request.method, path)
            if fault is not None and fault.reset:
                return reset_connection(request)
            if fault is not None:
                reply = Reply(fault.status, fault.body, dict(fault.headers), fault.via)
            else:
                found = self._match(request.method, path)
                if found is None:
                    raise not_found(0, "404: Not Found")
                route, params = found
                record.route, operation_id = route.template, route.operation_id
                if route.bot_auth and request.headers.get("Authorization") != f"Bot {state.token}":
                    raise DiscordError(401, 0, "401: Unauthorized")
                limited = state.global_limit_fault() if route.bot_auth else None
                if limited is not None:
                    reply = Reply(429, limited.body, dict(limited.headers), limited.via)
                else:
                    call = Call(request, record, params, body, uploads, operation_id)
                    reply = await route.handler(call)
        except DiscordError as exc:
            reply = Reply(exc.status, exc.body())
        record.status = reply.status
        if delay is not None and delay.after_processing:
            await state.hold(delay.seconds)
        if operation_id is not None and reply.status != 429 and reply.body is not None:
            self._self_check(operation_id, reply)
        return _respond(reply, state.now())

    def _interaction_id(self, path: str) -> int | None:
        """The interaction a callback or token-webhook path belongs to (also for faults)."""
        parts = path.strip("/").split("/")
        if len(parts) >= 2 and parts[0] == "interactions" and parts[1].isdigit():
            return int(parts[1])
        if len(parts) >= 3 and parts[0] == "webhooks":
            interaction = self.state.interaction_by_token(parts[2])
            return interaction.id if interaction is not None else None
        return None

    def _self_check(self, operation_id: str, reply: Reply) -> None:
        """Check the fake's own reply against the spec, so its fidelity is tested too."""
        body = reply.body
        if isinstance(body, dict) and "errors" in body:
            # The spec types nested error codes as integers; Discord (and its docs,
            # reference.mdx "Error Messages") send names like "BASE_TYPE_BAD_LENGTH".
            body = {k: v for k, v in body.items() if k != "errors"}
        for problem in self.state.contract.response_problems(operation_id, reply.status, body):
            self.state.response_schema_errors.append(problem.describe(f"{operation_id} reply"))

    # -- shared checks handlers call --------------------------------------------------

    def validate(
        self,
        call: Call,
        operation_id: str,
        *,
        existing_attachments: set[int] | None = None,
        extra: list[Problem] | None = None,
    ) -> None:
        """Validate the body against the operation's schema; 400/50035 and a record if not.

        ``existing_attachments``: ids a PATCH may keep besides its new ``files[n]`` parts.
        """
        body = call.body
        problems = self.state.contract.request_problems(operation_id, body)
        indices = {u.index for u in call.uploads if u.index is not None}
        existing = existing_attachments or set()
        if operation_id == "create_interaction_response" and isinstance(body, dict):
            problems += [
                Problem(("data", *p.path), p.code, p.message)
                for p in attachment_problems(body.get("data"), indices, existing)
            ]
        else:
            problems += attachment_problems(body, indices, existing)
        problems += extra or []
        if problems:
            method_path = f"{call.record.method} {call.record.path}"
            self.state.validation_errors.extend(
                f"{method_path}: {p.describe(operation_id)}" for p in problems
            )
            raise DiscordError(400, 50035, "Invalid Form Body", discord_errors(problems))

    def reject(self, call: Call, error: DiscordError) -> DiscordError:
        """Record a semantically invalid request (e.g. empty message) and return its error."""
        self.state.validation_errors.append(
            f"{call.record.method} {call.record.path}: {error.code} {error.message}"
        )
        return error

    @staticmethod
    def check_file_sizes(call: Call, per_file_limit: int) -> None:
        for upload in call.uploads:
            if len(upload.data) > per_file_limit:
                raise DiscordError(413, 40005, "Request entity too large")


def redacted_headers(request: web.Request) -> dict[str, str]:
    """Request headers with the bot token masked (tests print records on failure)."""
    headers = dict(request.headers)
    if "Authorization" in headers:
        headers["Authorization"] = "Bot <redacted>"
    return headers


async def _read_body(request: web.Request) -> tuple[Any, list[Upload]]:
    """JSON body, or multipart ``payload_json`` + ``files[n]`` parts (413 past 25 MiB)."""
    if request.content_length and request.content_length > REQUEST_LIMIT:
        while await request.content.readany():
            pass
        raise DiscordError(413, 40005, "Request entity too large")
    if not request.body_exists:
        return None, []
    if request.content_type.startswith("multipart/"):
        return await _read_multipart(request)
    raw = await request.read()
    if not raw:
        return None, []
    try:
        return json.loads(raw), []
    except ValueError:
        raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None


async def _read_multipart(request: web.Request) -> tuple[Any, list[Upload]]:
    reader = await request.multipart()
    body: Any = None
    uploads: list[Upload] = []
    total = 0
    async for part in reader:
        if not isinstance(part, BodyPartReader):  # nested multipart: Discord rejects it
            raise DiscordError(400, 50035, "Invalid Form Body")
        data = await part.read()
        total += len(data)
        if total > REQUEST_LIMIT:
            raise DiscordError(413, 40005, "Request entity too large")
        name = part.name or ""
        if name == "payload_json":
            try:
                body = json.loads(data)
            except ValueError:
                raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None
        elif part.filename is not None:
            index = None
            if name.startswith("files[") and name.endswith("]") and name[6:-1].isdigit():
                index = int(name[6:-1])
            content_type = part.headers.get("Content-Type", "application/octet-stream")
            uploads.append(Upload(index, name, part.filename, content_type, bytes(data)))
    return body, uploads


def _respond(reply: Reply, now: float) -> web.Response:
    headers = {
        # A roomy bucket: discord.py never pre-emptively sleeps, so tests stay fast; real
        # limiting is what inject_rate_limit() is for.
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "49",
        "X-RateLimit-Reset": f"{now + 1:.3f}",
        "X-RateLimit-Reset-After": "1.000",
        "X-RateLimit-Bucket": "fakebucket",
    }
    headers.update(reply.headers)
    if reply.via:
        headers["Via"] = "1.1 google"
    if reply.body is None:
        return web.Response(status=reply.status, headers=headers)
    # Exactly "application/json", no charset: discord.py compares the header verbatim and
    # treats anything else as text (http.py json_or_text).
    headers["Content-Type"] = "application/json"
    return web.Response(status=reply.status, body=json.dumps(reply.body).encode(), headers=headers)
