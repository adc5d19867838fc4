"""The fake gateway: HELLO, heartbeats, IDENTIFY → READY + GUILD_CREATE, RESUME, dispatches.

Sharding as Discord does it (gateway.mdx "Sharding"): IDENTIFY may carry ``shard: [id,
count]``; READY echoes it and lists, like the GUILD_CREATEs after it, only the guilds with
``(guild_id >> 22) % count == id``; every guild event (INTERACTION_CREATE included) goes only to
the session owning its guild's shard, DM events to shard 0. A shard id not below the count is
closed with 4010 (invalid shard), too few shards for the guilds with 4011 (sharding required).

Frames are plain JSON text: discord.py asks for ``compress=zlib-stream`` but only inflates
*binary* frames (gateway.py ``received_message``), so text frames need no compression.
Opcodes and close codes: opcodes-and-status-codes.mdx.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord_payloads import guild_create, member_object
from tests.fakes.discord_state import DiscordState

DISPATCH, HEARTBEAT, IDENTIFY, RESUME, RECONNECT = 0, 1, 2, 6, 7
REQUEST_GUILD_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 8, 9, 10, 11
AUTHENTICATION_FAILED, INVALID_SHARD, SHARDING_REQUIRED = 4004, 4010, 4011
#: Discord's most guilds per shard; more and IDENTIFY is refused with 4011.
MAX_GUILDS_PER_SHARD = 2500


def shard_for(guild_id: int, count: int) -> int:
    """The shard that receives a guild's events (Discord's sharding formula)."""
    return (guild_id >> 22) % count


@dataclass
class GatewaySession:
    session_id: str
    shard: list[int] | None
    seq: int = 0
    ws: web.WebSocketResponse | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Guilds sent in this session's GUILD_CREATEs, in order.
    guild_ids: list[int] = field(default_factory=list)

    def owns(self, guild_id: int | None) -> bool:
        """Whether this session receives the events of ``guild_id`` (None: DMs, shard 0)."""
        if self.shard is None:
            return True
        shard_id, count = self.shard
        return shard_id == 0 if guild_id is None else shard_for(guild_id, count) == shard_id

    @property
    def live(self) -> bool:
        return self.ws is not None and not self.ws.closed


class FakeGateway:
    def __init__(
        self, state: DiscordState, *, url: Callable[[], str], heartbeat_interval_ms: int
    ) -> None:
        self.state = state
        self._url = url
        self.heartbeat_interval_ms = heartbeat_interval_ms
        #: IDENTIFY ``d`` payloads in arrival order (they contain the test token).
        self.identify_payloads: list[dict[str, Any]] = []
        #: Every frame the client sent, in order (heartbeats included).
        self.received: list[dict[str, Any]] = []
        self.sessions: dict[str, GatewaySession] = {}
        self.current: GatewaySession | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._identified = asyncio.Event()
        self._ready_sent = asyncio.Event()
        self._resumed = asyncio.Event()

    @property
    def connected(self) -> bool:
        current = self.current
        return current is not None and current.ws is not None and not current.ws.closed

    async def wait_for_identify(self, timeout: float = 10) -> dict[str, Any]:
        await asyncio.wait_for(self._identified.wait(), timeout)
        return self.identify_payloads[-1]

    async def wait_until_ready_sent(self, timeout: float = 10) -> None:
        await asyncio.wait_for(self._ready_sent.wait(), timeout)

    async def wait_for_resume(self, timeout: float = 10) -> None:
        await asyncio.wait_for(self._resumed.wait(), timeout)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            hello = {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["fake-gateway"]}
            await ws.send_str(json.dumps({"op": HELLO, "d": hello, "s": None, "t": None}))
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                frame = json.loads(msg.data)
                self.received.append(frame)
                await self._on_frame(ws, frame)
        finally:
            self._sockets.discard(ws)
        return ws

    async def _on_frame(self, ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        op, data = frame.get("op"), frame.get("d")
        if op == HEARTBEAT:
            await ws.send_str(json.dumps({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None}))
        elif op == IDENTIFY and isinstance(data, dict):
            await self._identify(ws, data)
        elif op == RESUME and isinstance(data, dict):
            await self._resume(ws, data)
        elif op == REQUEST_GUILD_MEMBERS and isinstance(data, dict):
            await self._members_chunk(data)

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        self.identify_payloads.append(data)
        if data.get("token") != self.state.token:
            await ws.close(code=AUTHENTICATION_FAILED, message=b"Authentication failed.")
            return
        shard = data.get("shard")
        if shard is not None and not _valid_shard(shard):
            await ws.close(code=INVALID_SHARD, message=b"Invalid shard.")
            return
        state = self.state
        count = 1 if shard is None else shard[1]
        if len(state.guilds) > MAX_GUILDS_PER_SHARD * count:
            await ws.close(code=SHARDING_REQUIRED, message=b"Sharding required.")
            return
        session = GatewaySession(secrets.token_hex(16), shard, ws=ws)
        self.sessions[session.session_id] = session
        self.current = session
        self._identified.set()
        ready: dict[str, Any] = {
            "v": 10,
            "user": {**state.bot_user, "verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(gid), "unavailable": True} for gid in state.guilds
                       if session.owns(gid)],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self._url(),
            "application": {"id": str(state.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": [],
            "_trace": ["fake-gateway"],
        }
        if session.shard is not None:
            ready["shard"] = session.shard
        await self._send(session, "READY", ready)
        for guild in state.guilds.values():
            if session.owns(guild.id):
                session.guild_ids.append(guild.id)
                await self._send(session, "GUILD_CREATE", guild_create(guild, state.users))
        self._ready_sent.set()

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or data.get("token") != self.state.token:
            await ws.send_str(json.dumps({"op": INVALID_SESSION, "d": False, "s": None, "t": None}))
            return
        session.ws = ws
        self.current = session
        # Nothing was dispatched while the client was away, so there is nothing to replay.
        await self._send(session, "RESUMED", {"_trace": ["fake-gateway"]})
        self._resumed.set()

    async def _members_chunk(self, data: dict[str, Any]) -> None:
        guild = self.state.guilds.get(int(data.get("guild_id") or 0))
        owner = None if guild is None else self.owner_of(guild.id)
        if guild is None or owner is None:
            return
        members = [member_object(guild, self.state.users[uid]) for uid in guild.members]
        chunk = {
            "guild_id": str(guild.id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
            "nonce": data.get("nonce"),
        }
        await self._send(owner, "GUILD_MEMBERS_CHUNK", chunk)

    async def _send(self, session: GatewaySession, event: str, data: dict[str, Any]) -> None:
        async with session.lock:
            if session.ws is None or session.ws.closed:
                raise RuntimeError(f"gateway not connected; cannot dispatch {event}")
            session.seq += 1
            frame = {"op": DISPATCH, "t": event, "s": session.seq, "d": data}
            await session.ws.send_str(json.dumps(frame))

    def owner_of(self, guild_id: int | None) -> GatewaySession | None:
        """The session that receives ``guild_id``'s events: the newest live one owning its
        shard (a new IDENTIFY replaces its shard's old session), else the newest owning one
        (dispatching to it fails as not connected); None if no session ever owned it."""
        owning = [s for s in self.sessions.values() if s.owns(guild_id)]
        live = [s for s in owning if s.live]
        return (live or owning or [None])[-1]

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send an event to the session owning its guild's shard (DM events: shard 0)."""
        guild_id = data.get("guild_id") if isinstance(data, dict) else None
        session = self.owner_of(int(guild_id) if guild_id else None)
        if session is None:
            raise RuntimeError(f"no identified gateway session; cannot dispatch {event}")
        await self._send(session, event, data)

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT; discord.py reconnects and RESUMEs."""
        current = self.current
        if current is None or current.ws is None:
            raise RuntimeError("no gateway connection to reconnect")
        self._resumed.clear()
        await current.ws.send_str(json.dumps({"op": RECONNECT, "d": None, "s": None, "t": None}))

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"fake shutting down")


def _valid_shard(shard: Any) -> bool:
    """``[shard_id, num_shards]`` with 0 <= shard_id < num_shards, as Discord accepts it."""
    if not isinstance(shard, list) or len(shard) != 2:
        return False
    shard_id, count = shard
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in shard)
    return ints and count >= 1 and 0 <= shard_id < count
