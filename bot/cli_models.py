"""``sora-bot models`` and ``check``'s model lines: Apiframe's live video catalog beside the
config's enabled lineup and the models the bot has found retired.

Models retire within months (issue 10), and a retired model fails every job that names it. These
functions let an operator see that before members do: which models Apiframe serves today, which
ones the config enables (and which of those Apiframe no longer lists), which one ``/sora`` runs,
which have a price grid, which are unknown to the contract catalog packaged with the bot
(``bot/catalog``), and which the running bot has marked retired in its database after the
provider refused them (bot/jobs/retired.py; ``--restore`` clears such a mark).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

import aiohttp

from bot.apiframe.client import ApiframeError
from bot.apiframe.models import CatalogEntry, ModelCatalog
from bot.app import make_apiframe_client, open_store
from bot.catalog.lineup import Lineup
from bot.catalog.video import Catalog
from bot.config import Settings
from bot.jobs.retired import RetiredModel, read_retired


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
    enabled: bool = False
    default: bool = False
    #: The bot's own mark: the provider refused the model for one of its jobs.
    retired: RetiredModel | None = None

    @property
    def config(self) -> str:
        uses = [word for word, on in (("enabled", self.enabled), ("default", self.default),
                                      ("/sora", self.configured), ("priced", self.priced)) if on]
        return ", ".join(uses) or "-"

    @property
    def notes(self) -> str:
        notes = [] if self.live else ["NOT LIVE (retired?)"]
        if self.retired is not None:
            notes.append(f"RETIRED here since {self.retired.retired_at:%Y-%m-%d}")
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
    live: ModelCatalog, contract: Catalog, lineup: Lineup, priced: Iterable[str],
    retired: Mapping[str, RetiredModel] | None = None,
) -> list[ModelRow]:
    """The live models in Apiframe's order, then enabled or priced models it lacks."""
    priced_ids = tuple(priced)
    marks = retired or {}
    known = set(contract.ids)

    def row(model: str, entry: CatalogEntry | None) -> ModelRow:
        return ModelRow(
            id=model, label=entry.display_name if entry else "-",
            pricing=(entry.pricing_mode or "-") if entry else "-",
            cost=_cost(entry) if entry else "-", configured=model == lineup.sora,
            priced=model in priced_ids, live=entry is not None, in_contract=model in known,
            enabled=model in lineup.offers, default=model == lineup.default,
            retired=marks.get(model),
        )

    rows = [row(e.id, e) for e in live.models]
    return rows + [row(model, None) for model in live.missing((*lineup.ids, *priced_ids))]


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


def retired_advice(model: str, lineup: Lineup) -> str:
    """What an operator should do about an enabled model that is not live (one line)."""
    if model == lineup.sora:
        return (
            f"model {model!r} ([apiframe] model) is not in Apiframe's live video catalog: it "
            f"looks retired, so every /sora would fail; choose another model in [apiframe] "
            f"model, with prices in [pricing.<model>] (`sora-bot models` lists them)"
        )
    return (
        f"model {model!r} ([video] enabled) is not in Apiframe's live video catalog: it looks "
        f"retired, so every job of it would fail; remove it from [video] enabled "
        f"(`sora-bot models` lists the live ones)"
    )


def marked_advice(mark: RetiredModel) -> str:
    """One line on a model the bot marked retired after the provider refused it."""
    job = f" by job {mark.job_id}" if mark.job_id else ""
    return (
        f"model {mark.model!r} was marked retired on {mark.retired_at:%Y-%m-%d %H:%M} UTC{job} "
        f"({mark.detail[:80]!r}), so members cannot choose it; if Apiframe serves it again, "
        f"`sora-bot models --restore {mark.model}`"
    )


async def _marks(settings: Settings) -> dict[str, RetiredModel]:
    if settings.database.url is not None:
        # A server, not a file that a read could create: read through the store.
        async with open_store(settings) as store:
            return await store.retired.all()
    return await asyncio.to_thread(read_retired, settings.database.path)


async def check_lines(settings: Settings) -> tuple[list[str], bool]:
    """``check``'s model lines, and whether every enabled model is live.

    A model the bot marked retired is a warning only: members are already kept off it.
    """
    lineup = settings.lineup
    live = await fetch_live_catalog(settings)
    missing = retired(live, lineup.ids)
    lines = [f"models: WARNING: {retired_advice(model, lineup)}" for model in missing]
    marks = await _marks(settings)
    lines += [f"models: WARNING: {marked_advice(marks[model])}"
              for model in lineup.ids if model in marks]
    if not missing:
        lines.insert(0, f"models: ok, every enabled model ({', '.join(lineup.ids)}) is in "
                        "Apiframe's live video catalog")
    return lines, not missing


def _lineup_lines(lineup: Lineup, live: ModelCatalog,
                  marks: Mapping[str, RetiredModel]) -> list[str]:
    lines = []
    for model, offer in lineup.offers.items():
        roles = [role for role, on in (("/sora", model == lineup.sora),
                                       ("default", model == lineup.default)) if on]
        name = f"{model} [{', '.join(roles)}]" if roles else model
        state = "live" if model in live else "NOT LIVE in Apiframe's catalog"
        mark = marks.get(model)
        if mark is not None:
            state += f"; RETIRED here: {marked_advice(mark)}"
        label = f" ({offer.label!r})" if offer.label != model else ""
        lines.append(f"enabled: {name}{label}: {state}")
    if lineup.sora is None:
        lines.append("/sora: off ([apiframe] model is not in [video] enabled)")
    return lines


async def models(settings: Settings, out: TextIO, err: TextIO) -> int:
    """Print the live catalog beside the enabled lineup; 1 (with one line each on ``err``)
    when an enabled model is not live."""
    live = await fetch_live_catalog(settings)
    lineup = settings.lineup
    marks = await _marks(settings)
    rows = model_rows(live, Catalog.load(), lineup, settings.pricing, marks)
    # COST is Apiframe's price per job in its own credits, not what a guild pays the bot.
    print(f"Apiframe video models at {settings.apiframe.base_url} (COST in Apiframe credits): "
          f"{len(live.models)} live", file=out)
    for line in render(rows):
        print(line, file=out)
    for line in _lineup_lines(lineup, live, marks):
        print(line, file=out)
    missing = retired(live, lineup.ids)
    for model in missing:
        print(f"error: {retired_advice(model, lineup)}", file=err)
    return 1 if missing else 0


async def restore(settings: Settings, model: str, out: TextIO) -> int:
    """Clear the bot's retired mark on ``model`` so members may choose it again."""
    path = settings.database.path
    if settings.database.url is None and not path.exists():
        print(f"{model} is not marked retired ({path} does not exist yet); nothing changed",
              file=out)
        return 0
    async with open_store(settings) as store:
        mark = await store.retired.restore(model)
    if mark is None:
        print(f"{model} is not marked retired; nothing changed", file=out)
    else:
        offered = ("members may choose it again" if model in settings.lineup.offers
                   else "it is not in [video] enabled, so members still cannot choose it")
        print(f"restored {model} (marked retired on {mark.retired_at:%Y-%m-%d %H:%M} UTC): "
              f"{offered}", file=out)
    return 0
