"""A fake OpenAI Videos upstream in three flavours: ``openai``, ``azure`` and ``relay``.

* ``openai``: ``Authorization: Bearer``, routes under ``/v1/videos``
  (provider ``base_url`` = ``{server}/v1``).
* ``azure``: ``api-key`` header, routes under ``/openai/v1/videos`` and a required
  ``?api-version=`` (provider ``base_url`` = ``{server}``).
* ``relay``: like openai, but speaks like the relays in the wild: ``pending`` /
  ``processing`` / ``succeeded``, progress as ``"45%"``, one ``unknown`` status on the
  ``unknown_poll``-th poll of each job, and a ``video_url`` on a CDN host (another
  origin). ``content_endpoint=False`` makes ``/content`` answer 404 as some relays do.

Every flavour also speaks the newer routes (:mod:`.openai_ops`): edits, extensions and
characters, recording for each job how it arrived (``extra["encoding"]``) so tests can
assert the gateway sent the upstream's own encoding with the right key.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .core import FakeJob, FakeUpstream
from .media import render_mp4, render_spritesheet, render_thumbnail
from .openai_ops import OperationsMixin

__all__ = ["OpenAIFake"]

FLAVOURS = ("openai", "azure", "relay")
SECONDS = {"4", "8", "12", "16", "20"}
_RELAY_WORDS = {"queued": "pending", "in_progress": "processing", "completed": "succeeded"}
_MEDIA = {"video": "video/mp4", "thumbnail": "image/webp", "spritesheet": "image/jpeg"}


class OpenAIFake(OperationsMixin, FakeUpstream):
    public_prefixes = ("/cdn/",)

    def __init__(
        self,
        flavour: str = "openai",
        *,
        api_version: str = "preview",
        content_endpoint: bool = True,
        unknown_poll: int | None = 2,
        **options: Any,
    ) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}")
        self.flavour = flavour
        self.api_version = api_version
        self.content_endpoint = content_endpoint
        self.unknown_poll = unknown_poll if flavour == "relay" else None
        self.prefix = "/openai/v1/videos" if flavour == "azure" else "/v1/videos"
        self.characters: dict[str, dict[str, Any]] = {}
        super().__init__(**options)

    def base_url(self, server_url: str) -> str:
        """What to put in the channel's ``base_url`` for this flavour."""
        return server_url if self.flavour == "azure" else f"{server_url}/v1"

    # --- FakeUpstream hooks -----------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        p = self.prefix
        return [
            *self.operation_routes(p),
            Route(p, self.create, methods=["POST"]),
            Route(p, self.list, methods=["GET"]),
            Route(p + "/{video_id}", self.retrieve, methods=["GET"]),
            Route(p + "/{video_id}", self.delete, methods=["DELETE"]),
            Route(p + "/{video_id}/remix", self.remix, methods=["POST"]),
            Route(p + "/{video_id}/content", self.content, methods=["GET"]),
            Route("/cdn/{name}", self.cdn, methods=["GET"]),
        ]

    def credential(self, request: Request) -> str | None:
        if self.flavour == "azure":
            return request.headers.get("api-key")
        auth = request.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None

    def error_response(self, status: int, message: str, code: str | None) -> Response:
        kind = "server_error" if status >= 500 else "invalid_request_error"
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        return JSONResponse(body, status_code=status)

    def not_found_response(self, job_id: str) -> Response:
        return self.error_response(404, f"Video with id '{job_id}' not found.", None)

    # --- handlers ---------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        if (refused := self._version_error(request)) is not None:
            return refused
        fields, reference = await self._read_create(request)
        if fields is None:
            return self.error_response(400, "Could not parse the request body", None)
        prompt = str(fields.get("prompt") or "")
        size = str(fields.get("size") or "720x1280")
        seconds = str(fields.get("seconds") or "4")
        if not prompt:
            return self.error_response(400, "Missing required parameter: 'prompt'.", "missing")
        if not re.fullmatch(r"\d{2,4}x\d{2,4}", size) or seconds not in SECONDS:
            return self.error_response(400, f"Invalid size {size!r} or seconds {seconds!r}", None)
        width, height = (int(v) for v in size.split("x"))
        multipart = request.headers.get("content-type", "").startswith("multipart/form-data")
        characters, refused = self.named_characters(request, fields)
        if refused is not None:
            return refused
        job = self.new_job(
            request,
            self._new_id(),
            model=str(fields.get("model") or "sora-2"),
            prompt=prompt,
            width=width,
            height=height,
            seconds=int(seconds),
            extra={"reference": reference, "encoding": "multipart" if multipart else "json",
                   "characters": characters},
        )
        return JSONResponse(self._video(request, job))

    async def list(self, request: Request) -> Response:
        """The caller's own videos, newest first; relays (like new-api) have no list."""
        if (refused := self._version_error(request)) is not None:
            return refused
        if self.flavour == "relay":
            return self.error_response(404, "Invalid URL (GET /v1/videos)", None)
        caller = request.scope["fake.credential"]
        mine = sorted((j for j in self.jobs.values() if j.creator == caller),
                      key=lambda j: j.created_at, reverse=True)
        limit = int(request.query_params.get("limit", "20"))
        data = [self._video(request, j) for j in mine[:limit]]
        return JSONResponse({"object": "list", "data": data, "has_more": len(mine) > limit,
                             "first_id": data[0]["id"] if data else None,
                             "last_id": data[-1]["id"] if data else None})

    async def retrieve(self, request: Request) -> Response:
        if (refused := self._version_error(request)) is not None:
            return refused
        job = self.owned_job(request, request.path_params["video_id"])
        job.polls += 1
        headers = {"openai-poll-after-ms": "200"} if self.flavour != "relay" else {}
        return JSONResponse(self._video(request, job), headers=headers)

    async def remix(self, request: Request) -> Response:
        if (refused := self._version_error(request)) is not None:
            return refused
        source = self.owned_job(request, request.path_params["video_id"])
        if source.phase()[0] != "completed":
            return self.error_response(400, "Only completed videos can be remixed", None)
        body = await request.json()
        job = self.new_job(
            request,
            self._new_id(),
            model=source.model,
            prompt=str(body.get("prompt") or ""),
            width=source.width,
            height=source.height,
            seconds=source.seconds,
            extra={"remix_of": source.id},
        )
        return JSONResponse(self._video(request, job))

    async def delete(self, request: Request) -> Response:
        if (refused := self._version_error(request)) is not None:
            return refused
        job = self.owned_job(request, request.path_params["video_id"])
        del self.jobs[job.id]
        return JSONResponse({"id": job.id, "object": "video.deleted", "deleted": True})

    async def content(self, request: Request) -> Response:
        if (refused := self._version_error(request)) is not None:
            return refused
        job = self.owned_job(request, request.path_params["video_id"])
        if self.flavour == "relay" and not self.content_endpoint:
            return self.error_response(404, "Invalid URL (GET /v1/videos/{id}/content)", None)
        variant = request.query_params.get("variant", "video")
        if variant not in _MEDIA:
            return self.error_response(400, f"Invalid variant {variant!r}", None)
        if job.phase()[0] != "completed":
            return self.error_response(400, "Video is not ready yet", "video_not_ready")
        if self.content_expired(job):
            message = "The video is no longer available. Downloads expire after 1 hours."
            return self.error_response(404, message, None)
        return Response(await _render(job, variant), media_type=_MEDIA[variant])

    async def cdn(self, request: Request) -> Response:
        """The relay's result URL: no credential, like a signed CDN link."""
        job = self.jobs.get(request.path_params["name"].removesuffix(".mp4"))
        if job is None or job.phase()[0] != "completed":
            return Response("not found", status_code=404)
        if self.content_expired(job):
            return Response("gone", status_code=410)
        return Response(await _render(job, "video"), media_type="video/mp4")

    # --- helpers ----------------------------------------------------------------------

    def _version_error(self, request: Request) -> Response | None:
        if self.flavour != "azure":
            return None
        if request.query_params.get("api-version") == self.api_version:
            return None
        message = f"api-version must be {self.api_version!r}"
        return self.error_response(400, message, "BadRequest")

    def _new_id(self) -> str:
        if self.flavour == "relay":
            return "task_" + self.token(32)
        return "video_" + secrets.token_hex(16)

    @staticmethod
    async def _read_create(request: Request) -> tuple[dict[str, Any] | None, bytes | None]:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            async with request.form() as form:
                upload = form.get("input_reference")
                reference = await upload.read() if isinstance(upload, UploadFile) else None
                fields: dict[str, Any] = {}
                for key, value in form.multi_items():
                    if key == "characters[][id]" and isinstance(value, str):
                        fields.setdefault("characters", []).append({"id": value})
                    elif isinstance(value, str):
                        fields[key] = value
                return fields, reference
        try:
            body = await request.json()
        except ValueError:
            return None, None
        return (body if isinstance(body, dict) else None), None

    def _video(self, request: Request, job: FakeJob) -> dict[str, Any]:
        phase, progress = job.phase()
        done = phase in ("completed", "failed")
        video: dict[str, Any] = {
            "id": job.id,
            "object": "video",
            "model": job.model,
            "status": phase,
            "progress": progress,
            "created_at": int(job.created_at),
            "completed_at": int(job.completed_at) if done else None,
            "expires_at": int(job.completed_at + 3600) if phase == "completed" else None,
            "prompt": job.prompt,
            "size": f"{job.width}x{job.height}",
            "seconds": str(job.seconds),
            "remixed_from_video_id": job.extra.get("remix_of"),
            "error": _job_error(job) if phase == "failed" else None,
        }
        if self.flavour == "relay":
            self._relay_dialect(request, job, video)
        return video

    def _relay_dialect(self, request: Request, job: FakeJob, video: dict[str, Any]) -> None:
        phase = video["status"]
        video["status"] = _RELAY_WORDS.get(phase, phase)
        if job.polls == self.unknown_poll:
            video["status"] = "unknown"
        video["progress"] = f"{video['progress']}%"
        video["task_id"] = job.id
        if phase == "completed":
            video["video_url"] = f"{self.cdn_base(request)}/cdn/{job.id}.mp4"


def _job_error(job: FakeJob) -> dict[str, str]:
    if job.outcome == "moderation":
        return {
            "code": "moderation_blocked",
            "message": "Your request was blocked by our moderation system.",
        }
    return {"code": "internal_error", "message": "The video could not be generated."}


async def _render(job: FakeJob, variant: str) -> bytes:
    if variant == "thumbnail":
        return render_thumbnail(job.width, job.height)
    if variant == "spritesheet":
        return render_spritesheet(job.width, job.height)
    return await asyncio.to_thread(render_mp4, job.width, job.height, float(job.seconds))
