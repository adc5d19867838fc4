"""Interaction routes: the callback (3 s rule) and the token webhooks (15 min rule).

Sources: receiving-and-responding.mdx — respond within 3 s or the interaction is unknown
(10062); one response only (40060); the token works for 15 minutes (then 50027); followups are
Execute Webhook with ``wait`` forced on; the first followup after a type-5 defer edits the
loading message (documented, deprecated behaviour Discord still has).
"""

from __future__ import annotations

from typing import Any

from tests.fakes.discord_http import Call, DiscordError, Reply, RestFrontDoor, Route, not_found
from tests.fakes.discord_messages import (
    EPHEMERAL,
    LOADING,
    create_message,
    edit_message,
    existing_attachment_ids,
)
from tests.fakes.discord_models import FakeInteraction, StoredMessage
from tests.fakes.discord_validation import Problem, is_empty_message

ACK_DEADLINE = 3.0
TOKEN_LIFETIME = 15 * 60.0

#: Callback types Discord accepts per interaction type (receiving-and-responding.mdx).
ALLOWED_CALLBACKS: dict[int, frozenset[int]] = {
    2: frozenset({4, 5, 9}),  # application command
    3: frozenset({4, 5, 6, 7, 9}),  # message component
    4: frozenset({8}),  # autocomplete
    5: frozenset({4, 5, 6, 7}),  # modal submit
}

_WEBHOOK = "/webhooks/{webhook_id}/{webhook_token}"


