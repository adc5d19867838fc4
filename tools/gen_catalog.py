"""Generate the video-model catalog (bot/catalog/models.json) from the vendored Apiframe contract.

Usage: python tools/gen_catalog.py [CONTRACT_JSON] [--out PATH] [--check]

CONTRACT_JSON defaults to tests/contracts/apiframe-openapi.subset.json (made by
tools/vendor_apiframe_schemas.py); --out defaults to bot/catalog/models.json; --check writes
nothing and exits 1 if the catalog on disk differs from what the contract gives.

One generic reader: every branch of ``GenerateVideoRequest.oneOf`` is one model, its single
``<family>Params`` object is its parameter block, and every property of that block becomes an
option by its JSON Schema (``$ref``, ``const``, ``enum``, ``anyOf`` of enums, ``type``,
``minimum``/``maximum``, ``maxLength``, ``pattern``, ``format: uri``, arrays, objects,
``default``). A construct it does not know stops it with the model and field named, so a
new contract is read correctly or not at all. The only knowledge not in the contract is
NAMING (below): which field names mean "start image", "end frame" and "generate audio".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONTRACT = ROOT / "tests" / "contracts" / "apiframe-openapi.subset.json"
DEFAULT_OUTPUT = ROOT / "bot" / "catalog" / "models.json"

# Naming conventions shared by every family; the contract has no descriptions to say so.
# Field names are tried in order; the first that is a URL field of the block wins.
START_IMAGE_FIELDS = ("start_image", "image")
END_FRAME_FIELDS = ("end_image", "last_frame")
# Booleans that switch on generated sound (wan 2.5's `audio` is an input file, not this).
AUDIO_FIELDS = ("generate_audio", "audio_enabled")
UNITS = {"duration": "seconds"}
# Words for patterns, so a refusal can say what to type instead of a regular expression.
PATTERN_HINTS = {r"^\d+:\d+$": "width:height, such as 16:9"}
# Fields every branch shares; they are not options of a model.
COMMON_FIELDS = frozenset({"prompt", "model", "webhookUrl", "webhookEvents"})
# Schema keywords that only annotate; everything else must be understood.
ANNOTATIONS = frozenset({"description", "title", "examples", "additionalProperties"})


class ContractError(SystemExit):
    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"gen_catalog: {where}: {problem}")


def _resolve(doc: dict[str, Any], schema: dict[str, Any], where: str) -> dict[str, Any]:
    """``schema`` with any local ``$ref`` chain followed (siblings of ``$ref`` are merged)."""
    seen: set[str] = set()
    while "$ref" in schema:
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/") or ref in seen:
            raise ContractError(where, f"unsupported $ref {ref!r}")
        seen.add(ref)
        node: Any = doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _choices(doc: dict[str, Any], schema: dict[str, Any], where: str) -> list[Any] | None:
    """The allowed values of an enum, a const, or an ``anyOf``/``oneOf`` made only of those."""
    if "enum" in schema:
        return list(schema["enum"])
    if "const" in schema:
        return [schema["const"]]
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        values: list[Any] = []
        for branch in branches:
            inner = _choices(doc, _resolve(doc, branch, where), where)
            if inner is None:
                raise ContractError(where, "anyOf/oneOf mixing values and other schemas")
            values += [v for v in inner if v not in values]
        return values
    return None


def _check_keys(schema: dict[str, Any], known: set[str], where: str) -> None:
    unknown = set(schema) - known - ANNOTATIONS - {"type", "default"}
    if unknown:
        raise ContractError(where, f"unsupported keywords {sorted(unknown)}")


def option(doc: dict[str, Any], name: str, raw: dict[str, Any], where: str) -> dict[str, Any]:
    """One option of a parameter block, as the catalog file stores it."""
    where = f"{where}.{name}"
    schema = _resolve(doc, raw, where)
    out: dict[str, Any] = {"name": name}
    kind_type = schema.get("type")
    values = _choices(doc, schema, where)
    if values is not None:
        _check_keys(schema, {"enum", "const", "anyOf", "oneOf"}, where)
        out |= {"kind": "choice", "values": values}
    elif kind_type == "boolean":
        _check_keys(schema, set(), where)
        out["kind"] = "boolean"
    elif kind_type in ("integer", "number"):
        _check_keys(schema, {"minimum", "maximum"}, where)
        out |= {"kind": "range", "integer": kind_type == "integer"}
        out |= {k: schema[k] for k in ("minimum", "maximum") if k in schema}
    elif kind_type == "string" and schema.get("format") == "uri":
        _check_keys(schema, {"format"}, where)
        out["kind"] = "url"
    elif kind_type == "string":
        _check_keys(schema, {"minLength", "maxLength", "pattern"}, where)
        out["kind"] = "text"
        for key, field in (("minLength", "min_length"), ("maxLength", "max_length")):
            if key in schema:
                out[field] = schema[key]
        if "pattern" in schema:
            out["pattern"] = schema["pattern"]
            if schema["pattern"] in PATTERN_HINTS:
                out["hint"] = PATTERN_HINTS[schema["pattern"]]
    elif kind_type == "array":
        _check_keys(schema, {"items", "minItems", "maxItems"}, where)
        out |= {"kind": "list", "items": option(doc, "item", schema["items"], where)}
        for key, field in (("minItems", "min_items"), ("maxItems", "max_items")):
            if key in schema:
                out[field] = schema[key]
    elif kind_type == "object":
        _check_keys(schema, {"properties", "required"}, where)
        out |= {"kind": "object", **_block(doc, schema, where)}
    else:
        raise ContractError(where, f"unsupported schema {json.dumps(schema)[:200]}")
    if "default" in schema:
        out["default"] = schema["default"]
    if name in UNITS:
        out["unit"] = UNITS[name]
    if "description" in schema:
        out["description"] = schema["description"]
    return out


def _block(doc: dict[str, Any], schema: dict[str, Any], where: str) -> dict[str, Any]:
    properties = schema.get("properties", {})
    return {
        "options": [option(doc, n, properties[n], where) for n in sorted(properties)],
        "required": sorted(schema.get("required", [])),
    }


def _role(options: list[dict[str, Any]], names: tuple[str, ...], kind: str) -> str | None:
    by_name = {o["name"]: o for o in options}
    return next((n for n in names if n in by_name and by_name[n]["kind"] == kind), None)


def model(doc: dict[str, Any], branch: dict[str, Any], index: int) -> dict[str, Any]:
    """One branch of ``GenerateVideoRequest.oneOf`` as a catalog entry."""
    where = f"GenerateVideoRequest.oneOf[{index}]"
    branch = _resolve(doc, branch, where)
    properties = branch["properties"]
    ids = _choices(doc, _resolve(doc, properties["model"], where), where)
    if not ids or len(ids) != 1:
        raise ContractError(where, "its `model` is not a single value")
    where = f"{ids[0]} ({where})"
    blocks = [name for name in properties if name not in COMMON_FIELDS]
    if len(blocks) != 1:
        raise ContractError(where, f"expected one parameter block, found {blocks}")
    params = blocks[0]
    block_schema = _resolve(doc, properties[params], where)
    if block_schema.get("type") != "object":
        raise ContractError(where, f"{params} is not an object")
    block = _block(doc, block_schema, f"{where} {params}")
    prompt = _resolve(doc, properties["prompt"], where)
    return {
        "id": ids[0],
        "params": params,
        "params_required": params in branch.get("required", []),
        "prompt_min": prompt.get("minLength", 1),
        "prompt_max": prompt["maxLength"],
        "start_image": _role(block["options"], START_IMAGE_FIELDS, "url"),
        "end_image": _role(block["options"], END_FRAME_FIELDS, "url"),
        "audio": _role(block["options"], AUDIO_FIELDS, "boolean"),
        **block,
    }


def catalog(doc: dict[str, Any], contract_bytes: bytes) -> dict[str, Any]:
    branches = doc["components"]["schemas"]["GenerateVideoRequest"]["oneOf"]
    models = sorted((model(doc, b, i) for i, b in enumerate(branches)), key=lambda m: m["id"])
    ids = [m["id"] for m in models]
    if len(set(ids)) != len(ids):
        raise ContractError("GenerateVideoRequest", "a model id appears in two branches")
    info = doc.get("info", {})
    return {
        "generated_by": "tools/gen_catalog.py",
        "contract": {
            "title": info.get("title"),
            "version": info.get("version"),
            "sha256": hashlib.sha256(contract_bytes).hexdigest(),
        },
        "models": models,
    }


def render(contract: Path) -> str:
    raw = contract.read_bytes()
    return json.dumps(catalog(json.loads(raw), raw), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("contract", nargs="?", type=Path, default=DEFAULT_CONTRACT)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    text = render(args.contract)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale: run python tools/gen_catalog.py", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
