"""Check the bot's request bodies (and the fake's own replies) against Discord's OpenAPI schemas.

The schemas are the vendored subset in ``tests/contracts/discord-openapi.subset.json`` (see
``tools/vendor_discord_schemas.py``). Two deliberate departures, both from Discord's docs:

* Snowflakes: the spec types them as numeric strings, but Discord parses JSON integers too and
  discord.py sends some as ints (``attachments[].id`` placeholders, ``File.to_dict``), so the
  validator accepts non-negative integers wherever the spec says ``SnowflakeType``.
* Message limits the spec gets wrong or cannot express: content is at most 2000 characters
  (the spec says 4000 on channel messages; the docs say 2000 — "follow the docs"), and all
  embeds of one message together hold at most 6000 characters (message.mdx "Embed Limits").
* Components V2 (components.mdx, "Using Message Components"): with the ``IS_COMPONENTS_V2``
  flag (1 << 15) ``content``, ``embeds``, ``poll`` and ``sticker_ids`` are refused; a message
  holds at most 40 components counting nested ones, its text displays at most 4000
  characters together; an ``attachment://name`` URL must name a file of the message; layout
  components (section, text display, thumbnail, media gallery, file, separator, container)
  are refused without the flag.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SUBSET_PATH = Path(__file__).resolve().parent.parent / "contracts" / "discord-openapi.subset.json"
_DOC_URI = "urn:discord-openapi-subset"

CONTENT_LIMIT = 2000
EMBEDS_TOTAL_LIMIT = 6000
IS_COMPONENTS_V2 = 1 << 15
COMPONENTS_TOTAL_LIMIT = 40
TEXT_DISPLAY_TOTAL_LIMIT = 4000
#: Component types only a V2 message may hold (components.mdx "Component Types").
V2_TYPES = frozenset({9, 10, 11, 12, 13, 14, 17})
#: Discord's code for content/embeds beside the V2 flag.
LEGACY_FIELDS_WITH_V2 = "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2"
#: Operations that create a message (an edit's flag depends on the message: see
#: tests/fakes/discord_messages.py).
CREATE_OPERATIONS = frozenset({"create_message", "execute_webhook"})

#: Operations whose body becomes a message (so the docs' message limits apply).
MESSAGE_OPERATIONS = frozenset(
    {
        "create_message",
        "update_message",
        "execute_webhook",
        "update_original_webhook_message",
        "update_webhook_message",
    }
)


@dataclass(frozen=True)
class Problem:
    """One invalid field: where (JSON path), Discord's error code name, and a message."""

    path: tuple[str | int, ...]
    code: str
    message: str

    def describe(self, operation_id: str) -> str:
        where = ".".join(str(p) for p in self.path) or "<body>"
        return f"{operation_id}: {where}: {self.message}"


def discord_errors(problems: list[Problem]) -> dict[str, Any]:
    """Discord's nested ``errors`` object of a 50035 Invalid Form Body reply."""
    root: dict[str, Any] = {}
    for problem in problems:
        node = root
        for part in problem.path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": problem.code, "message": problem.message})
    return root


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


_CODES = {
    "maxLength": "BASE_TYPE_BAD_LENGTH",
    "minLength": "BASE_TYPE_BAD_LENGTH",
    "maxItems": "BASE_TYPE_MAX_LENGTH",
    "minItems": "BASE_TYPE_MIN_LENGTH",
    "required": "BASE_TYPE_REQUIRED",
    "type": "BASE_TYPE_INVALID",
    "enum": "BASE_TYPE_CHOICES",
}


_MESSAGES = {
    "maxLength": "Must be {} or fewer in length.",
    "minLength": "Must be {} or more in length.",
    "maxItems": "Must be {} or fewer in length.",
    "minItems": "Must be {} or more in length.",
}


def _problem(error: ValidationError) -> Problem:
    kind = str(error.validator)
    template = _MESSAGES.get(kind)
    message = template.format(error.validator_value) if template else _short(error.message)
    return Problem(tuple(error.absolute_path), _CODES.get(kind, "BASE_TYPE_INVALID"), message)


