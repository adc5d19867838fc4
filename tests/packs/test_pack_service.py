"""The pack service and its store on real databases (SQLite and PostgreSQL): a purchase is
credited exactly once however often and however concurrently it is seen, a refund is taken
back once and never below zero, and balance == Σ journal throughout.

The consume port here is a small recorder of what the service asked Discord to consume (the
Discord side itself is tests/packs/test_packs_bot.py's, through the fake)."""

from __future__ import annotations

import asyncio

import pytest

from bot.audit.trail import AuditLog
from bot.config_packs import PacksConfig
from bot.db.database import Database
from bot.i18n.catalog import load
from bot.ledger.store import Ledger
from bot.packs.service import ConsumeFailed, Outcome, PackService, Purchase
from bot.packs.store import EntitlementState, EntitlementStore
from tests.support.clock import FakeClock

GUILD, OTHER_GUILD, BUYER = 700_000_000_000_000_001, 700_000_000_000_000_002, 800_000_000_000_001
SKU, UNKNOWN_SKU = 1_300_000_000_000_000_001, 1_300_000_000_000_000_009
CREDITS = 500


class Consumes:
    """Records consume calls; ``fail`` makes the next ones fail as a 503 would."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.fail = False

    async def __call__(self, entitlement_id: int) -> None:
        if self.fail:
            raise ConsumeFailed("Discord 503")
        self.calls.append(entitlement_id)


@pytest.fixture
def entitlements(db: Database, ledger: Ledger, audit: AuditLog,
                 clock: FakeClock) -> EntitlementStore:
    return EntitlementStore(db, ledger, audit, clock)


@pytest.fixture
def service(entitlements: EntitlementStore, clock: FakeClock) -> PackService:
    config = PacksConfig.model_validate(
        {"skus": [{"sku_id": SKU, "credits": CREDITS, "label": "Big pack"}]})
    return PackService(config, entitlements, load(), clock)


def purchase(number: int = 1, *, guild: int | None = GUILD, **fields: object) -> Purchase:
    return Purchase(id=1_400_000_000_000_000_000 + number, sku_id=SKU, user_id=BUYER,
                    guild_id=guild, **fields)  # type: ignore[arg-type]


async def journal(db: Database, guild: int = GUILD) -> list[tuple[str, int]]:
    rows = await db.fetchall(
        "SELECT kind, delta FROM ledger_journal WHERE guild_id = ? ORDER BY id", (guild,))
    return [(str(r["kind"]), int(r["delta"])) for r in rows]


async def assert_balanced(db: Database, ledger: Ledger, guild: int = GUILD) -> int:
    balance = await ledger.balance(guild)
    assert balance == sum(delta for _, delta in await journal(db, guild))
    assert balance >= 0
    return balance


async def test_a_purchase_seen_many_times_is_credited_once(
    db: Database, ledger: Ledger, audit: AuditLog, service: PackService,
    entitlements: EntitlementStore,
) -> None:
    consumes = Consumes()
    bought = purchase()
    assert await service.arrived(bought, consumes) is Outcome.CREDITED
    # Replays of the event, the same purchase on an interaction elsewhere, a stale copy.
    assert await service.arrived(bought, consumes) is Outcome.KNOWN
    assert await service.arrived(bought, consumes, seen_in=OTHER_GUILD) is Outcome.KNOWN
    assert await service.arrived(purchase(consumed=True), consumes) is Outcome.KNOWN

    assert await journal(db) == [("initial", 0), ("pack", CREDITS)]
    assert await journal(db, OTHER_GUILD) == []
    assert await assert_balanced(db, ledger) == CREDITS
    assert consumes.calls == [bought.id]  # consumed once, after the credit
    row = await entitlements.get(bought.id)
    assert row is not None and row.state is EntitlementState.CONSUMED
    (event,) = await audit.events(GUILD)
    assert event.text == (f"🛒 <@{BUYER}> bought Big pack: +{CREDITS} credits for the server. "
                          f"Balance: {CREDITS}.")


async def test_concurrent_sightings_credit_once(
    db: Database, ledger: Ledger, service: PackService,
) -> None:
    consumes = Consumes()
    outcomes = await asyncio.gather(*(service.arrived(purchase(), consumes) for _ in range(6)))
    assert outcomes.count(Outcome.CREDITED) == 1
    assert [kind for kind, _ in await journal(db)].count("pack") == 1
    assert await assert_balanced(db, ledger) == CREDITS


async def test_a_failed_consume_is_retried_without_granting_again(
    db: Database, ledger: Ledger, service: PackService, entitlements: EntitlementStore,
) -> None:
    consumes = Consumes()
    consumes.fail = True
    bought = purchase()
    assert await service.arrived(bought, consumes) is Outcome.CREDITED
    row = await entitlements.get(bought.id)
    assert row is not None and row.state is EntitlementState.GRANTED
    assert [r.id for r in await entitlements.unconsumed()] == [bought.id]

    consumes.fail = False
    assert await service.resume(consumes) == 1  # at the next start
    assert consumes.calls == [bought.id]
    assert await entitlements.unconsumed() == []
    assert await service.arrived(bought, consumes) is Outcome.KNOWN
    assert consumes.calls == [bought.id]
    assert await journal(db) == [("initial", 0), ("pack", CREDITS)]
    assert await assert_balanced(db, ledger) == CREDITS


async def test_a_refund_is_taken_back_once(
    db: Database, ledger: Ledger, audit: AuditLog, service: PackService,
) -> None:
    bought = purchase()
    await service.arrived(bought, Consumes())
    revocation = await service.revoked(purchase(deleted=True))
    assert revocation is not None
    assert (revocation.deducted, revocation.shortfall) == (CREDITS, 0)
    assert await service.revoked(purchase(deleted=True)) is None
    # The refund seen again as an update (deleted) changes nothing either.
    assert await service.arrived(purchase(deleted=True), Consumes()) is Outcome.REVOKED
    assert await journal(db) == [("initial", 0), ("pack", CREDITS), ("pack_refund", -CREDITS)]
    assert await assert_balanced(db, ledger) == 0
    assert (await audit.events(GUILD))[-1].text.startswith("↩️ Discord refunded Big pack")


async def test_a_refund_after_spending_takes_what_is_left_and_reports_the_rest(
    db: Database, ledger: Ledger, audit: AuditLog, service: PackService,
) -> None:
    await service.arrived(purchase(), Consumes())
    await ledger.deduct(GUILD, 380, actor="test", reason="spent on videos")
    revocation = await service.revoked(purchase(deleted=True))
    assert revocation is not None
    assert (revocation.deducted, revocation.shortfall) == (120, 380)
    assert await assert_balanced(db, ledger) == 0
    assert (await journal(db))[-1] == ("pack_refund", -120)
    assert (await audit.events(GUILD))[-1].text == (
        f"⚠️ Discord refunded Big pack (bought by <@{BUYER}>), but only 120 of its {CREDITS} "
        "credits were left to take back: 380 were already spent. Balance: 0.")

    # At a zero balance nothing can be taken: no journal row, the whole pack reported.
    await service.arrived(purchase(2), Consumes())
    await ledger.deduct(GUILD, CREDITS, actor="test", reason="spent")
    revocation = await service.revoked(purchase(2, deleted=True))
    assert revocation is not None and (revocation.deducted, revocation.shortfall) == (0, CREDITS)
    assert await assert_balanced(db, ledger) == 0


async def test_a_purchase_refunded_before_it_was_seen_is_never_credited(
    db: Database, ledger: Ledger, service: PackService,
) -> None:
    assert await service.revoked(purchase(deleted=True)) is not None
    consumes = Consumes()
    assert await service.arrived(purchase(), consumes) is Outcome.KNOWN  # a late replay
    assert consumes.calls == []
    assert await journal(db) == []


async def test_where_a_members_purchase_goes(
    db: Database, ledger: Ledger, service: PackService,
) -> None:
    consumes = Consumes()
    # Discord names no guild and the member never opened the buttons: it waits.
    assert await service.arrived(purchase(guild=None), consumes) is Outcome.WAITING
    assert consumes.calls == []
    # Seen on an interaction in a guild: credited there.
    assert await service.arrived(purchase(guild=None), consumes,
                                 seen_in=OTHER_GUILD) is Outcome.CREDITED
    assert await assert_balanced(db, ledger, OTHER_GUILD) == CREDITS
    # The guild where the member last opened the buttons wins over where it is seen.
    await service.offered(BUYER, GUILD)
    assert await service.arrived(purchase(2, guild=None), consumes,
                                 seen_in=OTHER_GUILD) is Outcome.CREDITED
    assert await assert_balanced(db, ledger, GUILD) == CREDITS


async def test_other_skus_and_the_balance_limit_change_nothing(
    db: Database, ledger: Ledger, service: PackService, entitlements: EntitlementStore,
) -> None:
    consumes = Consumes()
    other = Purchase(id=1_400_000_000_000_000_099, sku_id=UNKNOWN_SKU, user_id=BUYER,
                     guild_id=GUILD)
    assert await service.arrived(other, consumes) is Outcome.NOT_A_PACK
    await ledger.grant(GUILD, ledger.max_balance - 10, actor="test", reason="nearly full")
    before = await journal(db)
    # Past max_balance: refused whole, left unconsumed for a later sighting.
    assert await service.arrived(purchase(), consumes) is Outcome.REFUSED
    assert consumes.calls == []
    assert await journal(db) == before
    assert await entitlements.get(purchase().id) is None
    await assert_balanced(db, ledger)
