"""PostgreSQL's side of the text the stores and operators hand over: ``?`` placeholders turned
into ``$n``, asyncpg's errors mapped onto :mod:`bot.db.errors`, and the ``[database] url``
checked and shown without its password."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import asyncpg

from bot.db.errors import (
    ConstraintViolation,
    DatabaseBusy,
    DatabaseClosed,
    DatabaseError,
    UniqueViolation,
)

DEFAULT_PORT = 5432
# lock_not_available (lock_timeout ran out), serialization_failure, deadlock_detected: another
# connection held what this one needed, as SQLITE_BUSY says on SQLite.
_BUSY = {"55P03", "40001", "40P01"}


def placeholders(sql: str) -> str:
    """``sql`` with each ``?`` outside string literals, quoted names and comments as ``$n``.

    The stores write SQLite's ``?``; asyncpg takes PostgreSQL's numbered ``$1, $2 …``.
    """
    out: list[str] = []
    n, i, size = 0, 0, len(sql)
    while i < size:
        char = sql[i]
        if char in "'\"":
            # A quote ends the literal unless doubled ('it''s'); ``standard_conforming_strings``
            # (on since PostgreSQL 9.1) leaves backslashes alone, as SQLite does.
            end = i + 1
            while end < size:
                if sql[end] == char:
                    if end + 1 < size and sql[end + 1] == char:
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[i:end + 1])
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = size if end < 0 else end
            out.append(sql[i:end])
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = size if end < 0 else end + 2
            out.append(sql[i:end])
            i = end
        elif char == "?":
            n += 1
            out.append(f"${n}")
            i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Target:
    """Where ``[database] url`` points, for messages: never the password."""

    user: str
    host: str
    port: int
    database: str

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"postgresql://{self.user}@{self.address}/{self.database}"


def parse_url(url: str) -> Target:
    """Check a ``postgresql://user:password@host:port/dbname`` URL; a ValueError names what is
    wrong in one line without echoing the URL (it holds the password)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(
            "database.url is not a valid URL; write postgresql://user:password@host:5432/dbname"
        ) from None
    if parts.scheme not in {"postgresql", "postgres"}:
        raise ValueError("database.url must start with postgresql:// "
                         "(postgresql://user:password@host:5432/dbname)")
    database = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not database or "/" in database:
        raise ValueError("database.url needs a host and a database name: "
                         "postgresql://user:password@host:5432/dbname")
    return Target(unquote(parts.username or ""), parts.hostname, port or DEFAULT_PORT, database)


def translate(exc: BaseException) -> DatabaseError:
    """asyncpg's errors as the backend-neutral hierarchy the stores catch."""
    if isinstance(exc, asyncpg.PostgresError):
        state = str(exc.sqlstate or "")
        # The primary message only: the DETAIL line may quote the failing row's values.
        message = str(getattr(exc, "message", "") or type(exc).__name__)
        if state == "23505":
            return UniqueViolation(message, code=state)
        # Class 23 (CHECK, NOT NULL, FOREIGN KEY) and the triggers' RAISE EXCEPTION (P0001),
        # which is what SQLite's RAISE(ABORT) in a trigger reports too.
        if state.startswith("23") or state == "P0001":
            return ConstraintViolation(message, code=state)
        if state in _BUSY:
            return DatabaseBusy(message, code=state)
        return DatabaseError(message, code=state)
    if isinstance(exc, asyncpg.ConnectionDoesNotExistError | asyncpg.InterfaceError):
        return DatabaseClosed(f"the PostgreSQL connection is gone ({exc})")
    return DatabaseError(str(exc))


def explain_connect(target: Target, exc: BaseException) -> DatabaseError:
    """Why the first connection failed, as one line naming what to fix."""
    where = f"PostgreSQL at {target.address}"
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return DatabaseError(f"{where} refused user {target.user!r}: wrong password; fix the "
                             "password in database.url", code="28P01")
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return DatabaseError(f"{where} has no database {target.database!r}; create it "
                             f"(createdb {target.database}) or fix database.url", code="3D000")
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return DatabaseError(f"{where} refused user {target.user!r} ({exc}); fix the user in "
                             "database.url or the server's pg_hba.conf", code="28000")
    if isinstance(exc, socket.gaierror):
        return DatabaseError(f"{where} is unreachable: unknown host {target.host!r}; fix the "
                             "host in database.url")
    if isinstance(exc, OSError | TimeoutError):
        why = getattr(exc, "strerror", None) or type(exc).__name__
        return DatabaseError(f"{where} is unreachable ({why}); start PostgreSQL there, or fix "
                             "the host and port in database.url")
    if isinstance(exc, asyncpg.PostgresError):
        return DatabaseError(f"{where}: {translate(exc)}", code=str(exc.sqlstate or ""))
    return DatabaseError(f"{where}: cannot connect ({type(exc).__name__}: {exc})")
