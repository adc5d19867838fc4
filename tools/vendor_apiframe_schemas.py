"""Cut the parts of Apiframe's OpenAPI document that the fake and the contract tests use.

Usage: python tools/vendor_apiframe_schemas.py SOURCE_OPENAPI_JSON [OUTPUT_JSON]

SOURCE is a copy of https://github.com/apiframe-ai/apiframe-nodejs-sdk/blob/main/openapi.json
(MIT-licensed SDK repository; the document's own ``info.license`` says "Proprietary"). The
output keeps the chosen paths and every component they reach, byte-for-byte as published,
with every video model's branch of ``GenerateVideoRequest.oneOf`` (the model catalog is
generated from them, and the fake validates every model's request body against them).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SOURCE_URL = "https://github.com/apiframe-ai/apiframe-nodejs-sdk/blob/main/openapi.json"
PATHS = (
    "/v2/videos/generate", "/v2/jobs", "/v2/jobs/{id}", "/v2/me", "/v2/uploads", "/v2/models",
)
EXTRA_SCHEMAS = ("ErrorResponse",)
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "tests" / "contracts" / "apiframe-openapi.subset.json"


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref)
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise SystemExit(f"external $ref not supported: {ref}")
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def subset(doc: dict[str, Any]) -> dict[str, Any]:
    paths = {path: doc["paths"][path] for path in PATHS}
    components: dict[str, dict[str, Any]] = {}
    pending = _refs(paths) | {f"#/components/schemas/{name}" for name in EXTRA_SCHEMAS}
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, section, name = ref[2:].split("/")
        node = json.loads(json.dumps(_resolve(doc, ref)))
        components.setdefault(section, {})[name] = node
        pending |= _refs(node)
    ordered = {
        section: {name: nodes[name] for name in sorted(nodes)}
        for section, nodes in sorted(components.items())
    }
    return {
        "openapi": doc["openapi"],
        "info": {
            **doc["info"],
            "x-vendored": {
                "source": SOURCE_URL,
                "licence": "MIT (SDK repository); the document's info.license reads 'Proprietary'",
                "tool": "tools/vendor_apiframe_schemas.py",
            },
        },
        "servers": doc.get("servers", []),
        "paths": paths,
        "components": ordered,
    }


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    doc = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    out = Path(argv[2]) if len(argv) == 3 else DEFAULT_OUTPUT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(subset(doc), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
