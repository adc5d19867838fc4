"""The fake Apiframe's front door: request validation, auth, credits and idempotency.

Driven with a plain aiohttp client, never the bot's, so a bug in one cannot hide one in the other.
Lifecycle/list/me: test_fake_apiframe_jobs.py; faults: _faults.py; uploads and CDN: _files.py;
webhooks: _webhooks.py.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.fakes.apiframe import FakeApiframe
from tests.fakes.apiframe_testkit import (
    KEY,
    VALID,
    auth,
    conforms,
    get_job,
    submit,
    with_sora,
)

# -- request validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"model": "sora-2-pro"}, "prompt"),
        ({**VALID, "prompt": ""}, "prompt"),
        ({**VALID, "prompt": "x" * 4001}, "prompt"),
        ({**VALID, "prompt": "\N{GRINNING FACE}" * 2001}, "prompt"),  # 4002 UTF-16 units
        ({**VALID, "metadata": {"a": 1}}, "metadata"),
        ({**VALID, "klingParams": {}}, "klingParams"),
        (with_sora(seed=3), "soraParams.seed"),
        (with_sora(duration=5), "soraParams.duration"),
        (with_sora(duration="8"), "soraParams.duration"),
        (with_sora(aspect_ratio="4:3"), "soraParams.aspect_ratio"),
        (with_sora(resolution="1080p"), "soraParams.resolution"),
        (with_sora(start_image="not a url"), "soraParams.start_image"),
        ({**VALID, "webhookUrl": "not a url"}, "webhookUrl"),
        ({**VALID, "webhookUrl": "https://"}, "webhookUrl"),
        ({**VALID, "webhookEvents": []}, "webhookEvents"),
        ({**VALID, "webhookEvents": ["done"]}, "webhookEvents.0"),
        ({**VALID, "model": "kling-2.1"}, "soraParams"),  # a real model, not its block
        ({**VALID, "model": "no-such-model"}, "model"),
        ({"prompt": "x"}, "model"),
        (["not", "an", "object"], "body"),
    ],
)
async def test_invalid_bodies_get_400_with_details_and_cost_nothing(
    fake: FakeApiframe, http: aiohttp.ClientSession, body: Any, path: str
) -> None:
    status, answer = await submit(fake, http, body)
    assert status == 400
    assert answer["error"] == "Invalid request body"
    assert path in answer["details"] and answer["details"][path]
    conforms("ValidationError", answer)
    assert fake.credits == 1_000 and fake.created_count == 0


async def test_every_rule_is_reported_at_once(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    body = {**with_sora(duration=5, aspect_ratio="4:3", extra=1), "prompt": "x" * 4001}
    status, answer = await submit(fake, http, body)
    assert status == 400
    assert set(answer["details"]) == {
        "prompt",
        "soraParams.duration",
        "soraParams.aspect_ratio",
        "soraParams.extra",
    }


@pytest.mark.parametrize(
    "body",
    [
        {**VALID, "prompt": "x" * 4000},
        {**VALID, "prompt": "\N{GRINNING FACE}" * 2000},
        {"prompt": "p", "model": "sora-2"},
        {
            **with_sora(
                duration=15,
                aspect_ratio="9:16",
                resolution="standard",
                start_image="https://example.com/frame.jpg",
            ),
            "webhookUrl": "https://your-server.com/api/webhook",
            "webhookEvents": ["completed", "failed"],
        },
    ],
)
async def test_valid_bodies_are_accepted(
    fake: FakeApiframe, http: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    conforms("GenerateVideoRequest", body)
    status, answer = await submit(fake, http, body)
    assert status == 202, answer
    conforms("JobAccepted", answer)
    assert answer["status"] == "QUEUED"


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b'{"prompt": "x", "model": "sora-2-pro"', "application/json"),
        (b'{"prompt": "x", "model": "sora-2-pro"}', "text/plain"),
        (
            b'{"prompt": "x", "model": "sora-2-pro", "soraParams": {"duration": NaN}}',
            "application/json",
        ),
    ],
)
async def test_non_json_bodies_get_400(
    fake: FakeApiframe, http: aiohttp.ClientSession, data: bytes, content_type: str
) -> None:
    async with http.post(
        f"{fake.base_url}/v2/videos/generate",
        data=data,
        headers=auth(**{"Content-Type": content_type}),
    ) as response:
        assert response.status == 400
        conforms("ValidationError", await response.json())
    assert fake.created_count == 0


# -- auth ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v2/videos/generate"),
        ("GET", "/v2/jobs"),
        ("GET", "/v2/me"),
        ("GET", "/v2/jobs/b2c3d4e5-f6a7-8901-bcde-f23456789012"),
        ("POST", "/v2/uploads"),
    ],
)
async def test_auth_failures(
    fake: FakeApiframe, http: aiohttp.ClientSession, method: str, path: str
) -> None:
    fake.add_api_key("afk_revoked_later")
    fake.inactive_keys.add("afk_revoked_later")
    cases = [
        ({}, 401, "API key is required"),
        (auth("afk_unknown"), 401, "Invalid API key"),
        (auth("afk_revoked_later"), 403, "API key is inactive"),
    ]
    for headers, status, message in cases:
        async with http.request(
            method, fake.base_url + path, json=VALID, headers=headers
        ) as response:
            assert (response.status, await response.json()) == (status, {"error": message})
    assert fake.created_count == 0


# -- credits -------------------------------------------------------------------------------


async def test_insufficient_credits_is_402_with_numbers(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    fake.credits = 39
    status, answer = await submit(fake, http)  # high-8s costs 40 on the docs-v2 grid
    assert (status, answer) == (
        402,
        {"error": "Insufficient credits", "creditsRequired": 40, "creditsAvailable": 39},
    )
    conforms("InsufficientCredits", answer)
    assert fake.credits == 39 and fake.created_count == 0


@pytest.mark.parametrize(
    ("sora", "model", "cost"),
    [
        ({}, "sora-2-pro", 12),
        ({"duration": 15, "resolution": "high"}, "sora-2-pro", 75),
        ({"duration": 10}, "sora-2", 10),
    ],
)
async def test_cost_follows_the_grid_and_defaults(
    fake: FakeApiframe, http: aiohttp.ClientSession, sora: dict[str, Any], model: str, cost: int
) -> None:
    status, answer = await submit(fake, http, {"prompt": "p", "model": model, "soraParams": sora})
    assert status == 202
    assert fake.credits == 1_000 - cost
    assert (await get_job(fake, http, answer["jobId"]))[1]["creditCost"] == cost


async def test_costs_table_is_configurable(http: aiohttp.ClientSession) -> None:
    grid = {"sora-2-pro": {"high-8s": 680}}
    async with FakeApiframe(api_key=KEY, credits=700, costs=grid) as fake:
        assert (await submit(fake, http))[0] == 202
        assert fake.credits == 20


# -- idempotency ---------------------------------------------------------------------------


async def test_idempotent_replay_returns_the_original_job_and_charges_once(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    first = await submit(fake, http, **{"Idempotency-Key": "cmd-1"})
    fake.clock.advance(10)
    again = await submit(fake, http, **{"Idempotency-Key": "cmd-1"})
    assert first[0] == again[0] == 202
    assert again[1] == {"jobId": first[1]["jobId"], "status": "PROCESSING"}
    assert fake.created_count == 1 and fake.credits == 1_000 - 40
    conflict = await submit(fake, http, with_sora(duration=4), **{"Idempotency-Key": "cmd-1"})
    assert conflict[0] == 409 and conflict[1]["error"]
    assert fake.created_count == 1


async def test_idempotency_window_and_scope(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    fake.add_api_key("afk_second_user")
    first = await submit(fake, http, **{"Idempotency-Key": "k"})
    other_user = await submit(fake, http, key="afk_second_user", **{"Idempotency-Key": "k"})
    fake.clock.advance(24 * 3600)
    later = await submit(fake, http, **{"Idempotency-Key": "k"})
    assert len({first[1]["jobId"], other_user[1]["jobId"], later[1]["jobId"]}) == 3
    assert fake.created_count == 3


@pytest.mark.parametrize("value", ["x" * 256, ""])
async def test_idempotency_key_length_is_checked(
    fake: FakeApiframe, http: aiohttp.ClientSession, value: str
) -> None:
    status, answer = await submit(fake, http, **{"Idempotency-Key": value})
    assert status == 400
    conforms("ValidationError", answer)
    assert (await submit(fake, http, **{"Idempotency-Key": "x" * 255}))[0] == 202
