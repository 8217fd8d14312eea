"""Runway's developer API (``api.dev.runwayml.com``): generation tasks.

Every call carries ``X-Runway-Version`` (the API version date; channel option
``api_version``, default ``2024-11-06``) next to the Bearer key. A create goes to
``image_to_video`` when the job has a reference image (sent inline as a data URI,
which Runway accepts up to 5 MB) and to ``text_to_video`` otherwise; the answer is a
task id, polled at ``tasks/{id}``. ``ratio`` is the output resolution, so our
``1280x720`` is Runway's ``1280:720``.

Output URLs are signed and "expire within 24-48 hours; fetch the task again to get
fresh URLs" (Runway's task schema), so a download that finds its link dead asks the
task once more for a new one before giving up.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx

from reelgate.providers.base import (
    ChannelSpec,
    Credential,
    ErrorKind,
    SubmitRequest,
    UpstreamError,
    UpstreamJob,
    UpstreamStatus,
    Variant,
)
from reelgate.providers.http import UpstreamClient, json_object, map_status

__all__ = ["API_VERSION", "RunwayProvider", "failure_code", "runway_ratio"]

API_VERSION = "2024-11-06"
MAX_DATA_URI = 5 * 1024 * 1024  # Runway's limit on an encoded data URI
MAX_PROMPT_UNITS = 1000  # promptText, in UTF-16 code units
POLL_HINT = 5.0  # "do not expect updates more frequent than once every five seconds"

_STATUSES = {
    "PENDING": UpstreamStatus.QUEUED,
    "THROTTLED": UpstreamStatus.QUEUED,  # over the org's concurrency: queued by Runway
    "RUNNING": UpstreamStatus.IN_PROGRESS,
    "SUCCEEDED": UpstreamStatus.COMPLETED,
    "FAILED": UpstreamStatus.FAILED,
    "CANCELLED": UpstreamStatus.FAILED,
}
# failureCode prefixes (docs.dev.runwayml.com/errors/task-failures), first match wins
_FAILURES = (
    ("SAFETY.", "moderation_blocked"),  # input or output moderation: never retry
    ("INPUT_PREPROCESSING.SAFETY", "moderation_blocked"),
    ("INTERNAL.BAD_OUTPUT", "bad_output"),  # rejected by Runway's quality checks
    ("ASSET.INVALID", "invalid_reference"),
    ("INPUT_PREPROCESSING.INTERNAL", "upstream_error"),
    ("INTERNAL", "upstream_error"),
)

log = logging.getLogger(__name__)


def runway_ratio(size: str) -> str:
    """``"1280x720"`` → ``"1280:720"``: Runway's ratio names the output resolution."""
    return size.replace("x", ":")


def failure_code(code: str | None) -> str:
    """Our error code for a Runway ``failureCode`` (None or unknown: generation_failed)."""
    for prefix, ours in _FAILURES:
        if code and code.upper().startswith(prefix):
            return ours
    return "generation_failed"


