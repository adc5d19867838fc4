"""``[packs]``: which of the application's consumable SKUs are credit packs, and how many
credits each one buys (bot/config.py includes it as ``Settings.packs``, as it does ``[web]``).

Without any ``[[packs.skus]]`` the feature is off: /credits shows no buy buttons and
entitlement events change nothing.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Discord's ids are 64-bit snowflakes; anything smaller than this is no SKU an app has
#: (ids start at Discord's 2015 epoch, so real ones are 17 digits or more).
_MIN_SNOWFLAKE = 10**15
_MAX_SNOWFLAKE = 2**63 - 1
#: As bot.config.MAX_AMOUNT (not imported: bot.config imports this module).
_MAX_CREDITS = 2**53 - 1
#: Discord shows at most 25 buttons on a message; /credits keeps to one row of five.
MAX_PACKS = 5


class _Strict(BaseModel):
    # As bot.config._Strict: unknown keys and quoted numbers are errors, not guesses.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class PackConfig(_Strict):
    """One ``[[packs.skus]]`` table: a consumable SKU and the credits it buys."""

    sku_id: Annotated[int, Field(ge=_MIN_SNOWFLAKE, le=_MAX_SNOWFLAKE)]
    credits: Annotated[int, Field(gt=0, le=_MAX_CREDITS)]
    #: For the audit channel and the logs; members see the SKU's own name and price on
    #: Discord's premium button.
    label: Annotated[str, Field(min_length=1, max_length=80)] | None = None


class PacksConfig(_Strict):
    skus: Annotated[tuple[PackConfig, ...], Field(strict=False)] = ()

    @model_validator(mode="after")
    def _distinct(self) -> PacksConfig:
        seen: set[int] = set()
        for pack in self.skus:
            if pack.sku_id in seen:
                raise ValueError(f"packs.skus: SKU {pack.sku_id} is listed twice; "
                                 "give each SKU one credit amount")
            seen.add(pack.sku_id)
        if len(self.skus) > MAX_PACKS:
            raise ValueError(f"packs.skus: at most {MAX_PACKS} packs (one row of buttons "
                             "under /credits)")
        return self

    def credits_for(self, sku_id: int) -> int | None:
        """The credits the SKU buys, or None for a SKU that is not a pack here."""
        return next((p.credits for p in self.skus if p.sku_id == sku_id), None)

    def label_for(self, sku_id: int) -> str:
        pack = next((p for p in self.skus if p.sku_id == sku_id), None)
        if pack is None:
            return f"SKU {sku_id}"
        return pack.label or f"{pack.credits} credits (SKU {sku_id})"
