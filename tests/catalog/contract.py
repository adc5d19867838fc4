"""The vendored contract's branch for one video model, as a JSON Schema validator.

Built here with jsonschema, as tests/fakes/apiframe_schema.py does, rather than imported from
the fake: the catalog's tests judge the catalog against the contract file itself.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

CONTRACT = Path(__file__).resolve().parent.parent / "contracts" / "apiframe-openapi.subset.json"
_BASE = "urn:apiframe:catalog-test"


@cache
def document() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CONTRACT.read_text(encoding="utf-8"))
    return data


def branches() -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = document()["components"]["schemas"]["GenerateVideoRequest"][
        "oneOf"
    ]
    return result


def contract_ids() -> list[str]:
    return [branch["properties"]["model"]["enum"][0] for branch in branches()]


def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if any(ch.isspace() for ch in value):  # WHATWG's URL parser refuses these in a host
        return False
    parts = urlsplit(value)
    return bool(parts.scheme) and (parts.scheme not in {"http", "https"} or bool(parts.netloc))


@cache
def branch_validator(model_id: str) -> Draft202012Validator:
    index = contract_ids().index(model_id)
    resource: Resource[Any] = Resource.from_contents(document(), default_specification=DRAFT202012)
    registry: Registry = Registry().with_resource(_BASE, resource)
    checker = FormatChecker(formats=())
    checker.checks("uri")(_is_uri)
    return Draft202012Validator(
        {"$ref": f"{_BASE}#/components/schemas/GenerateVideoRequest/oneOf/{index}"},
        registry=registry,
        format_checker=checker,
    )


def body(model_id: str, params_name: str, block: dict[str, object]) -> dict[str, object]:
    return {"prompt": "A lighthouse at dusk", "model": model_id, params_name: block}


def errors(model_id: str, params_name: str, block: dict[str, object]) -> list[str]:
    """What the contract says is wrong with a generate request carrying ``block``."""
    found = branch_validator(model_id).iter_errors(body(model_id, params_name, block))
    return sorted(error.message for error in found)
