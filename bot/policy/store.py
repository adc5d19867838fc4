"""Each guild's video spending policy: stored here, judged by :mod:`bot.policy.rules`.

:meth:`PolicyStore.check` runs inside :meth:`bot.jobs.store.JobStore.create`'s transaction, the one
that reserves the credits, so parallel requests from one member see each other's jobs and
cannot exceed a cap together. :meth:`PolicyStore.precheck` is the same judgement outside any
transaction, for a cheap early answer before the slow steps.

It owns the policy tables; what a member's jobs cost and when the last began, it asks the
jobs table's owner through :class:`MemberJobs` (``bot.jobs.store.JobHistory``), on the same
reader, so the check stays inside the reserving transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol, TypeGuard

from bot.clock import Clock, to_db_time
from bot.config import DURATIONS, Settings
from bot.db.database import Database, Dialect, Params, Row, Transaction
from bot.i18n.catalog import Listing, Phrase
from bot.policy.rules import (
    GuildPolicy,
    InvalidPolicy,
    MemberSpending,
    ModelNames,
    PolicyRefusal,
    PolicySubject,
    day_start,
    evaluate,
    month_start,
    validate_variant_limits,
    week_start,
)

__all__ = [
    "GuildPolicy", "InvalidPolicy", "MemberSpending", "ModelNames", "PolicyRefusal",
    "PolicyStore", "PolicySubject",
]

#: A week: longer cooldowns are better expressed as a weekly cap.
MAX_COOLDOWN_SECONDS = 7 * 24 * 3600
#: Discord's select menus offer at most 25 choices; a little headroom for other front ends.
MAX_LISTED = 100

_LABELS: dict[str, str] = {
    "daily_cap": "The daily cap",
    "weekly_cap": "The weekly cap",
    "cooldown_seconds": "The cooldown",
    "max_in_flight_guild": "The server's limit of videos in progress",
    "max_in_flight_member": "The per-member limit of videos in progress",
    "max_resolution": "The maximum resolution",
    "max_duration": "The maximum duration",
    "preview_above": "The preview threshold",
    "approval_above": "The approval threshold",
}



class Reader(Protocol):
    """Both a :class:`Database` (autocommit reads) and a :class:`Transaction` are readers."""

    dialect: Dialect

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...


class Gate(Protocol):
    """A further check with the rules (:class:`bot.policy.strikes.StrikeStore`: a member's
    strike cooldown, the guild's word list), on the same reader, at the same moment."""

    async def judge(self, reader: Database | Transaction, subject: PolicySubject,
                    now: datetime) -> None: ...


class MemberJobs(Protocol):
    """The jobs table's answers the policy needs, read with the reader it is given."""

    async def member_spending(
        self, reader: Database | Transaction, guild_id: int, user_id: int, *,
        day: datetime, week: datetime, month: datetime,
    ) -> MemberSpending: ...

    async def last_job_at(
        self, reader: Database | Transaction, guild_id: int, user_id: int
    ) -> datetime | None: ...


def _ids(listed: object) -> frozenset[int]:
    """The ids of a ``dialect.id_list`` (NULL: none listed)."""
    return frozenset(int(i) for i in str(listed).split(",")) if listed else frozenset()


def _whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


class PolicyStore:
    """Read, change and enforce guild policies; construct once and inject."""

    def __init__(
        self, db: Database, *, settings: Settings, clock: Clock, jobs: MemberJobs,
        gate: Gate | None = None,
    ) -> None:
        self._db, self._settings, self._clock, self._jobs = db, settings, clock, jobs
        self._gate = gate
        lineup = settings.lineup
        self._names = ModelNames(
            {model: offer.label for model, offer in lineup.offers.items()},
            frozenset(m for m, o in lineup.offers.items() if o.model.params == "soraParams"),
        )

    @property
    def names(self) -> ModelNames:
        """The enabled models' labels, and which of them are Sora's (see :mod:`rules`)."""
        return self._names

    # -- reading -------------------------------------------------------------------------

    async def get(self, guild_id: int) -> GuildPolicy:
        """The guild's policy; the defaults when its moderators never set one."""
        return await self._load(self._db, guild_id)

    @staticmethod
    async def _load(reader: Reader, guild_id: int) -> GuildPolicy:
        # One statement, lists included: it runs inside the reserving transaction, where
        # every statement is a trip to the database thread.
        ids = reader.dialect.id_list
        row = await reader.fetchone(
            "SELECT p.*,"  # noqa: S608
            f" (SELECT {ids('role_id')} FROM guild_policy_roles AS r"
            "  WHERE r.guild_id = p.guild_id) AS listed_roles,"
            f" (SELECT {ids('channel_id')} FROM guild_policy_channels AS c"
            "  WHERE c.guild_id = p.guild_id) AS listed_channels"
            " FROM guild_policies AS p WHERE p.guild_id = ?",
            (guild_id,))
        if row is None:
            return GuildPolicy(guild_id)
        return GuildPolicy(
            guild_id=guild_id,
            daily_cap=row["daily_cap"],
            weekly_cap=row["weekly_cap"],
            cooldown_seconds=int(row["cooldown_seconds"]),
            max_in_flight_guild=row["max_in_flight_guild"],
            max_in_flight_member=row["max_in_flight_member"],
            max_resolution=row["max_resolution"],
            max_duration=row["max_duration"],
            allowed_role_ids=_ids(row["listed_roles"]),
            allowed_channel_ids=_ids(row["listed_channels"]),
            frozen=bool(row["frozen"]),
            buttons_open=bool(row["buttons_open"]),
            preview_above=row["preview_above"],
            approval_above=row["approval_above"],
            models=(None if row["models"] is None
                    else frozenset(m for m in str(row["models"]).split(",") if m)),
            default_model=row["default_model"],
        )

    async def spending(self, guild_id: int, user_id: int) -> MemberSpending:
        """What the member's jobs cost today, this ISO week and this month (UTC), net of refunds."""
        return await self._spending(self._db, guild_id, user_id, self._clock())

    async def _spending(
        self, reader: Database | Transaction, guild_id: int, user_id: int, now: datetime
    ) -> MemberSpending:
        return await self._jobs.member_spending(
            reader, guild_id, user_id, day=day_start(now), week=week_start(now),
            month=month_start(now),
        )

    def in_flight_limits(self, policy: GuildPolicy) -> tuple[int, int]:
        """``(per guild, per member)``: the guild's own limits where set, else the config's."""
        jobs = self._settings.jobs
        return (
            policy.max_in_flight_guild or jobs.max_in_flight_per_guild,
            policy.max_in_flight_member or jobs.max_in_flight_per_member,
        )

    # -- enforcing -----------------------------------------------------------------------

    async def check(self, tx: Transaction, subject: PolicySubject) -> GuildPolicy:
        """Raise :class:`PolicyRefusal` unless the guild's policy allows ``subject`` now.

        Call it inside the transaction that reserves the credits. Returns the policy, whose
        in-flight overrides the caller applies with its own count of running jobs.
        """
        return await self._judge(tx, subject)

    async def precheck(
        self, subject: PolicySubject, policy: GuildPolicy | None = None
    ) -> GuildPolicy:
        """:meth:`check` outside a transaction: advisory, for refusing before slow work.

        ``policy``: the guild's policy if the caller has just read it (one read fewer).
        """
        return await self._judge(self._db, subject, policy)

    async def _judge(
        self, reader: Database | Transaction, subject: PolicySubject,
        policy: GuildPolicy | None = None,
    ) -> GuildPolicy:
        now = self._clock()
        if policy is None or policy.guild_id != subject.guild_id:
            policy = await self._load(reader, subject.guild_id)
        if self._gate is not None:
            await self._gate.judge(reader, subject, now)
        if policy == GuildPolicy(subject.guild_id):
            return policy  # the defaults allow everything: skip the spending queries
        spending = await self._spending(reader, subject.guild_id, subject.user_id, now)
        last = (
            await self._jobs.last_job_at(reader, subject.guild_id, subject.user_id)
            if policy.cooldown_seconds else None
        )
        evaluate(policy, subject, spending, last, now, self._names)
        return policy

    # -- changing ------------------------------------------------------------------------

    async def update(self, guild_id: int, *, actor: str, **changes: object) -> GuildPolicy:
        """Change some of the guild's limits; None clears a limit (a cooldown of 0).

        Raises :class:`InvalidPolicy` (a member-facing message) for a value that cannot
        work, and TypeError for a name that is not a limit; either way nothing changes.
        """
        unknown = sorted(set(changes) - set(_LABELS))
        if unknown:
            raise TypeError(f"not a policy limit: {', '.join(unknown)}")
        values = {name: self._validate(name, value) for name, value in changes.items()}
        # The schema's CHECK holds a maximum duration to Sora's lengths: a scale that still
        # limits every model (Veo's 6 s is refused by a 4 s limit, allowed by an 8 s one).
        validate_variant_limits(values.get("max_resolution"), values.get("max_duration"),
                                DURATIONS)
        async with self._db.transaction() as tx:
            await self._touch(tx, guild_id, actor)
            if values:
                assignments = ", ".join(f"{name} = ?" for name in values)
                # Column names come from _LABELS' keys (checked above); values are bound.
                await tx.execute(
                    f"UPDATE guild_policies SET {assignments} WHERE guild_id = ?",  # noqa: S608
                    (*values.values(), guild_id),
                )
            return await self._load(tx, guild_id)

    def _validate(self, name: str, value: object) -> object:
        label = _LABELS[name]
        rule = Phrase(f"policy.{name}", fallback=label)
        if name == "cooldown_seconds":
            value = 0 if value is None else value
            if not _whole(value) or not 0 <= value <= MAX_COOLDOWN_SECONDS:
                raise InvalidPolicy(f"{label} must be a whole number of seconds from 0 to "
                                    f"{MAX_COOLDOWN_SECONDS:,} (a week).",
                                    key="refusal.policy_seconds",
                                    params={"rule": rule, "top": MAX_COOLDOWN_SECONDS})
            return value
        if value is None or name in ("max_resolution", "max_duration"):
            return value  # variant limits are checked together by validate_variant_limits
        if name in ("preview_above", "approval_above"):
            top = self._settings.ledger.max_balance
            if not _whole(value) or not 0 <= value <= top:
                raise InvalidPolicy(f"{label} must be a whole number of credits from 0 to "
                                    f"{top:,}, or cleared.", key="refusal.policy_credits",
                                    params={"rule": rule, "top": top})
            return value
        bounds = {
            "daily_cap": self._settings.ledger.max_balance,
            "weekly_cap": self._settings.ledger.max_balance,
            "max_in_flight_guild": 1000,
            "max_in_flight_member": 100,
        }
        top = bounds[name]
        if not _whole(value) or not 1 <= value <= top:
            raise InvalidPolicy(f"{label} must be a whole number from 1 to {top:,}, "
                                "or cleared.", key="refusal.policy_number",
                                params={"rule": rule, "top": top})
        return value

    async def set_roles(
        self, guild_id: int, role_ids: Iterable[int], *, actor: str
    ) -> GuildPolicy:
        """Only members with one of these roles may use /sora; an empty set allows everyone."""
        return await self._set_list(guild_id, "guild_policy_roles", "role_id", role_ids, actor)

    async def set_channels(
        self, guild_id: int, channel_ids: Iterable[int], *, actor: str
    ) -> GuildPolicy:
        """/sora works only in these channels; an empty set allows every channel."""
        return await self._set_list(
            guild_id, "guild_policy_channels", "channel_id", channel_ids, actor
        )

    async def _set_list(
        self, guild_id: int, table: str, column: str, ids: Iterable[int], actor: str
    ) -> GuildPolicy:
        wanted = sorted(set(ids))
        if any(not _whole(i) or i <= 0 for i in wanted):
            raise InvalidPolicy("Roles and channels must be given as Discord ids.",
                                key="refusal.policy_ids")
        if len(wanted) > MAX_LISTED:
            raise InvalidPolicy(f"At most {MAX_LISTED} roles or channels can be listed.",
                                key="refusal.policy_too_many", params={"max": MAX_LISTED})
        async with self._db.transaction() as tx:
            await self._touch(tx, guild_id, actor)
            # Table and column names are the two literal pairs passed by this class.
            await tx.execute(f"DELETE FROM {table} WHERE guild_id = ?", (guild_id,))  # noqa: S608
            for item in wanted:
                await tx.execute(
                    f"INSERT INTO {table} (guild_id, {column}) VALUES (?, ?)",  # noqa: S608
                    (guild_id, item),
                )
            return await self._load(tx, guild_id)

    async def set_models(
        self, guild_id: int, models: Iterable[str] | None, *, actor: str
    ) -> GuildPolicy:
        """Only these enabled models may be used here; None allows every enabled model (also
        those the operator enables later). A guild default left outside them is cleared."""
        wanted = None if models is None else self._enabled(set(models))
        if wanted is not None and not wanted:
            raise InvalidPolicy("Allow at least one model, or allow every model again. "
                                f"This bot offers {self._offered()}.",
                                key="refusal.policy_no_model",
                                params={"offered": self._offered()})
        stored = None if wanted is None else ",".join(wanted)
        async with self._db.transaction() as tx:
            await self._touch(tx, guild_id, actor)
            await tx.execute("UPDATE guild_policies SET models = ? WHERE guild_id = ?",
                             (stored, guild_id))
            if wanted is not None:
                # A default the guild may no longer use would be skipped anyway; clearing it
                # keeps what /budget limits show true.
                # The list as parameters, not instr() over the stored text: PostgreSQL has
                # no instr().
                marks = ", ".join("?" * len(wanted))
                await tx.execute(
                    "UPDATE guild_policies SET default_model = NULL"  # noqa: S608
                    " WHERE guild_id = ? AND default_model IS NOT NULL"
                    f" AND default_model NOT IN ({marks})",
                    (guild_id, *wanted))
            return await self._load(tx, guild_id)

    async def set_default_model(
        self, guild_id: int, model: str | None, *, actor: str
    ) -> GuildPolicy:
        """The model /video uses here when a member picks none; None: the bot's default."""
        async with self._db.transaction() as tx:
            if model is not None:
                (model,) = self._enabled({model})
                allowed = (await self._load(tx, guild_id)).models
                if allowed is not None and model not in allowed:
                    raise InvalidPolicy(
                        f"{self._names.label(model)} is not allowed on this server, so it "
                        f"cannot be its default. Allowed: {self._names.named(allowed)}.",
                        key="refusal.policy_default_not_allowed",
                        params={"model": self._names.label(model), "allowed": Listing(
                            [label for m, label in self._names.labels.items() if m in allowed],
                            "and")})
            await self._touch(tx, guild_id, actor)
            await tx.execute("UPDATE guild_policies SET default_model = ? WHERE guild_id = ?",
                             (model, guild_id))
            return await self._load(tx, guild_id)

    def _enabled(self, models: set[str]) -> tuple[str, ...]:
        """``models`` in the bot's order, or :class:`InvalidPolicy` naming the enabled ones."""
        unknown = sorted((m for m in models
                          if not isinstance(m, str) or m not in self._names.labels), key=str)
        if unknown:
            raise InvalidPolicy(f"“{str(unknown[0])[:60]}” is not a model this bot offers. "
                                f"Choose among {self._offered()}.",
                                key="refusal.policy_unknown_model",
                                params={"model": str(unknown[0])[:60],
                                        "offered": self._offered()})
        return tuple(m for m in self._names.labels if m in models)

    def _offered(self) -> str:
        return ", ".join(f"{label} ({model})" for model, label in self._names.labels.items())

    async def set_frozen(self, guild_id: int, frozen: bool, *, actor: str) -> GuildPolicy:
        """Stop (or resume) all /sora spending in the guild; jobs already running finish."""
        async with self._db.transaction() as tx:
            await self._touch(tx, guild_id, actor)
            await tx.execute("UPDATE guild_policies SET frozen = ? WHERE guild_id = ?",
                             (int(bool(frozen)), guild_id))
            return await self._load(tx, guild_id)

    async def set_buttons_open(
        self, guild_id: int, buttons_open: bool, *, actor: str
    ) -> GuildPolicy:
        """Let every member (True) or only the requester (False) use a video's paid buttons."""
        async with self._db.transaction() as tx:
            await self._touch(tx, guild_id, actor)
            await tx.execute("UPDATE guild_policies SET buttons_open = ? WHERE guild_id = ?",
                             (int(bool(buttons_open)), guild_id))
            return await self._load(tx, guild_id)

    async def _touch(self, tx: Transaction, guild_id: int, actor: str) -> None:
        """Create the guild's row if needed and record who changed it, and when."""
        if not actor:
            raise ValueError("a policy change needs an actor")
        now = to_db_time(self._clock())
        await tx.execute(
            "INSERT INTO guild_policies (guild_id, updated_by, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (guild_id) DO UPDATE SET updated_by = excluded.updated_by,"
            " updated_at = excluded.updated_at",
            (guild_id, actor, now),
        )
