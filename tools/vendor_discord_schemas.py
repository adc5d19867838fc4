"""Extract the operations the fake Discord serves from Discord's official OpenAPI document.

The full spec (discord/discord-api-spec, specs/openapi.json, MIT) is 1.2 MB; the tests need a
dozen operations. This copies those operations plus every component they reach through
``$ref`` (transitively) into ``tests/contracts/discord-openapi.subset.json``, unchanged, so the
fake validates the bot's requests against Discord's own schemas without the big file or the
network. Run it by hand when the spec is updated:

    python tools/vendor_discord_schemas.py [path/to/openapi.json]

Nothing reads the source spec at test time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO.parent / "shared" / "contracts" / "discord-openapi.json"
DEFAULT_TARGET = REPO / "tests" / "contracts" / "discord-openapi.subset.json"
SOURCE_URL = "https://github.com/discord/discord-api-spec/blob/main/specs/openapi.json"

#: (path, method) of every operation tests/fakes/discord_*.py implements.
OPERATIONS: tuple[tuple[str, str], ...] = (
    ("/users/@me", "get"),
    ("/oauth2/applications/@me", "get"),
    ("/gateway/bot", "get"),
    ("/applications/{application_id}/commands", "put"),
    ("/applications/{application_id}/guilds/{guild_id}/commands", "put"),
    ("/interactions/{interaction_id}/{interaction_token}/callback", "post"),
    ("/webhooks/{webhook_id}/{webhook_token}", "post"),
    ("/webhooks/{webhook_id}/{webhook_token}/messages/@original", "get"),
    ("/webhooks/{webhook_id}/{webhook_token}/messages/@original", "patch"),
    ("/webhooks/{webhook_id}/{webhook_token}/messages/@original", "delete"),
    ("/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", "get"),
    ("/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", "patch"),
    ("/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", "delete"),
    ("/channels/{channel_id}", "get"),
    ("/channels/{channel_id}/messages", "post"),
    ("/channels/{channel_id}/messages/{message_id}", "get"),
    ("/channels/{channel_id}/messages/{message_id}", "patch"),
    ("/channels/{channel_id}/messages/{message_id}", "delete"),
    # Credit packs (issue 13): the entitlement routes the bot and the fake use.
    ("/applications/{application_id}/entitlements", "get"),
    ("/applications/{application_id}/entitlements/{entitlement_id}", "get"),
    ("/applications/{application_id}/entitlements/{entitlement_id}/consume", "post"),
)


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "$ref" and isinstance(value, str):
                    found.add(value)
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _resolve(spec: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are supported, got {ref!r}")
    node: Any = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def extract(spec: dict[str, Any], source_sha256: str) -> dict[str, Any]:
    """The subset document: the chosen operations and the closure of their $refs."""
    paths: dict[str, dict[str, Any]] = {}
    for path, method in OPERATIONS:
        item = spec["paths"][path]
        target = paths.setdefault(path, {})
        if "parameters" in item:
            target["parameters"] = item["parameters"]
        target[method] = item[method]

    pending = _refs(paths)
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref not in seen:
            seen.add(ref)
            pending |= _refs(_resolve(spec, ref)) - seen

    components: dict[str, dict[str, Any]] = {}
    for ref in sorted(seen):
        _, _, section, name = ref.split("/", 3)
        components.setdefault(section, {})[name] = _resolve(spec, ref)
    # Operations name their security schemes without $ref; keep them for completeness.
    components["securitySchemes"] = spec["components"]["securitySchemes"]

    info = dict(spec["info"])
    info["x-vendored-from"] = {
        "url": SOURCE_URL,
        "sha256": source_sha256,
        "license": "MIT (see info.license and the repository's LICENSE)",
        "tool": "tools/vendor_discord_schemas.py",
    }
    return {
        "openapi": spec["openapi"],
        "info": info,
        "servers": spec.get("servers", []),
        "paths": paths,
        "components": components,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--output", type=Path, default=DEFAULT_TARGET)
    args = parser.parse_args(argv)

    raw = args.source.read_bytes()
    subset = extract(json.loads(raw), hashlib.sha256(raw).hexdigest())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(subset, indent=1, ensure_ascii=False) + "\n"
    args.output.write_text(text, encoding="utf-8")
    count = sum(len(v) for v in subset["components"].values())
    print(f"wrote {args.output} ({len(OPERATIONS)} operations, {count} components)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
