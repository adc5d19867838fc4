"""Plain data held by the fake Discord: guilds, permissions, messages, interactions, records.

Permission bits and the overwrite algorithm follow Discord's docs (topics/permissions.mdx,
"Permission Overwrites"), so a test that denies a permission in one channel sees Discord's
403 and discord.py computes the same answer from the GUILD_CREATE it was sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

API_PREFIX = "/api/v10"
MiB = 1024 * 1024
DEFAULT_FILE_LIMIT = 10 * MiB
REQUEST_LIMIT = 25 * MiB

PERMISSIONS: dict[str, int] = {
    "CREATE_INSTANT_INVITE": 1 << 0,
    "KICK_MEMBERS": 1 << 1,
    "BAN_MEMBERS": 1 << 2,
    "ADMINISTRATOR": 1 << 3,
    "MANAGE_CHANNELS": 1 << 4,
    "MANAGE_GUILD": 1 << 5,
    "ADD_REACTIONS": 1 << 6,
    "VIEW_CHANNEL": 1 << 10,
    "SEND_MESSAGES": 1 << 11,
    "MANAGE_MESSAGES": 1 << 13,
    "EMBED_LINKS": 1 << 14,
    "ATTACH_FILES": 1 << 15,
    "READ_MESSAGE_HISTORY": 1 << 16,
    "MENTION_EVERYONE": 1 << 17,
    "USE_EXTERNAL_EMOJIS": 1 << 18,
    "MANAGE_ROLES": 1 << 28,
    "USE_APPLICATION_COMMANDS": 1 << 31,
    "SEND_MESSAGES_IN_THREADS": 1 << 38,
}
ALL_PERMISSIONS = (1 << 51) - 1

#: What @everyone can do in a fresh test guild: enough to use and read a bot's replies.
EVERYONE_PERMISSIONS = (
    PERMISSIONS["VIEW_CHANNEL"]
    | PERMISSIONS["SEND_MESSAGES"]
    | PERMISSIONS["READ_MESSAGE_HISTORY"]
    | PERMISSIONS["ADD_REACTIONS"]
    | PERMISSIONS["EMBED_LINKS"]
    | PERMISSIONS["ATTACH_FILES"]
    | PERMISSIONS["USE_APPLICATION_COMMANDS"]
)
#: The bot's managed role, as granted by an invite asking for what a video bot needs.
BOT_PERMISSIONS = EVERYONE_PERMISSIONS | PERMISSIONS["USE_EXTERNAL_EMOJIS"]


def permission_bits(*perms: str | int) -> int:
    """OR together permission names (``"SEND_MESSAGES"``) and raw bitfields."""
    value = 0
    for perm in perms:
        value |= PERMISSIONS[perm.upper()] if isinstance(perm, str) else perm
    return value


def api_relative(path: str) -> str:
    """``/api/v10/users/@me`` → ``/users/@me``; other paths (``/cdn/…``) unchanged."""
    return path[len(API_PREFIX) :] if path.startswith(API_PREFIX + "/") else path


def path_matches(pattern: str, path: str) -> bool:
    """``/channels/{id}/messages`` matches ``/channels/123/messages``; ``{…}`` is one segment.

    Either side may carry the ``/api/v10`` prefix.
    """
    want = api_relative(pattern).strip("/").split("/")
    got = api_relative(path).strip("/").split("/")
    if len(want) != len(got):
        return False
    return all(
        w == g or (w.startswith("{") and w.endswith("}")) for w, g in zip(want, got, strict=True)
    )


def route_params(template: str, path: str) -> dict[str, str] | None:
    """The ``{name}`` values of ``path`` if it fits ``template``, else None."""
    if not path_matches(template, path):
        return None
    params: dict[str, str] = {}
    for w, g in zip(template.strip("/").split("/"), path.strip("/").split("/"), strict=True):
        if w.startswith("{"):
            params[w[1:-1]] = g
        elif w != g:
            return None
    return params


class RecordedFile(NamedTuple):
    field: str
    filename: str
    content_type: str
    size: int


@dataclass
class RecordedRequest:
    """One request the fake received, in arrival order. ``status`` is filled in on reply.

    ``path`` is the full request path (``/api/v10/channels/1/messages``, ``/cdn/…``);
    ``route`` the matched template without the prefix, None for unknown routes.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    files: list[RecordedFile]
    time: float
    status: int = 0
    route: str | None = None
    interaction_id: int | None = None


@dataclass
class Fault:
    """An injected reply for the next ``remaining`` requests matching method and pattern."""

    method: str
    pattern: str
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    remaining: int
    #: Discord's replies pass Google's load balancer (``Via: 1.1 google``); a 429 without it
    #: is what a Cloudflare ban looks like to discord.py.
    via: bool = True
    #: Drop the TCP connection (an RST) instead of answering: the client sees a reset.
    reset: bool = False

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0 and self.method in ("*", method) and path_matches(self.pattern, path)
        )


@dataclass
class Delay:
    """Hold the next ``remaining`` matching requests for ``seconds`` of real time.

    ``after_processing``: the request is applied first and only the reply is held, so a
    client that dies meanwhile never learns its message was posted (the case an enforced
    nonce exists for). ``when``: match only requests it accepts (body and files are parsed).
    """

    method: str
    pattern: str
    seconds: float
    remaining: int
    after_processing: bool = False
    when: Callable[[RecordedRequest], bool] | None = None

    def matches(self, record: RecordedRequest) -> bool:
        return (
            self.remaining > 0
            and self.method in ("*", record.method)
            and path_matches(self.pattern, record.path)
            and (self.when is None or self.when(record))
        )


