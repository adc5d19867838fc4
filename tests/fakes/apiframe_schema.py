"""Apiframe's vendored OpenAPI components as JSON Schema validators, with Zod-like messages.

The fake validates requests with these and the tests validate the fake's responses with the
same ones, so the fake cannot drift from the published contract without a test failing.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Collection, Iterable
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SUBSET_PATH = Path(__file__).resolve().parent.parent / "contracts" / "apiframe-openapi.subset.json"
_BASE_URI = "urn:apiframe:openapi-subset"
SCHEMAS = "/components/schemas"

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE
)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def is_uri(value: str) -> bool:
    """An absolute URI as WHATWG's ``new URL()`` (behind Zod's ``.url()``) would accept it."""
    if not _SCHEME.match(value) or any(ch.isspace() or ord(ch) < 0x20 for ch in value):
        return False
    scheme, _, rest = value.partition(":")
    if scheme.lower() in {"http", "https", "ws", "wss", "ftp"}:
        host = rest.removeprefix("//").split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        return rest.startswith("//") and bool(host.rsplit("@", 1)[-1].split(":", 1)[0])
    return bool(rest)


def is_uuid(value: str) -> bool:
    return bool(_UUID.match(value))


def is_date_time(value: str) -> bool:
    if not _DATE_TIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_email(value: str) -> bool:
    return bool(re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", value))


def _format_checker() -> FormatChecker:
    # jsonschema skips "uri" and "date-time" silently when optional packages are missing;
    # these explicit checks make the fake reject "not a url" whatever is installed.
    checker = FormatChecker(formats=())
    for name, check in (
        ("uri", is_uri),
        ("uuid", is_uuid),
        ("date-time", is_date_time),
        ("email", _is_email),
    ):
        # Formats constrain strings only; a null in a "string | null" field is fine.
        checker.checks(name)(lambda value, check=check: not isinstance(value, str) or check(value))
    return checker


def utf16_len(value: str) -> int:
    """String length as the Node/Zod backend counts it (UTF-16 code units)."""
    return len(value.encode("utf-16-le")) // 2


def _min_length(_v: Any, limit: int, instance: Any, _s: Any) -> Iterable[ValidationError]:
    if isinstance(instance, str) and utf16_len(instance) < limit:
        yield ValidationError(f"String must contain at least {limit} character(s)")


def _max_length(_v: Any, limit: int, instance: Any, _s: Any) -> Iterable[ValidationError]:
    if isinstance(instance, str) and utf16_len(instance) > limit:
        yield ValidationError(f"String must contain at most {limit} character(s)")


_Utf16Validator = validators.extend(
    Draft202012Validator, {"minLength": _min_length, "maxLength": _max_length}
)


# Cached because parsing is the slow part; callers treat the document as read-only.
@cache
def document() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SUBSET_PATH.read_text(encoding="utf-8"))
    return data


@cache
def _registry() -> Registry:
    resource: Resource[Any] = Resource.from_contents(document(), default_specification=DRAFT202012)
    registry: Registry = Registry().with_resource(_BASE_URI, resource)
    return registry


def validator(pointer: str) -> Validator:
    """A validator for the schema at ``pointer`` (e.g. ``/components/schemas/Job``)."""
    schema = {"$ref": f"{_BASE_URI}#{pointer}"}
    result: Validator = _Utf16Validator(
        schema, registry=_registry(), format_checker=_format_checker()
    )
    return result


def component(name: str) -> Validator:
    return validator(f"/components/schemas/{name}")


def _branches() -> list[dict[str, Any]]:
    branches: list[dict[str, Any]] = document()["components"]["schemas"]["GenerateVideoRequest"][
        "oneOf"
    ]
    return branches


def video_models() -> tuple[str, ...]:
    """Every model id of ``GenerateVideoRequest``'s branches, in the contract's order."""
    return tuple(name for branch in _branches() for name in branch["properties"]["model"]["enum"])


def params_block(model: str) -> str | None:
    """The name of ``model``'s parameter block (``soraParams``, ``veoParams``, ...)."""
    for branch in _branches():
        if model in branch["properties"]["model"]["enum"]:
            return next((key for key in branch["properties"] if key.endswith("Params")), None)
    return None


def model_branch(model: str) -> Validator | None:
    """The ``GenerateVideoRequest`` branch for ``model``, as a Zod discriminated union picks it."""
    for index, branch in enumerate(_branches()):
        if model in branch["properties"]["model"]["enum"]:
            return validator(f"{SCHEMAS}/GenerateVideoRequest/oneOf/{index}")
    return None


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _choices(schema: dict[str, Any]) -> list[Any] | None:
    if "enum" in schema:
        return list(schema["enum"])
    options = schema.get("anyOf") or schema.get("oneOf")
    if options and all("enum" in option for option in options):
        return [value for option in options for value in option["enum"]]
    return None


def _messages(error: ValidationError) -> list[tuple[str, str]]:
    base = [str(part) for part in error.absolute_path]
    instance, schema = error.instance, error.schema
    kind = error.validator
    if kind == "required" and isinstance(instance, dict):
        return [
            (".".join([*base, name]), "Required")
            for name in error.validator_value
            if name not in instance
        ]
    if kind == "additionalProperties" and isinstance(instance, dict) and isinstance(schema, dict):
        known = schema.get("properties", {})
        return [
            (".".join([*base, name]), "Unrecognized key") for name in instance if name not in known
        ]
    path = ".".join(base)
    if kind == "format":
        return [(path, f"Invalid {error.validator_value}")]
    if kind == "type":
        return [(path, f"Expected {error.validator_value}, received {_type_name(instance)}")]
    if kind == "minItems":
        return [(path, f"Array must contain at least {error.validator_value} element(s)")]
    choices = _choices(schema) if isinstance(schema, dict) else None
    if kind in {"enum", "anyOf", "oneOf"} and choices is not None:
        expected = " | ".join(json.dumps(choice) for choice in choices)
        return [(path, f"Invalid value. Expected {expected}, received {json.dumps(instance)}")]
    return [(path, error.message)]


def details(errors: Iterable[ValidationError]) -> dict[str, list[str]]:
    """``{"json.path": ["message", ...]}`` in the ValidationError envelope's ``details`` shape."""
    out: dict[str, list[str]] = {}
    for error in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
        for path, message in _messages(error):
            bucket = out.setdefault(path or "body", [])
            if message not in bucket:
                bucket.append(message)
    return out


def validate_generate(body: Any, retired: Collection[str] = ()) -> dict[str, list[str]]:
    """Problems with a ``POST /v2/videos/generate`` body; empty when it is valid.

    A ``retired`` model is one the server's schema no longer has: it fails the discriminator
    exactly like a model that never existed, and the message lists only the live ones.
    """
    if not isinstance(body, dict):
        return {"body": [f"Expected object, received {_type_name(body)}"]}
    model = body.get("model")
    if model is None:
        return {"model": ["Required"]}
    live = isinstance(model, str) and model not in retired
    branch = model_branch(model) if live else None
    if branch is None:
        expected = " | ".join(f"'{name}'" for name in video_models() if name not in retired)
        return {"model": [f"Invalid discriminator value. Expected {expected}"]}
    return details(branch.iter_errors(body))


def new_uuid() -> str:
    return str(uuid.uuid4())
