"""Everything the fake Discord remembers, and the test-facing ways to look at or change it."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from tests.fakes.discord_cdn import FakeCdn
from tests.fakes.discord_models import (
    Delay,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    Fault,
    RecordedRequest,
    StoredMessage,
    path_matches,
    permission_bits,
)
from tests.fakes.discord_payloads import message_object, snowflake, snowflake_time, user_object
from tests.fakes.discord_validation import OpenApiContract


class DiscordState:
    """Users, guilds, messages, interactions, the clock, injected faults and the request log."""

    def __init__(self, token: str, *, contract: OpenApiContract | None = None) -> None:
        self.token = token
        #: Seconds added to real time; tests jump past Discord's 3 s and 15 min rules with it.
        self.time_offset = 0.0
        self._increment = 0
        self.contract = contract or OpenApiContract.load()
        self.users: dict[int, dict[str, Any]] = {}
        self.application_id = self.new_id()
        self.owner_id = self.new_id()
        self.add_user(self.owner_id, "owner")
        self.bot_user = self.add_user(self.new_id(), "sora-bot", bot=True)
        self.guilds: dict[int, FakeGuild] = {}
        #: (until, retry_after) while the bot token's global rate limit is hit.
        self.global_limit: tuple[float, float | None] | None = None
        #: Global 429s answered so far.
        self.global_429s = 0
        #: GET /gateway/bot's ``shards``; None: one per 1,000 guilds, as Discord recommends.
        self.recommended_shards: int | None = None
        self.interactions: dict[int, FakeInteraction] = {}
        self._by_token: dict[str, FakeInteraction] = {}
        #: Messages the bot created (channel sends, interaction responses, followups) by channel.
        self.messages: defaultdict[int, list[StoredMessage]] = defaultdict(list)
        #: Messages members posted (``post_user_message``), e.g. context-menu targets.
        self.user_messages: defaultdict[int, list[StoredMessage]] = defaultdict(list)
        self._message_index: dict[int, StoredMessage] = {}
        #: The last command set synced per scope: ``None`` = global, else the guild id.
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.requests: list[RecordedRequest] = []
        #: Every bot request body that failed the OpenAPI schemas or Discord's documented limits.
        self.validation_errors: list[str] = []
        #: Replies of the fake itself that do not fit the spec (should stay empty).
        self.response_schema_errors: list[str] = []
        self.faults: list[Fault] = []
        self.delays: list[Delay] = []
        self._released = asyncio.Event()
        #: How long Discord remembers an ``enforce_nonce`` nonce ("a few minutes").
        self.nonce_window = 300.0
        self._nonces: dict[tuple[int, int, str], tuple[int, float]] = {}
        #: DM channels the bot opened (POST /users/@me/channels): channel id -> recipient id.
        self.dm_channels: dict[int, int] = {}
        #: Users who do not accept DMs from the bot; sending them one is 403/50007.
        self.dms_closed: set[int] = set()
        self.base_url = ""
        self.cdn = FakeCdn(now=self.now, new_id=self.new_id, base_url=self._require_base_url)

    # -- clock and ids -------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.time_offset

    def advance(self, seconds: float) -> None:
        self.time_offset += seconds

    def new_id(self, at: float | None = None) -> int:
        self._increment += 1
        return snowflake(self.now() if at is None else at, self._increment)

    def _require_base_url(self) -> str:
        if not self.base_url:
            raise RuntimeError("start the fake before building URLs (await fake.start())")
        return self.base_url

    # -- users, guilds, permissions ------------------------------------------------------

    def add_user(
        self, user_id: int, username: str | None = None, *, bot: bool = False
    ) -> dict[str, Any]:
        if user_id not in self.users or username is not None:
            self.users[user_id] = user_object(
                user_id, username or f"user{user_id % 10000}", bot=bot
            )
        return self.users[user_id]

    @property
    def bot_id(self) -> int:
        return int(self.bot_user["id"])

    def add_guild(
        self, name: str = "Test Guild", *, shard: tuple[int, int] | None = None
    ) -> FakeGuild:
        """A new guild; ``shard=(id, count)`` picks an id that shard owns (a few ms earlier:
        Discord routes a guild to shard ``(guild_id >> 22) % count``, its id's milliseconds)."""
        guild_id = self.new_id()
        if shard is not None:
            shard_id, count = shard
            # Never a later id: it would look created in the future.
            guild_id -= (((guild_id >> 22) - shard_id) % count) << 22
        guild = FakeGuild(
            guild_id=guild_id,
            name=name,
            owner_id=self.owner_id,
            bot_user_id=self.bot_id,
            new_id=self.new_id,
            add_user=lambda uid, uname: self.add_user(uid, uname),
            now=self.now(),
        )
        self.guilds[guild.id] = guild
        return guild

    def find_channel(self, channel_id: int) -> tuple[FakeGuild, FakeChannel] | None:
        for guild in self.guilds.values():
            channel = guild.channels.get(channel_id)
            if channel is not None:
                return guild, channel
        return None

    def _guild_of(self, channel_id: int) -> FakeGuild:
        found = self.find_channel(channel_id)
        if found is None:
            raise KeyError(f"no channel {channel_id}")
        return found[0]

    def deny_channel_permission(
        self, channel_id: int, *perms: str | int, target_id: int | None = None
    ) -> None:
        """Deny permissions in one channel (default target: the bot) via an overwrite."""
        guild = self._guild_of(channel_id)
        target = self.bot_id if target_id is None else target_id
        guild.set_overwrite(channel_id, target, deny=permission_bits(*perms))

    def allow_channel_permission(
        self, channel_id: int, *perms: str | int, target_id: int | None = None
    ) -> None:
        guild = self._guild_of(channel_id)
        target = self.bot_id if target_id is None else target_id
        guild.set_overwrite(channel_id, target, allow=permission_bits(*perms))

    def open_dm(self, user_id: int) -> int:
        """The DM channel with ``user_id`` (Discord returns the same one every time)."""
        for channel_id, recipient in self.dm_channels.items():
            if recipient == user_id:
                return channel_id
        channel_id = self.new_id()
        self.dm_channels[channel_id] = user_id
        return channel_id

    def dm_messages(self, user_id: int) -> list[StoredMessage]:
        """What the bot sent ``user_id`` by DM, oldest first."""
        return [m for cid, uid in self.dm_channels.items() if uid == user_id
                for m in self.messages[cid]]

    # -- faults --------------------------------------------------------------------------

    def inject_rate_limit(
        self,
        method: str,
        path_pattern: str,
        retry_after: float = 0.2,
        times: int = 1,
        global_: bool = False,
        *,
        via: bool = True,
    ) -> None:
        """Answer the next ``times`` matching requests with 429 as Discord does.

        ``via=False`` drops the ``Via`` header, which discord.py takes for a Cloudflare ban.
        """
        headers = {
            "Retry-After": str(math.ceil(retry_after)),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{self.now() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": "fakebucket",
            "X-RateLimit-Scope": "global" if global_ else "user",
        }
        if global_:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": global_,
        }
        if global_:
            body["code"] = 0
        self.faults.append(Fault(method.upper(), path_pattern, 429, body, headers, times, via))

    def limit_globally(self, seconds: float, retry_after: float | None = None) -> None:
        """Hit the bot token's global rate limit for the next ``seconds``: every request made
        with the bot token (from any process: the limit is per token) is answered with a
        global 429; interaction callbacks and webhooks are exempt, as on Discord.
        ``retry_after`` defaults to the rest of the window (a shorter one makes the client
        come back, and be refused, several times)."""
        self.global_limit = (self.now() + seconds, retry_after)

    def global_limit_fault(self) -> Fault | None:
        """The global 429 to answer a bot-token request with now, if the limit is hit."""
        if self.global_limit is None:
            return None
        until, retry_after = self.global_limit
        left = until - self.now()
        if left <= 0:
            self.global_limit = None
            return None
        wait = min(left, retry_after) if retry_after is not None else left
        # Discord's own shape (discord-platform.md 1.4): a global 429 has no bucket.
        headers = {"Retry-After": str(math.ceil(wait)), "X-RateLimit-Global": "true",
                   "X-RateLimit-Scope": "global"}
        body = {"message": "You are being rate limited.", "retry_after": round(wait, 3),
                "global": True}
        self.global_429s += 1
        return Fault("*", "", 429, body, headers, 1)

    def inject_status(
        self,
        method: str,
        path_pattern: str,
        status: int = 500,
        times: int = 1,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (e.g. 500, 502, 503)."""
        reply = body if body is not None else {"message": f"{status}: Server Error", "code": 0}
        self.faults.append(Fault(method.upper(), path_pattern, status, reply, {}, times))

    def inject_reset(self, method: str, path_pattern: str, times: int = 1) -> None:
        """Reset the connection of the next ``times`` matching requests before handling them,
        as a dropped connection or a proxy timeout looks to the client (no answer at all)."""
        self.faults.append(Fault(method.upper(), path_pattern, 0, {}, {}, times, reset=True))

    def inject_delay(
        self,
        method: str,
        path_pattern: str,
        seconds: float,
        times: int = 1,
        *,
        after_processing: bool = False,
        when: Callable[[RecordedRequest], bool] | None = None,
    ) -> None:
        """Hold the next ``times`` matching requests ``seconds`` before (or, with
        ``after_processing``, after) handling them; see :class:`Delay`."""
        if seconds < 0 or times < 1:
            raise ValueError("seconds must be >= 0 and times >= 1")
        self.delays.append(
            Delay(method.upper(), path_pattern, seconds, times, after_processing, when)
        )

    def take_delay(self, record: RecordedRequest) -> Delay | None:
        for delay in self.delays:
            if delay.matches(record):
                delay.remaining -= 1
                return delay
        return None

    async def hold(self, seconds: float) -> None:
        """Sleep for an injected delay; cut short by :meth:`release_delays` (at stop)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._released.wait(), seconds)

    def release_delays(self) -> None:
        self._released.set()

    def take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                fault.remaining -= 1
                return fault
        return None

    # -- request log ---------------------------------------------------------------------

    def requests_to(self, method: str, path_pattern: str) -> list[RecordedRequest]:
        """Recorded requests by method (or ``"*"``) and path pattern (``{x}`` = one segment)."""
        method = method.upper()
        return [
            r
            for r in self.requests
            if method in ("*", r.method) and path_matches(path_pattern, r.path)
        ]

    def interaction_responses(self, interaction_id: int) -> list[RecordedRequest]:
        """Callback, @original and followup traffic for one interaction, in order."""
        return [r for r in self.requests if r.interaction_id == interaction_id]

    # -- interactions --------------------------------------------------------------------

    def register_interaction(self, payload: dict[str, Any]) -> FakeInteraction:
        iid = int(payload["id"])
        channel = payload.get("channel") or {}
        channel_id = channel.get("id", payload.get("channel_id"))
        user = (payload.get("member") or {}).get("user") or payload.get("user") or {}
        message = payload.get("message") or {}
        interaction = FakeInteraction(
            id=iid,
            token=str(payload["token"]),
            type=int(payload["type"]),
            application_id=int(payload.get("application_id", self.application_id)),
            guild_id=int(payload["guild_id"]) if payload.get("guild_id") else None,
            channel_id=int(channel_id) if channel_id else None,
            user_id=int(user["id"]) if user.get("id") else None,
            created_at=snowflake_time(iid),
            dispatched_at=self.now(),
            attachment_size_limit=int(payload.get("attachment_size_limit", 10 * 1024 * 1024)),
            payload=payload,
            source_message_id=int(message["id"]) if message.get("id") else None,
        )
        self.interactions[iid] = interaction
        self._by_token[interaction.token] = interaction
        return interaction

    def interaction_by_token(self, token: str) -> FakeInteraction | None:
        return self._by_token.get(token)

    # -- messages ------------------------------------------------------------------------

    def store_message(self, message: StoredMessage) -> StoredMessage:
        self._message_index[message.id] = message
        target = self.messages if message.author_id == self.bot_id else self.user_messages
        target[message.channel_id].append(message)
        return message

    def get_message(self, message_id: int) -> StoredMessage | None:
        return self._message_index.get(message_id)

    def remove_message(self, message: StoredMessage) -> None:
        self._message_index.pop(message.id, None)
        for store in (self.messages, self.user_messages):
            if message in store[message.channel_id]:
                store[message.channel_id].remove(message)

    def remember_nonce(self, message: StoredMessage) -> None:
        if message.nonce is not None:
            key = (message.channel_id, message.author_id, str(message.nonce))
            self._nonces[key] = (message.id, self.now())

    def recent_nonce(self, channel_id: int, author_id: int, nonce: str) -> StoredMessage | None:
        """The message created with this nonce within the window, if it still exists."""
        found = self._nonces.get((channel_id, author_id, nonce))
        if found is None or self.now() - found[1] > self.nonce_window:
            return None
        return self.get_message(found[0])

    def message_json(self, message: StoredMessage) -> dict[str, Any]:
        interaction = self.interactions.get(message.interaction_id or 0)
        user = self.users.get(interaction.user_id or 0) if interaction else None
        return message_object(
            message,
            author=self.users[message.author_id],
            attachment=lambda att_id: self.cdn.attachment_object(int(att_id)),
            interaction=interaction,
            interaction_user=user,
        )
