"""A fake vLLM-Omni server: ``vllm serve <model> --omni`` and its ``/v1/videos``.

As documented (docs/serving/videos_api.md, ``protocol/videos.py``): create is
``multipart/form-data`` only (a JSON body is a FastAPI 422), with the OpenAI fields
plus ``width``, ``height``, ``num_frames``, ``fps``, ``num_inference_steps``, ...;
``size`` wins over ``width``/``height``; without ``num_frames`` it is ``seconds x fps``
(fps defaults to 24). The job record (``VideoResponse``) has ``status`` queued |
in_progress | completed | failed, ``seconds`` as a string, ``inference_time_s`` once
done; ``/content`` serves the MP4 only. ``--api-key`` means Bearer auth (vLLM answers
``{"error": "Unauthorized"}`` with 401). Provider ``base_url`` = ``{server}/v1``.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .core import FakeJob, FakeUpstream
from .media import render_mp4

__all__ = ["OmniFake"]

_INTS = ("width", "height", "num_frames", "fps", "num_inference_steps", "seed")


class OmniFake(FakeUpstream):
    def __init__(self, *, served_model: str = "Wan-AI/Wan2.2-TI2V-5B-Diffusers",
                 **options: Any) -> None:
        self.served_model = served_model
        super().__init__(**options)

    def base_url(self, server_url: str) -> str:
        return f"{server_url}/v1"

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/videos", self.create, methods=["POST"]),
            Route("/v1/videos", self.list, methods=["GET"]),
            Route("/v1/videos/{video_id}", self.retrieve, methods=["GET"]),
            Route("/v1/videos/{video_id}", self.delete, methods=["DELETE"]),
            Route("/v1/videos/{video_id}/content", self.content, methods=["GET"]),
        ]

    def credential(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None

    def error_response(self, status: int, message: str, code: str | None) -> Response:
        return JSONResponse({"detail": message}, status_code=status)

    def bad_key_response(self, credential: str | None) -> Response:
        return JSONResponse({"error": "Unauthorized"}, status_code=401)

    async def create(self, request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return JSONResponse({"detail": [{"type": "missing", "loc": ["body", "prompt"],
                                             "msg": "Field required"}]}, status_code=422)
        async with request.form() as form:
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            upload = form.get("input_reference")
            reference = await upload.read() if isinstance(upload, UploadFile) else None
        if not fields.get("prompt"):
            return JSONResponse({"detail": [{"type": "missing", "loc": ["body", "prompt"],
                                             "msg": "Field required"}]}, status_code=422)
        try:
            numbers = {k: int(fields[k]) for k in _INTS if k in fields}
        except ValueError as exc:
            return JSONResponse({"detail": f"invalid number: {exc}"}, status_code=422)
        width, height = numbers.get("width", 832), numbers.get("height", 480)
        if "size" in fields:
            width, height = (int(v) for v in fields["size"].split("x"))
        fps = numbers.get("fps", 24)
        seconds = int(fields.get("seconds") or 4)
        frames = numbers.get("num_frames", seconds * fps)
        job = self.new_job(request, f"video_gen_{secrets.token_hex(16)}",
                           model=fields.get("model") or self.served_model,
                           prompt=fields["prompt"], width=width, height=height,
                           seconds=seconds, extra={"form": fields, "reference": reference,
                                                   "frames": frames, "fps": fps})
        return JSONResponse(self._record(job))

    async def list(self, request: Request) -> Response:
        mine = [self._record(j) for j in self.jobs.values()
                if j.creator == request.scope["fake.credential"]]
        return JSONResponse({"object": "list", "data": mine, "has_more": False,
                             "first_id": mine[0]["id"] if mine else None,
                             "last_id": mine[-1]["id"] if mine else None})

    async def retrieve(self, request: Request) -> Response:
        job = self.owned_job(request, request.path_params["video_id"])
        job.polls += 1
        return JSONResponse(self._record(job))

    async def delete(self, request: Request) -> Response:
        job = self.owned_job(request, request.path_params["video_id"])
        del self.jobs[job.id]
        return JSONResponse({"id": job.id, "deleted": True, "object": "video.deleted"})

    async def content(self, request: Request) -> Response:
        job = self.owned_job(request, request.path_params["video_id"])
        if job.phase()[0] != "completed":
            return JSONResponse({"detail": "Video is not ready"}, status_code=400)
        data = await asyncio.to_thread(render_mp4, job.width, job.height,
                                       job.extra["frames"] / job.extra["fps"])
        return Response(data, media_type="video/mp4")

    def _record(self, job: FakeJob) -> dict[str, Any]:
        phase, progress = job.phase()
        done = phase in ("completed", "failed")
        return {
            "id": job.id, "object": "video", "model": job.model, "prompt": job.prompt,
            "status": phase, "size": f"{job.width}x{job.height}", "progress": progress,
            "seconds": str(job.seconds), "quality": "default",
            "created_at": int(job.created_at),
            "completed_at": int(job.completed_at) if done else None,
            "remixed_from_video_id": None,
            "error": {"code": "internal_error", "message": "Generation failed: CUDA error"}
            if phase == "failed" else None,
            "media_type": "video/mp4", "expires_at": None,
            "file_name": f"{job.id}.mp4" if phase == "completed" else None,
            "inference_time_s": round(job.complete_after * 0.9, 3) if done else None,
            "stage_durations": {}, "peak_memory_mb": 0.0,
        }
