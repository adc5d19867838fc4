"""What the import contracts cannot see: a cog reaching a store through ``bot.services``, or
another cog through ``get_cog``. (Imports are checked by lint-imports in .ci/run.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

COGS = sorted((Path(__file__).parent.parent / "cogs").glob("*.py"))


@pytest.mark.parametrize("path", COGS, ids=lambda p: p.name)
def test_cogs_call_services_not_stores_nor_other_cogs(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert re.findall(r"services\s*\.\s*store\b", text) == []
    assert "get_cog(" not in text


LEDGER = sorted((Path(__file__).parent.parent / "bot" / "ledger").glob("*.py"))


@pytest.mark.parametrize("path", LEDGER, ids=lambda p: p.name)
def test_the_ledger_reads_only_its_own_tables(path: Path) -> None:
    # Whether a job was delivered is asked of the jobs table's owner (bot/ledger/limit.py).
    text = path.read_text(encoding="utf-8")
    assert re.findall(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+jobs\b", text, re.IGNORECASE) == []
