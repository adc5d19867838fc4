"""The one mapping from a Discord interaction to where a request comes from.

Every entry point (a command, a modal, a button) hands :func:`origin_of` its interaction; the
launch use case and the stores see only the :class:`bot.request.Origin` it returns.
"""

from __future__ import annotations

from typing import Any

import discord

from bot.errors import UserError
from bot.request import Origin

NOT_IN_A_GUILD = "Videos can only be made in a server channel."


def member_role_ids(interaction: discord.Interaction[Any]) -> tuple[int, ...]:
    """The invoker's roles, for the guild policy's role rule."""
    user = interaction.user
    return tuple(role.id for role in user.roles) if isinstance(user, discord.Member) else ()


def origin_of(interaction: discord.Interaction[Any]) -> Origin:
    if interaction.guild_id is None or interaction.channel_id is None:
        raise UserError(NOT_IN_A_GUILD, key="refusal.not_in_a_guild")
    return Origin(
        guild_id=interaction.guild_id, channel_id=interaction.channel_id,
        user_id=interaction.user.id, role_ids=member_role_ids(interaction),
        application_id=interaction.application_id, interaction_id=interaction.id,
        interaction_token=interaction.token, token_expires_at=interaction.expires_at,
        attachment_size_limit=interaction.filesize_limit, locale=interaction.locale.value,
    )
