"""Faithful INTERACTION_CREATE payloads: slash and context-menu commands, components, modals.

Field list: receiving-and-responding.mdx "Interaction Object" and what discord.py 2.7.1 reads
without a default (``attachment_size_limit``, ``member.flags``, ``channel.position`` …). Ids
are time-based snowflakes from the fake clock, so discord.py's ``Interaction.expires_at``
agrees with the fake's 15-minute rule; ``age`` back-dates an interaction to test that edge.
"""

from __future__ import annotations

import secrets
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, TypedDict, Unpack

from tests.fakes.discord_models import DEFAULT_FILE_LIMIT, FakeGuild, StoredMessage
from tests.fakes.discord_payloads import interaction_base, member_object
from tests.fakes.discord_state import DiscordState
from tests.fakes.discord_validation import OpenApiContract

APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
ATTACHMENT_OPTION = 11

MessageRef = StoredMessage | dict[str, Any] | int


class InteractionContext(TypedDict, total=False):
    """Where and how an interaction arrives; defaults come from the guild's state.

    ``permissions``/``app_permissions`` default to what the member/bot has in the channel,
    ``attachment_size_limit`` to 10 MiB, ``channel_id`` to the guild's default channel.
    ``locale`` is the member's client language, ``guild_locale`` the server's (both en-US
    unless given). ``age`` back-dates the interaction's snowflake by that many seconds.
    """

    channel_id: int
    permissions: int
    app_permissions: int
    attachment_size_limit: int
    locale: str
    guild_locale: str
    age: float


