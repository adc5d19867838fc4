"""Every member-facing word goes through the catalog: the source is read (as Python syntax, not
text) for English sentences handed to Discord, refusals without a catalog key, and keys the
catalog lacks."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from bot.i18n.catalog import load

ROOT = Path(__file__).resolve().parents[2]
#: Cards, results and their buttons are another part's (cards.po); they are checked there.
NOT_OURS = {"cogs/results.py"}
#: Calls whose text a member reads: (method or class name, its text arguments).
TEXT_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "send_message": ("0", "content"), "send": ("0", "content"),
    "edit_message": ("content",), "edit_original_response": ("content",),
    "answer": ("0",), "Embed": ("title", "description"), "add_field": ("name", "value"),
    "set_footer": ("text",), "Button": ("label",), "SelectOption": ("label", "description"),
    "TextInput": ("placeholder", "label"), "Label": ("text", "description"),
    "Select": ("placeholder",), "Modal": ("title",),
    # The cogs' own reply helpers.
    "reply": ("1", "content"), "_show_limits": ("1", "prefix"),
}
#: Ledger errors no member can reach: argument checks (Discord supplies the ids, the bot the
#: actor) and reservation bugs, which the error handler answers with a logged code.
INTERNAL = {"InvalidArgument", "NotReserved", "AlreadyReserved"}
#: Files whose refusals still speak English only: a model's own option checks (reached only
#: past the lineup's checks, which are translated) and the worker's retired-model guard. The
#: test fails when one of them is converted, so the list only shrinks.
PENDING: set[str] = set()
WORD = re.compile(r"[A-Za-z]{2,}")
DOMAINS = "cmd|choice|common|refusal|error|credits|budget|approval|animate|problem"
KEY = re.compile(rf"""["']((?:{DOMAINS})\.[a-z0-9_.{{}}]+)["']""")


def sources(*folders: str) -> Iterator[tuple[str, ast.Module]]:
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            yield name, ast.parse(path.read_text(encoding="utf-8"), name)


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _english(node: ast.expr | None) -> bool:
    """A literal (or an f-string's literal parts) with words in it."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(WORD.search(node.value))
    if isinstance(node, ast.JoinedStr):
        return any(_english(part) for part in node.values if isinstance(part, ast.Constant))
    return False


def english_handed_to_discord(tree: ast.Module) -> list[str]:
    found = []
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        wanted = TEXT_ARGUMENTS.get(_name(call), ())
        given = {str(i): arg for i, arg in enumerate(call.args)}
        given.update({k.arg: k.value for k in call.keywords if k.arg})
        found += [f"line {call.lineno}: {_name(call)}({where}=…)" for where in wanted
                  if _english(given.get(where))]
    return sorted(found, key=lambda line: int(line.split(":")[0].split()[1]))


def refusal_classes(trees: list[ast.Module]) -> tuple[set[str], set[str]]:
    """(every UserError/LedgerError class, those whose own __init__ passes a key)."""
    family, keyed = {"UserError", "LedgerError"}, set()
    grew = True
    while grew:
        grew = False
        for tree in trees:
            for node in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
                bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
                if node.name not in family and bases & family:
                    family.add(node.name)
                    grew = True
    for tree in trees:
        for node in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            init = [f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"]
            if init and any(k.arg == "key" for c in ast.walk(init[0]) if isinstance(c, ast.Call)
                            for k in c.keywords):
                keyed.add(node.name)
    return family, keyed


def unkeyed_refusals(tree: ast.Module, family: set[str], keyed: set[str]) -> list[str]:
    found = []
    for node in (n for n in ast.walk(tree) if isinstance(n, ast.Raise)):
        call = node.exc
        if not isinstance(call, ast.Call):
            continue
        name = _name(call)
        if name in family - keyed - INTERNAL and not any(k.arg == "key" for k in call.keywords):
            found.append(f"line {node.lineno}: raise {name}(…) without key=")
    return found


def test_no_english_sentence_is_handed_to_discord_in_the_cogs() -> None:
    problems = {name: english_handed_to_discord(tree) for name, tree in sources("cogs")
                if name not in NOT_OURS}
    assert {name: found for name, found in problems.items() if found} == {}


def test_the_scan_finds_english_where_it_is() -> None:
    tree = ast.parse('async def f(i):\n    await i.response.send_message("Done, thanks.")\n'
                     '    e = discord.Embed(title=f"{n} credits")\n'
                     '    await i.followup.send(voice.say("budget.saved"))\n')
    assert english_handed_to_discord(tree) == ["line 2: send_message(0=…)",
                                               "line 3: Embed(title=…)"]


def test_every_refusal_a_member_can_see_carries_a_catalog_key() -> None:
    parsed = list(sources("bot", "cogs"))
    family, keyed = refusal_classes([tree for _, tree in parsed])
    assert {"InvalidRequest", "PolicyRefusal", "InsufficientCredits", "RefundRefused"} <= family
    assert {"JobLimitReached", "InsufficientCredits", "MintingNotAllowed"} <= keyed
    problems = {name: unkeyed_refusals(tree, family, keyed) for name, tree in parsed
                if name not in NOT_OURS}
    unkeyed = {name for name, found in problems.items() if found}
    assert unkeyed - PENDING == set(), {n: problems[n] for n in unkeyed - PENDING}
    assert PENDING - unkeyed == set(), "converted: remove these from PENDING"


def test_every_key_named_in_the_code_is_in_the_catalog() -> None:
    english = load().entries["en"]
    missing = []
    for folder in ("bot", "cogs"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for key in KEY.findall(path.read_text(encoding="utf-8")):
                if "{" in key:  # a key built at run time: its fixed part must lead somewhere
                    prefix = key.split("{")[0]
                    if not any(k.startswith(prefix) for k in english):
                        missing.append(f"{path.name}: {key}")
                elif key not in english:
                    missing.append(f"{path.name}: {key}")
    assert missing == []
