"""The message catalog: every member-facing text, by key, in each language the bot speaks.

Translators work in gettext ``.po`` files (``bot/i18n/locales/<language>/LC_MESSAGES/
<domain>.po``), read with Babel and compiled in memory to the standard library's
:class:`gettext.GNUTranslations`, so plural forms follow each file's ``Plural-Forms`` header.

A message id is a key (``refusal.prompt_empty``), not English source text: English is one
more language whose file gives the words, and a key missing anywhere is caught by a test
rather than shown to a member. Placeholders are ``str.format`` names (``{price}``); the same
names must appear in every language (checked by :func:`problems`).

Domains split the catalog by feature (``commands``, ``refusals``, ``cards`` ...), so each part
of the bot owns its file; a key must be unique across all domains of a language.
"""

from __future__ import annotations

import gettext
import io
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.catalog import Catalog as PoCatalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.i18n.locales import FALLBACK, LANGUAGES, language_of

#: Where the shipped catalog lives (inside the package, so an installed bot carries it).
LOCALES_DIR = Path(__file__).with_name("locales")


class CatalogError(Exception):
    """The catalog on disk cannot be used; the message names the file and what to fix."""


def placeholders(text: str) -> frozenset[str]:
    """The ``{name}`` fields of ``text`` (``{{`` escapes are not fields)."""
    names: set[str] = set()
    for _, name, _, _ in string.Formatter().parse(text):
        if name is not None:
            names.add(name.split(".")[0].split("[")[0])
    return frozenset(names)


@dataclass(frozen=True, slots=True)
class Entry:
    """One message as a translator wrote it: its key, the texts (one, or one per plural form)
    and the file it came from."""

    key: str
    texts: tuple[str, ...]
    plural: bool
    source: str


@dataclass(frozen=True, slots=True)
class Phrase:
    """A message used as another message's placeholder (``5 minutes`` inside a cooldown
    refusal), so it is rendered in the reader's language too; ``count`` makes it plural."""

    key: str
    count: int | None = None
    params: Mapping[str, object] = field(default_factory=dict)
    #: Shown when the catalog has no ``key`` (an option named by a model, not by the bot).
    fallback: str | None = None


@dataclass(frozen=True, slots=True)
class Listing:
    """Items joined the reader's way: ``4, 8 or 12`` (``join="or"``), ``A, B and C``
    (``"and"``) or ``A, B`` (``","``); items may be phrases."""

    items: Sequence[object]
    join: str = "or"


@dataclass(slots=True)
class Catalog:
    """Every language's messages, ready to render; built once at start-up by :func:`load`."""

    entries: dict[str, dict[str, Entry]] = field(default_factory=dict)
    _translations: dict[str, gettext.NullTranslations] = field(default_factory=dict)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.entries)

    def has(self, key: str) -> bool:
        return key in self.entries.get(FALLBACK, {})

    def text(self, locale: object, key: str, /, **params: object) -> str:
        """The message ``key`` in the language of ``locale`` (a Discord locale, a language
        code or None), its placeholders filled from ``params``; English where the language
        lacks it. A key English lacks is a bug: :class:`KeyError`."""
        if not self.has(key):
            raise KeyError(f"no message {key!r} in the catalog")
        words = self._for(locale).gettext(key)
        return words.format_map(params) if params else words

    def plural(self, locale: object, key: str, count: int, /, **params: object) -> str:
        """The plural message ``key`` for ``count`` (also offered to it as ``{count}``)."""
        if not self.has(key):
            raise KeyError(f"no message {key!r} in the catalog")
        words = self._for(locale).ngettext(key, key, count)
        return words.format_map({"count": count, **params})

    def render(self, locale: object, key: str, params: Mapping[str, object]) -> str:
        """:meth:`text` whose placeholders may be :class:`Phrase` or :class:`Listing` values,
        rendered in the same language first (how a refusal's ``key`` and ``params`` are shown)."""
        values = {name: self._value(locale, value) for name, value in params.items()}
        entry = self.entries.get(FALLBACK, {}).get(key)
        count = values.pop("count", None)
        if entry is not None and entry.plural and isinstance(count, int):
            return self.plural(locale, key, count, **values)
        if count is not None:
            values["count"] = count
        return self.text(locale, key, **values)

    def _value(self, locale: object, value: object) -> object:
        if isinstance(value, Phrase):
            if value.fallback is not None and not self.has(value.key):
                return value.fallback
            params = {n: self._value(locale, v) for n, v in value.params.items()}
            if value.count is not None:
                return self.plural(locale, value.key, value.count, **params)
            return self.text(locale, value.key, **params)
        if isinstance(value, Words) and self.has(value.key):
            return self.render(locale, value.key, value.params)
        if isinstance(value, Listing):
            items = [str(self._value(locale, item)) for item in value.items]
            if len(items) < 2 or value.join == ",":
                return ", ".join(items)
            return self.text(locale, f"common.list_{value.join}", items=", ".join(items[:-1]),
                             last=items[-1])
        return value

    def _for(self, locale: object) -> gettext.NullTranslations:
        return self._translations.get(language_of(locale)) or self._translations[FALLBACK]


