"""Wire-format objects (users, guilds, channels, messages, interactions) the fake sends.

Shapes follow Discord's docs and the OpenAPI response schemas (the fake checks its own
replies against them) and carry every key discord.py 2.7.1 reads without a default.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from tests.fakes.discord_models import FakeChannel, FakeGuild, FakeInteraction, StoredMessage

DISCORD_EPOCH_MS = 1_420_070_400_000


def iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat()


def snowflake(timestamp: float, increment: int) -> int:
    """A time-based snowflake, so discord.py derives ``created_at`` (and expiry) from it."""
    return ((int(timestamp * 1000) - DISCORD_EPOCH_MS) << 22) | (increment & 0x3FFFFF)


def snowflake_time(value: int) -> float:
    return ((value >> 22) + DISCORD_EPOCH_MS) / 1000


def user_object(user_id: int, username: str, *, bot: bool = False) -> dict[str, Any]:
    user: dict[str, Any] = {
        "id": str(user_id),
        "username": username,
        "discriminator": "0",
        "global_name": None if bot else username.title(),
        "avatar": None,
        "public_flags": 0,
        "flags": 0,
        "primary_guild": None,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
        "collectibles": None,
    }
    if bot:
        user["bot"] = True
    return user


def private_user(user: dict[str, Any]) -> dict[str, Any]:
    """GET /users/@me: the user plus the PII fields only the account itself sees."""
    return {**user, "mfa_enabled": False, "locale": "en-US", "verified": True, "email": None}


def application_object(app_id: int, bot: dict[str, Any], owner: dict[str, Any]) -> dict[str, Any]:
    # interactions_endpoint_url stays null: with a URL set Discord would POST interactions
    # there instead of the gateway, and discord.py warns about exactly that.
    return {
        "id": str(app_id),
        "name": "Sora Bot",
        "icon": None,
        "description": "Turns prompts into videos.",
        "summary": "",
        "type": None,
        "bot": bot,
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "flags": 0,
        "flags_new": "0",
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "owner": owner,
        "team": None,
        "approximate_guild_count": 1,
        "approximate_user_install_count": 0,
        "approximate_user_authorization_count": 0,
        "explicit_content_filter": 0,
        "eligible_oauth2_scopes": [],
        "integration_types_config": {"0": {}},
    }


def role_object(guild: FakeGuild, role_id: int) -> dict[str, Any]:
    role = guild.roles[role_id]
    obj: dict[str, Any] = {
        "id": str(role.id),
        "name": role.name,
        "permissions": str(role.permissions),
        "position": role.position,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "managed": role.managed,
        "mentionable": False,
        "icon": None,
        "unicode_emoji": None,
        "flags": 0,
    }
    if role.managed:
        obj["tags"] = {"bot_id": str(guild.bot_user_id)}
    return obj


def channel_object(channel: FakeChannel) -> dict[str, Any]:
    return {
        "id": str(channel.id),
        "type": channel.type,
        "guild_id": str(channel.guild_id),
        "name": channel.name,
        "position": channel.position,
        "flags": 0,
        "parent_id": None,
        "topic": channel.topic,
        "nsfw": False,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "permission_overwrites": [
            {"id": str(o.id), "type": o.type, "allow": str(o.allow), "deny": str(o.deny)}
            for o in channel.overwrites.values()
        ],
    }


def dm_channel_object(channel_id: int, recipient: dict[str, Any]) -> dict[str, Any]:
    """A DM channel (type 1) as Create DM returns it."""
    return {
        "id": str(channel_id),
        "type": 1,
        "last_message_id": None,
        "flags": 0,
        "recipients": [recipient],
    }


def member_object(
    guild: FakeGuild,
    user: dict[str, Any],
    *,
    permissions: int | None = None,
) -> dict[str, Any]:
    member = guild.members[int(user["id"])]
    obj: dict[str, Any] = {
        "user": user,
        "roles": [str(r) for r in member.roles],
        "joined_at": iso(member.joined_at),
        "nick": None,
        "avatar": None,
        "banner": None,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }
    if permissions is not None:
        obj["permissions"] = str(permissions)
    return obj


def guild_locale(guild: FakeGuild) -> str:
    """The guild's preferred locale: a test may set ``guild.preferred_locale`` (then dispatch
    GUILD_UPDATE, as Discord does when a server's language changes); en-US by default."""
    return str(getattr(guild, "preferred_locale", "en-US"))


