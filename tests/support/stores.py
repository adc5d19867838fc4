"""The stores and the budget service wired as bot/app.py wires them, on a test's database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.audit.trail import AuditLog
from bot.budget import BudgetService
from bot.clock import Clock
from bot.config import Settings, parse_settings
from bot.db.database import Database
from bot.jobs.store import JobDeliveries, JobHistory, JobStore
from bot.ledger.store import Ledger
from bot.policy.store import PolicyStore
from bot.request import VideoRequest
from tests.support.clock import T0
from tests.support.requests import video_request


def settings_with(**sections: dict[str, Any]) -> Settings:
    """Valid settings (the config's defaults) with some sections' keys changed."""
    tables: dict[str, dict[str, Any]] = {
        "discord": {"token": "x.y.z"}, "apiframe": {"api_key": "afk_test"},
    }
    for name, table in sections.items():
        tables.setdefault(name, {}).update(table)
    return parse_settings(tables, env={})


@dataclass(frozen=True, slots=True)
class Stores:
    ledger: Ledger
    audit: AuditLog
    policy: PolicyStore
    jobs: JobStore
    budget: BudgetService


def build_stores(db: Database, settings: Settings, clock: Clock) -> Stores:
    ledger = Ledger.from_config(db, settings.ledger, clock=clock, held_jobs=JobDeliveries())
    audit = AuditLog(db, clock)
    policy = PolicyStore(db, settings=settings, clock=clock, jobs=JobHistory())
    jobs = JobStore(
        db, ledger, timeout=timedelta(minutes=settings.jobs.timeout_minutes), clock=clock,
        policy=policy, audit=audit,
    )
    budget = BudgetService(db, ledger, audit, jobs, settings, clock)
    return Stores(ledger, audit, policy, jobs, budget)


def make_job(*, guild_id: int, user_id: int, price: int = 12, **changes: Any) -> VideoRequest:
    """A /sora request of a 4 s standard video; a module binds its guild and member."""
    fields: dict[str, Any] = {"token_expires_at": T0 + timedelta(minutes=15), **changes}
    return video_request(guild_id=guild_id, user_id=user_id, price=price, **fields)
