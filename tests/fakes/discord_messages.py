"""Turning validated message bodies (+ uploaded files) into stored messages, and editing them.

Shared by channel messages, interaction callbacks and followups, which Discord treats alike
(reference.mdx "Uploading Files": ``payload_json`` + ``files[n]``, ``attachments[].id`` = n).
"""

from __future__ import annotations

import copy
from typing import Any

from tests.fakes.discord_http import Call, DiscordError
from tests.fakes.discord_models import StoredMessage
from tests.fakes.discord_state import DiscordState
from tests.fakes.discord_validation import (
    IS_COMPONENTS_V2,
    LEGACY_FIELDS_WITH_V2,
    Problem,
    components_v2_problems,
    discord_errors,
    walk_components,
)

EPHEMERAL = 1 << 6
LOADING = 1 << 7
#: Flags a sender may set on a message (SUPPRESS_EMBEDS, EPHEMERAL, SUPPRESS_NOTIFICATIONS,
#: IS_COMPONENTS_V2); Discord ignores the rest.
SETTABLE_FLAGS = (1 << 2) | EPHEMERAL | (1 << 12) | (1 << 15)


def _number_components(components: list[Any]) -> list[dict[str, Any]]:
    """Discord gives every stored component a numeric ``id`` (the response schema needs it)."""
    result = copy.deepcopy([c for c in components if isinstance(c, dict)])
    counter = 0

    def walk(items: list[dict[str, Any]]) -> None:
        nonlocal counter
        for item in items:
            counter += 1
            item.setdefault("id", counter)
            children = item.get("components")
            if isinstance(children, list):
                walk([c for c in children if isinstance(c, dict)])

    walk(result)
    return result


def _embeds(embeds: Any) -> list[dict[str, Any]]:
    if not isinstance(embeds, list):
        return []
    return [{"type": "rich", **e} for e in embeds if isinstance(e, dict)]


def _upload_attachments(
    state: DiscordState, call: Call, body: dict[str, Any], channel_id: int
) -> list[dict[str, Any]]:
    """Store each uploaded file on the CDN, named and described as ``attachments[]`` says."""
    described: dict[int, dict[str, Any]] = {}
    for item in body.get("attachments") or []:
        if isinstance(item, dict) and str(item.get("id", "")).isdigit():
            described[int(item["id"])] = item
    result = []
    for upload in call.uploads:
        meta = described.get(upload.index if upload.index is not None else -1, {})
        entry = state.cdn.store(
            upload.data,
            meta.get("filename") or upload.filename,
            None,  # Discord derives content_type from the name; discord.py sends octet-stream
            channel_id=channel_id,
            description=meta.get("description"),
        )
        result.append(state.cdn.attachment_object(entry.id))
    return result


def create_message(
    state: DiscordState,
    call: Call,
    *,
    channel_id: int,
    guild_id: int | None,
    msg_type: int = 0,
    interaction_id: int | None = None,
    webhook_id: int | None = None,
    extra_flags: int = 0,
    body: dict[str, Any] | None = None,
) -> StoredMessage:
    data: dict[str, Any] = body if body is not None else (call.body or {})
    nonce = data.get("nonce")
    message = StoredMessage(
        id=state.new_id(),
        channel_id=channel_id,
        guild_id=guild_id,
        author_id=state.bot_id,
        content=data.get("content") or "",
        embeds=_embeds(data.get("embeds")),
        attachments=_upload_attachments(state, call, data, channel_id),
        components=_number_components(data.get("components") or []),
        allowed_mentions=data.get("allowed_mentions"),
        nonce=nonce if isinstance(nonce, str | int) else None,
        flags=((data.get("flags") or 0) & SETTABLE_FLAGS) | extra_flags,
        tts=bool(data.get("tts")),
        type=msg_type,
        timestamp=state.now(),
        interaction_id=interaction_id,
        webhook_id=webhook_id,
    )
    return state.store_message(message)