def _deepest(error: ValidationError) -> ValidationError:
    """For a failed union, the branch error that got furthest into the body."""
    if not error.context:
        return error
    candidates = [_deepest(e) for e in error.context]
    return max(candidates, key=lambda e: len(e.absolute_path))


def _branch_types(doc: dict[str, Any], branch: Any) -> list[Any] | None:
    """The ``type`` values a union branch (a ``$ref`` to an object schema that requires
    ``type``) accepts, or None if it is not such a branch."""
    if not isinstance(branch, dict) or set(branch) != {"$ref"}:
        return None
    target: Any = doc
    for part in str(branch["$ref"])[2:].split("/"):
        target = target[part]
    if "type" not in target.get("required", ()):
        return None
    kind = target.get("properties", {}).get("type", {})
    if "const" in kind:
        return [kind["const"]]
    values = kind.get("enum")
    return list(values) if isinstance(values, list) and values else None


def _discriminate(doc: dict[str, Any], node: Any) -> None:
    """Rewrite every union discriminated by ``type`` (components, interaction callbacks) as
    ``if type is …, then that branch``: the same instances pass and fail, but jsonschema no
    longer validates a nested card against every component type at every level (a V2 card
    took ~50 ms that way, time the bot under test loses when the fake runs beside it)."""
    if isinstance(node, list):
        for item in node:
            _discriminate(doc, item)
        return
    if not isinstance(node, dict):
        return
    for keyword in ("oneOf", "anyOf"):
        branches = node.get(keyword)
        if not isinstance(branches, list) or len(branches) < 2:
            continue
        kinds = [_branch_types(doc, branch) for branch in branches]
        flat = [value for values in kinds if values is not None for value in values]
        if any(values is None for values in kinds) or len(flat) != len(set(flat)):
            continue  # not a union told apart by ``type`` alone: left as it is
        del node[keyword]
        node.setdefault("allOf", []).extend(
            [{"required": ["type"], "properties": {"type": {"enum": flat}}}]
            + [{"if": {"properties": {"type": {"enum": values}}}, "then": branch}
               for values, branch in zip(kinds, branches, strict=True)])
    for value in list(node.values()):
        _discriminate(doc, value)


