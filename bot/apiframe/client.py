"""The Apiframe v2 HTTP client: typed calls, the SDK's retry policy, streaming downloads.

Behaviour follows Apiframe's official v2 Node SDK (``src/http.ts``):

* ``X-API-Key`` auth; the key is sent only to ``base_url`` and never to a redirect target or
  the CDN, and it is masked out of every response text before errors are built from it.
* 429 is always retried, waiting exactly ``Retry-After`` when present; 5xx (except 501),
  timeouts and connection failures are retried only when repeating the call is safe: GETs and
  POSTs carrying an ``Idempotency-Key``. Otherwise full-jitter exponential backoff (base 0.25 s,
  cap 8 s), at most ``max_retries`` retries, then the last error is raised. (Beneath this,
  aiohttp itself re-sends a GET once, immediately, if the connection drops before any
  response: RFC 9112 §9.3.1. That is harmless for GETs and never happens for POSTs.)
* Every request carries an explicit :class:`aiohttp.ClientTimeout`.
* The retry loop itself is :mod:`bot.apiframe.retries`.

The session is owned by the application; the client never closes it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from random import random as _uniform
from typing import Any
from urllib.parse import quote

import aiohttp
from pydantic import SecretStr
from yarl import URL

from bot.apiframe.download_guard import AddressRefused, DownloadGate, parse_url, stream_mp4

# Errors and models are re-exported (``X as X``): callers import everything from here.
from bot.apiframe.errors import ApiframeError as ApiframeError
from bot.apiframe.errors import ApiframeTimeout as ApiframeTimeout
from bot.apiframe.errors import AuthError as AuthError
from bot.apiframe.errors import Conflict as Conflict
from bot.apiframe.errors import DownloadRefused as DownloadRefused
from bot.apiframe.errors import MalformedResponse as MalformedResponse
from bot.apiframe.errors import ModelUnavailable as ModelUnavailable
from bot.apiframe.errors import NotFound as NotFound
from bot.apiframe.errors import ProviderOutOfCredits as ProviderOutOfCredits
from bot.apiframe.errors import RateLimited as RateLimited
from bot.apiframe.errors import ResponseTooLarge as ResponseTooLarge
from bot.apiframe.errors import ServerError as ServerError
from bot.apiframe.errors import TransportError as TransportError
from bot.apiframe.errors import ValidationFailed as ValidationFailed
from bot.apiframe.errors import check_size, error_for_response, redact, refused_model
from bot.apiframe.models import CatalogEntry as CatalogEntry
from bot.apiframe.models import JobAccepted as JobAccepted
from bot.apiframe.models import JobPage as JobPage
from bot.apiframe.models import JobStatus as JobStatus
from bot.apiframe.models import Me as Me
from bot.apiframe.models import Modality as Modality
from bot.apiframe.models import ModelCatalog as ModelCatalog
from bot.apiframe.models import ProviderJob as ProviderJob
from bot.apiframe.models import Upload as Upload
from bot.apiframe.models import WebhookEvent as WebhookEvent
from bot.apiframe.models import parse_model
from bot.apiframe.retries import Retries
from bot.metrics import Metrics

log = logging.getLogger(__name__)

#: A JSON answer bigger than this is refused rather than buffered (a 100-job page is ~100 KB).
MAX_JSON_BYTES = 8 * 1024 * 1024
_CHUNK = 256 * 1024
_MAX_IDEMPOTENCY_KEY = 255


class ApiframeClient:
    """One object per process, built in ``main()`` around the app's ``aiohttp`` session.

    ``sleep``, ``random`` and ``clock`` are injectable so tests can observe retry waits, make
    jitter deterministic and evaluate HTTP-date ``Retry-After`` values without real time.
    A ``Retry-After`` longer than ``max_retry_after`` seconds is not waited out: the
    :class:`RateLimited` error is raised at once so the caller can reschedule instead of
    holding a task for minutes.

    Downloads go through ``downloads`` only (its own session and rules, see
    :mod:`bot.apiframe.download_guard`); a client built without one refuses every download.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_key: SecretStr | str,
        base_url: str,
        timeout: float,
        max_retries: int = 2,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        random: Callable[[], float] = _uniform,
        clock: Callable[[], float] = time.time,
        max_retry_after: float = 60.0,
        user_agent: str = "sora-discord-bot/0.1 (+aiohttp)",
        downloads: DownloadGate | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if max_retries < 0:
            raise ValueError("max_retries must not be negative")
        self._session = session
        self._api_key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        self._base = URL(base_url.rstrip("/"))
        self._timeout = timeout
        self._client_timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_retries = max_retries
        self._retries = Retries(max_retries=max_retries, max_retry_after=max_retry_after,
                                jitter=random, sleep=sleep)
        self._clock = clock
        self._user_agent = user_agent
        self._downloads = downloads
        # Every request and failure is counted here, the one request path (and downloads).
        self._metrics = metrics if metrics is not None else Metrics()

    def __repr__(self) -> str:
        return (
            f"ApiframeClient(base_url={str(self._base)!r}, timeout={self._timeout!r}, "
            f"max_retries={self._max_retries!r})"
        )

    # ----------------------------------------------------------------- endpoints

    async def generate(
        self,
        *,
        prompt: str,
        model: str,
        params_field: str,
        params: Mapping[str, object],
        params_required: bool = False,
        idempotency_key: str,
        webhook_url: str | None = None,
        webhook_events: Sequence[WebhookEvent] | None = None,
    ) -> JobAccepted:
        """Submit a video job (``POST /v2/videos/generate``, 202).

        ``params`` is the model's block (checked by :meth:`bot.catalog.video.VideoModel.to_params`),
        sent as ``params_field`` (``soraParams``, ``veoParams`` …), even empty when required.
        Reuse the same ``idempotency_key`` for every attempt at one user command: a replay
        returns the original job instead of charging twice, which is also what makes this
        POST safe to retry on 5xx and timeouts. :class:`ModelUnavailable` if ``model`` is refused.
        """
        if not idempotency_key or len(idempotency_key) > _MAX_IDEMPOTENCY_KEY:
            raise ValueError(f"idempotency_key must be 1-{_MAX_IDEMPOTENCY_KEY} characters")
        body: dict[str, Any] = {"prompt": prompt, "model": model}
        if params or params_required:
            body[params_field] = dict(params)
        if webhook_url is not None:
            body["webhookUrl"] = webhook_url
        if webhook_events is not None:
            body["webhookEvents"] = list(webhook_events)
        try:
            payload = await self._call("POST", ("v2", "videos", "generate"), json_body=body,
                                       idempotency_key=idempotency_key)
        except ValidationFailed as exc:
            raise refused_model(exc, model) from None
        return parse_model(JobAccepted, payload, "POST /v2/videos/generate")

    async def get_job(self, job_id: str) -> ProviderJob:
        """``GET /v2/jobs/{id}``; :class:`NotFound` for an unknown job or another user's."""
        if not job_id:
            raise ValueError("job_id must not be empty")
        payload = await self._call("GET", ("v2", "jobs", job_id))
        return parse_model(ProviderJob, payload, f"GET /v2/jobs/{quote(job_id, safe='')}")

    async def list_jobs(
        self,
        *,
        status: JobStatus | str | None = None,
        model: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JobPage:
        """One page of ``GET /v2/jobs``, newest first."""
        query: dict[str, str] = {}
        if status is not None:
            query["status"] = str(status)
        if model is not None:
            query["model"] = model
        if limit is not None:
            query["limit"] = str(limit)
        if cursor is not None:
            query["cursor"] = cursor
        payload = await self._call("GET", ("v2", "jobs"), query=query)
        return parse_model(JobPage, payload, "GET /v2/jobs")

    async def me(self) -> Me:
        """``GET /v2/me``: the team balance is ``me.credits`` (``None`` without a team)."""
        payload = await self._call("GET", ("v2", "me"))
        return parse_model(Me, payload, "GET /v2/me")

    async def list_models(self, modality: Modality | None = "video") -> ModelCatalog:
        """Apiframe's live catalog, ``GET /v2/models?modality=...`` (all modalities for None).

        Public (the contract's ``security: []``): no key is sent, so a revoked one cannot hide
        the catalog from ``sora-bot models``. Retried like every GET. Entries of another
        modality than asked are dropped, in case a server ignores the filter.
        """
        query = {"modality": modality} if modality is not None else {}
        payload = await self._call("GET", ("v2", "models"), query=query, authenticated=False)
        catalog = parse_model(ModelCatalog, payload, "GET /v2/models")
        return catalog if modality is None else catalog.of_modality(modality)

    async def upload(self, data: bytes, *, filename: str, content_type: str) -> Upload:
        """``POST /v2/uploads`` (multipart ``file``, 201); the URL lives about 1-2 hours.

        Not retried on 5xx or transport errors: without an idempotency key a retry could
        store the file twice. 429 is still retried.
        """

        def form() -> aiohttp.FormData:
            # A FormData can be serialised only once, so each attempt builds its own.
            fd = aiohttp.FormData()
            fd.add_field("file", data, filename=filename, content_type=content_type)
            return fd

        payload = await self._call("POST", ("v2", "uploads"), form=form)
        return parse_model(Upload, payload, "POST /v2/uploads")

    async def download_to(self, url: str, path: Path | str, *, max_bytes: int) -> int:
        """Stream a result video (the CDN) to ``path``; return the bytes written.

        The body goes to disk chunk by chunk through ``path`` + ``.part`` and is renamed into
        place only when complete, so ``path`` never holds a partial video. More than
        ``max_bytes`` (by ``Content-Length`` or as counted) raises :class:`ResponseTooLarge`
        and leaves nothing behind. The API key is never sent here. Connecting and each read
        time out after the client's per-request timeout, so a stalled CDN cannot hang the
        caller; the transfer as a whole is unbounded (wrap the call in ``asyncio.timeout``).

        Redirects are followed here, at most :data:`MAX_REDIRECTS`, each hop checked like the
        first URL. :class:`DownloadRefused` (never retried) for a URL, hop or address the
        gate's policy forbids, or a body that does not start like an MP4 file.
        """
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        if self._downloads is None:
            raise DownloadRefused("download refused: this client was built without a DownloadGate")
        gate = self._downloads
        target = parse_url(url)
        gate.policy.check_url(target)
        dest = Path(path)
        client_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self._timeout, sock_read=self._timeout
        )

        async def attempt() -> int:
            with self._metrics.provider_call("GET result video"):
                return await self._download_once(gate, target, dest, max_bytes, client_timeout)

        return await self._retries.run(attempt, idempotent=True, where=_where(target))

    # ----------------------------------------------------------------- internals

    async def _call(
        self,
        method: str,
        segments: tuple[str, ...],
        *,
        query: Mapping[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
        form: Callable[[], aiohttp.FormData] | None = None,
        idempotency_key: str | None = None,
        authenticated: bool = True,
    ) -> Any:
        # Quote each segment ourselves: yarl keeps "/" inside a segment, so an id like "a/b"
        # would otherwise address a different route.
        quoted = [quote(s, safe="") for s in segments]
        url = self._base.joinpath(*quoted, encoded=True)
        where = f"{method} /{'/'.join(quoted)}"
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        if authenticated:
            headers["X-API-Key"] = self._api_key.get_secret_value()
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key

        route = _route(method, segments)

        async def attempt() -> Any:
            with self._metrics.provider_call(route):
                return await self._call_once(method, url, where, headers, query, json_body, form)

        idempotent = method == "GET" or idempotency_key is not None
        return await self._retries.run(attempt, idempotent=idempotent, where=where)

    async def _call_once(
        self,
        method: str,
        url: URL,
        where: str,
        headers: dict[str, str],
        query: Mapping[str, str] | None,
        json_body: dict[str, Any] | None,
        form: Callable[[], aiohttp.FormData] | None,
    ) -> Any:
        with self._transport_errors(where):
            async with self._session.request(
                method,
                url,
                params=query,
                json=json_body,
                data=form() if form is not None else None,
                headers=headers,
                timeout=self._client_timeout,
                # aiohttp re-sends custom headers such as X-API-Key to any redirect target.
                allow_redirects=False,
                raise_for_status=False,
            ) as response:
                raw = await _read_capped(response, MAX_JSON_BYTES, where)
                status = response.status
                retry_after = response.headers.get("Retry-After")
                request_id = response.headers.get("x-request-id")
        text = redact(raw.decode("utf-8", errors="replace"), self._api_key.get_secret_value())
        log.debug("Apiframe %s -> %d", where, status)
        if not 200 <= status < 300:
            raise error_for_response(
                status=status,
                text=text,
                where=where,
                retry_after=retry_after,
                request_id=request_id,
                now=self._clock(),
            )
        try:
            return json.loads(text)
        except ValueError:
            raise MalformedResponse(
                f"Apiframe sent a non-JSON body for {where}",
                status=status,
                body=text,
                request_id=request_id,
            ) from None

    async def _download_once(
        self,
        gate: DownloadGate,
        url: URL,
        dest: Path,
        max_bytes: int,
        client_timeout: aiohttp.ClientTimeout,
    ) -> int:
        part = dest.with_name(dest.name + ".part")
        try:
            with self._transport_errors(_where(url)):
                async with gate.get(url, client_timeout=client_timeout,
                                    headers={"User-Agent": self._user_agent}) as response:
                    where = _where(response.url)
                    await self._raise_for_status(response, where)
                    check_size(response.content_length, max_bytes, where)
                    written = await stream_mp4(response, part, max_bytes, where)
            await asyncio.to_thread(os.replace, part, dest)
        except BaseException:
            # Synchronous on purpose: this also runs on cancellation, where awaiting again
            # could be interrupted and leave the partial file behind.
            part.unlink(missing_ok=True)
            raise
        return written

    async def _raise_for_status(self, response: aiohttp.ClientResponse, where: str) -> None:
        if 200 <= response.status < 300:
            return
        raw = await _read_capped(response, 64 * 1024, where)
        raise error_for_response(
            status=response.status,
            text=raw.decode("utf-8", errors="replace"),
            where=where,
            retry_after=response.headers.get("Retry-After"),
            request_id=response.headers.get("x-request-id"),
            now=self._clock(),
        )

    @contextmanager
    def _transport_errors(self, where: str) -> Iterator[None]:
        """Turn aiohttp/asyncio failures into key-free :class:`TransportError`s."""
        try:
            yield
        except ApiframeError:
            raise
        except TimeoutError:
            raise ApiframeTimeout(f"Apiframe {where} timed out after {self._timeout:g}s") from None
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, AddressRefused):
                raise DownloadRefused(str(exc.os_error)) from None
            raise TransportError(f"Apiframe {where} failed: {type(exc).__name__}") from None
        except aiohttp.ClientError as exc:
            # Dropping the cause on purpose: aiohttp errors carry request_info (our headers).
            raise TransportError(f"Apiframe {where} failed: {type(exc).__name__}") from None


def _route(method: str, segments: tuple[str, ...]) -> str:
    """A metric label for a call: the route's template, so job ids never become labels."""
    if segments[:2] == ("v2", "jobs") and len(segments) > 2:
        segments = (*segments[:2], "{id}", *segments[3:])
    return f"{method} /{'/'.join(segments)}"


def _where(url: URL) -> str:
    # Without the query: a signed CDN URL carries its signature there.
    return f"GET {url.with_query(None).with_fragment(None)}"


async def _read_capped(response: aiohttp.ClientResponse, limit: int, where: str) -> bytes:
    check_size(response.content_length, limit, where)
    buf = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        buf += chunk
        if len(buf) > limit:
            raise ResponseTooLarge(f"{where} sent more than {limit} bytes")
    return bytes(buf)
