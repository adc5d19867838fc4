"""Errors whose message a member may see.

The error handler (``cogs/errors.py``) shows a :class:`UserError`'s text ephemerally, as is.
Anything else that escapes a command is treated as a bug: logged, and the member sees only a
short code. So a subclass's message must be plain, friendly, free of internals and secrets,
and short (it is sent as a Discord message, 2000 characters at most).
"""

from __future__ import annotations


def one_of(values: tuple[object, ...]) -> str:
    """``4, 8 or 10``: the choices a refusal offers, from the one tuple that defines them."""
    words = [str(v) for v in values]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


class UserError(Exception):
    """A refusal caused by what the member asked for; ``str(error)`` is shown to them."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
