"""The listener itself: routes others add, a clean stop, and a port in use at start-up."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.config import ConfigError, parse_settings
from bot.config_web import WebConfig
from bot.jobs.model import JobState
from bot.web.server import ListenerError, WebServer
from tests.conftest import APIFRAME_KEY, DISCORD_TOKEN, run_cli
from tests.sora_harness import GENERATE, ConfigWriter, Starter
from tests.web.conftest import free_port, web_section


async def hello(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def test_routes_from_others_share_the_listener_until_it_stops() -> None:
    port = free_port()
    server = WebServer(WebConfig(enabled=True, port=port), routes=[web.get("/a", hello)])
    server.add_routes([web.get("/healthz", hello)])  # as bot/web/ops.py would
    await server.start()
    try:
        assert server.port == port
        async with aiohttp.ClientSession() as http:
            for path in ("/a", "/healthz"):
                async with http.get(f"http://127.0.0.1:{port}{path}") as response:
                    assert (response.status, await response.text()) == (200, "ok")
        with pytest.raises(RuntimeError):
            server.add_routes([web.get("/late", hello)])
    finally:
        await server.stop()
    with socket.socket() as probe:  # the port is free again: the stop was clean
        probe.bind(("127.0.0.1", port))


async def test_a_port_in_use_is_one_line_naming_web_port() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        server = WebServer(WebConfig(enabled=True, port=port))
        with pytest.raises(ListenerError) as caught:
            await server.start()
    assert str(caught.value).startswith(f"web.port: {port} on 127.0.0.1 is already in use")
    assert "\n" not in str(caught.value) and not server.running


async def test_run_stops_in_one_line_when_the_port_is_taken(write_config: ConfigWriter) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        config: Path = write_config(web=web_section(port))
        code, _out, err = await run_cli(config, "run")
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert lines == [f"error: web.port: {port} on 127.0.0.1 is already in use (choose another"
                     " port, or stop what listens there)"]
    assert DISCORD_TOKEN not in err and APIFRAME_KEY not in err


def settings_with_web(**web_table: Any) -> None:
    parse_settings({"discord": {"token": DISCORD_TOKEN}, "apiframe": {"api_key": APIFRAME_KEY},
                    "web": web_table}, env={})


@pytest.mark.parametrize(("table", "line"), [
    ({"enabled": True, "public_url": "http://bot.example.org"},
     "web.public_url: must be https (http only for 127.0.0.1 or localhost)"),
    ({"enabled": True, "public_url": "https://bot.example.org/hook?x=1"},
     "web.public_url: must be an https URL without query or fragment"),
    ({"enabled": True, "webhooks": True},
     "web.public_url: required when web.webhooks = true"),
    ({"enabled": True, "public_url": "https://bot.example.com"},
     "web.public_url: still the example's placeholder"),
    ({"enabled": True, "port": "8080"}, "web.port: must be a whole number, without quotes"),
    ({"enabled": True, "port": 70000}, "web.port: "),
    ({"enabled": "yes"}, "web.enabled: must be true or false, without quotes"),
    ({"enabled": True, "host": "not a host!"}, "web.host: must be an IP address or host name"),
    ({"max_body_bytes": 10}, "web.max_body_bytes: "),
    ({"public_ulr": "https://x.example"}, "web.public_ulr: unknown key"),
])
def test_web_config_errors_are_one_line_naming_the_key(table: dict[str, Any], line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_with_web(**table)
    assert str(caught.value).startswith(line)
    assert "\n" not in str(caught.value)


def test_webhooks_are_on_only_with_the_listener_and_a_public_url() -> None:
    assert not WebConfig().webhooks_on
    assert not WebConfig(enabled=True).webhooks_on  # the listener alone, e.g. for /healthz
    assert not WebConfig(public_url="https://bot.example.org").webhooks_on
    assert WebConfig(enabled=True, public_url="https://bot.example.org").webhooks_on
    assert not WebConfig(enabled=True, public_url="https://bot.example.org",
                         webhooks=False).webhooks_on


async def test_without_webhooks_the_listener_serves_none_and_stops_with_the_bot(
    start: Starter,
) -> None:
    port = free_port()
    h = await start(web=web_section(port, webhooks=False))
    iid = await h.send_sora("a lighthouse in fog")
    await h.created_job(iid)
    await h.until(lambda: bool(h.apiframe_requests(GENERATE)), what="the submission")
    assert "webhookUrl" not in h.apiframe_requests(GENERATE)[0].json
    assert h.bot.webhooks is None
    async with aiohttp.ClientSession() as http, http.post(
        f"http://127.0.0.1:{port}/webhooks/apiframe", data=b"{}"
    ) as response:
        assert response.status == 404
    await h.bot.close()
    with socket.socket() as probe:  # the bot's stop closed the listener
        probe.bind(("127.0.0.1", port))


async def test_the_running_bot_serves_healthz_and_metrics_on_its_listener(
    start: Starter,
) -> None:
    """The ops routes are mounted on the bot's own listener: healthy while the bot runs, and
    /metrics counts the job it just delivered."""
    port = free_port()
    h = await start(web=web_section(port, webhooks=False))
    job = await h.created_job(await h.send_sora("a lighthouse in fog"))
    await h.run_until(job.id, JobState.DELIVERED)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert (response.status, await response.json()) == (200, {"status": "ok"})
        async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
            assert response.status == 200
            text = await response.text()
    assert f'sora_credits_charged_total{{model="sora-2-pro"}} {float(job.price)}' in text
    assert 'sora_jobs{state="delivered"} 1.0' in text
