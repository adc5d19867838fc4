"""ApiframeClient.list_models and ModelUnavailable, through the loopback fake Apiframe.

The live catalog is what ``sora-bot models``/``check`` compare the config with; a generate for
a model the provider has retired must raise a type the scheduler can refund on.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.apiframe.client import (
    ApiframeClient,
    MalformedResponse,
    ModelCatalog,
    ModelUnavailable,
    RateLimited,
    ValidationFailed,
)
from bot.apiframe.models import SoraParams
from tests.fakes.apiframe import FakeApiframe, Fault
from tests.fakes.apiframe_schema import video_models

PARAMS = SoraParams(duration=4, resolution="standard")


@pytest.fixture
async def client(fake_apiframe: FakeApiframe) -> AsyncIterator[ApiframeClient]:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    async with aiohttp.ClientSession() as session:
        yield ApiframeClient(
            session, api_key=fake_apiframe.api_key, base_url=fake_apiframe.base_url,
            timeout=5.0, sleep=record, random=lambda: 0.5,
        )


async def generate(client: ApiframeClient, model: str, key: str = "cmd-1") -> str:
    accepted = await client.generate(
        prompt="a lighthouse at dusk", model=model, params_field="soraParams",
        params=PARAMS.to_wire(),
        idempotency_key=key
    )
    return accepted.job_id


# -- listing -------------------------------------------------------------------------------


async def test_list_models_returns_the_live_video_catalog_without_the_key(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    catalog = await client.list_models()
    assert [entry.id for entry in catalog.models] == list(video_models())
    pro = catalog.get("sora-2-pro")
    assert pro is not None
    assert (pro.label, pro.modality, pro.pricing_mode) == ("Sora 2 Pro", "video", "per-second")
    assert (pro.cost_min, pro.cost_max) == (12, 75)
    assert "veo-3" in catalog and "veo-9" not in catalog
    (request,) = [r for r in fake_apiframe.requests if r.path == "/v2/models"]
    assert request.query == {"modality": "video"}
    assert "X-API-Key" not in request.headers


async def test_a_retired_model_disappears_and_is_reported_missing(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    enabled = ["sora-2-pro", "veo-3.1", "kling-3.0"]
    assert (await client.list_models()).missing(enabled) == ()
    fake_apiframe.retire("sora-2-pro")
    fake_apiframe.retire("kling-3.0")
    catalog = await client.list_models()
    assert "sora-2-pro" not in catalog and catalog.get("kling-3.0") is None
    assert catalog.missing([*enabled, "sora-2-pro"]) == ("sora-2-pro", "kling-3.0")
    assert len(catalog.ids) == 39


async def test_list_models_is_retried_like_every_get(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.inject("GET /v2/models", Fault.status(503), times=2)
    assert len((await client.list_models()).models) == 41
    fake_apiframe.inject("GET /v2/models", Fault.rate_limit(retry_after=1), times=3)
    with pytest.raises(RateLimited):
        await client.list_models()
    assert len([r for r in fake_apiframe.requests if r.path == "/v2/models"]) == 3 + 3


async def test_all_modalities_and_a_bad_one(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    assert len((await client.list_models(None)).models) == 41
    assert [r.query for r in fake_apiframe.requests] == [{}]
    assert (await client.list_models("image")).models == ()
    with pytest.raises(ValidationFailed) as caught:
        await client.list_models("3d")  # type: ignore[arg-type]
    assert list(caught.value.details) == ["modality"]


async def test_informational_fields_are_tolerated(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.catalog_extras["veo-3"] = {
        "costMin": "cheap", "costMax": None, "pricingMode": "per-token", "label": 7,
        "tags": ["new"], "controls": {"duration": [4, 6, 8]},
    }
    entry = (await client.list_models()).get("veo-3")
    assert entry is not None
    assert (entry.cost_min, entry.cost_max, entry.pricing_mode, entry.label) == (
        None, None, None, None)
    assert entry.display_name == "veo-3"


def test_the_catalog_parses_the_contracts_shape_and_drops_other_modalities() -> None:
    catalog = ModelCatalog.model_validate({"models": [
        {"id": "veo-3", "label": "Veo 3", "modality": "video"},
        {"id": "flux-pro", "label": "Flux Pro", "modality": "image"},
        {"id": "mystery", "label": "No modality"},
    ]})
    assert [e.id for e in catalog.of_modality("video").models] == ["veo-3", "mystery"]


@pytest.mark.parametrize(
    "models",
    [
        [{"label": "no id", "modality": "video"}],
        [{"id": "", "label": "empty", "modality": "video"}],
        [{"id": 42, "label": "number", "modality": "video"}],
        [{"id": "veo 3", "label": "space", "modality": "video"}],
        [{"id": "veo-3", "modality": "video"}, {"id": "veo-3", "modality": "video"}],
    ],
)
async def test_ids_are_strict(models: list[dict[str, Any]]) -> None:
    async def serve(_request: web.Request) -> web.Response:
        return web.Response(text=json.dumps({"models": models}), content_type="application/json")

    app = web.Application()
    app.router.add_get("/v2/models", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession() as session:
            client = ApiframeClient(session, api_key="afk_x", base_url=f"http://{host}:{port}",
                                    timeout=5.0)
            with pytest.raises(MalformedResponse, match="ModelCatalog"):
                await client.list_models()
    finally:
        await runner.cleanup()


# -- a retired model on generate -----------------------------------------------------------


async def test_generate_for_a_retired_model_raises_model_unavailable(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.retire("sora-2")
    with pytest.raises(ModelUnavailable) as caught:
        await generate(client, "sora-2")
    error = caught.value
    assert isinstance(error, ValidationFailed) and error.status == 400
    assert error.model == "sora-2" and list(error.details) == ["model"]
    assert "'sora-2' is retired or unknown" in str(error)
    assert fake_apiframe.created_count == 0
    assert await generate(client, "sora-2-pro", key="cmd-2") in fake_apiframe.jobs


async def test_an_unknown_model_is_unavailable_too_but_a_bad_parameter_is_not(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    with pytest.raises(ModelUnavailable):
        await generate(client, "sora-3")
    # veo-3 exists but takes veoParams: the refusal names the block, not the model.
    with pytest.raises(ValidationFailed) as caught:
        await generate(client, "veo-3", key="cmd-2")
    assert not isinstance(caught.value, ModelUnavailable)
    assert list(caught.value.details) == ["soraParams"]


async def test_a_running_job_of_a_retired_model_fails_and_is_refunded(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    job_id = await generate(client, "sora-2-pro")
    fake_apiframe.clock.advance(20)
    fake_apiframe.retire("sora-2-pro")
    job = await client.get_job(job_id)
    assert (job.status, job.credit_cost, job.is_terminal) == ("FAILED", 0, True)
    assert job.error == "Provider returned an error: model not found"
    assert fake_apiframe.credits == 10_000
    assert "sora-2-pro" not in await client.list_models()
