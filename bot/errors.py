"""Errors whose message a member may see.

The error handler (``cogs/errors.py``) shows a :class:`UserError`'s text ephemerally, as is.
Anything else that escapes a command is treated as a bug: logged, and the member sees only a
short code. So a subclass's message must be plain, friendly, free of internals and secrets,
and short (it is sent as a Discord message, 2000 characters at most).
"""

from __future__ import annotations


class UserError(Exception):
    """A refusal caused by what the member asked for; ``str(error)`` is shown to them."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
