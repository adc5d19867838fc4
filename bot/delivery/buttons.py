"""The buttons under a delivered video, defined on the bot side of the wiring.

The publisher (:mod:`bot.delivery.publisher`) attaches them without knowing what they do; the
results cog (``cogs/results.py``) handles the clicks with ``DynamicItem``\\ s matching
:data:`CUSTOM_ID_PATTERN`, so a button keeps working on a message posted before a restart.
Everything a click needs is the job id in the ``custom_id``: the job row holds the rest.
"""

from __future__ import annotations

import re

import discord

PREFIX = "sora:r"
#: (action, label, style), in the order the buttons appear.
ACTIONS: tuple[tuple[str, str, discord.ButtonStyle], ...] = (
    ("reroll", "Reroll", discord.ButtonStyle.primary),
    ("edit", "Edit prompt", discord.ButtonStyle.secondary),
    ("extend", "Extend", discord.ButtonStyle.secondary),
    ("details", "Details", discord.ButtonStyle.secondary),
    ("delete", "Delete", discord.ButtonStyle.danger),
)
ACTION_NAMES: tuple[str, ...] = tuple(name for name, _label, _style in ACTIONS)
#: ``sora:r:<action>:<job_id>``; job ids are 32 lowercase hex digits.
CUSTOM_ID_PATTERN = rf"{PREFIX}:(?P<action>{'|'.join(ACTION_NAMES)}):(?P<job_id>[0-9a-f]{{32}})"
_CUSTOM_ID = re.compile(CUSTOM_ID_PATTERN)


def custom_id(action: str, job_id: str) -> str:
    """The ``custom_id`` of one result button (at most 100 characters, as Discord requires)."""
    value = f"{PREFIX}:{action}:{job_id}"
    if _CUSTOM_ID.fullmatch(value) is None:
        raise ValueError(f"not a result button: action {action!r}, job {job_id!r}")
    return value


def parse_custom_id(value: str) -> tuple[str, str] | None:
    """``(action, job_id)`` of a result button's ``custom_id``, or None if it is not one."""
    match = _CUSTOM_ID.fullmatch(value)
    return (match["action"], match["job_id"]) if match else None


class ResultButtons(discord.ui.View):
    """The action row under a video. Never stored in discord.py's view store: the cog's
    DynamicItems answer the clicks, also after a restart, when this object is long gone."""

    def __init__(self, job_id: str, *, extend: bool = True) -> None:
        """``extend`` False leaves Extend out: the job's model takes no start image (or is no
        longer offered), so its last frame could start nothing."""
        super().__init__(timeout=None)
        for action, label, style in ACTIONS:
            if action == "extend" and not extend:
                continue
            self.add_item(discord.ui.Button(label=label, style=style,
                                            custom_id=custom_id(action, job_id)))

    def is_dispatchable(self) -> bool:
        # False keeps discord.py from routing clicks to these callback-less buttons (and lets
        # an interaction webhook without client state send them).
        return False
