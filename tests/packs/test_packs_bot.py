"""Credit packs through the real discord.py client and the fake Discord: Discord's events,
interactions and routes as Discord's OpenAPI has them, the bot's real database (SQLite)."""

from __future__ import annotations

import asyncio

from bot.db.database import Database
from tests.fakes.discord import FakeDiscord, StoredMessage
from tests.packs.conftest import LARGE, SMALL, PackStarter
from tests.sora_harness import MEMBER, STARTING_CREDITS, SoraHarness

CONSUME = "/applications/{application_id}/entitlements/{entitlement_id}/consume"
PREMIUM = 6


async def journal(db: Database, guild: int) -> list[tuple[str, int]]:
    rows = await db.fetchall(
        "SELECT kind, delta FROM ledger_journal WHERE guild_id = ? ORDER BY id", (guild,))
    return [(str(r["kind"]), int(r["delta"])) for r in rows]


async def balanced(h: SoraHarness) -> int:
    """The guild's balance, checked against the sum of its journal."""
    balance = await h.services.budget.balance(h.guild.id)
    assert balance == sum(d for _, d in await journal(h.services.store.db, h.guild.id))
    return balance


def consumes(fake: FakeDiscord) -> list[int]:
    return [r.status for r in fake.requests if r.route == CONSUME]


async def credits(h: SoraHarness) -> StoredMessage:
    iid, _token = await h.discord.send_slash_command(h.guild, MEMBER, "credits")
    return await h.reply(iid, ephemeral=True)


async def test_a_purchase_is_credited_once_and_consumed(
    start_packs: PackStarter, skus: dict[int, int],
) -> None:
    h = await start_packs()
    fake = h.discord
    bought = await fake.skus.buy(skus[LARGE], MEMBER, h.guild.id)
    await h.until(lambda: fake.skus.consumed == [bought.id], what="the consume")
    # Discord may deliver the event again, and an older copy still unconsumed.
    await fake.skus.announce("ENTITLEMENT_CREATE", bought)
    await fake.skus.announce("ENTITLEMENT_CREATE", bought, consumed=False)
    await fake.skus.announce("ENTITLEMENT_UPDATE", bought, consumed=False)
    await credits(h)  # an interaction after them all
    await asyncio.sleep(0.3)
    entries = await journal(h.services.store.db, h.guild.id)
    assert [e for e in entries if e[0] == "pack"] == [("pack", LARGE)]
    assert await balanced(h) == STARTING_CREDITS + LARGE
    assert consumes(fake) == [204]
    (event,) = await h.services.store.audit.events(h.guild.id)
    assert event.text.startswith(f"🛒 <@{MEMBER}> bought 500 credits: +500 credits")


async def test_a_purchase_missed_while_away_is_credited_from_an_interaction(
    start_packs: PackStarter, skus: dict[int, int],
) -> None:
    h = await start_packs()
    fake = h.discord
    # Bought for the member alone, with no event reaching the bot: the next interaction in
    # this server carries it.
    bought = fake.skus.entitle(skus[SMALL], MEMBER, None)
    await credits(h)
    await h.until(lambda: fake.skus.consumed == [bought.id], what="the consume")
    # The same entitlement seen on another interaction before the consume landed, and the
    # event arriving late: still one credit.
    await fake.skus.announce("ENTITLEMENT_CREATE", bought, consumed=False)
    await credits(h)
    await asyncio.sleep(0.3)
    assert [e for e in await journal(h.services.store.db, h.guild.id) if e[0] == "pack"] == [
        ("pack", SMALL)]
    assert await balanced(h) == STARTING_CREDITS + SMALL
    assert consumes(fake) == [204]


