"""Bot-token routes: login, gateway discovery, command sync and channel messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.fakes.discord_http import (
    Call,
    DiscordError,
    Reply,
    RestFrontDoor,
    Route,
    missing_permissions,
    not_found,
)
from tests.fakes.discord_messages import create_message, edit_message, existing_attachment_ids
from tests.fakes.discord_models import (
    DEFAULT_FILE_LIMIT,
    PERMISSIONS,
    FakeChannel,
    FakeGuild,
    StoredMessage,
)
from tests.fakes.discord_payloads import (
    application_object,
    channel_object,
    dm_channel_object,
    private_user,
)
from tests.fakes.discord_validation import is_empty_message

VIEW = PERMISSIONS["VIEW_CHANNEL"]
SEND = PERMISSIONS["SEND_MESSAGES"]
ATTACH = PERMISSIONS["ATTACH_FILES"]
HISTORY = PERMISSIONS["READ_MESSAGE_HISTORY"]
MANAGE_MESSAGES = PERMISSIONS["MANAGE_MESSAGES"]


class BotRoutes:
    def __init__(self, door: RestFrontDoor, gateway_url: Callable[[], str]) -> None:
        self.door = door
        self.state = door.state
        self._gateway_url = gateway_url
        add = door.add
        add(Route("GET", "/users/@me", self.get_me, "get_my_user"))
        add(Route("GET", "/oauth2/applications/@me", self.get_app, "get_my_oauth2_application"))
        add(Route("GET", "/gateway/bot", self.get_gateway_bot, "get_bot_gateway"))
        add(
            Route(
                "PUT",
                "/applications/{application_id}/commands",
                self.put_commands,
                "bulk_set_application_commands",
            )
        )
        add(
            Route(
                "PUT",
                "/applications/{application_id}/guilds/{guild_id}/commands",
                self.put_commands,
                "bulk_set_guild_application_commands",
            )
        )
        # Not in the vendored contract subset, so its small body is checked here by hand.
        add(Route("POST", "/users/@me/channels", self.create_dm, None))
        add(Route("GET", "/channels/{channel_id}", self.get_channel, "get_channel"))
        add(Route("POST", "/channels/{channel_id}/messages", self.post_message, "create_message"))
        # Not in the vendored contract subset either; it has no request body to check.
        add(Route("GET", "/channels/{channel_id}/messages", self.list_messages, None))
        message_path = "/channels/{channel_id}/messages/{message_id}"
        add(Route("GET", message_path, self.get_message, "get_message"))
        add(Route("PATCH", message_path, self.patch_message, "update_message"))
        add(Route("DELETE", message_path, self.delete_message, "delete_message"))

    async def get_me(self, call: Call) -> Reply:
        return Reply(200, private_user(self.state.bot_user))

    async def get_app(self, call: Call) -> Reply:
        state = self.state
        owner = state.users[state.owner_id]
        return Reply(200, application_object(state.application_id, state.bot_user, owner))

    async def get_gateway_bot(self, call: Call) -> Reply:
        limit = {"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1}
        shards = self.state.recommended_shards or max(1, -(-len(self.state.guilds) // 1000))
        return Reply(200, {"url": self._gateway_url(), "shards": shards,
                           "session_start_limit": limit})

    async def put_commands(self, call: Call) -> Reply:
        state = self.state
        if call.param("application_id") != state.application_id:
            raise DiscordError(403, 20012, "You are not authorized to perform this action")
        scope: int | None = None
        if "guild_id" in call.params:
            scope = call.param("guild_id")
            if scope not in state.guilds:
                # What Discord answers for a guild the app was never added to.
                raise DiscordError(403, 50001, "Missing Access")
        assert call.operation_id is not None
        self.door.validate(call, call.operation_id)
        previous = {(c["name"], c["type"]): c["id"] for c in state.commands.get(scope, [])}
        synced = [self._command(cmd, scope, previous) for cmd in call.body or []]
        state.commands[scope] = synced
        return Reply(200, synced)

    def _command(
        self, cmd: dict[str, Any], scope: int | None, previous: dict[tuple[str, int], str]
    ) -> dict[str, Any]:
        kind = cmd.get("type") or 1
        perms = cmd.get("default_member_permissions")
        result: dict[str, Any] = {
            "id": previous.get((cmd["name"], kind)) or str(self.state.new_id()),
            "application_id": str(self.state.application_id),
            "version": str(self.state.new_id()),
            "type": kind,
            "name": cmd["name"],
            "name_localizations": cmd.get("name_localizations"),
            "description": cmd.get("description") or "",
            "description_localizations": cmd.get("description_localizations"),
            "default_member_permissions": None if perms is None else str(perms),
            "dm_permission": cmd.get("dm_permission", True),
            "contexts": cmd.get("contexts"),
            "integration_types": cmd.get("integration_types") or [0],
            "nsfw": bool(cmd.get("nsfw")),
        }
        if cmd.get("options"):
            result["options"] = cmd["options"]
        if scope is not None:
            result["guild_id"] = str(scope)
        return result

    # -- channels ----------------------------------------------------------------------

    def _channel(self, call: Call, *needed: int) -> tuple[FakeGuild, FakeChannel]:
        found = self.state.find_channel(call.param("channel_id"))
        if found is None:
            raise not_found(10003, "Unknown Channel")
        guild, channel = found
        perms = guild.permissions_for(self.state.bot_id, channel.id)
        if not perms & VIEW:
            raise DiscordError(403, 50001, "Missing Access")
        for bit in needed:
            if not perms & bit:
                raise missing_permissions()
        return guild, channel

    def _message(self, call: Call, channel: FakeChannel) -> StoredMessage:
        message = self.state.get_message(call.param("message_id"))
        # Ephemeral messages exist only for their recipient; the bot token cannot see them.
        if message is None or message.channel_id != channel.id or message.ephemeral:
            raise not_found(10008, "Unknown Message")
        return message

    async def get_channel(self, call: Call) -> Reply:
        _, channel = self._channel(call)
        return Reply(200, channel_object(channel))

    async def create_dm(self, call: Call) -> Reply:
        """Open (or return) the DM channel with ``recipient_id`` (channel.mdx "Create DM")."""
        body = call.body if isinstance(call.body, dict) else {}
        raw = body.get("recipient_id")
        recipient = int(raw) if isinstance(raw, int | str) and str(raw).isdigit() else None
        if recipient is None or recipient not in self.state.users:
            raise self.door.reject(call, DiscordError(400, 50033, "Invalid Recipient(s)"))
        channel_id = self.state.open_dm(recipient)
        return Reply(200, dm_channel_object(channel_id, self.state.users[recipient]))

    async def post_message(self, call: Call) -> Reply:
        state = self.state
        dm_user = state.dm_channels.get(call.param("channel_id"))
        if dm_user is not None:
            return await self._post_dm(call, call.param("channel_id"), dm_user)
        guild, channel = self._channel(call, SEND)
        self.door.validate(call, "create_message")
        if call.uploads:
            if not guild.permissions_for(state.bot_id, channel.id) & ATTACH:
                raise missing_permissions()
            self.door.check_file_sizes(call, guild.filesize_limit)
        return self._create(call, channel.id, guild.id)

    async def _post_dm(self, call: Call, channel_id: int, recipient: int) -> Reply:
        if recipient in self.state.dms_closed:
            raise DiscordError(403, 50007, "Cannot send messages to this user")
        self.door.validate(call, "create_message")
        self.door.check_file_sizes(call, DEFAULT_FILE_LIMIT)
        return self._create(call, channel_id, None)

    def _create(self, call: Call, channel_id: int, guild_id: int | None) -> Reply:
        """Create the message, or return the one an enforced nonce already made."""
        state = self.state
        body: dict[str, Any] = call.body or {}
        if is_empty_message(body, len(call.uploads)):
            raise self.door.reject(call, DiscordError(400, 50006, "Cannot send an empty message"))
        nonce = body.get("nonce")
        if body.get("enforce_nonce") and nonce is not None:
            earlier = state.recent_nonce(channel_id, state.bot_id, str(nonce))
            if earlier is not None:
                return Reply(200, state.message_json(earlier))
        message = create_message(state, call, channel_id=channel_id, guild_id=guild_id)
        state.remember_nonce(message)
        return Reply(200, state.message_json(message))

    async def list_messages(self, call: Call) -> Reply:
        """Channel history as channel.mdx "Get Channel Messages" describes it: newest first;
        with ``after``, the ``limit`` messages right after it; without Read Message History,
        an empty list (not an error). Nonces are not returned on reads."""
        guild, channel = self._channel(call)
        if not guild.permissions_for(self.state.bot_id, channel.id) & HISTORY:
            return Reply(200, [])
        query = call.request.query
        try:
            limit = int(query.get("limit", "50"))
            after = int(query["after"]) if "after" in query else None
            before = int(query["before"]) if "before" in query else None
        except ValueError:
            raise self.door.reject(call, DiscordError(400, 50035, "Invalid Form Body")) from None
        if not 1 <= limit <= 100 or "around" in query:
            raise self.door.reject(call, DiscordError(400, 50035, "Invalid Form Body"))
        state = self.state
        messages = sorted(
            (m for store in (state.messages, state.user_messages)
             for m in store[channel.id] if not m.ephemeral),
            key=lambda m: m.id,
        )
        if before is not None:
            messages = [m for m in messages if m.id < before]
        if after is not None:
            page = [m for m in messages if m.id > after][:limit]
        else:
            page = messages[-limit:]
        bodies = []
        for message in reversed(page):
            body = state.message_json(message)
            body.pop("nonce", None)
            bodies.append(body)
        return Reply(200, bodies)

    async def get_message(self, call: Call) -> Reply:
        _, channel = self._channel(call, HISTORY)
        return Reply(200, self.state.message_json(self._message(call, channel)))

    async def patch_message(self, call: Call) -> Reply:
        guild, channel = self._channel(call)
        message = self._message(call, channel)
        if message.author_id != self.state.bot_id:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        self.door.validate(
            call, "update_message", existing_attachments=existing_attachment_ids(message)
        )
        if call.uploads:
            if not guild.permissions_for(self.state.bot_id, channel.id) & ATTACH:
                raise missing_permissions()
            self.door.check_file_sizes(call, guild.filesize_limit)
        edit_message(self.state, call, message)
        return Reply(200, self.state.message_json(message))

    async def delete_message(self, call: Call) -> Reply:
        guild, channel = self._channel(call)
        message = self._message(call, channel)
        if message.author_id != self.state.bot_id and not (
            guild.permissions_for(self.state.bot_id, channel.id) & MANAGE_MESSAGES
        ):
            raise missing_permissions()
        self.state.remove_message(message)
        return Reply(204)
