"""The credit packs under /credits: one of Discord's premium buttons per configured SKU (the
button shows the SKU's own name and price and opens Discord's checkout; it sends the bot no
interaction) and a field saying what each pack buys. Nothing at all without packs."""

from __future__ import annotations

import discord

from bot.i18n.catalog import Catalog
from bot.packs.service import PackService


def packs_view(packs: PackService) -> discord.ui.View | None:
    """A row of premium buttons, or None when no pack is configured."""
    if not packs.enabled:
        return None
    view = discord.ui.View(timeout=None)
    for pack in packs.packs:
        view.add_item(discord.ui.Button(style=discord.ButtonStyle.premium, sku_id=pack.sku_id))
    return view


def add_packs_field(embed: discord.Embed, packs: PackService, texts: Catalog,
                    locale: object) -> None:
    """What the buttons buy, in the member's language (the buttons carry Discord's prices)."""
    if not packs.enabled:
        return
    lines = [texts.plural(locale, "packs.credits.pack", pack.credits) for pack in packs.packs]
    embed.add_field(name=texts.text(locale, "packs.credits.title"), inline=False,
                    value=texts.text(locale, "packs.credits.intro") + "\n"
                    + "\n".join(f"• {line}" for line in lines))
