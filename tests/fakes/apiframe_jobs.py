"""Job routes of the fake: generate, get, list, and the account (``/v2/me``)."""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.apiframe_catalog import price, variant
from tests.fakes.apiframe_http import error
from tests.fakes.apiframe_model import (
    IDEMPOTENCY_WINDOW,
    WEBHOOK_EVENTS,
    FakeJob,
    IdempotencyEntry,
    iso,
)
from tests.fakes.apiframe_schema import is_uuid, new_uuid, validate_generate

if TYPE_CHECKING:
    from tests.fakes.apiframe import FakeApiframe

INVALID_BODY = "Invalid request body"
_DIGITS = re.compile(r"^[0-9]+$")
_LIST_STATUSES = ("QUEUED", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED")


def add_routes(app: web.Application, fake: FakeApiframe) -> None:
    async def generate_route(request: web.Request) -> web.Response:
        return await generate(fake, request)

    async def get_route(request: web.Request) -> web.Response:
        return get_job(fake, request)

    async def list_route(request: web.Request) -> web.Response:
        return list_jobs(fake, request)

    async def me_route(request: web.Request) -> web.Response:
        return me(fake, request)

    app.router.add_post("/v2/videos/generate", generate_route)
    app.router.add_get("/v2/jobs/{id}", get_route, allow_head=False)
    app.router.add_get("/v2/jobs", list_route, allow_head=False)
    app.router.add_get("/v2/me", me_route, allow_head=False)


def _invalid(details: dict[str, list[str]], message: str = INVALID_BODY) -> web.Response:
    return error(400, message, details=details)


def _reject_constant(name: str) -> Any:
    # JSON.parse in the Node backend has no NaN/Infinity; Python's json would accept them.
    raise ValueError(f"{name} is not valid JSON")


async def _json_body(request: web.Request) -> tuple[Any, web.Response | None]:
    if request.content_type != "application/json":
        return None, _invalid({"body": ["Expected Content-Type application/json"]})
    raw = await request.read()
    try:
        return json.loads(raw, parse_constant=_reject_constant), None
    except (ValueError, UnicodeDecodeError):
        return None, _invalid({"body": ["Malformed JSON"]})


async def generate(fake: FakeApiframe, request: web.Request) -> web.Response:
    key = fake.authenticate(request)
    if isinstance(key, web.Response):
        return key
    idem = request.headers.get("Idempotency-Key")
    if idem is not None and not 1 <= len(idem) <= 255:
        return _invalid(
            {"Idempotency-Key": ["Must be 1 to 255 characters"]}, "Invalid Idempotency-Key header"
        )
    body, problem = await _json_body(request)
    if problem is not None:
        return problem
    details = validate_generate(body, fake.retired)
    if details:
        return _invalid(details)
    now = fake.clock.now()
    if idem is not None:
        entry = fake.idempotency.get((key, idem))
        if entry is not None and now - entry.at < IDEMPOTENCY_WINDOW:
            if entry.body != body:
                return error(409, "Idempotency-Key was already used with a different request body")
            original = fake.jobs[entry.job_id]
            status = original.state_at(now).status
            return web.json_response({"jobId": original.id, "status": status}, status=202)
    cost = price(fake.costs, body)
    if cost is None:
        # Under "body", not "model": the model exists, only this fake's cost table lacks it.
        return _invalid({"body": [f"No price for {body['model']} {variant(body)} in this fake"]})
    if fake.credits < cost:
        return error(
            402, "Insufficient credits", creditsRequired=cost, creditsAvailable=max(fake.credits, 0)
        )
    fake.credits -= cost
    webhook_url = body.get("webhookUrl")
    job = FakeJob(
        id=new_uuid(),
        owner_key=key,
        model=body["model"],
        input=body,
        cost=cost,
        created_at=now,
        script=fake.next_script(body),
        webhook_url=webhook_url,
        # Which events fire without webhookEvents is undocumented; the fake sends all.
        webhook_events=frozenset(body.get("webhookEvents", WEBHOOK_EVENTS)),
        idempotency_key=idem,
        webhook_status="pending" if webhook_url else None,
    )
    fake.jobs[job.id] = job
    fake.created_count += 1
    if idem is not None:
        fake.idempotency[(key, idem)] = IdempotencyEntry(job.id, body, now)
    fake.settle()
    return web.json_response({"jobId": job.id, "status": job.state_at(now).status}, status=202)


def get_job(fake: FakeApiframe, request: web.Request) -> web.Response:
    key = fake.authenticate(request)
    if isinstance(key, web.Response):
        return key
    job_id = request.match_info["id"]
    if not is_uuid(job_id):
        return _invalid({"id": ["Invalid uuid"]}, "Invalid job id")
    job = fake.jobs.get(job_id.lower())
    if job is None or job.owner_key != key:
        return error(404, "Job not found")
    return web.json_response(fake.job_json(job))


def _encode_cursor(job: FakeJob) -> str:
    raw = json.dumps({"createdAt": iso(job.created_at), "id": job.id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        moment = datetime.fromisoformat(data["createdAt"].replace("Z", "+00:00"))
        job_id = data["id"]
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(job_id, str) or not is_uuid(job_id):
        return None
    return moment, job_id


def _sort_key(job: FakeJob) -> tuple[datetime, str]:
    # Timestamps at millisecond precision, as the cursor carries them (compared as datetimes:
    # the same order as their ISO text, without formatting every job on every page).
    moment = job.created_at.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000), job.id


def list_jobs(fake: FakeApiframe, request: web.Request) -> web.Response:
    key = fake.authenticate(request)
    if isinstance(key, web.Response):
        return key
    query = request.query
    problems: dict[str, list[str]] = {}
    limit = 20
    if "limit" in query:
        text = query["limit"]
        if not _DIGITS.match(text) or not 1 <= int(text) <= 100:
            problems["limit"] = ["Expected an integer from 1 to 100"]
        else:
            limit = int(text)
    status = query.get("status")
    if status is not None and status not in _LIST_STATUSES:
        problems["status"] = [f"Expected one of {' | '.join(_LIST_STATUSES)}"]
    scope = query.get("scope", "user")
    if scope not in ("user", "team"):
        problems["scope"] = ["Expected 'user' | 'team'"]
    search = query.get("search")
    if search is not None and not is_uuid(search):
        problems["search"] = ["Invalid uuid"]
    include_models = query.get("include_models", "false")
    if include_models not in ("true", "false"):
        problems["include_models"] = ["Expected 'true' | 'false'"]
    after: tuple[datetime, str] | None = None
    if "cursor" in query:
        after = _decode_cursor(query["cursor"])
        if after is None:
            problems["cursor"] = ["Invalid cursor"]
    if problems:
        return _invalid(problems, "Invalid query")
    if scope == "team" and fake.users[key].role not in ("ADMIN", "OWNER"):
        return error(403, "Team scope requires an admin")
    now = fake.clock.now()

    def listed(job: FakeJob) -> bool:
        return (
            (scope == "team" or job.owner_key == key)
            and (status is None or job.state_at(now).status == status)
            and ("model" not in query or job.model == query["model"])
            and (search is None or job.id == search.lower())
        )

    ordered = sorted(fake.jobs.values(), key=_sort_key, reverse=True)
    # Filtered lazily, from the cursor on, only as far as the page needs: a benchmark lists
    # ten thousand jobs a hundred at a time.
    if after is not None:
        bound = (after[0].astimezone(UTC), after[1])
        ordered = [job for job in ordered if _sort_key(job) < bound]
    matching = (job for job in ordered if listed(job))
    page = list(itertools.islice(matching, limit + 1))
    page, has_more = page[:limit], len(page) > limit
    body: dict[str, Any] = {
        "jobs": [fake.job_json(job, with_input=False) for job in page],
        "nextCursor": _encode_cursor(page[-1]) if has_more else None,
        "hasMore": has_more,
    }
    if include_models == "true":
        body["models"] = sorted({job.model for job in fake.jobs.values() if listed(job)})
    return web.json_response(body)


def me(fake: FakeApiframe, request: web.Request) -> web.Response:
    key = fake.authenticate(request)
    if isinstance(key, web.Response):
        return key
    user = fake.users[key]
    return web.json_response(
        {
            "user": {"id": user.user_id, "email": user.email, "role": user.role},
            # Union of the docs' shape (maxConcurrentJobs) and the OpenAPI one (customerId).
            "team": {
                "id": "00000000-0000-4000-a000-000000000001",
                "name": "Fake Team",
                "plan": "pro",
                "credits": max(fake.credits, 0),
                "customerId": "cus_fake000001",
                "maxConcurrentJobs": 10,
            },
            "apiKey": {"id": user.key_id, "name": user.key_name, "prefix": key[:8]},
        }
    )