@dataclass
class Overwrite:
    id: int
    type: int  # 0 role, 1 member
    allow: int = 0
    deny: int = 0


@dataclass
class FakeRole:
    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False


@dataclass
class FakeChannel:
    id: int
    guild_id: int
    name: str
    type: int = 0
    position: int = 0
    topic: str | None = None
    overwrites: dict[int, Overwrite] = field(default_factory=dict)


@dataclass
class FakeMember:
    user_id: int
    roles: list[int]
    joined_at: float


class FakeGuild:
    """A guild with an @everyone role, a bot role, the bot member and one text channel."""

    def __init__(
        self,
        *,
        guild_id: int,
        name: str,
        owner_id: int,
        bot_user_id: int,
        new_id: Callable[[], int],
        add_user: Callable[[int, str | None], dict[str, Any]],
        now: float,
    ) -> None:
        self.id = guild_id
        self.name = name
        self.owner_id = owner_id
        self.bot_user_id = bot_user_id
        self.created_at = now
        #: Per-file upload limit for channel messages (Discord's default; boosts raise it).
        self.filesize_limit = DEFAULT_FILE_LIMIT
        self.premium_tier = 0
        self._new_id = new_id
        self._add_user = add_user
        self.roles: dict[int, FakeRole] = {
            guild_id: FakeRole(guild_id, "@everyone", EVERYONE_PERMISSIONS)
        }
        self.channels: dict[int, FakeChannel] = {}
        self.members: dict[int, FakeMember] = {}
        self.bot_role = self.add_role("Sora Bot", BOT_PERMISSIONS, managed=True)
        self.channel_id = self.add_channel("general").id
        self.add_member(owner_id)
        self.add_member(bot_user_id, roles=[self.bot_role.id])

    def add_role(self, name: str, permissions: int | str = 0, *, managed: bool = False) -> FakeRole:
        role = FakeRole(
            self._new_id(), name, permission_bits(permissions), len(self.roles), managed
        )
        self.roles[role.id] = role
        return role

    def add_channel(self, name: str, *, type: int = 0, topic: str | None = None) -> FakeChannel:
        channel = FakeChannel(self._new_id(), self.id, name, type, len(self.channels), topic)
        self.channels[channel.id] = channel
        return channel

    def add_member(
        self,
        user_id: int,
        roles: Iterable[int] = (),
        permissions: int | str | None = None,
        *,
        username: str | None = None,
    ) -> FakeMember:
        """Add (or replace) a member; ``permissions`` gives them a role of their own with those."""
        self._add_user(user_id, username)
        role_ids = list(roles)
        if permissions is not None:
            role_ids.append(self.add_role(f"perms-{user_id}", permissions).id)
        member = FakeMember(user_id, role_ids, self.created_at)
        self.members[user_id] = member
        return member

    def base_permissions(self, user_id: int) -> int:
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        member = self.members.get(user_id)
        value = self.roles[self.id].permissions
        for role_id in member.roles if member else ():
            value |= self.roles[role_id].permissions
        return ALL_PERMISSIONS if value & PERMISSIONS["ADMINISTRATOR"] else value

    def permissions_for(self, user_id: int, channel_id: int) -> int:
        """Discord's algorithm: base, then @everyone, role and member overwrites in that order."""
        value = self.base_permissions(user_id)
        if value == ALL_PERMISSIONS:
            return value
        overwrites = self.channels[channel_id].overwrites
        everyone = overwrites.get(self.id)
        if everyone:
            value = (value & ~everyone.deny) | everyone.allow
        member = self.members.get(user_id)
        role_ids = member.roles if member else []
        allow = deny = 0
        for role_id in role_ids:
            ow = overwrites.get(role_id)
            if ow and ow.type == 0:
                allow, deny = allow | ow.allow, deny | ow.deny
        value = (value & ~deny) | allow
        own = overwrites.get(user_id)
        if own and own.type == 1:
            value = (value & ~own.deny) | own.allow
        return value

    def set_overwrite(
        self, channel_id: int, target_id: int, *, allow: int = 0, deny: int = 0
    ) -> None:
        """Merge an overwrite for a role (if ``target_id`` is a role id) or a member."""
        channel = self.channels[channel_id]
        kind = 0 if target_id in self.roles else 1
        ow = channel.overwrites.setdefault(target_id, Overwrite(target_id, kind))
        ow.allow = (ow.allow | allow) & ~deny
        ow.deny = (ow.deny | deny) & ~allow


@dataclass
class StoredMessage:
    """A message in a channel, kept in Discord's terms (wire fields) plus test conveniences."""

    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    allowed_mentions: dict[str, Any] | None = None
    nonce: str | int | None = None
    flags: int = 0
    tts: bool = False
    type: int = 0
    timestamp: float = 0.0
    edited_timestamp: float | None = None
    interaction_id: int | None = None
    webhook_id: int | None = None

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & 64)

    @property
    def loading(self) -> bool:
        return bool(self.flags & 128)


@dataclass
class FakeInteraction:
    """Server-side bookkeeping for one dispatched interaction and its token."""

    id: int
    token: str
    type: int
    application_id: int
    guild_id: int | None
    channel_id: int | None
    user_id: int | None
    created_at: float
    dispatched_at: float
    attachment_size_limit: int
    payload: dict[str, Any]
    source_message_id: int | None = None
    response_type: int | None = None
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    autocomplete_choices: list[dict[str, Any]] | None = None
    modal: dict[str, Any] | None = None
    #: When the first response arrived (the fake's clock), for acknowledgement latencies.
    acknowledged_at: float | None = None

    @property
    def acknowledged(self) -> bool:
        return self.response_type is not None
