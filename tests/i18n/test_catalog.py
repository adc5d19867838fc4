"""The shipped catalog is complete in every language, and the checks that say so can fail."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.i18n.catalog import LOCALES_DIR, CatalogError, load, placeholders, problems
from bot.i18n.locales import FALLBACK, LANGUAGES, language_of


def test_every_language_has_every_key_with_the_same_placeholders() -> None:
    catalog = load()
    assert set(catalog.languages) == set(LANGUAGES)
    assert problems(catalog) == []
    english = catalog.entries[FALLBACK]
    assert english, "the English catalog is empty"
    for language in LANGUAGES:
        assert catalog.entries[language].keys() == english.keys()


def test_plural_forms_follow_each_language() -> None:
    catalog = load()
    # French and Brazilian Portuguese treat 0 as singular; English and German do not.
    assert catalog.plural("fr", "common.credits", 0) == "0 crédit"
    assert catalog.plural("pt-BR", "common.credits", 0) == "0 crédito"
    assert catalog.plural("en-US", "common.credits", 0) == "0 credits"
    assert catalog.plural("de", "common.credits", 1) == "1 Credit"


@pytest.mark.parametrize(("locale", "language"), [
    ("en-US", "en"), ("en-GB", "en"), ("de", "de"), ("fr", "fr"), ("es-ES", "es"),
    ("es-419", "es"), ("pt-BR", "pt-BR"), ("pt-PT", "en"), ("ja", "en"), (None, "en"),
    ("DE", "de"),
])
def test_discord_locales_map_to_catalog_languages(locale: str | None, language: str) -> None:
    assert language_of(locale) == language


def test_unknown_key_is_a_bug_not_a_message() -> None:
    with pytest.raises(KeyError):
        load().text("en", "no.such.key")


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "locales"
    shutil.copytree(LOCALES_DIR, root)
    return root


def _edit(root: Path, language: str, old: str, new: str) -> None:
    path = root / language / "LC_MESSAGES" / "common.po"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_a_changed_placeholder_is_reported(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _edit(root, "de", '"{count} Credits"', '"{anzahl} Credits"')
    found = problems(load(root))
    assert any(line.startswith("de: common.credits uses") for line in found), found


def test_a_missing_key_is_reported(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    extra = ('\nmsgid "common.extra"\nmsgstr "An extra {thing}"\n')
    path = root / FALLBACK / "LC_MESSAGES" / "common.po"
    path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    found = problems(load(root))
    for language in LANGUAGES[1:]:
        assert f"{language}: common.extra is missing (English has it in common.po)" in found


def test_an_empty_translation_is_reported(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _edit(root, "es", '"{count} créditos"', '""')
    assert "es: common.credits has an empty translation" in problems(load(root))


def test_a_key_in_two_domains_is_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    folder = root / "fr" / "LC_MESSAGES"
    shutil.copy(folder / "common.po", folder / "other.po")
    with pytest.raises(CatalogError, match=r"also in common\.po"):
        load(root)


def test_placeholders_ignore_escaped_braces() -> None:
    assert placeholders("{{literal}} {name} {price:,} {a.b}") == {"name", "price", "a"}
