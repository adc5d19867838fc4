"""``sora-bot models`` and ``check``'s model line: Apiframe's live video catalog beside the config.

Models retire within months (issue 10), and a retired model fails every job that names it. These
functions let an operator see that before members do: which models Apiframe serves today, which
one ``/sora`` is configured with, which have a price grid, and which are unknown to the contract
catalog packaged with the bot (``bot/catalog``), so cannot be validated or priced by it yet.

Later pieces of issue 10 build on this: when the config enables several models, pass them all as
``enabled`` to :func:`model_rows` and :func:`retired`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TextIO

import aiohttp

from bot.apiframe.client import ApiframeError
from bot.apiframe.models import CatalogEntry, ModelCatalog
from bot.app import make_apiframe_client
from bot.catalog.video import Catalog
from bot.config import Settings


class CatalogUnavailable(Exception):
    """The live catalog could not be fetched; the text is one line naming what to check."""


@dataclass(frozen=True)
class ModelRow:
    """One line of ``sora-bot models``: a live model, or a configured one that is not live."""

    id: str
    label: str
    pricing: str
    cost: str
    configured: bool
    priced: bool
    live: bool
    in_contract: bool

    @property
    def config(self) -> str:
        uses = (["/sora"] if self.configured else []) + (["priced"] if self.priced else [])
        return ", ".join(uses) or "-"

    @property
    def notes(self) -> str:
        notes = [] if self.live else ["NOT LIVE (retired?)"]
        if not self.in_contract:
            notes.append("not in the bot's catalog")
        return "; ".join(notes)


async def fetch_live_catalog(settings: Settings) -> ModelCatalog:
    """Apiframe's live video catalog (public: a revoked key does not hide it)."""
    base = settings.apiframe.base_url
    async with aiohttp.ClientSession() as http:
        try:
            return await make_apiframe_client(settings, http).list_models("video")
        except ApiframeError as exc:
            # The client's text never carries the key; it may not name the setting, so add it.
            raise CatalogUnavailable(
                f"apiframe: cannot list the video models at {base} ({exc}); "
                "check apiframe.base_url and the network"
            ) from None


def _cost(entry: CatalogEntry) -> str:
    def show(value: float) -> str:
        return str(int(value)) if value.is_integer() else f"{value:g}"

    known = [v for v in (entry.cost_min, entry.cost_max) if v is not None]
    if not known:
        return "-"
    low, high = min(known), max(known)
    return show(low) if low == high else f"{show(low)}-{show(high)}"


def model_rows(
    live: ModelCatalog, contract: Catalog, configured: str, priced: Iterable[str]
) -> list[ModelRow]:
    """The live models in Apiframe's order, then configured or priced models it lacks."""
    priced_ids = tuple(priced)
    known = set(contract.ids)
    rows = [
        ModelRow(
            id=e.id, label=e.display_name, pricing=e.pricing_mode or "-", cost=_cost(e),
            configured=e.id == configured, priced=e.id in priced_ids, live=True,
            in_contract=e.id in known,
        )
        for e in live.models
    ]
    for model in live.missing((configured, *priced_ids)):
        rows.append(ModelRow(
            id=model, label="-", pricing="-", cost="-", configured=model == configured,
            priced=model in priced_ids, live=False, in_contract=model in known,
        ))
    return rows


def render(rows: Sequence[ModelRow]) -> list[str]:
    """Plain left-aligned columns, wide enough for the longest cell of each."""
    header = ("MODEL", "LABEL", "PRICING", "COST", "CONFIG", "NOTES")
    cells = [header] + [
        (r.id, r.label, r.pricing, r.cost, r.config, r.notes) for r in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    ]


def retired(live: ModelCatalog, enabled: Iterable[str]) -> tuple[str, ...]:
    """The enabled models Apiframe no longer lists: every job naming one would fail."""
    return live.missing(enabled)


def retired_advice(model: str) -> str:
    """What an operator should do about a configured model that is not live (one line)."""
    return (
        f"model {model!r} ([apiframe] model) is not in Apiframe's live video catalog: it looks "
        f"retired, so every /sora would fail; choose another model in [apiframe] model, with "
        f"prices in [pricing.<model>] (`sora-bot models` lists them)"
    )


async def check_line(settings: Settings) -> tuple[str, bool]:
    """``check``'s last line, and whether the configured model is live."""
    model = settings.apiframe.model
    live = await fetch_live_catalog(settings)
    if retired(live, [model]):
        return f"model: WARNING: {retired_advice(model)}", False
    return f"model: ok, {model} is in Apiframe's live video catalog", True


async def models(settings: Settings, out: TextIO, err: TextIO) -> int:
    """Print the live catalog beside the config; 1 (with one line on ``err``) when the
    configured model is not live."""
    live = await fetch_live_catalog(settings)
    model = settings.apiframe.model
    rows = model_rows(live, Catalog.load(), model, settings.pricing)
    # COST is Apiframe's price per job in its own credits, not what a guild pays the bot.
    print(f"Apiframe video models at {settings.apiframe.base_url} (COST in Apiframe credits): "
          f"{len(live.models)} live", file=out)
    for line in render(rows):
        print(line, file=out)
    if retired(live, [model]):
        print(f"error: {retired_advice(model)}", file=err)
        return 1
    print(f"/sora uses {model}: live", file=out)
    return 0
