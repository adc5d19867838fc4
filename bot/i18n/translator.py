"""Slash-command names, descriptions and choices in the member's language.

discord.py asks an :class:`app_commands.Translator` for every string of the command tree when
it builds the payload it uploads (``tree.sync``), once per Discord locale; what it returns
becomes ``name_localizations`` / ``description_localizations``. This one answers from the
message catalog's ``commands`` domain, so translators edit the same ``.po`` files as for
every other text.

Keys follow the tree, so the cogs need no key of their own for names and descriptions:
``cmd.<command path>.name`` / ``.description`` for a command or group (the path joins a
subcommand to its group with dots: ``cmd.budget.limits.set.name``), and
``cmd.<command path>.<option>.name`` / ``.description`` for an option. A choice cannot tell
which option it belongs to, so its ``locale_str`` carries ``key=`` (and ``count=`` for a
plural). A string without a key in the catalog keeps its one name in every language: that is
how ``/sora`` stays ``/sora``.
"""

from __future__ import annotations

from typing import Any

from discord import Locale
from discord.app_commands import (
    Parameter,
    TranslationContextLocation,
    TranslationContextTypes,
    Translator,
    locale_str,
)

from bot.i18n.catalog import Catalog
from bot.i18n.locales import DISCORD_LOCALES, FALLBACK

_Where = TranslationContextLocation
_BY_CODE = {code: language for language, codes in DISCORD_LOCALES.items() for code in codes}


def command_path(command: Any) -> str:
    """``budget.limits.set`` for ``/budget limits set``; a context menu's name (which may
    have spaces and capitals) as ``animate_into_video``."""
    if " " in command.name:
        return str(command.name).lower().replace(" ", "_")
    return str(command.qualified_name).replace(" ", ".")


def key_for(string: locale_str, context: TranslationContextTypes) -> str | None:
    """The catalog key of one string of the command tree (None: it is not translated)."""
    explicit = string.extras.get("key")
    if explicit is not None:
        return str(explicit)
    where, data = context.location, context.data
    if where in (_Where.command_name, _Where.group_name):
        return f"cmd.{command_path(data)}.name"
    if where in (_Where.command_description, _Where.group_description):
        return f"cmd.{command_path(data)}.description"
    if isinstance(data, Parameter):
        field = "name" if where is _Where.parameter_name else "description"
        return f"cmd.{command_path(data.command)}.{data.name}.{field}"
    return None


class CatalogTranslator(Translator):
    """Answers discord.py from the catalog; English is the commands' own text, so it adds
    localisations only for the other languages, and only for Discord locales they answer."""

    def __init__(self, texts: Catalog) -> None:
        self.texts = texts

    async def translate(self, string: locale_str, locale: Locale,
                        context: TranslationContextTypes) -> str | None:
        language = _BY_CODE.get(locale.value)
        if language is None or language == FALLBACK:
            return None
        key = key_for(string, context)
        if key is None or not self.texts.has(key):
            return None
        count = string.extras.get("count")
        if isinstance(count, int):
            return self.texts.plural(locale, key, count)
        return self.texts.text(locale, key)
