"""The fake's model catalog: ``GET /v2/models`` and what each model costs (reference §8).

The models are the vendored contract's video models (every ``GenerateVideoRequest`` branch)
minus the ones a test has retired. Labels, pricing modes and cost ranges are not in the
contract: the fake derives them from its own cost table, so they agree with what a generate
actually debits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.apiframe_http import error
from tests.fakes.apiframe_model import DEFAULT_COSTS
from tests.fakes.apiframe_schema import params_block, video_models

if TYPE_CHECKING:
    from tests.fakes.apiframe import FakeApiframe

#: What a job of a model without a grid in the fake's cost table costs (pricing mode "flat").
FLAT_COST = 10
FLAT = "flat"
MODALITIES = ("image", "video", "music")


def normalise_costs(costs: Mapping[str, Any] | None) -> dict[str, dict[str, int]]:
    """``{model: {variant: credits}}``; a flat ``{variant: credits}`` applies to both Sora models.

    Sora's variants are ``<resolution>-<duration>s``; any other model has the one variant
    ``"flat"`` (e.g. ``{"veo-3": {"flat": 40}}``), :data:`FLAT_COST` when not given.
    """
    merged = {model: dict(grid) for model, grid in DEFAULT_COSTS.items()}
    if costs is None:
        return merged
    if all(isinstance(value, int) for value in costs.values()):
        return {model: {**grid, **costs} for model, grid in merged.items()}
    for model, grid in costs.items():
        merged.setdefault(model, {}).update(grid)
    return merged


def variant(body: Mapping[str, Any]) -> str:
    """The cost-table key of a (valid) generate body."""
    if params_block(str(body["model"])) != "soraParams":
        return FLAT
    params = body.get("soraParams", {})
    return f"{params.get('resolution', 'standard')}-{int(params.get('duration', 4))}s"


def price(costs: Mapping[str, Mapping[str, int]], body: Mapping[str, Any]) -> int | None:
    """Credits a (valid) generate body costs; None when the table has no such variant."""
    grid = costs.get(str(body["model"]))
    key = variant(body)
    if grid is None or not grid:
        return FLAT_COST if key == FLAT else None
    return grid.get(key)


def label(model: str) -> str:
    """A display name in the style of Apiframe's examples: "veo-3.1-fast" -> "Veo 3.1 Fast"."""
    return " ".join(part[:1].upper() + part[1:] for part in model.split("-"))


def entry(fake: FakeApiframe, model: str) -> dict[str, Any]:
    """One ``ModelCatalogEntry``; ``fake.catalog_extras[model]`` is merged in last."""
    grid = fake.costs.get(model) or {FLAT: FLAT_COST}
    # Sora's price grows with the clip's length (and resolution): Apiframe's "per-second".
    mode = "per-second" if params_block(model) == "soraParams" else "flat"
    return {
        "id": model,
        "label": label(model),
        "modality": "video",
        "description": f"{label(model)} video generation (fake)",
        "pricingMode": mode,
        "costMin": min(grid.values()),
        "costMax": max(grid.values()),
        **fake.catalog_extras.get(model, {}),
    }


def live_models(fake: FakeApiframe) -> list[str]:
    return [model for model in video_models() if model not in fake.retired]


def add_routes(app: web.Application, fake: FakeApiframe) -> None:
    async def models_route(request: web.Request) -> web.Response:
        return list_models(fake, request)

    app.router.add_get("/v2/models", models_route, allow_head=False)


def list_models(fake: FakeApiframe, request: web.Request) -> web.Response:
    """Public (the contract's ``security: []``): no key needed, and a sent key is not checked."""
    modality = request.query.get("modality")
    if modality is not None and modality not in MODALITIES:
        expected = " | ".join(f"'{name}'" for name in MODALITIES)
        return error(
            400,
            "Invalid query",
            details={
                "modality": [f"Invalid enum value. Expected {expected}, received '{modality}'"]
            },
        )
    # The fake serves video only: an image or music catalog is empty, not an error.
    models = live_models(fake) if modality in (None, "video") else []
    return web.json_response({"models": [entry(fake, model) for model in models]})
