"""What the import contracts cannot see: a cog reaching a store or a client through
``bot.services``, another cog through ``get_cog``, or the ledger reading the jobs table.
(Imports are checked by lint-imports in .ci/run.)"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from bot.app import Services

COGS = sorted((Path(__file__).parent.parent / "cogs").glob("*.py"))

#: What a cog may use of ``bot.services``: services, the settings and the clock. Not
#: ``store`` (the stores) nor ``apiframe`` (the client): those are for bot/app.py's wiring.
#: ``http`` is the one client left here: cogs.animate reads Discord attachments with it.
COG_SERVICES = frozenset(
    {"settings", "clock", "budget", "rules", "holds", "images", "frames", "http", "texts",
     "packs", "strikes"})


def services_used(tree: ast.AST) -> set[str]:
    """The attribute names read from ``<anything>.services`` or from a name ``services``."""
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            inner = node.value
            if (isinstance(inner, ast.Attribute) and inner.attr == "services") or (
                isinstance(inner, ast.Name) and inner.id == "services"
            ):
                used.add(node.attr)
    return used


def aliases_of_services(tree: ast.AST) -> list[str]:
    """Names other than ``services`` bound to ``….services``, which the check above misses."""
    return [
        target.id
        for node in ast.walk(tree) if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Attribute) and node.value.attr == "services"
        for target in node.targets
        if isinstance(target, ast.Name) and target.id != "services"
    ]


def test_the_allow_list_names_fields_of_services() -> None:
    assert {f.name for f in dataclasses.fields(Services)} >= COG_SERVICES


@pytest.mark.parametrize("path", COGS, ids=lambda p: p.name)
def test_cogs_call_services_not_stores_nor_other_cogs(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    assert services_used(tree) <= COG_SERVICES
    assert aliases_of_services(tree) == []
    assert "get_cog(" not in text


LEDGER = sorted((Path(__file__).parent.parent / "bot" / "ledger").glob("*.py"))


@pytest.mark.parametrize("path", LEDGER, ids=lambda p: p.name)
def test_the_ledger_reads_only_its_own_tables(path: Path) -> None:
    # Whether a job was delivered is asked of the jobs table's owner (bot/ledger/limit.py).
    text = path.read_text(encoding="utf-8")
    assert re.findall(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+jobs\b", text, re.IGNORECASE) == []


def test_no_module_of_the_bot_is_on_an_import_cycle() -> None:
    """The contracts forbid cycles between the domain folders; this also forbids them between
    any two modules, inside a folder too, type-checking imports included."""
    import grimp  # import-linter's own graph builder (a test dependency through it)

    graph = grimp.build_graph("bot", "cogs")
    on_a_cycle = sorted(
        f"{importer} -> {imported}"
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
        if graph.chain_exists(importer=imported, imported=importer)
    )
    assert on_a_cycle == []
