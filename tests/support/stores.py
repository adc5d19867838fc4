"""The stores and the budget service wired as bot/app.py wires them, on a test's database."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from bot.audit.trail import AuditLog
from bot.budget import BudgetService
from bot.clock import Clock
from bot.config import Settings, parse_settings
from bot.db.database import Database
from bot.jobs.store import JobHistory, JobStore, NewJob
from bot.ledger.store import Ledger
from bot.policy.store import PolicyStore
from tests.support.clock import T0


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
    ledger = Ledger.from_config(db, settings.ledger, clock=clock)
    audit = AuditLog(db, clock)
    policy = PolicyStore(db, settings=settings, clock=clock, jobs=JobHistory())
    jobs = JobStore(
        db, ledger, timeout=timedelta(minutes=settings.jobs.timeout_minutes), clock=clock,
        policy=policy, audit=audit,
    )
    budget = BudgetService(db, ledger, audit, jobs, settings, clock)
    return Stores(ledger, audit, policy, jobs, budget)


def make_job(*, guild_id: int, user_id: int, price: int = 12, **changes: Any) -> NewJob:
    """A /sora request of a 4 s standard video; a module binds its guild and member."""
    job = NewJob(
        guild_id=guild_id, channel_id=2002, user_id=user_id, application_id=3003,
        interaction_id=4004, interaction_token="secret-interaction-token",
        token_expires_at=T0 + timedelta(minutes=15), attachment_size_limit=10 * 1024 * 1024,
        model="sora-2-pro", prompt="a cat", duration=4, aspect_ratio="16:9",
        resolution="standard", price=price,
    )
    return replace(job, **changes)
