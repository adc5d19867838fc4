"""The fake Apiframe's models: every family's body checked against the contract, the public
``GET /v2/models`` catalog, and retiring a model (gone from the list, refused, running jobs
failed and refunded)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.fakes.apiframe import FakeApiframe
from tests.fakes.apiframe_model import RETIRED_FAILURE
from tests.fakes.apiframe_schema import params_block, video_models
from tests.fakes.apiframe_testkit import KEY, conforms, get_job, submit

URL = "https://example.com/frame.jpg"

# One model of every parameter block, written by hand from the contract (not derived from it,
# so a wrong reading of the contract by the fake cannot also be a wrong expectation here):
# (model, block, a valid block, (field, a value out of that model's range)).
FAMILIES: list[tuple[str, str, dict[str, Any], tuple[str, Any]]] = [
    ("sora-2", "soraParams", {"duration": 12, "aspect_ratio": "9:16"}, ("duration", 5)),
    ("kling-3.0", "klingParams", {"duration": 15, "mode": "4k", "start_image": URL,
                                  "end_image": URL, "generate_audio": True}, ("duration", 16)),
    ("kling-2.1", "klingParams", {"duration": 10, "mode": "pro"}, ("mode", "4k")),
    ("veo-3.1", "veoParams", {"duration": 8, "resolution": "1080p", "image": URL,
                              "last_frame": URL, "generate_audio": True}, ("duration", 7)),
    ("seedance-1-pro", "seedanceParams", {"duration": 10, "resolution": "1080p",
                                          "aspect_ratio": "21:9", "camera_fixed": True},
     ("duration", 4)),
    ("seedance-2-fast", "seedanceParams", {"duration": 4, "aspect_ratio": "adaptive"},
     ("resolution", "4k")),
    ("midjourney-video", "midjourneyVideoParams", {"motion": "high", "resolution": "hd",
                                                   "start_image": URL}, ("motion", "medium")),
    ("grok-imagine-video", "grokImagineVideoParams", {"duration": 15, "aspect_ratio": "3:2"},
     ("duration", 8)),
    ("hailuo-02", "hailuoParams", {"duration": 6, "resolution": "768p", "image": URL,
                                   "end_image": URL}, ("resolution", "720p")),
    ("luma-ray-2", "lumaParams", {"duration": 9, "loop": True, "aspect_ratio": "21:9"},
     ("duration", 10)),
    ("wan-2.6", "wanParams", {"duration": 15, "resolution": "1080p"}, ("resolution", "480p")),
    ("wan-2.7", "wan27Params", {"duration": 2, "image": URL, "last_frame": URL},
     ("duration", 16)),
    ("wan-2.7-r2v", "wan27R2vParams", {"duration": 10, "shot_type": "multi"}, ("duration", 11)),
    ("happyhorse-1.0", "happyhorse10Params", {"duration": 3, "seed": 2147483647},
     ("seed", 2147483648)),
    ("happyhorse-1.1", "happyhorse11Params", {"duration": 15, "images": [URL]}, ("duration", 2)),
    ("runway-gen4.5", "runwayParams", {"duration": 10, "aspect_ratio": "21:9", "image": URL},
     ("aspect_ratio", "2:1")),
]
IDS = [f"{model}" for model, *_ in FAMILIES]


def body(model: str, block: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"prompt": "a red fox running through snow", "model": model, block: params}


async def catalog(
    fake: FakeApiframe, http: aiohttp.ClientSession, query: str = "?modality=video"
) -> tuple[int, Any]:
    # No X-API-Key: the route is public (the contract's `security: []`).
    async with http.get(f"{fake.base_url}/v2/models{query}") as response:
        return response.status, await response.json()


def test_the_table_covers_every_family_of_the_contract() -> None:
    blocks = {params_block(model) for model in video_models()}
    assert {block for _, block, _, _ in FAMILIES} == blocks
    assert all(params_block(model) == block for model, block, _, _ in FAMILIES)
    assert len(video_models()) == 41


# -- every family's body against the contract -------------------------------------------


@pytest.mark.parametrize(("model", "block", "params", "bad"), FAMILIES, ids=IDS)
async def test_a_valid_body_of_each_family_is_accepted(
    fake: FakeApiframe, http: aiohttp.ClientSession, model: str, block: str,
    params: dict[str, Any], bad: tuple[str, Any],
) -> None:
    status, answer = await submit(fake, http, body(model, block, params))
    assert status == 202, answer
    conforms("JobAccepted", answer)
    job = (await get_job(fake, http, answer["jobId"]))[1]
    assert job["model"] == model and job["input"][block] == params
    conforms("Job", job)


@pytest.mark.parametrize(("model", "block", "params", "bad"), FAMILIES, ids=IDS)
async def test_another_familys_block_is_refused(
    fake: FakeApiframe, http: aiohttp.ClientSession, model: str, block: str,
    params: dict[str, Any], bad: tuple[str, Any],
) -> None:
    other = "soraParams" if block != "soraParams" else "veoParams"
    status, answer = await submit(fake, http, body(model, other, {"duration": 8}))
    assert status == 400
    # (Some branches also require their own block: that is reported too.)
    assert answer["details"][other] == ["Unrecognized key"]
    assert set(answer["details"]) <= {other, block}
    conforms("ValidationError", answer)
    assert fake.created_count == 0 and fake.credits == 1_000


@pytest.mark.parametrize(("model", "block", "params", "bad"), FAMILIES, ids=IDS)
async def test_a_value_out_of_the_models_range_is_refused(
    fake: FakeApiframe, http: aiohttp.ClientSession, model: str, block: str,
    params: dict[str, Any], bad: tuple[str, Any],
) -> None:
    field, value = bad
    status, answer = await submit(fake, http, body(model, block, {**params, field: value}))
    assert status == 400
    assert list(answer["details"]) == [f"{block}.{field}"]
    conforms("ValidationError", answer)
    assert fake.created_count == 0 and fake.credits == 1_000


async def test_every_model_of_the_contract_is_served(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    needs_block = {}
    for model in video_models():
        status, answer = await submit(fake, http, {"prompt": "p", "model": model})
        if status != 202:
            assert status == 400, (model, answer)
            needs_block[model] = answer["details"]
    # These three branches require their block; every other model takes a bare prompt.
    assert needs_block == {
        "kling-3.0-motion-control": {"klingParams": ["Required"]},
        "midjourney-video": {"midjourneyVideoParams": ["Required"]},
        "wan-2.7-r2v": {"wan27R2vParams": ["Required"]},
    }
    # sora-2 and sora-2-pro at their 4 s defaults, the 36 others at the flat price
    assert fake.created_count == 38 and fake.credits == 1_000 - 4 - 12 - 36 * 10


# -- GET /v2/models ------------------------------------------------------------------------


async def test_the_catalog_lists_every_video_model_of_the_contract(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    status, answer = await catalog(fake, http)
    assert status == 200
    conforms("ModelCatalog", answer)
    assert [entry["id"] for entry in answer["models"]] == list(video_models())
    entries = {entry["id"]: entry for entry in answer["models"]}
    assert entries["sora-2-pro"] == {
        "id": "sora-2-pro",
        "label": "Sora 2 Pro",
        "modality": "video",
        "description": "Sora 2 Pro video generation (fake)",
        "pricingMode": "per-second",
        "costMin": 12,
        "costMax": 75,
    }
    assert entries["veo-3.1-fast"]["label"] == "Veo 3.1 Fast"
    assert (entries["veo-3"]["pricingMode"], entries["veo-3"]["costMin"]) == ("flat", 10)


async def test_the_catalog_prices_are_what_a_generate_costs(http: aiohttp.ClientSession) -> None:
    async with FakeApiframe(api_key=KEY, credits=100, costs={"veo-3": {"flat": 40}}) as fake:
        entry = next(e for e in (await catalog(fake, http))[1]["models"] if e["id"] == "veo-3")
        assert (entry["costMin"], entry["costMax"]) == (40, 40)
        assert (await submit(fake, http, {"prompt": "p", "model": "veo-3"}))[0] == 202
        assert fake.credits == 60


@pytest.mark.parametrize(("query", "count"), [("", 41), ("?modality=image", 0),
                                              ("?modality=music", 0)])
async def test_the_catalog_filters_by_modality(
    fake: FakeApiframe, http: aiohttp.ClientSession, query: str, count: int
) -> None:
    status, answer = await catalog(fake, http, query)
    assert status == 200 and len(answer["models"]) == count
    conforms("ModelCatalog", answer)


async def test_an_unknown_modality_is_a_400(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    status, answer = await catalog(fake, http, "?modality=3d")
    assert status == 400 and list(answer["details"]) == ["modality"]
    conforms("ValidationError", answer)


async def test_the_catalog_is_public_and_ignores_a_bad_key(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    async with http.get(
        f"{fake.base_url}/v2/models", headers={"X-API-Key": "afk_unknown"}
    ) as response:
        assert response.status == 200


# -- retiring a model ----------------------------------------------------------------------


async def test_a_retired_model_leaves_the_catalog_and_is_refused_as_unknown(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    fake.retire("veo-3")
    ids = [entry["id"] for entry in (await catalog(fake, http))[1]["models"]]
    assert "veo-3" not in ids and len(ids) == 40 and "veo-3-fast" in ids
    retired = await submit(fake, http, {"prompt": "p", "model": "veo-3"})
    unknown = await submit(fake, http, {"prompt": "p", "model": "veo-9"})
    assert retired[0] == unknown[0] == 400
    assert retired[1] == unknown[1]
    assert list(retired[1]["details"]) == ["model"]
    assert "'veo-3'" not in retired[1]["details"]["model"][0]
    assert "'veo-3-fast'" in retired[1]["details"]["model"][0]
    conforms("ValidationError", retired[1])
    assert fake.created_count == 0 and fake.credits == 1_000
    assert (await submit(fake, http, {"prompt": "p", "model": "veo-3-fast"}))[0] == 202


async def test_retiring_fails_running_jobs_once_and_keeps_finished_ones(
    fake: FakeApiframe, http: aiohttp.ClientSession
) -> None:
    fake.script_next_job(queued_s=0, processing_s=1)
    done = (await submit(fake, http, {"prompt": "done", "model": "veo-3"}))[1]["jobId"]
    fake.clock.advance(2)
    running = (await submit(fake, http, {"prompt": "running", "model": "veo-3"}))[1]["jobId"]
    other = (await submit(fake, http, {"prompt": "other", "model": "kling-2.6"}))[1]["jobId"]
    fake.clock.advance(10)
    assert fake.credits == 1_000 - 30
    fake.retire("veo-3")
    failed = (await get_job(fake, http, running))[1]
    conforms("Job", failed)
    assert (failed["status"], failed["error"], failed["creditCost"]) == (
        "FAILED", RETIRED_FAILURE, 0)
    assert failed["completedAt"] == "2026-03-15T10:00:12.000Z"
    assert (await get_job(fake, http, done))[1]["status"] == "COMPLETED"
    assert (await get_job(fake, http, other))[1]["status"] == "PROCESSING"
    fake.clock.advance(600)
    assert fake.credits == 1_000 - 20  # the running veo-3 job refunded, once
    with pytest.raises(ValueError, match="veo-3"):
        fake.retire("veo-3")
