"""Apiframe webhook signatures, computed exactly as the official v2 SDK does (``src/webhooks.ts``).

The signing secret is the raw 32-byte SHA-256 digest of the full ``afk_...`` key (not its hex
string), the MAC is HMAC-SHA256 over the raw request body, and the ``X-Webhook-Signature``
header carries it as ``sha256=<hex>`` (a bare ``<hex>`` is accepted too). Verify the bytes as
received: re-serialising parsed JSON changes whitespace and breaks the MAC.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from pydantic import SecretStr

SIGNATURE_HEADER = "X-Webhook-Signature"
EVENT_HEADER = "X-Webhook-Event"

_PREFIX = "sha256="
_HEX = re.compile(r"[0-9a-fA-F]+")


def _secret(api_key: str | SecretStr) -> bytes:
    key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
    return hashlib.sha256(key.encode("utf-8")).digest()


def _mac(api_key: str | SecretStr, body: bytes) -> bytes:
    return hmac.new(_secret(api_key), body, hashlib.sha256).digest()


def sign(api_key: str | SecretStr, body: bytes) -> str:
    """The ``X-Webhook-Signature`` value Apiframe sends for ``body``: ``sha256=<lowercase hex>``."""
    return _PREFIX + _mac(api_key, body).hex()


def verify_signature(api_key: str | SecretStr, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is a valid signature of the raw ``body`` under ``api_key``.

    False for a missing, empty or garbled header and for an empty key. The comparison is
    constant-time over the decoded digests (hex case does not matter, as in the SDK).
    """
    key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
    if not key or not header:
        return False
    candidate = header.strip().removeprefix(_PREFIX)
    if not _HEX.fullmatch(candidate) or len(candidate) % 2:
        return False
    return hmac.compare_digest(bytes.fromhex(candidate), _mac(key, body))
