"""The download rules on their own: which addresses are public, which hosts are allowed by
default and by config, what counts as an MP4 (the end-to-end proofs are in
test_result_download_guard.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from bot.apiframe.client import ApiframeClient
from bot.apiframe.download_guard import DownloadPolicy, check_mp4_head, is_public
from bot.apiframe.errors import DownloadRefused
from bot.config import ConfigError, parse_settings


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
     "100.64.0.1", "0.0.0.0", "224.0.0.1",  # noqa: S104 (a value under test, not a bind)
     "239.255.255.250", "255.255.255.255", "::1", "::",
     "fe80::1", "fe80::1%1", "fc00::1", "fd12:3456::1", "ff02::1", "::ffff:127.0.0.1",
     "::ffff:10.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a00:1", "64:ff9b:1::808:808",
     "2002:a00:1::1", "not an address"],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "104.18.2.3", "2606:4700::1111",
                                     "::ffff:8.8.8.8", "64:ff9b::808:808"])
def test_public_addresses_pass(address: str) -> None:
    assert is_public(address)


def settings(**apiframe: Any) -> Any:
    raw = {"discord": {"token": "t"}, "apiframe": {"api_key": "afk_test", **apiframe}}
    return parse_settings(raw, env={})


def test_default_hosts_are_the_api_host_and_the_documented_cdns() -> None:
    policy = DownloadPolicy.from_config(settings().apiframe)

    assert policy.hosts == {"api.apiframe.ai", "cdn.apiframe.ai", "cdn2.apiframe.ai"}
    assert policy.allow_private is False
    policy.check_url(URL("https://cdn2.apiframe.ai/videos/b2c3d4e5.mp4?sig=x"))
    for refused in ("https://cdn3.apiframe.ai/v.mp4", "https://evil.example/v.mp4",
                    "https://cdn.apiframe.ai.evil.example/v.mp4", "ftp://cdn.apiframe.ai/v.mp4",
                    "https:///v.mp4"):
        with pytest.raises(DownloadRefused):
            policy.check_url(URL(refused))


def test_configured_hosts_replace_the_cdns_and_literals_are_checked() -> None:
    policy = DownloadPolicy.from_config(
        settings(download_hosts=["Media.Example.COM.", "[::1]", "10.0.0.5", "0:0::0:1"]).apiframe)

    assert policy.hosts == {"api.apiframe.ai", "media.example.com", "::1", "10.0.0.5"}
    policy.check_url(URL("https://media.example.com/v.mp4"))
    for literal in ("http://[::1]:8080/v.mp4", "http://10.0.0.5/v.mp4"):
        with pytest.raises(DownloadRefused, match="allow_private_addresses"):
            policy.check_url(URL(literal))
    DownloadPolicy(policy.hosts, allow_private=True).check_url(URL("http://10.0.0.5/v.mp4"))


@pytest.mark.parametrize(
    ("apiframe", "expected"),
    [
        ({"download_hosts": ["https://cdn.example.com"]}, "apiframe.download_hosts"),
        ({"download_hosts": ["cdn.example.com:443"]}, "apiframe.download_hosts"),
        ({"download_hosts": ["cafe.be:443"]}, "apiframe.download_hosts"),
        ({"download_hosts": [""]}, "apiframe.download_hosts"),
        ({"download_hosts": ["cdn.example.com/videos"]}, "apiframe.download_hosts"),
        ({"download_hosts": "cdn.example.com"}, "apiframe.download_hosts"),
        ({"allow_private_addresses": "yes"}, "apiframe.allow_private_addresses"),
        ({"extend_max_video_bytes": 10}, "apiframe.extend_max_video_bytes"),
    ],
)
def test_bad_download_settings_are_one_line(apiframe: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings(**apiframe)
    assert expected in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "head",
    [b"", b"\x00\x00\x00\x18ftyp", b"<html><body>hi</body></html>", b"\x89PNG\r\n\x1a\n" + bytes(8),
     b"\x00\x00\x00\x18moovisom\x00\x00\x02\x00", b"\x00\x00\x00\x04ftypisom\x00\x00\x02\x00"],
)
def test_only_an_ftyp_box_passes_as_mp4(head: bytes) -> None:
    with pytest.raises(DownloadRefused, match="not an MP4"):
        check_mp4_head(head)


def test_an_ftyp_box_passes() -> None:
    check_mp4_head(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00")


async def test_a_client_without_a_gate_downloads_nothing(
    http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    client = ApiframeClient(http, api_key="afk_x", base_url="https://api.apiframe.ai", timeout=5)

    with pytest.raises(DownloadRefused):
        await client.download_to("https://cdn2.apiframe.ai/videos/a.mp4", tmp_path / "a.mp4",
                                 max_bytes=1024)
    assert list(tmp_path.iterdir()) == []