def guild_create(guild: FakeGuild, users: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """A GUILD_CREATE body complete enough for discord.py to build Guild/TextChannel/Member."""
    return {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(guild.owner_id),
        "region": "us-west",
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 1,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": guild.premium_tier,
        "premium_subscription_count": 0,
        "preferred_locale": guild_locale(guild),
        "system_channel_id": str(guild.channel_id),
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "vanity_url_code": None,
        "features": [],
        "roles": [role_object(guild, rid) for rid in guild.roles],
        "emojis": [],
        "stickers": [],
        "channels": [channel_object(c) for c in guild.channels.values()],
        "threads": [],
        "members": [member_object(guild, users[uid]) for uid in guild.members],
        "member_count": len(guild.members),
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "joined_at": iso(guild.created_at),
        "large": False,
        "unavailable": False,
        "lazy": True,
        "premium_progress_bar_enabled": False,
        "application_id": None,
        "max_members": 500000,
        "max_video_channel_users": 25,
        "nsfw": False,
        "incidents_data": None,
    }


def message_object(
    message: StoredMessage,
    *,
    author: dict[str, Any],
    attachment: Callable[[str], dict[str, Any]],
    interaction: FakeInteraction | None = None,
    interaction_user: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Message object; attachments get freshly signed CDN URLs on every read, like Discord."""
    attachments = [attachment(a["id"]) for a in message.attachments]
    obj: dict[str, Any] = {
        "id": str(message.id),
        "channel_id": str(message.channel_id),
        "type": message.type,
        "content": message.content,
        "author": author,
        "timestamp": iso(message.timestamp),
        "edited_timestamp": iso(message.edited_timestamp) if message.edited_timestamp else None,
        "tts": message.tts,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": attachments,
        "embeds": message.embeds,
        "components": components_response(message.components, attachments),
        "pinned": False,
        "flags": message.flags,
    }
    if message.nonce is not None:
        obj["nonce"] = message.nonce
    if message.webhook_id is not None:
        obj["webhook_id"] = str(message.webhook_id)
        obj["application_id"] = str(message.webhook_id)
    if interaction is not None:
        meta: dict[str, Any] = {
            "id": str(interaction.id),
            "type": interaction.type,
            "authorizing_integration_owners": _owners(interaction),
        }
        if interaction_user is not None:
            meta["user"] = interaction_user
        if interaction.original_message_id and interaction.original_message_id != message.id:
            meta["original_response_message_id"] = str(interaction.original_message_id)
        if interaction.type == 3 and interaction.source_message_id:
            meta["interacted_message_id"] = str(interaction.source_message_id)
        if interaction.type in (2, 3):
            obj["interaction_metadata"] = meta
    return obj


#: What Discord fills in on stored components when a sender left it out.
_COMPONENT_DEFAULTS: dict[int, dict[str, Any]] = {
    17: {"accent_color": None, "spoiler": False},
    14: {"spacing": 1, "divider": True},
    11: {"description": None, "spoiler": False},
}


def _media(media: dict[str, Any], attachments: list[dict[str, Any]]) -> dict[str, Any]:
    """An unfurled media item as Discord returns it: an ``attachment://name`` URL resolved to
    the message's attachment of that name (its CDN URL and id)."""
    url = str(media.get("url", ""))
    name = url.removeprefix("attachment://") if url.startswith("attachment://") else None
    for item in attachments:
        if name is not None and item["filename"] == name:
            return {"id": item["id"], "url": item["url"], "proxy_url": item["proxy_url"],
                    "content_type": item.get("content_type"), "attachment_id": item["id"],
                    "width": item.get("width"), "height": item.get("height")}
    return {"id": "0", "url": url, "proxy_url": url}


def components_response(
    components: list[dict[str, Any]], attachments: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Stored components in Discord's response shape (defaults filled in, media resolved)."""
    result = []
    for stored in components:
        item = {**_COMPONENT_DEFAULTS.get(int(stored.get("type", 0)), {}), **stored}
        if isinstance(item.get("components"), list):
            item["components"] = components_response(item["components"], attachments)
        if isinstance(item.get("accessory"), dict):
            item["accessory"] = components_response([item["accessory"]], attachments)[0]
        if isinstance(item.get("media"), dict):
            item["media"] = _media(item["media"], attachments)
        if isinstance(item.get("items"), list):
            item["items"] = [{"description": None, "spoiler": False, **gallery,
                              "media": _media(gallery.get("media") or {}, attachments)}
                             for gallery in item["items"]]
        result.append(item)
    return result


def _owners(interaction: FakeInteraction) -> dict[str, str]:
    if interaction.guild_id is not None:
        return {"0": str(interaction.guild_id)}
    return {"1": str(interaction.user_id)}


def interaction_base(
    *,
    interaction_id: int,
    token: str,
    interaction_type: int,
    application_id: int,
    guild: FakeGuild,
    channel: FakeChannel,
    member: dict[str, Any],
    app_permissions: int,
    attachment_size_limit: int,
    locale: str = "en-US",
) -> dict[str, Any]:
    """The INTERACTION_CREATE fields shared by every guild interaction type."""
    return {
        "id": str(interaction_id),
        "application_id": str(application_id),
        "type": interaction_type,
        "token": token,
        "version": 1,
        "guild_id": str(guild.id),
        "guild": {"id": str(guild.id), "locale": guild_locale(guild), "features": []},
        "guild_locale": guild_locale(guild),
        "channel_id": str(channel.id),
        "channel": channel_object(channel),
        "member": member,
        "app_permissions": str(app_permissions),
        "locale": locale,
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild.id)},
        "context": 0,
        "attachment_size_limit": attachment_size_limit,
    }
