"""tools/gen_catalog.py: it reproduces the committed catalog, and reads the contract's JSON
Schema generically ($ref, const, default) or refuses what it does not understand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bot.catalog.video import Catalog

ROOT = Path(__file__).resolve().parent.parent.parent
TOOL = ROOT / "tools" / "gen_catalog.py"
COMMITTED = ROOT / "bot" / "catalog" / "models.json"


def run(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), *map(str, args)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )


def test_the_generator_reproduces_the_committed_catalog(tmp_path: Path) -> None:
    out = tmp_path / "models.json"
    assert run("--out", out).returncode == 0
    assert out.read_bytes() == COMMITTED.read_bytes()
    assert run("--check").returncode == 0


def test_check_mode_reports_a_stale_catalog(tmp_path: Path) -> None:
    stale = tmp_path / "models.json"
    stale.write_text(COMMITTED.read_text(encoding="utf-8").replace("5000", "5001", 1))
    result = run("--check", "--out", stale)
    assert result.returncode == 1 and "stale" in result.stderr


def _contract(branch_params: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    branch = {
        "type": "object",
        "additionalProperties": False,
        "required": ["prompt", "model", "demoParams"],
        "properties": {
            "model": {"const": "demo-1"},
            "prompt": {"type": "string", "minLength": 1, "maxLength": 300},
            "webhookUrl": {"type": "string", "format": "uri"},
            "demoParams": branch_params,
        },
    }
    return {
        "info": {"title": "Demo", "version": "9"},
        "components": {"schemas": {"GenerateVideoRequest": {"oneOf": [branch]}, **schemas}},
    }


def test_refs_consts_and_defaults_are_read_from_the_schema(tmp_path: Path) -> None:
    doc = _contract({"$ref": "#/components/schemas/DemoParams"}, {
        "DemoParams": {
            "type": "object",
            "required": ["image"],
            "properties": {
                "duration": {"$ref": "#/components/schemas/Seconds"},
                "style": {"const": "film", "description": "The only style."},
                "image": {"type": "string", "format": "uri"},
                "sound": {"type": "boolean", "default": True},
            },
        },
        "Seconds": {"type": "integer", "minimum": 2, "maximum": 6, "default": 4},
    })
    source, out = tmp_path / "contract.json", tmp_path / "models.json"
    source.write_text(json.dumps(doc))
    assert run(source, "--out", out).returncode == 0
    demo = Catalog.parse(out.read_text(encoding="utf-8")).model("demo-1")
    assert (demo.params, demo.params_required, demo.prompt_max) == ("demoParams", True, 300)
    assert (demo.start_image, demo.required) == ("image", ("image",))
    duration, sound, style = (demo.option(n) for n in ("duration", "sound", "style"))
    assert duration is not None and duration.default == 4
    assert duration.finite_values() == (2, 3, 4, 5, 6)
    assert sound is not None and sound.default is True
    assert style is not None and style.finite_values() == ("film",)
    assert style.description == "The only style."


def test_a_schema_it_does_not_understand_stops_it_naming_the_field(tmp_path: Path) -> None:
    doc = _contract({"type": "object", "properties": {
        "duration": {"type": ["integer", "null"], "minimum": 1, "maximum": 9}}}, {})
    source, out = tmp_path / "contract.json", tmp_path / "models.json"
    source.write_text(json.dumps(doc))
    result = run(source, "--out", out)
    assert result.returncode != 0
    assert "demo-1" in result.stderr and "demoParams.duration" in result.stderr
    assert not out.exists()
