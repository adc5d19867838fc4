"""Each guild's word list: words and phrases its moderators refuse in prompts.

Matching is on whole words after Unicode NFKC normalisation and case folding, so fullwidth ``CAT``,
``Cat`` and ``cat`` are one word and ``cat`` does not match ``category``. An entry of several
words (a phrase) matches those words in a row, whatever spaces or punctuation sit between
them. Entries are stored in that normal form, so one entry is never listed twice.

The check runs with the other policy rules (:meth:`bot.policy.strikes.StrikeStore.judge`),
before anything is charged; a refusal is free and is not a strike.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.clock import Clock, to_db_time
from bot.db.database import Database, Transaction
from bot.errors import UserError

#: Most entries a guild can list (each a word or a phrase).
MAX_WORDS = 200
#: Longest entry, in characters of its normal form.
MAX_WORD_CHARS = 64

_WORD = re.compile(r"\w+")


class WordRefused(UserError):
    """A moderator's entry that cannot be listed (or removed); nothing changed."""


def words_of(text: str) -> tuple[str, ...]:
    """``text``'s words, normalised: NFKC, case-folded, split at everything but letters,
    digits and underscores."""
    return tuple(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def normal_entry(text: str) -> str:
    """An entry as it is stored and compared: its words joined by one space ("" if none)."""
    return " ".join(words_of(text))


def first_match(prompt: str, entries: Iterable[str]) -> str | None:
    """The first listed entry whose words appear in a row in ``prompt`` (None: none)."""
    said = words_of(prompt)
    for entry in entries:
        wanted = tuple(entry.split(" "))
        size = len(wanted)
        if size and any(said[i:i + size] == wanted for i in range(len(said) - size + 1)):
            return entry
    return None


@dataclass(frozen=True, slots=True)
class WordChange:
    """What an add or remove did: the entries changed, those already (or never) there."""

    changed: tuple[str, ...]
    unchanged: tuple[str, ...]
    total: int


class AuditRecorder(Protocol):
    """The audit outbox (:class:`bot.audit.trail.AuditLog`), written in the change's own
    transaction. A protocol, so the policy never imports the audit trail (which knows the
    ledger: bot.policy and bot.ledger stay independent)."""

    async def record(self, tx: Transaction, guild_id: int, text: str, *,
                     balance: int | None = None) -> int: ...


def mention(actor: str) -> str:
    """``user:123`` as a mention (audit lines are posted without pings)."""
    return f"<@{actor[5:]}>" if actor.startswith("user:") and actor[5:].isdigit() else actor


def split_entries(text: str) -> list[str]:
    """A moderator's input: entries separated by commas or new lines, each normalised."""
    return [part for part in re.split(r"[,\n]", text) if part.strip()]


class WordList:
    """The ``guild_words`` table: read for every launch, changed by moderators."""

    def __init__(self, db: Database, clock: Clock, audit: AuditRecorder) -> None:
        self._db, self._clock, self._audit = db, clock, audit

    async def entries(self, guild_id: int, reader: Database | Transaction | None = None,
                      ) -> tuple[str, ...]:
        rows = await (reader or self._db).fetchall(
            "SELECT word FROM guild_words WHERE guild_id = ? ORDER BY word", (guild_id,))
        return tuple(str(r["word"]) for r in rows)

    @staticmethod
    def _checked(raw: Sequence[str]) -> list[str]:
        entries: list[str] = []
        for item in raw:
            entry = normal_entry(item)
            if not entry:
                raise WordRefused(
                    "An entry must contain at least one letter or digit. Nothing was changed.",
                    key="strikes.words_empty")
            if len(entry) > MAX_WORD_CHARS:
                raise WordRefused(
                    f"An entry can be at most {MAX_WORD_CHARS} characters long. Nothing was "
                    "changed.", key="strikes.words_too_long", params={"max": MAX_WORD_CHARS})
            if entry not in entries:
                entries.append(entry)
        if not entries:
            raise WordRefused(
                "An entry must contain at least one letter or digit. Nothing was changed.",
                key="strikes.words_empty")
        return entries

    async def add(self, guild_id: int, raw: Sequence[str], *, actor: str) -> WordChange:
        """List the entries (normalised); at most :data:`MAX_WORDS` in all, or nothing
        changes. The audit line counts them without naming them: the channel is read by
        people the list is meant to spare."""
        wanted = self._checked(raw)
        async with self._db.transaction() as tx:
            have = set(await self.entries(guild_id, tx))
            new = [e for e in wanted if e not in have]
            if len(have) + len(new) > MAX_WORDS:
                raise WordRefused(
                    f"A server can list at most {MAX_WORDS} words or phrases; this one has "
                    f"{len(have)}. Nothing was changed.", key="strikes.words_full",
                    params={"max": MAX_WORDS, "count": len(have)})
            now = to_db_time(self._clock())
            for entry in new:
                await tx.execute(
                    "INSERT INTO guild_words (guild_id, word, added_by, added_at)"
                    " VALUES (?, ?, ?, ?)", (guild_id, entry, actor, now))
            if new:
                await self._audit.record(
                    tx, guild_id, f"Word list: {mention(actor)} added {len(new)} "
                    f"entr{'y' if len(new) == 1 else 'ies'} ({len(have) + len(new)} listed).")
            return WordChange(tuple(new), tuple(e for e in wanted if e in have),
                              len(have) + len(new))

    async def remove(self, guild_id: int, raw: Sequence[str], *, actor: str) -> WordChange:
        wanted = self._checked(raw)
        async with self._db.transaction() as tx:
            have = set(await self.entries(guild_id, tx))
            gone = [e for e in wanted if e in have]
            for entry in gone:
                await tx.execute("DELETE FROM guild_words WHERE guild_id = ? AND word = ?",
                                 (guild_id, entry))
            if gone:
                await self._audit.record(
                    tx, guild_id, f"Word list: {mention(actor)} removed {len(gone)} "
                    f"entr{'y' if len(gone) == 1 else 'ies'} ({len(have) - len(gone)} listed).")
            return WordChange(tuple(gone), tuple(e for e in wanted if e not in have),
                              len(have) - len(gone))