async def test_credits_offers_the_packs_with_premium_buttons(
    start_packs: PackStarter, skus: dict[int, int],
) -> None:
    h = await start_packs()
    answer = await credits(h)
    (row,) = answer.components
    assert [(b["type"], b["style"], b["sku_id"]) for b in row["components"]] == [
        (2, PREMIUM, str(skus[SMALL])), (2, PREMIUM, str(skus[LARGE]))]
    (embed,) = answer.embeds
    shown = {f["name"]: f["value"] for f in embed["fields"]}
    assert shown["Buy credits"].splitlines()[1:] == ["• 100 credits", "• 500 credits"]
    # In the member's language.
    iid, _ = await h.discord.send_slash_command(h.guild, MEMBER, "credits", locale="de")
    (embed,) = (await h.reply(iid, ephemeral=True)).embeds
    assert "• 500 Credits" in {f["name"]: f["value"] for f in embed["fields"]}["Credits kaufen"]

    # A purchase Discord gives to the member alone goes to the server that offered it.
    bought = await h.discord.skus.buy(skus[SMALL], MEMBER, None)
    await h.until(lambda: h.discord.skus.consumed == [bought.id], what="the consume")
    assert await balanced(h) == STARTING_CREDITS + SMALL


async def test_a_refund_is_deducted_once(
    start_packs: PackStarter, skus: dict[int, int],
) -> None:
    h = await start_packs()
    fake = h.discord
    bought = await fake.skus.buy(skus[LARGE], MEMBER, h.guild.id)
    await h.until(lambda: fake.skus.consumed == [bought.id], what="the consume")
    await fake.skus.refund(bought.id)
    await fake.skus.announce("ENTITLEMENT_DELETE", bought)  # delivered twice
    db = h.services.store.db

    async def refunded() -> bool:
        return ("pack_refund", -LARGE) in await journal(db, h.guild.id)

    await h.until(refunded, what="the refund")
    await asyncio.sleep(0.3)
    assert [e for e in await journal(db, h.guild.id) if e[0] == "pack_refund"] == [
        ("pack_refund", -LARGE)]
    assert await balanced(h) == STARTING_CREDITS


async def test_a_refund_after_spending_is_reported_to_the_moderators(
    start_packs: PackStarter, skus: dict[int, int],
) -> None:
    h = await start_packs(ledger={"starting_credits": 0})
    fake, store = h.discord, h.services.store
    await store.audit.set_channel(h.guild.id, h.guild.channel_id, actor="test")
    bought = await fake.skus.buy(skus[LARGE], MEMBER, h.guild.id)
    await h.until(lambda: fake.skus.consumed == [bought.id], what="the consume")
    await store.ledger.deduct(h.guild.id, 450, actor="test", reason="videos")
    await fake.skus.refund(bought.id)

    def reported() -> list[str]:
        return [m.content for m in fake.messages[h.guild.channel_id]
                if m.content.startswith("⚠️ Discord refunded")]

    await h.until(lambda: reported() != [], timeout=10, what="the audit post")
    assert reported() == [
        f"⚠️ Discord refunded 500 credits (bought by <@{MEMBER}>), but only 50 of its 500 "
        "credits were left to take back: 450 were already spent. Balance: 0."]
    assert await balanced(h) == 0
    (post,) = [m for m in fake.messages[h.guild.channel_id] if m.content.startswith("⚠️")]
    assert post.allowed_mentions == {"parse": []}


async def test_without_packs_nothing_appears_and_events_change_nothing(
    start_packs: PackStarter, skus: dict[int, int],
) -> None:
    h = await start_packs(packs=False)
    fake = h.discord
    answer = await credits(h)
    assert answer.components == []
    (embed,) = answer.embeds
    assert "Buy credits" not in {f["name"] for f in embed["fields"]}
    bought = await fake.skus.buy(skus[LARGE], MEMBER, h.guild.id)
    fake.skus.entitle(skus[SMALL], MEMBER, h.guild.id)
    await credits(h)
    await fake.skus.refund(bought.id)
    await asyncio.sleep(0.5)
    assert consumes(fake) == []
    assert fake.skus.consumed == []
    db = h.services.store.db
    assert await db.fetchall("SELECT id FROM entitlements") == []
    assert await db.fetchall("SELECT user_id FROM pack_offers") == []
    assert await balanced(h) == STARTING_CREDITS