class OpenApiContract:
    """Validators for request and response bodies of the vendored operations, by operationId."""

    def __init__(self, document: dict[str, Any]) -> None:
        doc = copy.deepcopy(document)
        schemas = doc["components"]["schemas"]
        schemas["SnowflakeType"] = {
            "anyOf": [schemas["SnowflakeType"], {"type": "integer", "minimum": 0}]
        }
        _discriminate(doc, doc)
        self._doc = doc
        resource = Resource.from_contents(doc, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(_DOC_URI, resource)
        self._pointers: dict[str, tuple[str, str]] = {}
        for path, item in doc["paths"].items():
            for method, op in item.items():
                if method != "parameters":
                    self._pointers[op["operationId"]] = (path, method)
        self._validators: dict[str, Draft202012Validator] = {}

    @classmethod
    def load(cls, path: Path = SUBSET_PATH) -> OpenApiContract:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def operation(self, operation_id: str) -> dict[str, Any]:
        path, method = self._pointers[operation_id]
        op: dict[str, Any] = self._doc["paths"][path][method]
        return op

    def request_problems(self, operation_id: str, body: Any) -> list[Problem]:
        """Schema problems of a JSON (or multipart ``payload_json``) body, plus docs limits."""
        op = self.operation(operation_id)
        request_body = op.get("requestBody")
        if request_body is None:
            return []
        if body is None:
            if request_body.get("required"):
                return [Problem((), "BASE_TYPE_REQUIRED", "a JSON body is required")]
            return []
        path, method = self._pointers[operation_id]
        pointer = _pointer("paths", path, method, "requestBody", "content", "application/json")
        schema = request_body["content"]["application/json"]["schema"]
        branch = self._union_branch(schema, body)
        ref = branch if branch is not None else f"#/{pointer}/schema"
        problems = self._check(ref, body)
        limits: list[Problem] = []
        if operation_id in MESSAGE_OPERATIONS:
            limits = message_limit_problems(body, creating=operation_id in CREATE_OPERATIONS)
        elif (
            operation_id == "create_interaction_response"
            and isinstance(body, dict)
            and body.get("type") in (4, 7)
        ):
            limits = [
                Problem(("data", *p.path), p.code, p.message)
                for p in message_limit_problems(body.get("data"), creating=body["type"] == 4)
            ]
        flagged = {p.path for p in problems}
        return problems + [p for p in limits if p.path not in flagged]

    def response_problems(self, operation_id: str, status: int, body: Any) -> list[Problem]:
        """Problems of a reply the fake is about to send (a self-check of the fake's fidelity)."""
        responses = self.operation(operation_id)["responses"]
        key = str(status) if str(status) in responses else f"{str(status)[0]}XX"
        if key not in responses:
            return [Problem((), "UNDOCUMENTED", f"status {status} is not in the spec")]
        response = responses[key]
        if "$ref" in response:
            ref = response["$ref"] + "/content/application~1json/schema"
        else:
            path, method = self._pointers[operation_id]
            if "application/json" not in response.get("content", {}):
                return []
            ref = "#/" + _pointer(
                "paths", path, method, "responses", key, "content", "application/json", "schema"
            )
        return self._check(ref, body)

    def _union_branch(self, schema: dict[str, Any], body: Any) -> str | None:
        """For ``anyOf`` unions discriminated by ``type`` (interaction callbacks), the branch
        matching ``body["type"]`` — its errors say what is wrong instead of "no branch fits"."""
        if not isinstance(body, dict) or "anyOf" not in schema:
            return None
        for option in schema["anyOf"]:
            ref = option.get("$ref", "")
            target: Any = self._doc
            for part in ref[2:].split("/"):
                target = target[part]
            enum = target.get("properties", {}).get("type", {}).get("enum", [])
            if body.get("type") in enum:
                return str(ref)
        return None

    def _check(self, ref: str, body: Any) -> list[Problem]:
        validator = self._validators.get(ref)
        if validator is None:
            validator = Draft202012Validator({"$ref": f"{_DOC_URI}{ref}"}, registry=self._registry)
            self._validators[ref] = validator
        # Unions report one error per branch; the deepest one says what is wrong.
        return [_problem(_deepest(e)) for e in validator.iter_errors(body)]


def message_limit_problems(body: Any, *, creating: bool = True) -> list[Problem]:
    """The docs' message limits that the schema does not (correctly) express. ``creating``
    False (an edit): whether the message is V2 also depends on the message, so the V2 rules
    of the body's own flag apply here and the rest where the edit is applied."""
    if not isinstance(body, dict):
        return []
    problems: list[Problem] = []
    flags = body.get("flags")
    v2 = isinstance(flags, int) and bool(flags & IS_COMPONENTS_V2)
    if v2 or creating:
        # An edit's attachment:// names are checked against the message where it is applied.
        problems += components_v2_problems(body, v2=v2, kept_names=frozenset() if creating
                                           else None)
    content = body.get("content")
    if isinstance(content, str) and len(content) > CONTENT_LIMIT:
        problems.append(
            Problem(
                ("content",), "BASE_TYPE_BAD_LENGTH", f"Must be {CONTENT_LIMIT} or fewer in length."
            )
        )
    embeds = body.get("embeds")
    if isinstance(embeds, list):
        total = sum(_embed_chars(e) for e in embeds if isinstance(e, dict))
        if total > EMBEDS_TOTAL_LIMIT:
            problems.append(
                Problem(
                    ("embeds",),
                    "MAX_EMBED_SIZE_EXCEEDED",
                    f"Embed size exceeds maximum size of {EMBEDS_TOTAL_LIMIT}",
                )
            )
    return problems


def _embed_chars(embed: dict[str, Any]) -> int:
    def text(value: Any) -> int:
        return len(value) if isinstance(value, str) else 0

    total = text(embed.get("title")) + text(embed.get("description"))
    for key, inner in (("footer", "text"), ("author", "name")):
        part = embed.get(key)
        if isinstance(part, dict):
            total += text(part.get(inner))
    for fld in embed.get("fields") or []:
        if isinstance(fld, dict):
            total += text(fld.get("name")) + text(fld.get("value"))
    return total


def attachment_problems(
    body: Any, file_indices: AbstractSet[int], existing_ids: AbstractSet[int] = frozenset()
) -> list[Problem]:
    """Each ``attachments[].id`` must name a ``files[n]`` part or an attachment being kept."""
    if not isinstance(body, dict) or not isinstance(body.get("attachments"), list):
        return []
    problems = []
    for index, item in enumerate(body["attachments"]):
        raw: Any = item.get("id") if isinstance(item, dict) else None
        try:
            ident = int(raw)
        except (TypeError, ValueError):
            continue  # the schema check reports a missing or malformed id
        if ident not in file_indices and ident not in existing_ids:
            problems.append(
                Problem(
                    ("attachments", index, "id"),
                    "ATTACHMENT_NOT_FOUND",
                    f"no files[{ident}] part and no existing attachment with that id",
                )
            )
    return problems


def is_empty_message(body: Any, file_count: int) -> bool:
    """Discord's 50006 "Cannot send an empty message"."""
    if file_count:
        return False
    if not isinstance(body, dict):
        return True
    return not any(
        body.get(key) for key in ("content", "embeds", "components", "poll", "sticker_ids")
    )


def walk_components(components: Any) -> list[dict[str, Any]]:
    """Every component of a list, depth first, nested ones (and section accessories) too."""
    found: list[dict[str, Any]] = []
    for item in components if isinstance(components, list) else []:
        if not isinstance(item, dict):
            continue
        found.append(item)
        found += walk_components(item.get("components"))
        if isinstance(item.get("accessory"), dict):
            found.append(item["accessory"])
    return found


def _attachment_names(body: dict[str, Any]) -> set[str] | None:
    """The file names a message body names in ``attachments`` (None: the key is absent, so
    an edit keeps whatever the message has)."""
    items = body.get("attachments")
    if not isinstance(items, list):
        return None
    return {str(a["filename"]) for a in items if isinstance(a, dict) and a.get("filename")}


def components_v2_problems(
    body: dict[str, Any], *, v2: bool, kept_names: AbstractSet[str] | None = frozenset()
) -> list[Problem]:
    """Discord's Components V2 rules for a message body (``v2``: the message has the flag).

    ``kept_names``: file names of attachments an edit keeps without listing them (None: not
    known here, so ``attachment://`` names are not checked)."""
    problems: list[Problem] = []
    components = walk_components(body.get("components"))
    if not v2:
        for index, item in enumerate(body.get("components") or []):
            if isinstance(item, dict) and item.get("type") in V2_TYPES:
                problems.append(Problem(
                    ("components", index, "type"), "BASE_TYPE_CHOICES",
                    f"component type {item.get('type')} needs the IS_COMPONENTS_V2 flag"))
        return problems
    for key in ("content", "embeds", "poll", "sticker_ids"):
        if body.get(key):
            problems.append(Problem(
                (key,), LEGACY_FIELDS_WITH_V2,
                f"The '{key}' field cannot be used when using MessageFlags.IS_COMPONENTS_V2"))
    if len(components) > COMPONENTS_TOTAL_LIMIT:
        problems.append(Problem(
            ("components",), "BASE_TYPE_MAX_LENGTH",
            f"Must be {COMPONENTS_TOTAL_LIMIT} or fewer in length (nested components count)."))
    text = sum(len(c.get("content") or "") for c in components if c.get("type") == 10)
    if text > TEXT_DISPLAY_TOTAL_LIMIT:
        problems.append(Problem(
            ("components",), "BASE_TYPE_BAD_LENGTH",
            f"Text displays must hold {TEXT_DISPLAY_TOTAL_LIMIT} or fewer characters in total."))
    named = _attachment_names(body)
    if named is None and kept_names is None:
        return problems
    names = set(kept_names or ()) if named is None else named
    for component in components:
        media = [component.get("media")] + [i.get("media") for i in component.get("items") or []
                                            if isinstance(i, dict)]
        for item in media:
            url = item.get("url") if isinstance(item, dict) else None
            if isinstance(url, str) and url.startswith("attachment://") \
                    and url.removeprefix("attachment://") not in names:
                problems.append(Problem(
                    ("components",), "UNFURLED_MEDIA_ATTACHMENT_NOT_FOUND",
                    f"{url} names no file of this message"))
    return problems
