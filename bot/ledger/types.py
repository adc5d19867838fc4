"""Value types, errors and argument checks of the credit ledger (no storage code here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.config import MAX_AMOUNT as MAX_AMOUNT  # re-exported for the ledger's callers
from bot.db.database import Row
from bot.i18n.catalog import Phrase

MAX_TEXT = 500
_MAX_SNOWFLAKE = 2**63 - 1


class EntryKind(StrEnum):
    INITIAL = "initial"
    GRANT = "grant"
    DEDUCT = "deduct"
    SET = "set"
    RESERVE = "reserve"
    REFUND = "refund"
    #: A credit pack bought through Discord (bot/packs/), and its reversal when Discord
    #: refunds or deletes the purchase.
    PACK = "pack"
    PACK_REFUND = "pack_refund"


class LedgerError(Exception):
    """A refused ledger operation; the message is fit to show to a Discord user.

    Like :class:`bot.errors.UserError`, ``key`` and ``params`` name its words in the message
    catalog, so the error handler shows them in the member's language; ``str(error)`` stays
    English, for logs and the CLI."""

    def __init__(self, message: str, *, key: str | None = None,
                 params: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.params: dict[str, object] = dict(params or {})


class InvalidAmount(LedgerError):
    pass


class InvalidArgument(LedgerError):
    pass


class InsufficientCredits(LedgerError):
    def __init__(self, *, balance: int, price: int) -> None:
        self.balance = balance
        self.price = price
        super().__init__(f"This needs {price} credits but the server only has {balance}.",
                         key="refusal.insufficient_credits",
                         params={"price": price, "balance": balance})


class BalanceLimitExceeded(LedgerError):
    """Credits would be created past ``max_balance`` (counting credits ``held`` by jobs)."""

    def __init__(
        self, *, balance: int, requested: int, max_balance: int, held: int = 0
    ) -> None:
        self.balance = balance
        self.requested = requested
        self.max_balance = max_balance
        self.held = held
        in_use = (
            f" plus {held} held by videos in progress, which come back if they fail"
            if held else ""
        )
        super().__init__(
            f"That would bring the balance to {requested} credits{in_use}, above the limit "
            f"of {max_balance} (current balance: {balance}).",
            key="refusal.balance_limit",
            params={"requested": requested, "max_balance": max_balance, "balance": balance,
                    "held": Phrase("refusal.balance_limit_held", params={"held": held})
                    if held else ""},
        )


class NotReserved(LedgerError):
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(
            f"No credits were reserved for job {job_id}, so there is nothing to refund."
        )


class AlreadyReserved(LedgerError):
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"Credits were already reserved for job {job_id}.")


@dataclass(frozen=True, slots=True)
class JournalEntry:
    id: int
    guild_id: int
    kind: EntryKind
    delta: int
    balance_after: int
    actor: str
    reason: str | None
    job_id: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> JournalEntry:
        return cls(
            id=int(row["id"]),
            guild_id=int(row["guild_id"]),
            kind=EntryKind(row["kind"]),
            delta=int(row["delta"]),
            balance_after=int(row["balance_after"]),
            actor=str(row["actor"]),
            reason=row["reason"],
            job_id=row["job_id"],
            created_at=datetime.fromisoformat(row["created_at"]),
        )


@dataclass(frozen=True, slots=True)
class LedgerExport:
    guild_id: int
    balance: int
    exported_at: datetime
    entries: tuple[JournalEntry, ...]  # oldest first


def check_amount(value: object, *, allow_zero: bool = False) -> int:
    # bool is an int subclass and Decimal/float/str look numeric: all are refused so a typo
    # in a command can never become a fractional or accidental charge.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount("Amount must be a whole number of credits.",
                            key="refusal.amount_whole")
    if allow_zero and value < 0:
        raise InvalidAmount("Amount must be a whole number of credits, zero or more.",
                            key="refusal.amount_zero_or_more")
    if not allow_zero and value <= 0:
        raise InvalidAmount("Amount must be a whole number of credits greater than zero.",
                            key="refusal.amount_positive")
    if value > MAX_AMOUNT:
        raise InvalidAmount(f"Amount must not exceed {MAX_AMOUNT} credits.",
                            key="refusal.amount_too_large", params={"max": MAX_AMOUNT})
    return int(value)


def check_guild_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_SNOWFLAKE:
        raise InvalidArgument("Guild id must be a positive Discord snowflake.")
    return int(value)


def optional_text(value: object, what: str) -> str | None:
    """Stripped text, ``None`` when absent or blank."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidArgument(f"{what} must be text.")
    cleaned = value.strip()
    if len(cleaned) > MAX_TEXT:
        raise InvalidArgument(f"{what} must be at most {MAX_TEXT} characters.")
    return cleaned or None


def required_text(value: object, what: str) -> str:
    cleaned = optional_text(value, what)
    if cleaned is None:
        raise InvalidArgument(f"{what} must not be empty.")
    return cleaned
