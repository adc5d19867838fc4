"""Helpers for tests that drive the fake Apiframe with a plain aiohttp client."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.fakes.apiframe import FakeApiframe
from tests.fakes.apiframe_schema import component

KEY = "afk_test_key_0000000000"
JOB_REQUIRED = {
    "id",
    "status",
    "model",
    "progress",
    "error",
    "creditCost",
    "webhookStatus",
    "createdAt",
    "completedAt",
}
VALID: dict[str, Any] = {
    "prompt": "a sweeping aerial shot above alpine mountains at sunrise",
    "model": "sora-2-pro",
    "soraParams": {"duration": 8, "aspect_ratio": "16:9", "resolution": "high"},
}


def auth(key: str = KEY, **extra: str) -> dict[str, str]:
    return {"X-API-Key": key, **extra}


def conforms(schema: str, body: Any) -> None:
    errors = [e.message for e in component(schema).iter_errors(body)]
    assert errors == [], f"{schema}: {errors}"


async def submit(
    fake: FakeApiframe, http: aiohttp.ClientSession, body: Any = None, **headers: str
) -> tuple[int, Any]:
    async with http.post(
        f"{fake.base_url}/v2/videos/generate",
        json=VALID if body is None else body,
        headers=auth(**headers),
    ) as response:
        return response.status, await response.json()


async def get_job(
    fake: FakeApiframe, http: aiohttp.ClientSession, job_id: str, key: str = KEY
) -> tuple[int, Any]:
    async with http.get(f"{fake.base_url}/v2/jobs/{job_id}", headers=auth(key)) as response:
        return response.status, await response.json()


def with_sora(**params: Any) -> dict[str, Any]:
    return {**VALID, "soraParams": {**VALID["soraParams"], **params}}