class InteractionSender(DiscordState):
    """Builds interactions from the fake's guilds and hands them to :meth:`send_interaction`."""

    def __init__(self, token: str, *, contract: OpenApiContract | None = None) -> None:
        super().__init__(token, contract=contract)
        self._command_ids: dict[tuple[str, int], int] = {}

    def entitlement_objects(self, user_id: int, guild_id: int | None) -> list[dict[str, Any]]:
        """What the interaction's ``entitlements`` carries (FakeDiscord asks its SKUs)."""
        return []

    @abstractmethod
    async def send_interaction(self, payload: dict[str, Any]) -> tuple[int, str]:
        """Register and dispatch a raw INTERACTION_CREATE payload; return (id, token)."""

    async def send_slash_command(
        self,
        guild: FakeGuild,
        user_id: int,
        name: str,
        options: Sequence[dict[str, Any]] = (),
        *,
        attachments: Sequence[dict[str, Any]] = (),
        resolved: dict[str, Any] | None = None,
        **context: Unpack[InteractionContext],
    ) -> tuple[int, str]:
        """A CHAT_INPUT command. An option of type 11 may carry the attachment dict itself
        (from ``fake.cdn.add``) as its value; it is swapped for the id and resolved."""
        resolved_all: dict[str, Any] = dict(resolved or {})
        by_id = {str(a["id"]): a for a in attachments}
        wire_options = []
        for option in options:
            option = dict(option)
            value = option.get("value")
            if option.get("type") == ATTACHMENT_OPTION and isinstance(value, dict):
                by_id[str(value["id"])] = value
                option["value"] = str(value["id"])
            wire_options.append(option)
        if by_id:
            resolved_all["attachments"] = by_id
        data: dict[str, Any] = {**self._command_ref(name, 1, guild), "name": name, "type": 1}
        if wire_options:
            data["options"] = wire_options
        if resolved_all:
            data["resolved"] = resolved_all
        return await self._send(guild, user_id, APPLICATION_COMMAND, data, **context)

    async def send_autocomplete(
        self,
        guild: FakeGuild,
        user_id: int,
        name: str,
        options: Sequence[dict[str, Any]],
        **context: Unpack[InteractionContext],
    ) -> tuple[int, str]:
        """An AUTOCOMPLETE interaction; mark the option being typed with ``"focused": True``."""
        data = {
            **self._command_ref(name, 1, guild),
            "name": name,
            "type": 1,
            "options": list(options),
        }
        return await self._send(guild, user_id, AUTOCOMPLETE, data, **context)

    async def send_context_menu(
        self,
        guild: FakeGuild,
        user_id: int,
        name: str,
        target_message: MessageRef,
        **context: Unpack[InteractionContext],
    ) -> tuple[int, str]:
        """A MESSAGE context-menu command (type 3) on ``target_message``."""
        message = self._message_json(target_message)
        data = {
            **self._command_ref(name, 3, guild),
            "name": name,
            "type": 3,
            "target_id": message["id"],
            "resolved": {"messages": {message["id"]: message}},
        }
        context.setdefault("channel_id", int(message["channel_id"]))
        return await self._send(guild, user_id, APPLICATION_COMMAND, data, **context)

    async def send_component(
        self,
        guild: FakeGuild,
        user_id: int,
        custom_id: str,
        message: MessageRef,
        component_type: int = 2,
        *,
        values: Sequence[str] | None = None,
        **context: Unpack[InteractionContext],
    ) -> tuple[int, str]:
        """A button (2) or select (3, 5-8) interaction on a message."""
        wire = self._message_json(message)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = list(values)
        context.setdefault("channel_id", int(wire["channel_id"]))
        return await self._send(guild, user_id, MESSAGE_COMPONENT, data, message=wire, **context)

    async def send_modal_submit(
        self,
        guild: FakeGuild,
        user_id: int,
        custom_id: str,
        components: Sequence[dict[str, Any]],
        *,
        message: MessageRef | None = None,
        **context: Unpack[InteractionContext],
    ) -> tuple[int, str]:
        """A MODAL_SUBMIT; ``components`` as Discord sends them back (rows/labels of inputs)."""
        data = {"custom_id": custom_id, "components": list(components)}
        wire = self._message_json(message) if message is not None else None
        return await self._send(guild, user_id, MODAL_SUBMIT, data, message=wire, **context)

    def post_user_message(
        self,
        guild: FakeGuild,
        user_id: int,
        content: str = "",
        *,
        attachments: Sequence[dict[str, Any]] = (),
        embeds: Sequence[dict[str, Any]] = (),
        channel_id: int | None = None,
    ) -> StoredMessage:
        """A message a member posted (e.g. the image a context-menu command targets).

        Pass attachments from ``fake.cdn.add(..., ephemeral=False)``; ``embeds`` as Discord
        sends them (e.g. a link preview with ``image.url``/``proxy_url``)."""
        if user_id not in guild.members:
            guild.add_member(user_id)
        message = StoredMessage(
            id=self.new_id(),
            channel_id=channel_id or guild.channel_id,
            guild_id=guild.id,
            author_id=user_id,
            content=content,
            attachments=[dict(a) for a in attachments],
            embeds=[dict(e) for e in embeds],
            timestamp=self.now(),
        )
        return self.store_message(message)

    # -- shared ------------------------------------------------------------------------

    async def _send(
        self,
        guild: FakeGuild,
        user_id: int,
        interaction_type: int,
        data: dict[str, Any],
        *,
        channel_id: int | None = None,
        permissions: int | None = None,
        app_permissions: int | None = None,
        attachment_size_limit: int = DEFAULT_FILE_LIMIT,
        message: dict[str, Any] | None = None,
        locale: str = "en-US",
        guild_locale: str = "en-US",
        age: float = 0.0,
    ) -> tuple[int, str]:
        if user_id not in guild.members:
            guild.add_member(user_id)
        channel = guild.channels[channel_id or guild.channel_id]
        if permissions is None:
            permissions = guild.permissions_for(user_id, channel.id)
        if app_permissions is None:
            app_permissions = guild.permissions_for(self.bot_id, channel.id)
        member = member_object(guild, self.users[user_id], permissions=permissions)
        payload = interaction_base(
            interaction_id=self.new_id(at=self.now() - age),
            token=f"aW50ZXJhY3Rpb24{secrets.token_urlsafe(48)}",
            interaction_type=interaction_type,
            application_id=self.application_id,
            guild=guild,
            channel=channel,
            member=member,
            app_permissions=app_permissions,
            attachment_size_limit=attachment_size_limit,
            locale=locale,
        )
        # The server's community language, as Discord sends it with every guild interaction
        # (``guild_locale``, and the partial guild's ``locale``).
        payload["guild_locale"] = guild_locale
        payload["guild"]["locale"] = guild_locale
        payload["data"] = data
        payload["entitlements"] = self.entitlement_objects(user_id, guild.id)
        if message is not None:
            payload["message"] = message
        return await self.send_interaction(payload)

    def _command_ref(self, name: str, kind: int, guild: FakeGuild) -> dict[str, str]:
        """``id`` (and ``guild_id`` for guild commands, which discord.py routes by) of the
        command the bot synced under that name; a stable made-up id if it never synced."""
        for scope in (guild.id, None):
            for command in self.commands.get(scope, []):
                if command["name"] == name and command["type"] == kind:
                    ref = {"id": str(command["id"])}
                    if scope is not None:
                        ref["guild_id"] = str(scope)
                    return ref
        key = (name, kind)
        if key not in self._command_ids:
            self._command_ids[key] = self.new_id()
        return {"id": str(self._command_ids[key])}

    def _message_json(self, message: MessageRef) -> dict[str, Any]:
        if isinstance(message, dict):
            return message
        stored = message if isinstance(message, StoredMessage) else self.get_message(message)
        if stored is None:
            raise KeyError(f"no message {message}")
        return self.message_json(stored)
