"""``sora-bot check`` with the ``[web]`` listener on, run as a real subprocess against both
loopback fakes: where it listens and is reached, what would keep webhooks from working, and a
port that cannot be bound."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from tests.conftest import run_cli


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def web_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("web: ")]


async def test_check_reports_where_the_listener_is_and_is_reached(
    write_config: Callable[..., Path],
) -> None:
    port = free_port()
    config = write_config(web={"enabled": True, "port": port,
                               "public_url": "https://bot.video-club.example"})
    code, out, err = await run_cli(config, "check")
    assert code == 0, err
    assert web_lines(out) == [f"web: listener on 127.0.0.1:{port}, public URL"
                              " https://bot.video-club.example, webhooks on"]
    with socket.socket() as again:  # free again once check is done
        again.bind(("127.0.0.1", port))


async def test_check_warns_about_webhooks_without_a_public_url(
    write_config: Callable[..., Path],
) -> None:
    code, out, err = await run_cli(write_config(web={"enabled": True, "port": free_port()}),
                                   "check")
    assert code == 0, err
    [listening, warning] = web_lines(out)
    assert listening.endswith("public URL (none), webhooks off")
    assert warning.startswith("web: WARNING webhooks are on but [web] public_url is not set")


async def test_check_warns_about_a_public_url_apiframe_cannot_reach(
    write_config: Callable[..., Path],
) -> None:
    port = free_port()
    config = write_config(web={"enabled": True, "port": port,
                               "public_url": f"http://127.0.0.1:{port}"})
    code, out, err = await run_cli(config, "check")
    assert code == 0, err
    [_listening, warning] = web_lines(out)
    assert warning.startswith(f"web: WARNING public_url http://127.0.0.1:{port} is a loopback")


async def test_check_says_nothing_of_a_listener_that_is_off(
    write_config: Callable[..., Path],
) -> None:
    code, out, err = await run_cli(write_config(), "check")
    assert code == 0, err
    assert web_lines(out) == []


async def test_check_fails_in_one_line_when_the_port_is_taken(
    write_config: Callable[..., Path],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        config = write_config(web={"enabled": True, "port": port, "webhooks": False})
        code, out, err = await run_cli(config, "check")
    assert code == 1
    assert err.splitlines() == [f"error: web.port: {port} on 127.0.0.1 is already in use"
                                " (choose another port, or stop what listens there)"]
    assert "discord: ok" not in out  # offline checks come first, and stop the run
