"""A fake MiniMax video upstream: the V1 API (create, query, ``files/retrieve``) and V2.

Provider ``base_url`` = ``{server}``; ``Authorization: Bearer``. V1 reports errors
the MiniMax way, as HTTP 200 with ``base_resp.status_code`` (1002 rate limit, 1004
bad key, 1008 no balance, 1026 sensitive input, 2013 invalid params); only 5xx
are real HTTP errors (a gateway in front). V2 answers real statuses with
``{"type": "error", "error": {"type", "message": "... (1008)", "http_code"}}``.

Keys in ``broke`` are refused every create with 1008 (insufficient balance);
``broke_status`` records the HTTP status that answer carries for the API the
tests drive (200 on V1, 402 on V2). Prompts with a moderation word end ``Fail`` /
``failed`` with 1027 (sensitive output); with an ``input_moderation_words`` word the
create is refused with 1026.
Finished videos are signed links on a CDN host (another origin, no key): each
``files/retrieve`` (V1) or task query (V2) issues a fresh link; :meth:`expire_links`
makes every link issued so far answer 403 like an expired signature, and once
``content_ttl`` has passed the file itself is gone (404).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextvars
import io
import itertools
import time
from collections.abc import Iterable
from typing import Any

from PIL import Image
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .core import FakeJob, FakeUpstream
from .media import render_mp4

__all__ = ["MiniMaxFake"]

V1_MODELS = {  # model -> {resolution: durations}
    "MiniMax-Hailuo-2.3": {"768P": (6, 10), "1080P": (6,)},
    "MiniMax-Hailuo-02": {"512P": (6, 10), "768P": (6, 10), "1080P": (6,)},
    "T2V-01": {"720P": (6,)},
}
V2_MODELS = {"MiniMax-H3"}
V2_RATIOS = {"21:9": (21, 9), "16:9": (16, 9), "4:3": (4, 3), "1:1": (1, 1), "3:4": (3, 4),
             "9:16": (9, 16)}  # fmt: skip
_SHORT = {"512P": 512, "720P": 720, "768P": 768, "1080P": 1080, "2K": 1440}
_CODES = {400: 2013, 401: 1004, 402: 1008, 404: 2013, 422: 1026, 429: 1002}
_V2_TYPES = {400: "bad_request_error", 401: "authorized_error", 402: "insufficient_balance_error",
             404: "bad_request_error", 422: "unprocessable_entity_error",
             429: "rate_limit_error"}  # fmt: skip
_API: contextvars.ContextVar[str] = contextvars.ContextVar("minimax_api", default="v1")


def _sized(short: int, a: int, b: int) -> tuple[int, int]:
    long = 2 * round(short * max(a, b) / min(a, b) / 2)
    return (long, short) if a >= b else (short, long)


class MiniMaxFake(FakeUpstream):
    public_prefixes = ("/cdn/",)

    def __init__(self, *, input_moderation_words: Iterable[str] = ("nsfw-input",),
                 broke_status: int = 200, **options: Any) -> None:
        self.input_moderation_words = set(input_moderation_words)
        self.broke: set[str] = set()  # keys whose account has no balance left
        self.broke_status = broke_status
        self._serial = itertools.count(1)
        self._links: dict[str, tuple[str, int]] = {}  # token -> (job id, serial)
        self._expired_upto = 0
        self._files: dict[str, str] = {}  # file id -> job id
        super().__init__(**options)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/video_generation", self.create_v1, methods=["POST"]),
            Route("/v1/query/video_generation", self.query_v1, methods=["GET"]),
            Route("/v1/files/retrieve", self.retrieve_file, methods=["GET"]),
            Route("/v2/video_generation", self.create_v2, methods=["POST"]),
            Route("/v2/query/video_generation", self.list_v2, methods=["GET"]),
            Route("/v2/query/video_generation/{task_id}", self.query_v2, methods=["GET"]),
            Route("/v2/video_generation/{task_id}", self.delete_v2, methods=["DELETE"]),
            Route("/cdn/{task_id}/{token}", self.cdn, methods=["GET"]),
        ]

    def credential(self, request: Request) -> str | None:
        _API.set("v2" if request.url.path.startswith("/v2/") else "v1")
        auth = request.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None

    def error_response(self, status: int, message: str, code: str | None) -> Response:
        number = int(code) if code and code.isdigit() else _CODES.get(
            status, 1000 if status >= 500 else 2013)
        if _API.get() == "v2":
            kind = _V2_TYPES.get(status, "server_error")
            body = {"type": "error", "request_id": self.token(32), "error": {
                "type": kind, "message": f"{message} ({number})", "http_code": str(status)}}
            return JSONResponse(body, status_code=status)
        body = {"task_id": "", "base_resp": {"status_code": number, "status_msg": message}}
        return JSONResponse(body, status_code=status if status >= 500 else 200)

    def bad_key_response(self, credential: str | None) -> Response:
        if credential is None:
            text = "login fail: Please carry the API secret key in the 'Authorization' field"
            return self.error_response(401, text, None)
        return self.error_response(401, "invalid api key", "2049")

    def not_found_response(self, job_id: str) -> Response:
        return self.error_response(400, "invalid task_id", None)

    def expire_links(self) -> None:
        """Every link handed out so far now answers 403 (an expired signature)."""
        self._expired_upto = next(self._serial)

    def reset(self) -> None:
        super().reset()
        self.broke.clear()
        self._links.clear()
        self._files.clear()

    # --- V1 -----------------------------------------------------------------------------

    def _no_balance(self, request: Request) -> Response | None:
        if request.scope["fake.credential"] in self.broke:
            return self.error_response(402, "insufficient balance", None)
        return None

    async def create_v1(self, request: Request) -> Response:
        if (refused := self._no_balance(request)) is not None:
            return refused
        body = await request.json()
        model, prompt = str(body.get("model") or ""), str(body.get("prompt") or "")
        resolution = str(body.get("resolution") or "768P")
        duration = body.get("duration", 6)
        tiers = V1_MODELS.get(model)
        if tiers is None:
            return self.error_response(400, f"invalid params, model {model!r} not support", None)
        if resolution not in tiers or duration not in tiers[resolution]:
            return self.error_response(
                400, f"invalid params, {model} cannot render {resolution} for {duration}s", None)
        image = _data_image(body.get("first_frame_image"))
        if image is False or not prompt:
            return self.error_response(400, "invalid params, prompt or first_frame_image", None)
        if self._refused_input(prompt):
            return self.error_response(422, "input new_sensitive", None)
        width, height = _frame(_SHORT[resolution], image, (16, 9))
        task_id = str(300_000_000_000_000 + next(self._serial))
        self.new_job(request, task_id, model=model, prompt=prompt, width=width, height=height,
                     seconds=int(duration), extra={"api": "v1", "reference": image or None,
                                                   "resolution": resolution})
        return JSONResponse({"task_id": task_id,
                             "base_resp": {"status_code": 0, "status_msg": "success"}})

    async def query_v1(self, request: Request) -> Response:
        job = self.owned_job(request, request.query_params.get("task_id", ""))
        job.polls += 1
        phase, _ = job.phase()
        answer: dict[str, Any] = {"task_id": job.id, "status": _v1_word(job, phase),
                                  "base_resp": {"status_code": 0, "status_msg": "success"}}
        if phase == "completed":
            file_id = str(job.extra.setdefault("file_id", 200_000_000_000_000
                                               + next(self._serial)))
            self._files[file_id] = job.id
            answer.update(file_id=file_id, video_width=job.width, video_height=job.height)
        elif phase == "failed":
            answer["base_resp"] = _failure(job)
        return JSONResponse(answer)

    async def retrieve_file(self, request: Request) -> Response:
        file_id = request.query_params.get("file_id", "")
        job = self.owned_job(request, self._files.get(file_id, f"file {file_id}"))
        file = {"file_id": int(file_id), "bytes": 0, "created_at": int(job.completed_at),
                "filename": "output_aigc.mp4", "purpose": "video_generation",
                "download_url": self._link(request, job)}
        return JSONResponse({"file": file,
                             "base_resp": {"status_code": 0, "status_msg": "success"}})

    # --- V2 -----------------------------------------------------------------------------

    async def create_v2(self, request: Request) -> Response:
        if (refused := self._no_balance(request)) is not None:
            return refused
        body = await request.json()
        content = body.get("content") or []
        texts = [c.get("text") for c in content if c.get("type") == "text" and c.get("text")]
        frames = [c for c in content if c.get("type") == "image_url"]
        model, resolution = str(body.get("model") or ""), str(body.get("resolution") or "768P")
        duration, ratio = body.get("duration", 5), body.get("ratio")
        if model not in V2_MODELS or len(texts) != 1 or resolution not in ("768P", "2K"):
            return self.error_response(
                400, "invalid params, content must include a non-empty text item", None)
        if not isinstance(duration, int) or not 4 <= duration <= 15:
            return self.error_response(400, "invalid params, duration must be 4-15", None)
        image = _data_image((frames[0].get("image_url") or {}).get("url")) if frames else None
        if image is False or (not frames and ratio not in V2_RATIOS):
            return self.error_response(400, "invalid params, image or ratio", None)
        if self._refused_input(texts[0]):
            return self.error_response(422, "video description contains sensitive content", None)
        a, b = V2_RATIOS.get(str(ratio), (16, 9))
        width, height = _frame(_SHORT[resolution], image, (a, b))
        task_id = str(400_000_000_000_000 + next(self._serial))
        used = str(ratio) if not frames else _ratio_of(width, height)
        self.new_job(request, task_id, model=model, prompt=texts[0], width=width, height=height,
                     seconds=duration, extra={"api": "v2", "reference": image or None,
                                              "resolution": resolution, "ratio": used})
        return JSONResponse({"task_id": task_id})

    async def query_v2(self, request: Request) -> Response:
        job = self.owned_job(request, request.path_params["task_id"])
        job.polls += 1
        return JSONResponse({"task": self._task_v2(request, job)})

    async def list_v2(self, request: Request) -> Response:
        caller = request.scope["fake.credential"]
        mine = [j for j in self.jobs.values() if j.creator == caller and j.extra["api"] == "v2"]
        size = int(request.query_params.get("page_size", "10"))
        return JSONResponse({"items": [self._task_v2(request, j) for j in mine[:size]],
                             "total": len(mine)})

    async def delete_v2(self, request: Request) -> Response:
        job = self.owned_job(request, request.path_params["task_id"])
        if job.phase()[0] in ("queued", "in_progress"):
            job.cancelled = True
        else:
            del self.jobs[job.id]
        return JSONResponse({"task_id": job.id, "status": "deleted"})

    def _task_v2(self, request: Request, job: FakeJob) -> dict[str, Any]:
        phase, _ = job.phase()
        words = {"queued": "queued", "in_progress": "running", "completed": "succeeded"}
        task: dict[str, Any] = {
            "id": job.id, "model": job.model, "status": words.get(phase, phase),
            "created_at": int(job.created_at), "updated_at": int(time.time()),
            "resolution": job.extra["resolution"], "ratio": job.extra["ratio"],
            "duration": job.seconds, "task_type": "generation",
        }
        if phase == "completed":
            task["content"] = {"url": self._link(request, job), "duration": job.seconds}
            task["usage"] = {"total_seconds": job.seconds, "output_seconds": job.seconds,
                             "input_seconds": 0}
        elif phase == "failed":
            failure = _failure(job)
            task["error"] = {"code": str(failure["status_code"]),
                             "message": failure["status_msg"]}
        return task

    # --- the CDN ------------------------------------------------------------------------

    def _link(self, request: Request, job: FakeJob) -> str:
        token = self.token(20)
        self._links[token] = (job.id, next(self._serial))
        expires = int(time.time()) + 32400
        return f"{self.cdn_base(request)}/cdn/{job.id}/{token}.mp4?Expires={expires}"

    async def cdn(self, request: Request) -> Response:
        token = request.path_params["token"].removesuffix(".mp4")
        job_id, serial = self._links.get(token, ("", 0))
        job = self.jobs.get(job_id)
        if job is None or job.phase()[0] != "completed" or self.content_expired(job):
            return Response("<Error><Code>NoSuchKey</Code></Error>", status_code=404,
                            media_type="application/xml")
        if serial <= self._expired_upto:
            body = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
            return Response(body, status_code=403, media_type="application/xml")
        data = await asyncio.to_thread(render_mp4, job.width, job.height, float(job.seconds))
        return Response(data, media_type="video/mp4")

    def _refused_input(self, prompt: str) -> bool:
        lowered = prompt.lower()
        return any(word.lower() in lowered for word in self.input_moderation_words)


def _v1_word(job: FakeJob, phase: str) -> str:
    if phase == "completed":
        return "Success"
    if phase in ("failed", "cancelled"):
        return "Fail"
    elapsed = (time.time() - job.created_at) / max(job.complete_after, 1e-6)
    return "Preparing" if elapsed < 0.1 else "Queueing" if elapsed < 0.3 else "Processing"


def _failure(job: FakeJob) -> dict[str, Any]:
    if job.outcome == "moderation":
        return {"status_code": 1027, "status_msg": "output video sensitive"}
    return {"status_code": 1000, "status_msg": "video generation failed"}


def _data_image(url: Any) -> bytes | bool | None:
    """The decoded image of a data URL; None when absent, False when malformed."""
    if url is None:
        return None
    head, _, data = str(url).partition(";base64,")
    if not head.startswith("data:image/") or not data:
        return False
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return False


def _frame(short: int, image: bytes | bool | None, ratio: tuple[int, int]) -> tuple[int, int]:
    """The rendered size: the image's aspect when there is a decodable image."""
    if isinstance(image, bytes):
        try:
            with Image.open(io.BytesIO(image)) as img:
                return _sized(short, *img.size)
        except (OSError, ValueError):
            pass
    return _sized(short, *ratio)


def _ratio_of(width: int, height: int) -> str:
    return min(V2_RATIOS, key=lambda r: abs(V2_RATIOS[r][0] / V2_RATIOS[r][1] - width / height))