class RunwayProvider:
    """Provider for Runway's task API; one instance per channel."""

    name = "runway"
    supports_remix = False
    native_variants = frozenset({Variant.VIDEO})

    def __init__(
        self, channel: ChannelSpec, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.channel = channel
        self.version = str(channel.options.get("api_version") or API_VERSION)
        self._http = UpstreamClient(channel, transport=transport)

    def _headers(self, credential: Credential) -> dict[str, str]:
        return {"Authorization": f"Bearer {credential.secret}", "X-Runway-Version": self.version}

    def _task_url(self, task_id: str) -> str:
        return self._http.url(f"tasks/{quote(task_id, safe='')}")

    async def submit(self, request: SubmitRequest, credential: Credential) -> UpstreamJob:
        if request.remix_of:
            raise UpstreamError(ErrorKind.REJECTED, "Runway cannot remix", code="unsupported")
        _check_prompt(request.prompt)
        body: dict[str, Any] = {
            "model": request.model,
            "promptText": request.prompt,
            "ratio": runway_ratio(request.size),
            "duration": int(request.seconds),
        }
        endpoint = "text_to_video"
        if request.reference is not None:
            body["promptImage"] = _data_uri(request.reference.data, request.reference.mime)
            endpoint = "image_to_video"
        try:
            answer = await self._http.request_json(
                "POST", self._http.url(endpoint), creates=True,
                headers=self._headers(credential), json=body,
            )
        except UpstreamError as exc:
            raise _balance_is_the_key(exc) from exc
        task_id = answer.get("id")
        if not isinstance(task_id, str) or not task_id:
            raise UpstreamError(ErrorKind.PROTOCOL, f"{endpoint} returned no task id")
        return UpstreamJob(
            task_id, UpstreamStatus.QUEUED, progress=0, raw_status="PENDING",
            seconds=float(request.seconds), size=request.size, poll_after=POLL_HINT,
        )

    async def fetch(self, upstream_id: str, credential: Credential) -> UpstreamJob:
        response = await self._http.request(
            "GET", self._task_url(upstream_id), headers=self._headers(credential)
        )
        return self._to_job(json_object(response), upstream_id)

    async def download(
        self, job: UpstreamJob, variant: Variant, credential: Credential
    ) -> AsyncIterator[bytes]:
        """Stream the output; a link found expired is replaced by a fresh one, once."""
        started = False
        try:
            async with aclosing(self._stream(job, variant, credential)) as chunks:
                async for chunk in chunks:
                    started = True
                    yield chunk
            return
        except UpstreamError as exc:
            if started or exc.kind is not ErrorKind.NOT_FOUND or variant is not Variant.VIDEO:
                raise
            fresh = await self._fresh_link(job, credential)
            if fresh is None:
                raise
        log.info("%s: output link of %s expired; using a fresh one", self.channel.name,
                 job.upstream_id)
        async with aclosing(self._stream(fresh, variant, credential)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def delete(self, upstream_id: str, credential: Credential) -> None:
        """Cancels a pending, throttled or running task; deletes a finished one."""
        await self._http.request(
            "DELETE", self._task_url(upstream_id), headers=self._headers(credential)
        )

    async def recover(self, job_id: str, credential: Credential) -> UpstreamJob | None:
        """Tasks carry no client reference and cannot be listed: a lost create is lost."""
        return None

    async def check(self, credential: Credential) -> None:
        """``GET /organization``: the key's credit balance and tier, creating nothing."""
        await self._http.probe(self._http.url("organization"), headers=self._headers(credential))

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- helpers ------------------------------------------------------------------------

    def _stream(
        self, job: UpstreamJob, variant: Variant, credential: Credential
    ) -> AsyncGenerator[bytes, None]:
        return self._http.stream_result(job, variant, self._headers(credential),
                                        provider="Runway")

    async def _fresh_link(self, job: UpstreamJob, credential: Credential) -> UpstreamJob | None:
        try:
            fresh = await self.fetch(job.upstream_id, credential)
        except UpstreamError:
            return None
        if fresh.status is not UpstreamStatus.COMPLETED or not fresh.result_url:
            return None
        return fresh if fresh.result_url != job.result_url else None

    def _to_job(self, body: Mapping[str, Any], upstream_id: str) -> UpstreamJob:
        task_id = str(body.get("id") or upstream_id)
        raw = str(body.get("status") or "")
        status = _STATUSES.get(raw.upper()) or map_status(
            raw, upstream=self.channel.name, job=task_id
        )
        job = UpstreamJob(task_id, status, raw_status=raw, poll_after=POLL_HINT)
        if status is UpstreamStatus.IN_PROGRESS:
            progress = body.get("progress")
            if isinstance(progress, int | float) and not isinstance(progress, bool):
                return replace(job, progress=max(0, min(100, round(float(progress) * 100))))
            return job
        if status is UpstreamStatus.COMPLETED:
            output = body.get("output")
            url = output[0] if isinstance(output, list) and output else None
            if not isinstance(url, str) or not url:
                return replace(job, status=UpstreamStatus.FAILED, error_code="no_output",
                             error_message="The task succeeded without an output URL.")
            return replace(job, progress=100, result_url=url)
        if status is UpstreamStatus.FAILED:
            if raw.upper() == "CANCELLED":
                return replace(job, error_code="cancelled",
                             error_message="The task was cancelled or deleted upstream.")
            code = body.get("failureCode")
            code = code if isinstance(code, str) and code else None
            reason = str(body.get("failure") or "The task failed upstream.")
            detail = f"{reason} (upstream code {code})" if code else reason
            return replace(job, error_code=failure_code(code), error_message=detail)
        return job


def _data_uri(data: bytes, mime: str) -> str:
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    if len(uri) > MAX_DATA_URI:
        raise UpstreamError(
            ErrorKind.REJECTED,
            f"the reference image is {len(data)} bytes; Runway takes inline images up to "
            f"{MAX_DATA_URI} bytes once base64-encoded (about 3.7 MB of image)",
            code="reference_too_large",
        )
    return uri


def _check_prompt(prompt: str) -> None:
    units = len(prompt.encode("utf-16-le")) // 2
    if units > MAX_PROMPT_UNITS:
        raise UpstreamError(
            ErrorKind.REJECTED,
            f"the prompt is {units} UTF-16 code units; Runway takes at most {MAX_PROMPT_UNITS}",
            code="prompt_too_long",
        )


def _balance_is_the_key(exc: UpstreamError) -> UpstreamError:
    """"You do not have enough credits" is the account's problem, not the client's:
    another key or channel may well run the job, so it is reported as AUTH."""
    if exc.kind is ErrorKind.REJECTED and "enough credits" in exc.message.lower():
        return UpstreamError(ErrorKind.AUTH, exc.message, status_code=exc.status_code,
                             code="insufficient_credits")
    return exc