class Words(str):
    """English text that also names its catalog message, for an interface that takes plain
    text (``DiscordPort.answer``): a port that knows the reader's language shows ``key`` in
    it, and anything else (a test's port, a log) sees the English it is."""

    key: str
    params: Mapping[str, object]

    def __new__(cls, english: str, key: str, **params: object) -> Words:
        words = super().__new__(cls, english)
        words.key, words.params = key, params
        return words


@dataclass(frozen=True, slots=True)
class Voice:
    """The catalog in one reader's language (a Discord locale): what a reply is written in."""

    texts: Catalog
    locale: object

    def say(self, key: str, /, **params: object) -> str:
        return self.texts.render(self.locale, key, params)

    def count(self, key: str, count: int, /, **params: object) -> str:
        return self.texts.render(self.locale, key, {**params, "count": count})

    def words(self, text: str) -> str:
        """``text`` in this language when it is :class:`Words`, else as it is."""
        if isinstance(text, Words) and self.texts.has(text.key):
            return self.texts.render(self.locale, text.key, text.params)
        return text


def _read(path: Path, language: str) -> PoCatalog:
    try:
        with path.open("rb") as f:
            return read_po(f, locale=language.replace("-", "_"), abort_invalid=True)
    except Exception as e:  # Babel raises several kinds for a malformed file
        raise CatalogError(f"{path}: cannot read the catalog ({e}); fix the .po file") from e


def _compile(po: PoCatalog) -> gettext.GNUTranslations:
    buffer = io.BytesIO()
    write_mo(buffer, po, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def _chain(parts: list[gettext.GNUTranslations]) -> gettext.GNUTranslations:
    """One domain after another: a key is looked up in each in turn."""
    first = parts[0]
    for part in parts[1:]:
        first.add_fallback(part)
    return first


def load(root: Path = LOCALES_DIR, languages: Iterable[str] = LANGUAGES) -> Catalog:
    """Read every domain of every language under ``root``."""
    catalog = Catalog()
    for language in languages:
        folder = root / language / "LC_MESSAGES"
        files = sorted(folder.glob("*.po"))
        if not files:
            raise CatalogError(f"{folder}: no .po files; every language needs its catalog")
        pos = [(path, _read(path, language)) for path in files]
        entries: dict[str, Entry] = {}
        for path, po in pos:
            for message in po:
                if not message.id:
                    continue
                plural = isinstance(message.id, (tuple, list))
                key = str(message.id[0] if plural else message.id)
                raw = message.string
                texts = tuple(str(t or "") for t in raw) if isinstance(raw, (tuple, list)) \
                    else (str(raw or ""),)
                if key in entries:
                    raise CatalogError(
                        f"{path}: message {key!r} is also in {entries[key].source}; "
                        "a key lives in one domain")
                entries[key] = Entry(key, texts, plural, path.name)
        catalog.entries[language] = entries
        catalog._translations[language] = _chain([_compile(po) for _, po in pos])
    for language, translations in catalog._translations.items():
        if language != FALLBACK:
            translations.add_fallback(catalog._translations[FALLBACK])
    return catalog


def problems(catalog: Catalog) -> list[str]:
    """What a translator must fix: keys missing or extra in a language, empty texts, plural
    forms that disagree, placeholders that differ from English. One line each."""
    english = catalog.entries[FALLBACK]
    found: list[str] = []
    for language, entries in catalog.entries.items():
        for key in sorted(english.keys() - entries.keys()):
            found.append(f"{language}: {key} is missing (English has it in "
                         f"{english[key].source})")
        for key in sorted(entries.keys() - english.keys()):
            found.append(f"{language}: {key} is not an English key; remove or rename it")
        for key, entry in sorted(entries.items()):
            source = english.get(key)
            if source is None:
                continue
            if entry.plural != source.plural:
                found.append(f"{language}: {key} is {'' if entry.plural else 'not '}plural "
                             f"but English is{'' if source.plural else ' not'}")
                continue
            if not all(t.strip() for t in entry.texts):
                found.append(f"{language}: {key} has an empty translation")
                continue
            want = _names(source.texts)
            for text in entry.texts:
                if placeholders(text) - want or (not entry.plural and want - placeholders(text)):
                    found.append(f"{language}: {key} uses {sorted(placeholders(text))}, "
                                 f"English uses {sorted(want)}")
                    break
    return found


def _names(texts: Iterable[str]) -> frozenset[str]:
    names: frozenset[str] = frozenset()
    for text in texts:
        names |= placeholders(text)
    return names
