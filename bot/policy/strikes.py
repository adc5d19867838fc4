"""Content-policy strikes: protecting the operator's shared provider account.

One member whose prompts the provider keeps refusing can get the shared Apiframe key
throttled or banned for everyone. Each refusal is a strike for the member who asked, in that
guild, once per job (the job id is the key, so a replayed outcome changes nothing). When the
strikes within the window reach the limit, the member gets an automatic cooldown: every paid
launch is refused by :meth:`StrikeStore.judge`, which runs with the other policy rules inside
the reserving transaction, before anything is charged. The strikes a cooldown used up no
longer count, so the next cooldown needs as many again. Each strike and each cooldown is an
audit event written in the same transaction.

The limits are the operator's ``[policy]`` defaults, which a guild may override.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock, from_db_time, to_db_time
from bot.config import PolicyConfig
from bot.db.database import Database, Transaction
from bot.i18n.catalog import Catalog
from bot.policy.rules import InvalidPolicy, PolicyRefusal, PolicySubject
from bot.policy.words import AuditRecorder, WordList, first_match, mention

#: Bounds of a guild's own settings (the operator's are the config's).
MAX_LIMIT, MAX_HOURS = 100, 24 * 90


@dataclass(frozen=True, slots=True)
class StrikeRules:
    """The settings in force for a guild; ``own`` names those its moderators set."""

    limit: int
    window_hours: int
    cooldown_hours: int
    own: frozenset[str] = frozenset()

    @property
    def cools_down(self) -> bool:
        return self.limit > 0 and self.cooldown_hours > 0


@dataclass(frozen=True, slots=True)
class Strike:
    """What one refusal did: ``new`` is False for a job that had struck already."""

    new: bool
    #: Strikes of the member that count now (within the window, not used up).
    count: int
    rules: StrikeRules
    #: When the member's cooldown ends, if one is running now.
    cooldown_until: datetime | None
    #: Whether this strike started that cooldown.
    started: bool


@dataclass(frozen=True, slots=True)
class MemberStrikes:
    user_id: int
    count: int
    last_at: datetime | None
    cooldown_until: datetime | None


def stamp(moment: datetime, style: str) -> str:
    """A Discord timestamp: each reader sees it in their own time zone and language."""
    return f"<t:{int(moment.timestamp())}:{style}>"


class StrikeStore:
    """The strike tables and the guild's word list; construct once and inject."""

    def __init__(self, db: Database, *, config: PolicyConfig, clock: Clock,
                 audit: AuditRecorder, texts: Catalog) -> None:
        self._db, self._config, self._clock = db, config, clock
        self._audit, self._texts = audit, texts
        self.words = WordList(db, clock, audit)

    # -- settings -----------------------------------------------------------------------

    async def rules(self, guild_id: int, reader: Database | Transaction | None = None,
                    ) -> StrikeRules:
        row = await (reader or self._db).fetchone(
            "SELECT strike_limit, window_hours, cooldown_hours FROM guild_strike_rules"
            " WHERE guild_id = ?", (guild_id,))
        config = self._config
        defaults = {"strike_limit": config.strike_limit,
                    "window_hours": config.strike_window_hours,
                    "cooldown_hours": config.strike_cooldown_hours}
        own = frozenset(k for k in defaults if row is not None and row[k] is not None)
        value = {k: int(row[k]) if k in own and row is not None else v
                 for k, v in defaults.items()}
        return StrikeRules(value["strike_limit"], value["window_hours"],
                           value["cooldown_hours"], own)

    async def set_rules(self, guild_id: int, *, actor: str, limit: int | None,
                        window_hours: int | None, cooldown_hours: int | None) -> StrikeRules:
        """The guild's own settings (None: the operator's default again), audited."""
        for value, low, top in ((limit, 0, MAX_LIMIT), (window_hours, 1, MAX_HOURS),
                                (cooldown_hours, 1, MAX_HOURS)):
            if value is not None and not low <= value <= top:
                raise InvalidPolicy(
                    f"Strike settings must be whole numbers: a limit from 0 to {MAX_LIMIT}, "
                    f"hours from 1 to {MAX_HOURS}.", key="strikes.rules_invalid",
                    params={"max_limit": MAX_LIMIT, "max_hours": MAX_HOURS})
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO guild_strike_rules (guild_id, strike_limit, window_hours,"
                " cooldown_hours, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (guild_id) DO UPDATE SET strike_limit = excluded.strike_limit,"
                " window_hours = excluded.window_hours,"
                " cooldown_hours = excluded.cooldown_hours,"
                " updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                (guild_id, limit, window_hours, cooldown_hours, actor,
                 to_db_time(self._clock())))
            rules = await self.rules(guild_id, tx)
            await self._audit.record(
                tx, guild_id, f"Strikes: {mention(actor)} set the limit to {rules.limit} "
                f"within {rules.window_hours} h, cooldown {rules.cooldown_hours} h.")
            return rules

    # -- striking -----------------------------------------------------------------------

    async def strike(self, guild_id: int, user_id: int, job_id: str) -> Strike:
        """Count the job's content-policy refusal against its requester, once per job, and
        start their cooldown when the strikes reach the limit."""
        now = self._clock()
        async with self._db.transaction() as tx:
            rules = await self.rules(guild_id, tx)
            inserted = await tx.fetchone(
                "INSERT INTO member_strikes (job_id, guild_id, user_id, struck_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (job_id) DO NOTHING RETURNING job_id",
                (job_id, guild_id, user_id, to_db_time(now)))
            count = await self._count(tx, guild_id, user_id, rules, now)
            until = await self.cooldown_until(tx, guild_id, user_id, now)
            if inserted is None:
                return Strike(False, count, rules, until, False)
            limit = f" ({count} of {rules.limit})" if rules.limit else ""
            await self._audit.record(
                tx, guild_id, f"Strike: the video service refused a prompt of <@{user_id}> "
                f"for its content policy (job `{job_id}`){limit}.")
            started = until is None and rules.cools_down and count >= rules.limit
            if started:
                until = now + timedelta(hours=rules.cooldown_hours)
                await self._start_cooldown(tx, guild_id, user_id, now, until, count)
            return Strike(True, 0 if started else count, rules, until, started)

    async def _count(self, tx: Transaction, guild_id: int, user_id: int, rules: StrikeRules,
                     now: datetime) -> int:
        row = await tx.fetchone(
            "SELECT COUNT(*) AS n FROM member_strikes WHERE guild_id = ? AND user_id = ?"
            " AND spent_at IS NULL AND struck_at > ?",
            (guild_id, user_id, to_db_time(now - timedelta(hours=rules.window_hours))))
        return int(row["n"]) if row is not None else 0

    async def _start_cooldown(self, tx: Transaction, guild_id: int, user_id: int,
                              now: datetime, until: datetime, count: int) -> None:
        at = to_db_time(now)
        await tx.execute(
            "INSERT INTO member_cooldowns (guild_id, user_id, started_at, ends_at, strikes)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET"
            " started_at = excluded.started_at, ends_at = excluded.ends_at,"
            " strikes = excluded.strikes",
            (guild_id, user_id, at, to_db_time(until), count))
        # Used up: the next cooldown needs as many strikes again.
        await tx.execute(
            "UPDATE member_strikes SET spent_at = ? WHERE guild_id = ? AND user_id = ?"
            " AND spent_at IS NULL", (at, guild_id, user_id))
        await self._audit.record(
            tx, guild_id, f"Cooldown: <@{user_id}> reached {count} content-policy strikes and "
            f"cannot start videos until {stamp(until, 'f')}.")

    async def cooldown_until(self, reader: Database | Transaction, guild_id: int,
                             user_id: int, now: datetime) -> datetime | None:
        """When the member's running cooldown ends (None: none is running)."""
        row = await reader.fetchone(
            "SELECT ends_at FROM member_cooldowns WHERE guild_id = ? AND user_id = ?"
            " AND ends_at > ?", (guild_id, user_id, to_db_time(now)))
        return from_db_time(row["ends_at"]) if row is not None else None

    # -- enforcing ----------------------------------------------------------------------

    async def judge(self, reader: Database | Transaction, subject: PolicySubject,
                    now: datetime) -> None:
        """Raise :class:`PolicyRefusal` for a member in cooldown, or a prompt with a listed
        word. Runs inside the reserving transaction (and in the early precheck)."""
        until = await self.cooldown_until(reader, subject.guild_id, subject.user_id, now)
        if until is not None:
            params: dict[str, object] = {"until": stamp(until, "f"),
                                         "relative": stamp(until, "R")}
            raise PolicyRefusal(
                "strike_cooldown", self._texts.text(None, "strikes.refused_cooldown", **params),
                retry_at=until, key="strikes.refused_cooldown", params=params)
        prompt = getattr(subject, "prompt", None)
        if isinstance(prompt, str) and first_match(
                prompt, await self.words.entries(subject.guild_id, reader)) is not None:
            # The word is not repeated: the member knows their prompt, and the refusal
            # should not spell out the list.
            raise PolicyRefusal("word_list", self._texts.text(None, "strikes.refused_word"),
                                key="strikes.refused_word")

    # -- moderators ---------------------------------------------------------------------

    async def members(self, guild_id: int) -> list[MemberStrikes]:
        """Members with strikes that count or a running cooldown, most strikes first."""
        now = self._clock()
        rules = await self.rules(guild_id)
        since = to_db_time(now - timedelta(hours=rules.window_hours))
        rows = await self._db.fetchall(
            "SELECT user_id, COUNT(*) AS n, MAX(struck_at) AS last_at FROM member_strikes"
            " WHERE guild_id = ? AND spent_at IS NULL AND struck_at > ? GROUP BY user_id",
            (guild_id, since))
        found = {int(r["user_id"]): MemberStrikes(int(r["user_id"]), int(r["n"]),
                                                  from_db_time(r["last_at"]), None)
                 for r in rows}
        for r in await self._db.fetchall(
                "SELECT user_id, ends_at FROM member_cooldowns WHERE guild_id = ?"
                " AND ends_at > ?", (guild_id, to_db_time(now))):
            user = int(r["user_id"])
            old = found.get(user, MemberStrikes(user, 0, None, None))
            found[user] = MemberStrikes(user, old.count, old.last_at,
                                        from_db_time(r["ends_at"]))
        return sorted(found.values(), key=lambda m: (m.cooldown_until is None, -m.count,
                                                     m.user_id))

    async def clear(self, guild_id: int, user_id: int, *, actor: str) -> bool:
        """Forgive the member's strikes and end their cooldown, audited; False if there was
        nothing to clear. The strikes stay recorded (spent), so their jobs never strike
        again."""
        now = self._clock()
        at = to_db_time(now)
        async with self._db.transaction() as tx:
            struck = await tx.fetchall(
                "UPDATE member_strikes SET spent_at = ? WHERE guild_id = ? AND user_id = ?"
                " AND spent_at IS NULL RETURNING job_id", (at, guild_id, user_id))
            ended = await tx.fetchall(
                "UPDATE member_cooldowns SET ends_at = ? WHERE guild_id = ? AND user_id = ?"
                " AND ends_at > ? RETURNING user_id", (at, guild_id, user_id, at))
            if not struck and not ended:
                return False
            what = " and ended their cooldown" if ended else ""
            await self._audit.record(
                tx, guild_id, f"Strikes cleared: {mention(actor)} cleared {len(struck)} "
                f"strike(s) of <@{user_id}>{what}.")
            return True

    # -- what the member is told ---------------------------------------------------------

    def note(self, strike: Strike, locale: object) -> str | None:
        """The sentence added to the member's failure notice (None: nothing to say)."""
        if strike.cooldown_until is not None:
            until = strike.cooldown_until
            return self._texts.text(locale, "strikes.note_cooldown",
                                    until=stamp(until, "f"), relative=stamp(until, "R"))
        if not strike.rules.cools_down:
            return None
        return self._texts.text(locale, "strikes.note_strike", count=strike.count,
                                limit=strike.rules.limit)
