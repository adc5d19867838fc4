"""Which catalog language answers which Discord locale.

Discord sends a locale per interaction (the member's client language) and one per guild
(the server's community language, used for posts to a channel). The bot speaks English,
German, French, Spanish and Brazilian Portuguese; every other locale gets English.
"""

from __future__ import annotations

#: The catalog's languages, as folder names under ``bot/i18n/locales``; English first.
LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es", "pt-BR")
FALLBACK = "en"

#: Discord's locale codes each language answers (Discord lists them in its Locales reference).
DISCORD_LOCALES: dict[str, tuple[str, ...]] = {
    "en": ("en-US", "en-GB"),
    "de": ("de",),
    "fr": ("fr",),
    "es": ("es-ES", "es-419"),
    "pt-BR": ("pt-BR",),
}

_BY_CODE = {code.lower(): language for language, codes in DISCORD_LOCALES.items()
            for code in codes}


def language_of(locale: object) -> str:
    """The catalog language for a Discord locale (a ``discord.Locale``, its code, or None):
    the exact code first, then its language (``es-419`` → ``es``, ``pt-PT`` → English,
    since only Brazilian Portuguese is translated), else English."""
    if locale is None:
        return FALLBACK
    code = str(getattr(locale, "value", locale)).strip().lower()
    if code in _BY_CODE:
        return _BY_CODE[code]
    head = code.split("-")[0]
    return head if head in LANGUAGES and head != "pt" else FALLBACK
