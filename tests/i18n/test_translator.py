"""Command names, descriptions and choices reach Discord in every language, within Discord's
rules: the real bot syncs its tree to the fake Discord (which validates the upload against
the OpenAPI document) and the test reads back what Discord stored."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import Any

import discord

from bot.i18n.catalog import load
from bot.i18n.locales import DISCORD_LOCALES, FALLBACK, LANGUAGES
from tests.sora_harness import SoraHarness, Starter

#: Every Discord locale a translated language answers (English is the commands' own text).
TRANSLATED = sorted(code for language, codes in DISCORD_LOCALES.items()
                    if language != FALLBACK for code in codes)
CHAT_INPUT, MESSAGE = 1, 3
#: The one string that keeps its name everywhere: the command members already know.
UNTRANSLATED = {"/sora"}


def name_problem(name: str) -> str | None:
    """Discord's rule for CHAT_INPUT command and option names, ``^[-_\\p{L}\\p{N}\\p{sc=Deva}
    \\p{sc=Thai}]{1,32}$`` and lowercase, checked with the Unicode database (the translated
    languages need no Devanagari or Thai)."""
    if not 1 <= len(name) <= 32:
        return f"{len(name)} characters (1-32 allowed)"
    bad = [c for c in name if c not in "-_" and unicodedata.category(c)[0] not in "LN"]
    if bad:
        return f"has {bad!r} (letters, digits, - and _ only)"
    if name != name.lower():
        return "has capitals (names are lowercase)"
    return None


def test_the_name_rule_refuses_what_discord_refuses() -> None:
    assert name_problem("seitenverhältnis") is None
    assert name_problem("image_de_départ") is None
    assert name_problem("Dauer") is not None
    assert name_problem("max dauer") is not None
    assert name_problem("x" * 33) is not None
    assert name_problem("") is not None


def test_every_localised_name_in_the_catalog_follows_discords_rules() -> None:
    catalog = load()
    for language in LANGUAGES:
        for key, entry in catalog.entries[language].items():
            if not (key.startswith("cmd.") and key.endswith(".name")):
                continue
            (text,) = entry.texts
            if key == "cmd.animate_into_video.name":  # a message menu: spaces and capitals
                assert 1 <= len(text) <= 32, f"{language}: {key}"
                continue
            assert name_problem(text) is None, f"{language}: {key} = {text!r}: {name_problem(text)}"
        for key, entry in catalog.entries[language].items():
            if key.startswith("cmd.") and key.endswith(".description"):
                (text,) = entry.texts
                assert 1 <= len(text) <= 100, f"{language}: {key} has {len(text)} characters"


def walk(commands: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any], int]]:
    """Every command, option and choice of the upload: (where, object, command type)."""
    def options(path: str, items: list[dict[str, Any]], kind: int) -> Iterator[
            tuple[str, dict[str, Any], int]]:
        for option in items:
            where = f"{path} {option['name']}"
            yield where, option, kind
            for choice in option.get("choices") or []:
                yield f"{where}={choice['value']}", choice, kind
            yield from options(where, option.get("options") or [], kind)

    for command in commands:
        where = f"/{command['name']}"
        yield where, command, command["type"]
        yield from options(where, command.get("options") or [], command["type"])


async def synced(h: SoraHarness) -> list[dict[str, Any]]:
    guild = discord.Object(id=h.guild.id)
    h.bot.tree.copy_global_to(guild=guild)
    await h.bot.tree.sync(guild=guild)
    return h.discord.commands[h.guild.id]


async def test_the_upload_carries_every_language_within_discords_limits(start: Starter) -> None:
    h = await start()
    commands = await synced(h)
    english = load().entries[FALLBACK]
    assert {c["name"] for c in commands} >= {"sora", "video", "credits", "budget"}
    for where, item, kind in walk(commands):
        names = item.get("name_localizations") or {}
        if where not in UNTRANSLATED:
            assert sorted(names) == TRANSLATED, f"{where}: names for {sorted(names)}"
        for locale, name in names.items():
            if kind == CHAT_INPUT and "value" not in item:
                assert name_problem(name) is None, f"{where} in {locale}: {name!r}"
            else:  # choices and message menus: any text of 1-100 / 1-32 characters
                assert 1 <= len(name) <= (32 if kind == MESSAGE else 100), f"{where} {locale}"
        if "value" in item or kind == MESSAGE:
            continue  # choices and message menus have no description
        # The English the translators read is the command's own: a reworded decorator
        # without its catalog entry would leave the other languages saying something else.
        key = "cmd." + where.lstrip("/").replace(" ", ".")
        assert english[f"{key}.description"].texts == (item["description"],), where
        if where not in UNTRANSLATED:
            assert english[f"{key}.name"].texts == (item["name"],), where
        descriptions = item.get("description_localizations") or {}
        assert sorted(descriptions) == TRANSLATED, f"{where}: descriptions {sorted(descriptions)}"
        assert all(1 <= len(d) <= 100 for d in descriptions.values()), where


async def test_members_see_commands_options_and_choices_in_their_language(
        start: Starter) -> None:
    h = await start()
    by_name = {c["name"]: c for c in await synced(h)}
    credits = by_name["credits"]
    assert credits["name_localizations"]["de"] == "guthaben"
    assert credits["name_localizations"]["pt-BR"] == "créditos"
    assert credits["description_localizations"]["fr"] == "Les crédits du serveur et tes dépenses"
    assert "en-US" not in credits["name_localizations"]

    sora = by_name["sora"]
    assert sora["name"] == "sora" and not sora.get("name_localizations")
    assert sora["description_localizations"]["es-419"] == "Genera un vídeo con Sora 2 Pro"
    options = {o["name"]: o for o in sora["options"]}
    assert options["duration"]["name_localizations"]["de"] == "dauer"
    four = next(c for c in options["duration"]["choices"] if c["value"] == 4)
    assert four["name"] == "4 seconds"
    assert four["name_localizations"]["de"] == "4 Sekunden"
    assert four["name_localizations"]["fr"] == "4 secondes"

    limits = next(o for o in by_name["budget"]["options"] if o["name"] == "limits")
    assert limits["name_localizations"]["es-ES"] == "límites"
    menu = next(c for c in h.discord.commands[h.guild.id] if c["type"] == MESSAGE)
    assert menu["name_localizations"]["de"] == "Als Video animieren"