def edit_message(
    state: DiscordState, call: Call, message: StoredMessage, body: dict[str, Any] | None = None
) -> None:
    """Apply a PATCH body: only the keys present change; ``attachments`` is the full list kept."""
    data: dict[str, Any] = body if body is not None else (call.body or {})
    _check_v2_edit(state, call, message, data)
    if "content" in data:
        message.content = data["content"] or ""
    if "embeds" in data:
        message.embeds = _embeds(data["embeds"])
    if "components" in data:
        message.components = _number_components(data["components"] or [])
    if "allowed_mentions" in data:
        message.allowed_mentions = data["allowed_mentions"]
    if data.get("flags") is not None:
        # Ephemerality is fixed at creation; editing can only toggle the other settable flags,
        # except IS_COMPONENTS_V2, which no edit removes (components.mdx).
        keep = message.flags & (EPHEMERAL | IS_COMPONENTS_V2)
        message.flags = (data["flags"] & SETTABLE_FLAGS & ~EPHEMERAL) | keep
    if "attachments" in data:
        keep_ids = {
            str(item.get("id")) for item in data["attachments"] or [] if isinstance(item, dict)
        }
        message.attachments = [a for a in message.attachments if a["id"] in keep_ids]
    message.attachments += _upload_attachments(state, call, data, message.channel_id)
    message.flags &= ~LOADING
    message.edited_timestamp = state.now()


def existing_attachment_ids(message: StoredMessage) -> set[int]:
    return {int(a["id"]) for a in message.attachments}


def _check_v2_edit(
    state: DiscordState, call: Call, message: StoredMessage, data: dict[str, Any]
) -> None:
    """An edit's Components V2 rules, which depend on the message as well as the body: a V2
    message stays V2 (so content and embeds stay refused), and an edit that makes a message
    V2 must leave it without content or embeds. Discord documents no more about turning a
    message into a V2 one; the fake refuses anything that would leave legacy fields behind."""
    flags = data.get("flags")
    was_v2 = bool(message.flags & IS_COMPONENTS_V2)
    v2 = was_v2 or (isinstance(flags, int) and bool(flags & IS_COMPONENTS_V2))
    kept = {str(a.get("filename")) for a in message.attachments}
    problems = components_v2_problems(data, v2=v2, kept_names=kept)
    if v2 and not was_v2:
        for key, left in (("content", message.content), ("embeds", message.embeds)):
            if left and key not in data:
                problems.append(Problem(
                    (key,), LEGACY_FIELDS_WITH_V2,
                    f"The message's '{key}' must be cleared to use MessageFlags.IS_COMPONENTS_V2"))
    seen = set()
    unique = []
    for problem in problems:  # the body's own problems were also found by the door's check
        if (problem.path, problem.code) not in seen:
            seen.add((problem.path, problem.code))
            unique.append(problem)
    if unique:
        where = f"{call.record.method} {call.record.path}"
        state.validation_errors.extend(f"{where}: {p.describe('edit')}" for p in unique)
        raise DiscordError(400, 50035, "Invalid Form Body", discord_errors(unique))


# -- reading a stored card (for tests) -----------------------------------------------------


def is_v2(message: StoredMessage) -> bool:
    return bool(message.flags & IS_COMPONENTS_V2)


def card_texts(message: StoredMessage) -> list[str]:
    """The text displays of a V2 message, in order."""
    return [str(c.get("content")) for c in walk_components(message.components)
            if c.get("type") == 10]


def card_text(message: StoredMessage) -> str:
    """Everything a member reads on the message: content, embed texts, text displays."""
    parts = [message.content]
    for embed in message.embeds:
        parts += [str(embed.get(k) or "") for k in ("title", "description")]
        parts += [f"{f.get('name')}: {f.get('value')}" for f in embed.get("fields") or []]
        parts.append(str((embed.get("footer") or {}).get("text") or ""))
    parts += card_texts(message)
    return "\n".join(p for p in parts if p)


def gallery_urls(message: StoredMessage) -> list[str]:
    """The media URLs of the message's media galleries, in order."""
    return [str(item["media"]["url"]) for c in walk_components(message.components)
            if c.get("type") == 12 for item in c.get("items") or []]


def buttons(message: StoredMessage) -> list[tuple[str, str]]:
    """``(label, custom_id)`` of every button, wherever it sits in the message."""
    return [(str(c.get("label")), str(c.get("custom_id")))
            for c in walk_components(message.components) if c.get("type") == 2]
