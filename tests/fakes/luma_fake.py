"""A fake Luma Dream Machine API: ``generations`` and ``credits``.

Provider ``base_url`` = ``{server}/dream-machine/v1``. Errors are ``{"detail": "..."}``
as Luma's FastAPI answers them. A create checks the model, ``resolution`` ("540p",
"720p", "1080p", "4k"), ``duration`` ("5s" / "9s") and ``aspect_ratio``, and takes a
``keyframes.frame0`` image only as an https URL (a data URI is a 400, as on Luma).
Prompts with a word from ``refuse_words`` are refused at create (400 "prompt not
allowed"); moderation words fail later with a moderation ``failure_reason``. Each
create costs the key credits; a key in ``broke`` gets 400 "Insufficient credits".

States go ``queued → dreaming → completed | failed``; a finished generation's
``assets.video`` is on a CDN host (another origin, no credential) that answers 403
once ``content_ttl`` has passed. The generation echoes its ``request``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .core import FakeJob, FakeUpstream
from .media import render_mp4, render_thumbnail

__all__ = ["LumaFake"]

BASE = "/dream-machine/v1"
MODELS = ("ray-2", "ray-flash-2", "ray-1-6")
_SHORT = {"540p": 540, "720p": 720, "1080p": 1080, "4k": 2160}
_RATIOS = {"1:1": (1, 1), "16:9": (16, 9), "9:16": (9, 16), "4:3": (4, 3), "3:4": (3, 4),
           "21:9": (21, 9), "9:21": (9, 21)}  # fmt: skip
_DURATIONS = {"5s": 5, "9s": 9}
CREDITS_PER_SECOND = 20  # cents


class LumaFake(FakeUpstream):
    public_prefixes = ("/cdn/",)
    broke_status = 400  # what a key in ``broke`` gets on create

    def __init__(self, *, refuse_words: Iterable[str] = ("nsfw",), **options: Any) -> None:
        super().__init__(**options)
        self.refuse_words = set(refuse_words)
        self.broke: set[str] = set()

    def base_url(self, server_url: str) -> str:
        return f"{server_url}{BASE}"

    def routes(self) -> list[BaseRoute]:
        return [
            Route(f"{BASE}/generations", self.create, methods=["POST"]),
            Route(f"{BASE}/generations/video", self.create, methods=["POST"]),
            Route(f"{BASE}/generations", self.list, methods=["GET"]),
            Route(f"{BASE}/generations/{{gen_id}}", self.retrieve, methods=["GET"]),
            Route(f"{BASE}/generations/{{gen_id}}", self.delete, methods=["DELETE"]),
            Route(f"{BASE}/credits", self.credits, methods=["GET"]),
            Route("/cdn/{name}", self.cdn, methods=["GET"]),
        ]

    def credential(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None

    def error_response(self, status: int, message: str, code: str | None) -> Response:
        return JSONResponse({"detail": message}, status_code=status)

    def bad_key_response(self, credential: str | None) -> Response:
        return self.error_response(401, "Invalid API key", None)

    def not_found_response(self, job_id: str) -> Response:
        return self.error_response(404, "Generation not found", None)

    def rewrite_status_word(self, body: bytes, word: str) -> bytes:
        data = json.loads(body)
        if isinstance(data, dict) and "state" in data:
            data["state"] = word
        return json.dumps(data).encode()

    def reset(self) -> None:
        super().reset()
        self.broke.clear()

    # --- handlers ---------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        body = await request.json()
        problem = _invalid(body)
        if problem:
            return self.error_response(400, problem, None)
        prompt = str(body["prompt"])
        if any(word in prompt.lower() for word in self.refuse_words):
            return self.error_response(
                400, "400: prompt not allowed because it violates our content policy", None)
        key = request.scope["fake.credential"]
        if key in self.broke:
            return self.error_response(self.broke_status, "Insufficient credits", None)
        resolution = body.get("resolution", "720p")
        ratio = body.get("aspect_ratio", "16:9")
        seconds = _DURATIONS[body.get("duration", "5s")]
        width, height = _frame(resolution, ratio)
        request_echo = {"prompt": prompt, "model": body["model"], "resolution": resolution,
                        "aspect_ratio": ratio, "duration": f"{seconds}s", "loop": False,
                        "generation_type": "video"}
        job = self.new_job(request, str(uuid.uuid4()), model=str(body["model"]), prompt=prompt,
                           width=width, height=height, seconds=seconds,
                           extra={"request": request_echo})
        return JSONResponse(self._generation(request, job), status_code=201)

    async def list(self, request: Request) -> Response:
        caller = request.scope["fake.credential"]
        mine = [j for j in self.jobs.values() if j.creator == caller]
        limit = int(request.query_params.get("limit", "10"))
        return JSONResponse({"generations": [self._generation(request, j) for j in mine[:limit]],
                             "has_more": len(mine) > limit, "count": len(mine)})

    async def retrieve(self, request: Request) -> Response:
        job = self.owned_job(request, request.path_params["gen_id"])
        job.polls += 1
        return JSONResponse(self._generation(request, job))

    async def delete(self, request: Request) -> Response:
        job = self.owned_job(request, request.path_params["gen_id"])
        del self.jobs[job.id]
        return Response(status_code=204)

    async def credits(self, request: Request) -> Response:
        key = request.scope["fake.credential"]
        return JSONResponse({"credit_balance": 0.0 if key in self.broke else 125_000.0})

    async def cdn(self, request: Request) -> Response:
        name = request.path_params["name"]
        job = self.jobs.get(name.rsplit(".", 1)[0].removesuffix("_thumb"))
        if job is None or job.phase()[0] != "completed":
            return Response("<Error><Code>NoSuchKey</Code></Error>", status_code=404)
        if self.content_expired(job):
            return Response("<Error><Code>AccessDenied</Code><Message>Request has expired"
                            "</Message></Error>", status_code=403, media_type="application/xml")
        if name.endswith("_thumb.webp"):
            return Response(render_thumbnail(job.width, job.height), media_type="image/webp")
        data = await asyncio.to_thread(render_mp4, job.width, job.height, float(job.seconds))
        return Response(data, media_type="video/mp4")

    # --- helpers ----------------------------------------------------------------------

    def _generation(self, request: Request, job: FakeJob) -> dict[str, Any]:
        phase, _ = job.phase()
        state = {"queued": "queued", "in_progress": "dreaming"}.get(phase, phase)
        created = datetime.fromtimestamp(job.created_at, UTC).isoformat()
        gen: dict[str, Any] = {
            "id": job.id, "generation_type": "video", "state": state, "failure_reason": None,
            "created_at": created, "model": job.model, "request": job.extra["request"],
            "assets": None,
        }
        if phase == "completed":
            cdn = f"{self.cdn_base(request)}/cdn/{job.id}"
            gen["assets"] = {"video": f"{cdn}.mp4", "image": f"{cdn}_thumb.webp",
                             "progress_video": None}
        elif phase == "failed":
            gen["failure_reason"] = (
                "Generation failed: the output was flagged by content moderation"
                if job.outcome == "moderation" else "Generation failed: internal error")
        return gen


def _frame(resolution: str, ratio: str) -> tuple[int, int]:
    short = _SHORT[resolution]
    a, b = _RATIOS[ratio]
    long = 2 * round(short * max(a, b) / min(a, b) / 2)
    return (long, short) if a >= b else (short, long)


def _invalid(body: Any) -> str | None:
    """Why a create body is refused (422-style detail text), or None."""
    if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
        return "prompt: field required"
    if body.get("model") not in MODELS:
        return f"model: must be one of {', '.join(MODELS)}"
    if body.get("resolution", "720p") not in _SHORT:
        return "resolution: must be one of 540p, 720p, 1080p, 4k"
    if body.get("aspect_ratio", "16:9") not in _RATIOS:
        return "aspect_ratio: invalid value"
    if body.get("duration", "5s") not in _DURATIONS:
        return "duration: must be one of 5s, 9s"
    frame0 = (body.get("keyframes") or {}).get("frame0")
    if frame0 is not None:
        url = frame0.get("url", "") if isinstance(frame0, dict) else ""
        if not str(url).startswith("https://"):
            return "keyframes.frame0.url: must be an https URL"
    return None
