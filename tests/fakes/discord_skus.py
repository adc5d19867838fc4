"""The fake's monetization: SKUs, entitlements, their routes and gateway events.

As Discord's OpenAPI (operations ``get_entitlements``, ``get_entitlement``,
``consume_entitlement``, checked by the vendored subset) and its docs say:

- ``GET /applications/{app}/skus`` lists the app's SKUs (not in the OpenAPI document; the docs'
  shape: id, type, application_id, name, slug, flags).
- ``GET /applications/{app}/entitlements`` filters by ``user_id``, ``sku_ids`` (comma-separated),
  ``guild_id``, ``before``/``after`` and ``limit`` (1-100, default 100), hides deleted ones
  unless ``exclude_deleted=false`` and ended ones with ``exclude_ended=true``; oldest first
  with ``after``, newest first otherwise, as Discord pages.
- ``POST .../entitlements/{id}/consume`` answers 204 once for an unconsumed entitlement of a
  consumable SKU; an unknown (or deleted) one is ``404 10029 Unknown Entitlement``; a second
  consume, or one of a SKU that is not consumable, is refused with 400 (Discord documents
  no code for these; the fake says 0 and names the reason).
- Another application's path is 403 50001 Missing Access, as for commands.

Test helpers: :meth:`FakeSkus.add_sku`, :meth:`FakeSkus.buy` (ENTITLEMENT_CREATE),
:meth:`FakeSkus.refund` (ENTITLEMENT_DELETE) and :meth:`FakeSkus.visible_to` (what an
interaction's ``entitlements`` carries: the member's and the guild's unconsumed, live ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.fakes.discord_http import Call, DiscordError, Reply, RestFrontDoor, Route, not_found
from tests.fakes.discord_payloads import iso

if TYPE_CHECKING:
    from tests.fakes.discord import FakeDiscord

#: Discord's SKU types and the entitlement type of a purchase.
DURABLE, CONSUMABLE, SUBSCRIPTION = 2, 3, 5
PURCHASE = 1


@dataclass
class FakeEntitlement:
    id: int
    sku_id: int
    user_id: int
    guild_id: int | None
    created: float
    type: int = PURCHASE
    deleted: bool = False
    consumed: bool = False
    ends_at: float | None = None

    def json(self, application_id: int) -> dict[str, Any]:
        return {
            "id": str(self.id), "sku_id": str(self.sku_id),
            "application_id": str(application_id), "user_id": str(self.user_id),
            "guild_id": None if self.guild_id is None else str(self.guild_id),
            "type": self.type, "deleted": self.deleted, "consumed": self.consumed,
            # Consumables have no validity window (Discord sends null).
            "starts_at": None, "ends_at": None if self.ends_at is None else iso(self.ends_at),
        }


class FakeSkus:
    def __init__(self, fake: FakeDiscord, door: RestFrontDoor) -> None:
        self.fake = fake
        self.skus: dict[int, dict[str, Any]] = {}
        self.entitlements: dict[int, FakeEntitlement] = {}
        #: Entitlement ids in the order their consumes were accepted.
        self.consumed: list[int] = []
        base = "/applications/{application_id}"
        door.add(Route("GET", f"{base}/skus", self.list_skus, None))
        door.add(Route("GET", f"{base}/entitlements", self.list_entitlements, "get_entitlements"))
        door.add(Route("GET", f"{base}/entitlements/{{entitlement_id}}", self.get_entitlement,
                       "get_entitlement"))
        door.add(Route("POST", f"{base}/entitlements/{{entitlement_id}}/consume", self.consume,
                       "consume_entitlement"))

    # -- test helpers -------------------------------------------------------------------------

    def add_sku(self, name: str, *, kind: int = CONSUMABLE) -> int:
        sku_id = self.fake.new_id()
        self.skus[sku_id] = {
            "id": str(sku_id), "type": kind, "application_id": str(self.fake.application_id),
            "name": name, "slug": name.lower().replace(" ", "-"), "flags": 1 << 2,
        }
        return sku_id

    def entitle(self, sku_id: int, user_id: int, guild_id: int | None = None) -> FakeEntitlement:
        """A purchase Discord recorded, without telling the bot (it was down, say)."""
        if sku_id not in self.skus:
            raise KeyError(f"no SKU {sku_id}")
        entitlement = FakeEntitlement(self.fake.new_id(), sku_id, user_id, guild_id,
                                      self.fake.now())
        self.entitlements[entitlement.id] = entitlement
        return entitlement

    async def buy(self, sku_id: int, user_id: int, guild_id: int | None = None) -> FakeEntitlement:
        """A member buys the SKU: the entitlement, then ENTITLEMENT_CREATE."""
        entitlement = self.entitle(sku_id, user_id, guild_id)
        await self.announce("ENTITLEMENT_CREATE", entitlement)
        return entitlement

    async def announce(self, event: str, entitlement: FakeEntitlement, **stale: Any) -> None:
        """Send (or replay) an entitlement event with the entitlement as it is now; ``stale``
        fields (``consumed=False``) replay an older copy, as a delayed duplicate carries."""
        await self.fake.dispatch(event, {**entitlement.json(self.fake.application_id), **stale})

    async def refund(self, entitlement_id: int) -> FakeEntitlement:
        """Discord refunds the purchase: deleted, then ENTITLEMENT_DELETE."""
        entitlement = self.entitlements[entitlement_id]
        entitlement.deleted = True
        await self.announce("ENTITLEMENT_DELETE", entitlement)
        return entitlement

    def visible_to(self, user_id: int, guild_id: int | None) -> list[dict[str, Any]]:
        """An interaction's ``entitlements``: the member's (and the guild's) live ones."""
        now = self.fake.now()
        return [
            e.json(self.fake.application_id) for e in self.entitlements.values()
            if not e.deleted and not e.consumed and (e.ends_at is None or e.ends_at > now)
            and (e.user_id == user_id or (guild_id is not None and e.guild_id == guild_id))
        ]

    # -- routes -------------------------------------------------------------------------------

    def _own_app(self, call: Call) -> None:
        if call.param("application_id") != self.fake.application_id:
            raise DiscordError(403, 50001, "Missing Access")

    async def list_skus(self, call: Call) -> Reply:
        self._own_app(call)
        return Reply(200, list(self.skus.values()))

    async def list_entitlements(self, call: Call) -> Reply:
        self._own_app(call)
        query = call.request.query
        found = list(self.entitlements.values())
        try:
            limit = int(query.get("limit", "100"))
            if not 1 <= limit <= 100:
                raise ValueError
            if "user_id" in query:
                found = [e for e in found if e.user_id == int(query["user_id"])]
            if "guild_id" in query:
                found = [e for e in found if e.guild_id == int(query["guild_id"])]
            if query.get("sku_ids"):
                wanted = {int(part) for part in query["sku_ids"].split(",")}
                found = [e for e in found if e.sku_id in wanted]
            after = int(query["after"]) if "after" in query else None
            before = int(query["before"]) if "before" in query else None
        except ValueError:
            raise DiscordError(400, 50035, "Invalid Form Body") from None
        # Booleans as Discord reads them: true/false or 1/0 (discord.py sends 1/0).
        if query.get("exclude_deleted", "true") not in ("false", "False", "0"):
            found = [e for e in found if not e.deleted]
        if call.flag("exclude_ended"):
            now = self.fake.now()
            found = [e for e in found if e.ends_at is None or e.ends_at > now]
        if after is not None:
            page = sorted((e for e in found if e.id > after), key=lambda e: e.id)[:limit]
        else:
            newest = sorted(found, key=lambda e: e.id, reverse=True)
            page = [e for e in newest if before is None or e.id < before][:limit]
        return Reply(200, [e.json(self.fake.application_id) for e in page])

    def _find(self, call: Call) -> FakeEntitlement:
        entitlement = self.entitlements.get(call.param("entitlement_id"))
        if entitlement is None:
            raise not_found(10029, "Unknown Entitlement")
        return entitlement

    async def get_entitlement(self, call: Call) -> Reply:
        self._own_app(call)
        return Reply(200, self._find(call).json(self.fake.application_id))

    async def consume(self, call: Call) -> Reply:
        self._own_app(call)
        entitlement = self._find(call)
        if entitlement.deleted:
            raise not_found(10029, "Unknown Entitlement")
        if self.skus[entitlement.sku_id]["type"] != CONSUMABLE:
            raise DiscordError(400, 0, "Only consumable SKUs can be consumed")
        if entitlement.consumed:
            raise DiscordError(400, 0, "Entitlement already consumed")
        entitlement.consumed = True
        self.consumed.append(entitlement.id)
        return Reply(204)
