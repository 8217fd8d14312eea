"""Luma Dream Machine (``api.lumalabs.ai/dream-machine/v1``): video generations.

A create is ``POST generations`` with the prompt, the model (``ray-2``,
``ray-flash-2``), ``resolution`` (``"720p"``) and ``duration`` (``"5s"``) as strings
and an ``aspect_ratio``; the answer is the Generation itself, polled at
``generations/{id}`` through ``queued → dreaming → completed | failed`` (with a free
text ``failure_reason``). The generation echoes its ``request``, which is what was
rendered. The finished video is ``assets.video`` on Luma's CDN.

Image-to-video is not offered: Luma takes a start frame only as a URL it fetches
("upload and use your own cdn image urls, currently this is the only way to pass an
image", docs.lumalabs.ai/docs/api), and reelgate has no public URL to give it, so the
catalog rows have no ``image_reference`` operation (a create with one is a 400) and a
reference reaching this module anyway is refused before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from reelgate.providers.base import (
    Credential,
    ErrorKind,
    SubmitRequest,
    UpstreamError,
    UpstreamJob,
    UpstreamStatus,
)
from reelgate.providers.hosted import HostedProvider
from reelgate.providers.http import json_object, map_status
from reelgate.providers.seedance import rendered_size

__all__ = ["LumaProvider", "is_moderation", "luma_shape"]

MODERATION_CODE = "moderation_blocked"
_STATES = {
    "queued": UpstreamStatus.QUEUED,
    "dreaming": UpstreamStatus.IN_PROGRESS,
    "completed": UpstreamStatus.COMPLETED,
    "failed": UpstreamStatus.FAILED,
}
# Luma gives failures as free text ("400: failed to moderate image", "Prompt not
# allowed ..."): these words mark a content-policy refusal
_MODERATION_WORDS = ("moderat", "not allowed", "policy", "safety", "nsfw", "inappropriate")
_CREDIT_WORDS = ("insufficient credits", "not enough credits", "insufficient balance")


def luma_shape(width: int, height: int) -> tuple[str, str]:
    """Our ``WxH`` as Luma's (resolution, aspect_ratio): 1280x720 → ("720p", "16:9")."""
    short = min(width, height)
    resolution = "540p" if short <= 540 else "720p" if short <= 720 else "1080p"
    aspect = "1:1" if width == height else "16:9" if width > height else "9:16"
    return resolution, aspect


def is_moderation(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _MODERATION_WORDS)


class LumaProvider(HostedProvider):
    """Provider for the Dream Machine API (Bearer key); one instance per channel."""

    name = "luma"
    label = "Luma"

    def _url(self, generation_id: str = "") -> str:
        tail = f"/{quote(generation_id, safe='')}" if generation_id else ""
        return self._http.url(f"generations{tail}")

    async def submit(self, request: SubmitRequest, credential: Credential) -> UpstreamJob:
        if request.remix_of:
            raise UpstreamError(ErrorKind.REJECTED, "Luma cannot remix", code="unsupported")
        if request.reference is not None:
            raise UpstreamError(
                ErrorKind.REJECTED,
                "Luma takes a start frame only as a public image URL, which reelgate "
                "cannot provide: image-to-video is not available on this channel",
                code="unsupported",
            )
        resolution, aspect = luma_shape(request.width, request.height)
        body = {
            "prompt": request.prompt,
            "model": request.model,
            "resolution": resolution,
            "aspect_ratio": aspect,
            "duration": f"{int(request.seconds)}s",
        }
        try:
            answer = await self._http.request_json(
                "POST", self._url(), creates=True, headers=self._auth(credential), json=body
            )
        except UpstreamError as exc:
            raise _refusal(exc) from exc
        if not isinstance(answer.get("id"), str) or not answer["id"]:
            raise UpstreamError(ErrorKind.PROTOCOL, "generation created without an id")
        job = self._to_job(answer, answer["id"])
        return replace(job, seconds=job.seconds or float(request.seconds),
                       size=job.size or request.size)

    async def fetch(self, upstream_id: str, credential: Credential) -> UpstreamJob:
        response = await self._http.request(
            "GET", self._url(upstream_id), headers=self._auth(credential)
        )
        return self._to_job(json_object(response), upstream_id)

    async def delete(self, upstream_id: str, credential: Credential) -> None:
        await self._http.request("DELETE", self._url(upstream_id),
                                 headers=self._auth(credential))

    async def recover(self, job_id: str, credential: Credential) -> UpstreamJob | None:
        """Generations carry no client reference: a lost create cannot be found again."""
        return None

    async def check(self, credential: Credential) -> None:
        """``GET /credits``: the key's balance, authenticated, creating nothing."""
        await self._http.probe(self._http.url("credits"), headers=self._auth(credential))

    async def aclose(self) -> None:
        await self._http.aclose()

    def _to_job(self, body: Mapping[str, Any], upstream_id: str) -> UpstreamJob:
        gen_id = str(body.get("id") or upstream_id)
        raw = str(body.get("state") or "")
        status = _STATES.get(raw.lower()) or map_status(raw, upstream=self.channel.name,
                                                       job=gen_id)
        seconds, size = _rendered(body.get("request"))
        job = UpstreamJob(gen_id, status, raw_status=raw, seconds=seconds, size=size)
        if status is UpstreamStatus.COMPLETED:
            assets = body.get("assets")
            video = assets.get("video") if isinstance(assets, dict) else None
            if not isinstance(video, str) or not video:
                return replace(job, status=UpstreamStatus.FAILED, error_code="no_output",
                               error_message="The generation completed without a video.")
            return replace(job, progress=100, result_url=video)
        if status is UpstreamStatus.FAILED:
            reason = str(body.get("failure_reason") or "The generation failed upstream.")
            code = MODERATION_CODE if is_moderation(reason) else "generation_failed"
            return replace(job, error_code=code, error_message=reason)
        return replace(job, progress=0 if status is UpstreamStatus.QUEUED else None)


def _rendered(request: Any) -> tuple[float | None, str | None]:
    """Seconds and size from the generation's echoed request ("5s", "720p", "16:9")."""
    if not isinstance(request, dict):
        return None, None
    duration = request.get("duration")
    seconds = None
    if isinstance(duration, str) and duration.endswith("s"):
        try:
            seconds = float(duration[:-1])
        except ValueError:
            seconds = None
    return seconds, rendered_size(request.get("resolution"), request.get("aspect_ratio"))


def _refusal(exc: UpstreamError) -> UpstreamError:
    """Name the two refusals that are not about the request's shape: the account's
    balance (the key's problem: try another) and content policy (the client's)."""
    if exc.kind is not ErrorKind.REJECTED:
        return exc
    lowered = exc.message.lower()
    if any(word in lowered for word in _CREDIT_WORDS):
        return UpstreamError(ErrorKind.AUTH, exc.message, status_code=exc.status_code,
                             code="insufficient_credits")
    if is_moderation(exc.message):
        return UpstreamError(ErrorKind.REJECTED, exc.message, status_code=exc.status_code,
                             code=MODERATION_CODE)
    return exc
