"""Google Gemini API Veo: ``predictLongRunning`` plus polling of the operation.

Veo has no status word: an operation is running until ``done``, then carries either
``error`` or ``response``. A ``response`` with no samples but with
``raiMediaFilteredReasons`` is a safety block, not a success: it is reported as FAILED
with code ``moderation_blocked`` so nobody bills an empty result.
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import httpx

from reelgate.providers.base import (
    ChannelSpec,
    Credential,
    ErrorKind,
    SubmitRequest,
    UpstreamError,
    UpstreamJob,
    UpstreamStatus,
)
from reelgate.providers.hosted import HostedProvider
from reelgate.providers.http import parse_progress

__all__ = ["MODERATION_CODE", "VeoProvider", "veo_parameters"]

MODERATION_CODE = "moderation_blocked"
_MEMO_LIMIT = 10_000


def veo_parameters(request: SubmitRequest) -> dict[str, Any]:
    """Our ``WxH`` + seconds expressed as Veo's aspect ratio, resolution and duration."""
    landscape = request.width >= request.height
    return {
        "aspectRatio": "16:9" if landscape else "9:16",
        "resolution": "1080p" if min(request.width, request.height) >= 1080 else "720p",
        "durationSeconds": int(request.seconds),
    }


def _rendered_size(parameters: Mapping[str, Any]) -> str:
    short = 1080 if parameters["resolution"] == "1080p" else 720
    long = short * 16 // 9
    return f"{long}x{short}" if parameters["aspectRatio"] == "16:9" else f"{short}x{long}"


class VeoProvider(HostedProvider):
    """Provider for the Gemini API (``x-goog-api-key``); one instance per channel.

    The operation itself does not echo the duration, so the instance remembers what it
    asked for per operation; after a restart ``fetch`` reports ``seconds=None`` and the
    caller falls back to the requested duration it stored with the job.
    """

    name = "veo"
    label = "Veo"

    def __init__(
        self, channel: ChannelSpec, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(channel, transport=transport)
        self._requested: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def _auth(self, credential: Credential) -> dict[str, str]:
        return {"x-goog-api-key": credential.secret}

    async def submit(self, request: SubmitRequest, credential: Credential) -> UpstreamJob:
        if request.remix_of:
            raise UpstreamError(ErrorKind.REJECTED, "Veo cannot remix", code="unsupported")
        instance: dict[str, Any] = {"prompt": request.prompt}
        if request.reference is not None:
            instance["image"] = {
                "bytesBase64Encoded": base64.b64encode(request.reference.data).decode("ascii"),
                "mimeType": request.reference.mime,
            }
        parameters = veo_parameters(request)
        body = await self._http.request_json(
            "POST",
            self._http.url(f"models/{request.model}:predictLongRunning"),
            creates=True,
            headers=self._auth(credential),
            json={"instances": [instance], "parameters": parameters},
        )
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise UpstreamError(ErrorKind.PROTOCOL, "predictLongRunning returned no operation")
        seconds, size = float(parameters["durationSeconds"]), _rendered_size(parameters)
        self._remember(name, seconds, size)
        if body.get("done"):
            return self._to_job(body)
        return UpstreamJob(
            name,
            UpstreamStatus.QUEUED,
            progress=0,
            raw_status="submitted",
            seconds=seconds,
            size=size,
        )

    async def fetch(self, upstream_id: str, credential: Credential) -> UpstreamJob:
        body = await self._http.request_json(
            "GET", self._http.url(upstream_id), headers=self._auth(credential)
        )
        return self._to_job(body, upstream_id)

    async def delete(self, upstream_id: str, credential: Credential) -> None:
        """Best effort: the Gemini API may not allow deleting operations at all."""
        try:
            await self._http.request(
                "DELETE", self._http.url(upstream_id), headers=self._auth(credential)
            )
        except UpstreamError as exc:
            if exc.kind is not ErrorKind.NOT_FOUND and exc.status_code != 405:
                raise
        self._requested.pop(upstream_id, None)

    async def recover(self, job_id: str, credential: Credential) -> UpstreamJob | None:
        """Operations are not findable by our id."""
        return None

    async def check(self, credential: Credential) -> None:
        """List one model: free, and answers API_KEY_INVALID for a bad key."""
        await self._http.probe(
            self._http.url("models"), headers=self._auth(credential), params={"pageSize": "1"}
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- helpers ------------------------------------------------------------------------

    def _remember(self, name: str, seconds: float, size: str) -> None:
        self._requested[name] = (seconds, size)
        while len(self._requested) > _MEMO_LIMIT:
            self._requested.popitem(last=False)

    def _to_job(self, body: Mapping[str, Any], upstream_id: str | None = None) -> UpstreamJob:
        name = str(body.get("name") or upstream_id or "")
        seconds, size = self._requested.get(name, (None, None))
        base = UpstreamJob(name, UpstreamStatus.IN_PROGRESS, seconds=seconds, size=size)
        if not body.get("done"):
            metadata = body.get("metadata")
            percent = metadata.get("progressPercent") if isinstance(metadata, dict) else None
            return replace(base, progress=parse_progress(percent), raw_status="running")
        error = body.get("error")
        if isinstance(error, dict):
            code = error.get("status") or error.get("code")
            return replace(
                base,
                status=UpstreamStatus.FAILED,
                raw_status="error",
                error_code=str(code) if code else "upstream_error",
                error_message=str(error.get("message") or ""),
            )
        return _finished(base, body.get("response"))


def _finished(base: UpstreamJob, response: Any) -> UpstreamJob:
    """A ``done`` operation with a response: a video, a safety block or nothing at all."""
    payload = response.get("generateVideoResponse", response) if isinstance(response, dict) else {}
    samples = payload.get("generatedSamples") or payload.get("generatedVideos") or []
    uri = _sample_uri(samples[0]) if isinstance(samples, list) and samples else None
    if uri:
        return replace(
            base, status=UpstreamStatus.COMPLETED, progress=100, raw_status="done", result_url=uri
        )
    reasons = payload.get("raiMediaFilteredReasons")
    if reasons or payload.get("raiMediaFilteredCount"):
        text = "; ".join(str(r) for r in reasons) if isinstance(reasons, list) else ""
        return replace(
            base,
            status=UpstreamStatus.FAILED,
            raw_status="rai_filtered",
            error_code=MODERATION_CODE,
            error_message=text or "the video was filtered by the upstream's safety system",
        )
    return replace(
        base,
        status=UpstreamStatus.FAILED,
        raw_status="done_empty",
        error_code="no_output",
        error_message="the operation finished without a video",
    )


def _sample_uri(sample: Any) -> str | None:
    if not isinstance(sample, dict):
        return None
    video = sample.get("video")
    uri = video.get("uri") if isinstance(video, dict) else None
    return uri if isinstance(uri, str) and uri else None
