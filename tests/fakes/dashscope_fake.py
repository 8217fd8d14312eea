"""A fake DashScope (Alibaba Model Studio) video-synthesis API: Wan tasks.

Provider ``base_url`` = ``{server}``; ``Authorization: Bearer <key>`` (none: 401
"No API-key provided.", a wrong one: 401 ``InvalidApiKey``). Errors are DashScope's
``{"request_id", "code", "message"}``; with ``errors_as_200`` every error below 500
comes as HTTP 200, as DashScope sometimes sends them, so only the body tells.

Create (``POST /api/v1/services/aigc/video-generation/video-synthesis``) insists on
``X-DashScope-Async: enable`` (else 403 ``AccessDenied``, "does not support
synchronous calls") and checks the documented parameters per model: text-to-video
``parameters.size`` among the model's ``W*H`` sizes and no image; image-to-video
``input.img_url`` as a ``data:image/...;base64,`` URL of a real image of 360-2000 px
and ``parameters.resolution`` among the model's tiers; Wan 2.7 (the newer protocol)
``resolution`` and ``ratio`` and neither of the others; ``duration`` among its
durations. Keys in ``broke`` get ``Arrearage``; prompts with an
``input_moderation_words`` word get ``DataInspectionFailed`` at create, those with
a moderation word a FAILED task with that code, those with an error word a FAILED
task with ``InternalError.Algo``.

``GET /api/v1/tasks/{id}`` answers ``PENDING | RUNNING | SUCCEEDED | FAILED |
CANCELED``, and ``UNKNOWN`` (HTTP 200) for a task it does not know, one of another
key, or one older than ``task_ttl`` (ids expire after 24 h; :meth:`expire_tasks`
ages every task past that at once). Cancel works on PENDING tasks only. Finished
videos are signed links on a CDN host (another origin, no key) answering 403 once
``content_ttl`` has passed. ``usage`` carries the billed seconds: ``duration`` on Wan
2.5+, ``video_duration`` on Wan 2.2; ``rendered_seconds`` makes the task render and
bill another duration than asked.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from PIL import Image, UnidentifiedImageError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .core import FakeJob, FakeUpstream
from .media import render_mp4

__all__ = ["DashScopeFake"]

TIERS = {
    "480P": ((832, 480), (480, 832), (624, 624)),
    "720P": ((1280, 720), (720, 1280), (960, 960), (1088, 832), (832, 1088)),
    "1080P": ((1920, 1080), (1080, 1920), (1440, 1440), (1632, 1248), (1248, 1632)),
}
#: model -> (tiers, durations)
MODELS: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "wan2.6-t2v": (("720P", "1080P"), (5, 10, 15)),
    "wan2.6-i2v": (("720P", "1080P"), (5, 10, 15)),
    "wan2.5-t2v-preview": (("480P", "720P", "1080P"), (5, 10)),
    "wan2.5-i2v-preview": (("480P", "720P", "1080P"), (5, 10)),
    "wan2.2-t2v-plus": (("480P", "1080P"), (5,)),
    "wan2.2-i2v-plus": (("480P", "1080P"), (5,)),
    "wan2.2-i2v-flash": (("480P", "720P", "1080P"), (5,)),
    "wan2.7-t2v": (("720P", "1080P"), tuple(range(2, 16))),  # the newer protocol
}
RATIOS = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1), "4:3": (4, 3), "3:4": (3, 4)}
_CODES = {400: "InvalidParameter", 401: "InvalidApiKey", 403: "AccessDenied",
          404: "ModelNotFound", 429: "Throttling.RateQuota", 500: "InternalError",
          503: "ServiceUnavailable"}
_WORDS = {"queued": "PENDING", "in_progress": "RUNNING", "completed": "SUCCEEDED",
          "failed": "FAILED", "cancelled": "CANCELED"}
_CST = timezone(timedelta(hours=8))  # DashScope's times are UTC+8 without an offset


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, _CST).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


class DashScopeFake(FakeUpstream):
    public_prefixes = ("/cdn/",)

    def __init__(self, *, input_moderation_words: Iterable[str] = ("nsfw-input",),
                 errors_as_200: bool = False, task_ttl: float = 86400.0,
                 **options: Any) -> None:
        self.input_moderation_words = set(input_moderation_words)
        self.errors_as_200 = errors_as_200
        self.task_ttl = task_ttl
        self.broke: set[str] = set()  # keys whose account is in arrears
        self.rendered_seconds: int | None = None
        super().__init__(**options)

    @property
    def broke_status(self) -> int:
        """The HTTP status an ``Arrearage`` answer carries."""
        return 200 if self.errors_as_200 else 400

    def reset(self) -> None:
        super().reset()
        self.broke.clear()
        self.rendered_seconds = None

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/v1/services/aigc/video-generation/video-synthesis", self.create,
                  methods=["POST"]),
            Route("/api/v1/tasks/{task_id}", self.task, methods=["GET"]),
            Route("/api/v1/tasks/{task_id}/cancel", self.cancel, methods=["POST"]),
            Route("/cdn/{token}", self.cdn, methods=["GET"]),
        ]

    def credential(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else None

    def error_response(self, status: int, message: str, code: str | None) -> Response:
        if not code or not code[0].isupper():  # the core's own words: DashScope's instead
            code = _CODES.get(status, "InternalError" if status >= 500 else "InvalidParameter")
        body = {"request_id": str(uuid.uuid4()), "code": code, "message": message}
        return JSONResponse(body, status_code=200 if self.errors_as_200 and status < 500
                            else status)

    def bad_key_response(self, credential: str | None) -> Response:
        if credential is None:
            return self.error_response(401, "No API-key provided.", "InvalidApiKey")
        return self.error_response(401, "Invalid API-key provided.", "InvalidApiKey")

    def not_found_response(self, job_id: str) -> Response:
        """DashScope does not 404 a task it does not know: it says UNKNOWN."""
        return JSONResponse({"request_id": str(uuid.uuid4()),
                             "output": {"task_id": job_id, "task_status": "UNKNOWN"}})

    def expire_tasks(self) -> None:
        """Every task so far is now older than ``task_ttl``: DashScope forgot it."""
        for job in self.jobs.values():
            job.created_at -= self.task_ttl + 1

    # --- handlers -----------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        if request.headers.get("x-dashscope-async") != "enable":
            return self.error_response(403, "current user api does not support synchronous "
                                       "calls", "AccessDenied")
        try:
            body = await request.json()
        except ValueError:
            return self.error_response(400, "Request body is not valid JSON", None)
        refused = self._refusal(body)
        if refused is not None:
            return self.error_response(400, refused, "InvalidParameter")
        model, given = str(body["model"]), body.get("input") or {}
        prompt = str(given.get("prompt") or "")
        if any(word in prompt.lower() for word in self.input_moderation_words):
            return self.error_response(400, "Input data may contain inappropriate content.",
                                       "DataInspectionFailed")
        if request.scope["fake.credential"] in self.broke:
            return self.error_response(400, "Access denied, please make sure your account is "
                                       "in good standing.", "Arrearage")
        parameters = body.get("parameters") or {}
        image = _decode(given.get("img_url"))
        if image is not None:
            width, height = _frame(str(parameters.get("resolution")), *image[1])
        elif "ratio" in parameters:
            width, height = _frame(str(parameters["resolution"]), *RATIOS[parameters["ratio"]])
        else:
            width, height = (int(v) for v in str(parameters["size"]).split("*"))
        seconds = self.rendered_seconds or int(parameters.get("duration", 5))
        task_id = str(uuid.uuid4())
        self.new_job(request, task_id, model=model, prompt=prompt, width=width, height=height,
                     seconds=seconds, extra={"reference": image[0] if image else None,
                                             "parameters": parameters})
        return JSONResponse({"request_id": str(uuid.uuid4()),
                             "output": {"task_id": task_id, "task_status": "PENDING"}})

    def _refusal(self, body: Any) -> str | None:
        """Why DashScope would refuse this create's parameters, or None."""
        if not isinstance(body, dict) or body.get("model") not in MODELS:
            model = body.get("model") if isinstance(body, dict) else None
            return f"Model not exist: {model!r}"
        model = str(body["model"])
        tiers, durations = MODELS[model]
        given, parameters = body.get("input") or {}, body.get("parameters") or {}
        if not str(given.get("prompt") or "").strip():
            return "input.prompt is required"
        duration = parameters.get("duration", 5)
        if not isinstance(duration, int) or isinstance(duration, bool) \
                or duration not in durations:
            return f"duration {duration!r} is not supported by {model}"
        if model.startswith("wan2.7"):
            if "size" in parameters or "img_url" in given:
                return f"{model} takes resolution and ratio (and media), not size or img_url"
            if parameters.get("resolution") not in tiers:
                return f"resolution {parameters.get('resolution')!r} not supported by {model}"
            if parameters.get("ratio", "16:9") not in RATIOS:
                return f"ratio {parameters.get('ratio')!r} not supported by {model}"
            parameters.setdefault("ratio", "16:9")
            return None
        if "i2v" in model:
            if "size" in parameters:
                return "size is not supported for image-to-video, use resolution"
            if parameters.get("resolution") not in tiers:
                return f"resolution {parameters.get('resolution')!r} not supported by {model}"
            image = _decode(given.get("img_url"))
            if image is None:
                return "img_url is required and must be a URL or a base64 data URL"
            if not all(360 <= side <= 2000 for side in image[1]):
                return "img_url: width and height must be 360-2000 pixels"
            return None
        if "img_url" in given:
            return f"img_url is not supported by {model}"
        sizes = {f"{w}*{h}" for tier in tiers for w, h in TIERS[tier]}
        if parameters.get("size") not in sizes:
            return f"size {parameters.get('size')!r} not supported by {model}"
        return None

    async def task(self, request: Request) -> Response:
        job = self.owned_job(request, request.path_params["task_id"])
        if time.time() - job.created_at > self.task_ttl:
            return self.not_found_response(job.id)
        job.polls += 1
        phase, _ = job.phase()
        output: dict[str, Any] = {"task_id": job.id, "task_status": _WORDS[phase],
                                  "submit_time": _stamp(job.created_at)}
        answer: dict[str, Any] = {"request_id": str(uuid.uuid4()), "output": output}
        if phase != "queued":
            output["scheduled_time"] = _stamp(job.created_at + 0.1)
        if phase == "completed":
            output.update(end_time=_stamp(job.completed_at), orig_prompt=job.prompt,
                          video_url=self._link(request, job))
            answer["usage"] = self._usage(job)
        elif phase == "failed":
            output.update(end_time=_stamp(job.completed_at), **_failure(job))
        return JSONResponse(answer)

    async def cancel(self, request: Request) -> Response:
        job = self.owned_job(request, request.path_params["task_id"])
        if job.phase()[0] != "queued":
            return self.error_response(400, "Failed to cancel the task, please confirm if the "
                                       "task is in PENDING status.", "UnsupportedOperation")
        job.cancelled = True
        return JSONResponse({"request_id": str(uuid.uuid4())})

    async def cdn(self, request: Request) -> Response:
        job = self.jobs.get(request.path_params["token"].removesuffix(".mp4"))
        if job is None or job.phase()[0] != "completed":
            return Response("<Error><Code>NoSuchKey</Code></Error>", status_code=404,
                            media_type="application/xml")
        if self.content_expired(job):
            body = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
            return Response(body, status_code=403, media_type="application/xml")
        data = await asyncio.to_thread(render_mp4, job.width, job.height, float(job.seconds))
        return Response(data, media_type="video/mp4")

    # --- helpers ------------------------------------------------------------------------

    def _link(self, request: Request, job: FakeJob) -> str:
        expires = int(job.completed_at + 86400)
        return f"{self.cdn_base(request)}/cdn/{job.id}.mp4?Expires={expires}&Signature=fake"

    @staticmethod
    def _usage(job: FakeJob) -> dict[str, Any]:
        if job.model.startswith("wan2.2"):
            return {"video_duration": job.seconds, "video_ratio": f"{job.width}*{job.height}",
                    "video_count": 1}
        tier = next(t for t, frames in TIERS.items()
                    if any(w * h == job.width * job.height for w, h in frames))
        return {"duration": job.seconds, "input_video_duration": 0,
                "output_video_duration": job.seconds, "video_count": 1,
                "SR": int(tier.removesuffix("P"))}


def _failure(job: FakeJob) -> dict[str, str]:
    if job.outcome == "moderation":
        return {"code": "DataInspectionFailed",
                "message": "Output data may contain inappropriate content."}
    return {"code": "InternalError.Algo", "message": "An internal error has occured during "
            "algorithm execution."}


def _decode(url: Any) -> tuple[bytes, tuple[int, int]] | None:
    """(bytes, (width, height)) of a ``data:image/...;base64,`` URL, else None."""
    head, _, encoded = str(url or "").partition(";base64,")
    if not head.startswith("data:image/") or not encoded:
        return None
    try:
        data = base64.b64decode(encoded, validate=True)
        with Image.open(io.BytesIO(data)) as img:
            return data, img.size
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError):
        return None


def _frame(tier: str, width: int, height: int) -> tuple[int, int]:
    """The tier's documented frame whose aspect ratio is nearest the image's."""
    return min(TIERS[tier], key=lambda frame: abs(frame[0] / frame[1] - width / height))
