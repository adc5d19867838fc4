"""Webhook signatures against the SDK-derived vector in reference/apiframe-api.md §13.4."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.apiframe.webhooks import sign, verify_signature

KEY = "afk_0000000000000000000000000000000000000000"
BODY = b'{"jobId":"abc","status":"COMPLETED"}'
GOOD_HEX = "58e6d7af820911d918b1b43ade255ec260002ca8b24ba46dd057a99d192c89f4"
# HMAC keyed with the *hex string* of SHA-256(key): what a wrong reading of the docs produces.
HEX_KEY_VARIANT = "2cb660473e59908c969f761f7444eda6c9067d13d2d83a0057fb8fb5197c60af"


def test_secret_digest_matches_reference() -> None:
    assert hashlib.sha256(KEY.encode()).hexdigest() == (
        "382a5d4e99097be0aae13d079c926456aecf0f08d668a01a0da17badbfcf7ccb"
    )


def test_sign_matches_reference_vector() -> None:
    assert sign(KEY, BODY) == f"sha256={GOOD_HEX}"
    assert sign(SecretStr(KEY), BODY) == f"sha256={GOOD_HEX}"


@pytest.mark.parametrize(
    "header",
    [f"sha256={GOOD_HEX}", GOOD_HEX, f"  sha256={GOOD_HEX}  ", f"sha256={GOOD_HEX.upper()}"],
)
def test_good_signature_accepted(header: str) -> None:
    assert verify_signature(KEY, BODY, header) is True
    assert verify_signature(SecretStr(KEY), BODY, header) is True


def test_hex_string_key_variant_rejected() -> None:
    wrong = hmac.new(
        hashlib.sha256(KEY.encode()).hexdigest().encode(), BODY, hashlib.sha256
    ).hexdigest()
    assert wrong == HEX_KEY_VARIANT
    assert verify_signature(KEY, BODY, f"sha256={HEX_KEY_VARIANT}") is False
    assert verify_signature(KEY, BODY, HEX_KEY_VARIANT) is False


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha256",
        f"sha1={GOOD_HEX}",
        f"sha256={GOOD_HEX[:-2]}",  # truncated digest
        f"sha256={GOOD_HEX}00",  # extra byte
        f"sha256={GOOD_HEX[:-1]}",  # odd length
        f"sha256={GOOD_HEX[:-1]}g",  # not hex
        f"sha256={GOOD_HEX[:-1]}\u0660",  # non-ASCII digit
        f"sha256=sha256={GOOD_HEX}",
    ],
)
def test_bad_headers_rejected(header: str | None) -> None:
    assert verify_signature(KEY, BODY, header) is False


def test_other_key_or_body_rejected() -> None:
    header = sign(KEY, BODY)
    assert verify_signature("afk_" + "1" * 40, BODY, header) is False
    assert verify_signature(KEY, BODY + b" ", header) is False
    assert verify_signature(KEY, b'{"jobId": "abc", "status": "COMPLETED"}', header) is False
    assert verify_signature("", BODY, header) is False


@given(key=st.text(min_size=1, max_size=60), body=st.binary(max_size=512))
def test_sign_verify_round_trip(key: str, body: bytes) -> None:
    header = sign(key, body)
    assert header.startswith("sha256=") and header == header.lower()
    assert verify_signature(key, body, header)
    assert not verify_signature(key, body + b"x", header)
