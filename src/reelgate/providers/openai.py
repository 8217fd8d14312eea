"""The OpenAI Videos wire shape, spoken to OpenAI itself, Azure OpenAI or a relay.

One class covers four flavours chosen by ``channel.options["mode"]``:

* ``openai`` (default): ``Authorization: Bearer``; ``base_url`` already ends in ``/v1``.
* ``azure``: ``api-key`` header, ``{base_url}/openai/v1/videos`` and ``?api-version=``
  (``options["api_version"]``, default ``preview``).
* ``relay``: OpenAI-shaped gateways (new-api, one-api forks, another reelgate) that use
  their own status words, ``"45%"`` progress strings and hand out result URLs.
* ``omni``: a self-hosted vLLM-Omni server (:mod:`reelgate.providers.omni`): multipart
  creates with its ``width``/``height``/``num_frames``/``fps`` fields, video only, no
  remix.

The status synonym map is applied in every mode because it costs nothing; result URL
fields are only trusted in relay mode, where ``/content`` may not exist.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import ExitStack, aclosing
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from reelgate.providers.base import (
    BASIC_OPERATIONS,
    ChannelSpec,
    Credential,
    ErrorKind,
    Operation,
    SubmitRequest,
    UpstreamError,
    UpstreamJob,
    UpstreamStatus,
    Variant,
)
from reelgate.providers.http import UpstreamClient, json_object, map_status, parse_progress
from reelgate.providers.omni import omni_fields, render_seconds
from reelgate.providers.openai_wire import character_call, submit_call

__all__ = ["MODES", "OpenAIProvider"]

#: asked for every channel at every routing decision: built once
_EVERY_OPERATION = frozenset(Operation)

MODES = frozenset({"openai", "azure", "relay", "omni"})
_URL_FIELDS = ("video_url", "url", "result_url")
_ENDINGS = frozenset({"cancelled", "canceled", "expired"})

log = logging.getLogger(__name__)


class OpenAIProvider:
    """Provider for ``/videos`` upstreams; one instance per channel."""

    name = "openai"
    supports_remix = True
    native_variants = frozenset(Variant)

    @staticmethod
    def operations_for(options: Mapping[str, Any]) -> frozenset[Operation]:
        """Everything the Videos API has, passed through; vLLM-Omni creates only."""
        if str(options.get("mode", "openai")) == "omni":
            return BASIC_OPERATIONS
        return _EVERY_OPERATION

    def __init__(
        self, channel: ChannelSpec, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        mode = str(channel.options.get("mode", "openai"))
        if mode not in MODES:
            raise ValueError(f"channel {channel.name}: unknown openai mode {mode!r}")
        self.channel = channel
        self.mode = mode
        self._api_version = str(channel.options.get("api_version", "preview"))
        self._http = UpstreamClient(channel, transport=transport)
        self.operations = self.operations_for(channel.options)
        if mode == "omni":  # vLLM-Omni serves the video itself only, and cannot remix
            self.supports_remix = False
            self.native_variants = frozenset({Variant.VIDEO})

    # --- wire details -------------------------------------------------------------------

    def _url(self, *parts: str) -> str:
        prefix = "openai/v1/videos" if self.mode == "azure" else "videos"
        return self._http.url("/".join((prefix, *(quote(p, safe="") for p in parts))))

    def _params(self, **extra: str) -> dict[str, str]:
        if self.mode == "azure":
            return {"api-version": self._api_version, **extra}
        return dict(extra)

    def _auth(self, credential: Credential) -> dict[str, str]:
        if self.mode == "azure":
            return {"api-key": credential.secret}
        return {"Authorization": f"Bearer {credential.secret}"}

    # --- Provider protocol --------------------------------------------------------------

    async def submit(self, request: SubmitRequest, credential: Credential) -> UpstreamJob:
        """Create, remix, edit or extend (each in the encoding the Videos API takes, see
        :mod:`reelgate.providers.openai_wire`); vLLM-Omni gets its own create form."""
        kwargs: dict[str, Any] = {"headers": self._auth(credential), "params": self._params()}
        wanted = Operation.REMIX if request.remix_of else request.operation
        if request.characters and Operation.CHARACTERS not in self.operations:
            wanted = Operation.CHARACTERS
        if wanted not in self.operations:
            raise UpstreamError(ErrorKind.REJECTED, f"vLLM-Omni cannot {wanted.value}",
                                code="unsupported")
        with ExitStack() as files:
            if self.mode == "omni":  # multipart even without a file, with its extension fields
                url = self._url()
                parts: dict[str, Any] = {k: (None, v) for k, v in
                                         omni_fields(request, self.channel.options).items()}
                if request.reference is not None:
                    parts["input_reference"] = _reference_file(request)
                kwargs["files"] = parts
            else:
                call = submit_call(request, files)
                url = self._url(*call.path)
                kwargs.update(call.kwargs)
            response = await self._http.request("POST", url, creates=True, **kwargs)
        return self._to_job(response, default=UpstreamStatus.QUEUED)

    async def create_character(self, name: str, clip: Path, credential: Credential) -> str:
        """``POST /videos/characters`` (multipart ``name`` + ``video``); the character's id."""
        if Operation.CHARACTERS not in self.operations:
            raise UpstreamError(ErrorKind.REJECTED, "vLLM-Omni has no characters",
                                code="unsupported")
        with clip.open("rb") as fh:
            call = character_call(name, fh)
            response = await self._http.request(
                "POST", self._url(*call.path), creates=True, headers=self._auth(credential),
                params=self._params(), **call.kwargs)
        body = _unwrap(json_object(response))
        upstream_id = body.get("id")
        if not isinstance(upstream_id, str) or not upstream_id:
            raise UpstreamError(ErrorKind.PROTOCOL, "character object without an id",
                                status_code=response.status_code)
        return upstream_id

    async def fetch(self, upstream_id: str, credential: Credential) -> UpstreamJob:
        response = await self._http.request(
            "GET", self._url(upstream_id), headers=self._auth(credential), params=self._params()
        )
        return self._to_job(response, default=None)

    async def download(
        self, job: UpstreamJob, variant: Variant, credential: Credential
    ) -> AsyncIterator[bytes]:
        """Stream ``/content``; a relay that has no ``/content`` falls back to its URL."""
        auth = self._auth(credential)
        url = self._url(job.upstream_id, "content")
        params = self._params(variant=variant.value)
        fallback = job.result_url if self.mode == "relay" and variant is Variant.VIDEO else None
        started = False
        try:
            async with aclosing(self._http.stream(url, auth=auth, params=params)) as chunks:
                async for chunk in chunks:
                    started = True
                    yield chunk
            return
        except UpstreamError as exc:
            if started or fallback is None or exc.kind is not ErrorKind.NOT_FOUND:
                raise
        log.info(
            "%s: /content missing for %s, using result URL", self.channel.name, job.upstream_id
        )
        async with aclosing(self._http.stream(fallback, auth=auth)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def delete(self, upstream_id: str, credential: Credential) -> None:
        await self._http.request(
            "DELETE", self._url(upstream_id), headers=self._auth(credential), params=self._params()
        )

    async def recover(self, job_id: str, credential: Credential) -> UpstreamJob | None:
        """The Videos API has no lookup by client reference, so a lost create is unknowable."""
        return None

    async def check(self, credential: Credential) -> None:
        """List one video; relays rarely have the list route, so they look up a fake id."""
        if self.mode == "relay":
            url, params = self._url("video_reelgate_check"), self._params()
        else:
            url, params = self._url(), self._params(limit="1")
        await self._http.probe(url, headers=self._auth(credential), params=params,
                               missing_ok=self.mode == "relay")

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- response mapping ---------------------------------------------------------------

    def _to_job(self, response: httpx.Response, *, default: UpstreamStatus | None) -> UpstreamJob:
        body = _unwrap(json_object(response))
        upstream_id = body.get("id") or body.get("task_id")
        if not isinstance(upstream_id, str) or not upstream_id:
            raise UpstreamError(
                ErrorKind.PROTOCOL, "video object without an id", status_code=response.status_code
            )
        raw = str(body.get("status") or "")
        if raw or default is None:
            status = map_status(raw, upstream=self.channel.name, job=upstream_id)
        else:
            status = default
        progress = parse_progress(body.get("progress"))
        if status is UpstreamStatus.COMPLETED and progress is None:
            progress = 100
        code, message = _job_error(body)
        if status is UpstreamStatus.FAILED and code is None and raw.lower() in _ENDINGS:
            code = raw.lower()  # say why it ended when the word itself is the reason
        return UpstreamJob(
            upstream_id=upstream_id,
            status=status,
            progress=progress,
            raw_status=raw,
            seconds=_seconds(body.get("seconds")),
            size=_size(body.get("size")),
            error_code=code,
            error_message=message,
            result_url=_result_url(body) if self.mode == "relay" else None,
            poll_after=_poll_after(response.headers),
            extra=_extra(body),
            render_seconds=render_seconds(body),  # vLLM-Omni: GPU time of the render
        )


def _reference_file(request: SubmitRequest) -> tuple[str, bytes, str]:
    ref = request.reference
    assert ref is not None
    return f"reference.{ref.mime.rsplit('/', 1)[-1]}", ref.data, ref.mime


def _unwrap(body: dict[str, Any]) -> dict[str, Any]:
    """Some relays wrap the video object as ``{"code": 0, "data": {...}}``."""
    data = body.get("data")
    if "id" not in body and "task_id" not in body and isinstance(data, dict):
        return data
    return body


def _extra(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in ("expires_at", "remixed_from_video_id") if body.get(k)}


def _job_error(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    err = body.get("error")
    if isinstance(err, dict):
        code = err.get("code")
        message = err.get("message")
        return (str(code) if code else None), (str(message) if message else None)
    if isinstance(err, str) and err:
        return None, err
    reason = body.get("fail_reason")
    return None, (str(reason) if reason else None)


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _size(value: Any) -> str | None:
    if isinstance(value, str) and value.count("x") == 1:
        width, height = value.split("x")
        if width.isdigit() and height.isdigit():
            return value
    return None


def _result_url(body: Mapping[str, Any]) -> str | None:
    for key in _URL_FIELDS:
        value = body.get(key)
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return value
    output = body.get("output")
    if isinstance(output, dict):
        value = output.get("url")
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return value
    return None


def _poll_after(headers: httpx.Headers) -> float | None:
    value = headers.get("openai-poll-after-ms")
    try:
        return float(value) / 1000.0 if value else None
    except ValueError:
        return None