class InteractionRoutes:
    def __init__(self, door: RestFrontDoor) -> None:
        self.door = door
        self.state = door.state
        add = door.add
        add(
            Route(
                "POST",
                "/interactions/{interaction_id}/{interaction_token}/callback",
                self.callback,
                "create_interaction_response",
                bot_auth=False,
            )
        )
        add(Route("POST", _WEBHOOK, self.followup, "execute_webhook", bot_auth=False))
        for suffix, kind in (
            ("@original", "original_webhook_message"),
            ("{message_id}", "webhook_message"),
        ):
            path = f"{_WEBHOOK}/messages/{suffix}"
            add(Route("GET", path, self.get_message, f"get_{kind}", bot_auth=False))
            add(Route("PATCH", path, self.patch_message, f"update_{kind}", bot_auth=False))
            add(Route("DELETE", path, self.delete_message, f"delete_{kind}", bot_auth=False))

    # -- callback ----------------------------------------------------------------------

    async def callback(self, call: Call) -> Reply:
        state = self.state
        interaction = state.interactions.get(call.param("interaction_id"))
        if interaction is None or interaction.token != call.params["interaction_token"]:
            raise not_found(10062, "Unknown interaction")
        if state.now() - interaction.dispatched_at > ACK_DEADLINE:
            raise not_found(10062, "Unknown interaction")
        if interaction.acknowledged:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        body: dict[str, Any] = call.body if isinstance(call.body, dict) else {}
        kind = body.get("type")
        extra = []
        allowed = ALLOWED_CALLBACKS.get(interaction.type, frozenset())
        if isinstance(kind, int) and kind not in allowed:
            extra.append(
                Problem(
                    ("type",),
                    "INTERACTION_CALLBACK_TYPE_INVALID",
                    f"callback type {kind} is not valid for interaction type {interaction.type}",
                )
            )
        self.door.validate(call, "create_interaction_response", extra=extra)
        self.door.check_file_sizes(call, interaction.attachment_size_limit)
        data: dict[str, Any] = body.get("data") or {}
        message = self._respond(call, interaction, int(body["type"]), data)
        interaction.response_type = int(body["type"])
        interaction.acknowledged_at = state.now()
        if not call.flag("with_response"):
            return Reply(204)
        return Reply(200, self._callback_response(interaction, message))

    def _respond(
        self, call: Call, interaction: FakeInteraction, kind: int, data: dict[str, Any]
    ) -> StoredMessage | None:
        state = self.state
        if kind == 4 and is_empty_message(data, len(call.uploads)):
            raise self.door.reject(call, DiscordError(400, 50006, "Cannot send an empty message"))
        if kind in (4, 5):
            command_type = int((interaction.payload.get("data") or {}).get("type") or 0)
            msg_type = {1: 20, 2: 23, 3: 23}.get(command_type, 0) if interaction.type == 2 else 0
            flags = LOADING if kind == 5 else 0
            message = create_message(
                state,
                call,
                channel_id=interaction.channel_id or 0,
                guild_id=interaction.guild_id,
                msg_type=msg_type,
                interaction_id=interaction.id,
                webhook_id=interaction.application_id,
                extra_flags=flags,
                body=data if kind == 4 else {"flags": (data.get("flags") or 0) & EPHEMERAL},
            )
            interaction.original_message_id = message.id
            return message
        if kind in (6, 7):
            source = state.get_message(interaction.source_message_id or 0)
            interaction.original_message_id = interaction.source_message_id
            if kind == 7 and source is not None:
                edit_message(state, call, source, data)
            return source if kind == 7 else None
        if kind == 8:
            interaction.autocomplete_choices = list(data.get("choices") or [])
        elif kind == 9:
            interaction.modal = data
        return None

    def _callback_response(
        self, interaction: FakeInteraction, message: StoredMessage | None
    ) -> dict[str, Any]:
        original = self.state.get_message(interaction.original_message_id or 0)
        summary: dict[str, Any] = {"id": str(interaction.id), "type": interaction.type}
        if original is not None and interaction.response_type in (4, 5):
            summary["response_message_id"] = str(original.id)
            summary["response_message_loading"] = original.loading
            summary["response_message_ephemeral"] = original.ephemeral
        reply: dict[str, Any] = {"interaction": summary}
        # The resource carries a message only for types 4 and 7 (docs: callback resource).
        if message is not None and interaction.response_type in (4, 7):
            reply["resource"] = {
                "type": interaction.response_type,
                "message": self.state.message_json(message),
            }
        return reply

    # -- webhook token routes ----------------------------------------------------------

    def _interaction(self, call: Call) -> FakeInteraction:
        interaction = self.state.interaction_by_token(call.params["webhook_token"])
        if interaction is None or str(interaction.application_id) != call.params["webhook_id"]:
            raise not_found(10015, "Unknown Webhook")
        if self.state.now() - interaction.created_at > TOKEN_LIFETIME:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        if not interaction.acknowledged:
            raise not_found(10015, "Unknown Webhook")
        return interaction

    def _target(self, call: Call, interaction: FakeInteraction) -> StoredMessage:
        raw = call.params.get("message_id", "@original")
        if raw == "@original":
            message_id = interaction.original_message_id
        else:
            message_id = call.param("message_id")
            mine = {interaction.original_message_id, *interaction.followup_ids}
            message_id = message_id if message_id in mine else None
        message = self.state.get_message(message_id or 0)
        if message is None:
            raise not_found(10008, "Unknown Message")
        return message

    async def followup(self, call: Call) -> Reply:
        state = self.state
        interaction = self._interaction(call)
        self.door.validate(call, "execute_webhook")
        self.door.check_file_sizes(call, interaction.attachment_size_limit)
        body: dict[str, Any] = call.body or {}
        if is_empty_message(body, len(call.uploads)):
            raise self.door.reject(call, DiscordError(400, 50006, "Cannot send an empty message"))
        original = state.get_message(interaction.original_message_id or 0)
        if (
            interaction.response_type == 5
            and not interaction.followup_ids
            and original is not None
            and original.loading
        ):
            edit_message(state, call, original)
            message = original
        else:
            message = create_message(
                state,
                call,
                channel_id=interaction.channel_id or 0,
                guild_id=interaction.guild_id,
                interaction_id=interaction.id,
                webhook_id=interaction.application_id,
            )
        interaction.followup_ids.append(message.id)
        # Application webhooks always behave as wait=true (receiving-and-responding.mdx).
        return Reply(200, state.message_json(message))

    async def get_message(self, call: Call) -> Reply:
        message = self._target(call, self._interaction(call))
        return Reply(200, self.state.message_json(message))

    async def patch_message(self, call: Call) -> Reply:
        interaction = self._interaction(call)
        message = self._target(call, interaction)
        assert call.operation_id is not None
        self.door.validate(
            call, call.operation_id, existing_attachments=existing_attachment_ids(message)
        )
        self.door.check_file_sizes(call, interaction.attachment_size_limit)
        edit_message(self.state, call, message)
        return Reply(200, self.state.message_json(message))

    async def delete_message(self, call: Call) -> Reply:
        message = self._target(call, self._interaction(call))
        self.state.remove_message(message)
        return Reply(204)
