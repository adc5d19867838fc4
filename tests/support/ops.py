"""Serve the operations routes of a running test bot on a bare aiohttp app (a loopback port),
and read what they answer: the listener that mounts them in production is not needed here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from bot.web.ops import Health, gateway_connected, ops_routes
from tests.sora_harness import SoraHarness


def health_of(h: SoraHarness, **overrides: Any) -> Health:
    """The health check wired to the harness's real bot, database and scheduler."""
    return Health(db=h.services.store.db, duties=h.bot.scheduler.duties,
                  gateway=lambda: gateway_connected(h.bot), **overrides)


@asynccontextmanager
async def ops_client(h: SoraHarness, health: Health | None = None) -> AsyncIterator[TestClient]:
    app = web.Application()
    app.add_routes(ops_routes(health or health_of(h), h.services.metrics,
                              h.services.store.jobs, h.services.clock))
    async with TestClient(TestServer(app)) as client:
        yield client


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: TestClient) -> Samples:
    """GET /metrics, parsed: ``(sample name, labels) -> value``."""
    response = await client.get("/metrics")
    assert response.status == 200, await response.text()
    assert response.content_type == "text/plain"
    samples: Samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when absent (a labelled counter never incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, keep: Callable[[dict[str, str]], bool]) -> float:
    """The sum of ``name``'s samples whose labels ``keep`` accepts."""
    return sum(v for (n, labels), v in samples.items() if n == name and keep(dict(labels)))
