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
    """A refusal caused by what the member asked for.

    ``key`` names its message in the catalog (``bot/i18n``) and ``params`` fill its
    placeholders, so the error handler shows it in the member's language; ``str(error)`` is
    the English text, for logs and for errors not yet given a key.
    """

    def __init__(self, message: str, *, key: str | None = None,
                 params: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.params: dict[str, object] = dict(params or {})
