"""A fake Vidu enterprise API (``/ent/v2``): ``Token`` auth, text2video / img2video tasks.

Provider ``base_url`` = ``{server}``. Only ``Authorization: Token <key>`` is accepted
(a Bearer header is a 401, as it is at Vidu). Errors are Vidu's
``{"code", "reason", "message", "metadata"}``. Create checks the documented
parameters per route and model: ``duration`` an integer in the model's range,
``resolution``, ``aspect_ratio`` on text2video only, and on img2video exactly one
image given as a ``data:image/...;base64,`` URL of a real image. Prompts with a
``blocked_words`` word are refused at create (``TaskPromptPolicyViolation``); those
with a moderation word fail later with ``err_code`` ``CreationPolicyViolation``; keys
in ``broke`` get ``CreditInsufficient`` (HTTP 400). Cancel works until the task has
finished (then 400, "can not cancel"). Finished videos sit on a CDN host (another
origin, no credential) that answers 403 after ``content_ttl``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import math
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from PIL import Image, UnidentifiedImageError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .core import FakeJob, FakeUpstream
from .media import render_mp4, render_thumbnail

__all__ = ["ViduFake"]

TEXT_MODELS = frozenset({"viduq3-pro", "viduq3-turbo", "viduq2", "viduq1"})
IMAGE_MODELS = frozenset({"viduq3-pro", "viduq3-turbo", "viduq2-pro-fast", "viduq2-pro",
                          "viduq2-turbo", "viduq1", "viduq1-classic", "vidu2.0"})
_RATIOS = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1), "4:3": (4, 3), "3:4": (3, 4)}
_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
            429: "TooManyRequests", 499: "Canceled", 500: "InternalServiceFailure"}
_STATES = {"queued": "queueing", "in_progress": "processing", "completed": "success"}


def _durations(model: str) -> Iterable[int]:
    if model.startswith("viduq3"):
        return range(1, 17)
    if model.startswith("viduq2"):
        return range(1, 11)
    return (4, 8) if model == "vidu2.0" else (5,)


def _resolutions(model: str) -> tuple[str, ...]:
    if model.startswith(("viduq3", "viduq2")):
        return ("540p", "720p", "1080p")
    return ("360p", "720p", "1080p") if model == "vidu2.0" else ("1080p",)


class ViduFake(FakeUpstream):
    public_prefixes = ("/cdn/",)
    broke_status = 400  # what a key in ``broke`` gets on create (CreditInsufficient)

    def __init__(self, *, blocked_words: Iterable[str] = ("nsfw-input",),
                 **options: Any) -> None:
        self.blocked_words = set(blocked_words)
        self.broke: set[str] = set()  # keys whose account has no credits left
        super().__init__(**options)

    def reset(self) -> None:
        super().reset()
        self.broke.clear()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/ent/v2/text2video", self.text2video, methods=["POST"]),
            Route("/ent/v2/img2video", self.img2video, methods=["POST"]),
            Route("/ent/v2/tasks", self.list, methods=["GET"]),
            Route("/ent/v2/tasks/{task_id}/creations", self.creations, methods=["GET"]),
            Route("/ent/v2/tasks/{task_id}/cancel", self.cancel, methods=["POST"]),
            Route("/cdn/{name}", self.cdn, methods=["GET"]),
        ]

    def credential(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        return auth[6:] if auth.startswith("Token ") else None

    def error_response(self, status: int, message: str, code: str | None) -> Response:
        return self._error(status, _REASONS.get(status, "BadRequest" if status < 500
                                                else "InternalServiceFailure"), message)

    def bad_key_response(self, credential: str | None) -> Response:
        return self._error(401, "Unauthorized", "unauthorized")

    def not_found_response(self, job_id: str) -> Response:
        return self._error(404, "TaskNotFound", "task not found")

    def rewrite_status_word(self, body: bytes, word: str) -> bytes:
        data = json.loads(body)
        if "state" in data:
            data["state"] = word
        return json.dumps(data).encode()

    @staticmethod
    def _error(status: int, reason: str, message: str) -> Response:
        body = {"code": status, "reason": reason, "message": message,
                "metadata": {"trace_id": secrets.token_hex(16)}}
        return JSONResponse(body, status_code=status)

    # --- handlers -----------------------------------------------------------------------

    async def text2video(self, request: Request) -> Response:
        body = await request.json()
        model = body.get("model")
        if model not in TEXT_MODELS:
            return self._error(400, "FieldInvalid", f"invalid field: model {model!r}")
        ratio = body.get("aspect_ratio", "16:9")
        if ratio not in _RATIOS or (ratio in ("4:3", "3:4") and model == "viduq1"):
            return self._error(400, "FieldInvalid", "invalid field: aspect_ratio")
        if not body.get("prompt"):
            return self._error(400, "FieldLacking", "field is missing or empty: prompt")
        return self._create(request, body, ratio, None)

    async def img2video(self, request: Request) -> Response:
        body = await request.json()
        if body.get("model") not in IMAGE_MODELS:
            return self._error(400, "FieldInvalid", f"invalid field: model {body.get('model')!r}")
        if "aspect_ratio" in body:
            return self._error(400, "FieldUnwanted", "unwanted field: aspect_ratio")
        images = body.get("images")
        if not isinstance(images, list) or len(images) != 1:
            return self._error(400, "FieldItemCountOutOfRange",
                               "field item count out of range: images")
        decoded = _decode_image(images[0])
        if decoded is None:
            return self._error(400, "ImageFormatInvalid", "invalid image format")
        data, ratio = decoded
        return self._create(request, body, ratio, data)

    def _create(self, request: Request, body: dict[str, Any], ratio: str,
                reference: bytes | None) -> Response:
        model = str(body["model"])
        duration = body.get("duration", 5)
        if not isinstance(duration, int) or isinstance(duration, bool) \
                or duration not in _durations(model):
            return self._error(400, "FieldInvalid", "invalid field: duration")
        resolution = body.get("resolution", "720p")
        if resolution not in _resolutions(model):
            return self._error(400, "FieldInvalid", "invalid field: resolution")
        prompt = str(body.get("prompt") or "")
        if any(word in prompt.lower() for word in self.blocked_words):
            return self._error(400, "TaskPromptPolicyViolation", "prompt policy violation")
        if request.scope["fake.credential"] in self.broke:
            return self._error(400, "CreditInsufficient", "insufficient credits")
        width, height = _frame(resolution, ratio)
        task_id = str(secrets.randbelow(10**18))
        job = self.new_job(request, task_id, model=model, prompt=prompt, width=width,
                           height=height, seconds=duration,
                           extra={"route": request.url.path.rsplit("/", 1)[-1],
                                  "reference": reference, "payload": body.get("payload", ""),
                                  "resolution": resolution, "ratio": ratio})
        return JSONResponse({
            "task_id": task_id, "state": "created", "model": model, "prompt": prompt,
            "duration": duration, "seed": secrets.randbelow(2**31), "aspect_ratio": ratio,
            "resolution": resolution, "movement_amplitude": "auto",
            "payload": job.extra["payload"], "off_peak": False, "credits": duration * 4,
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        })

    async def list(self, request: Request) -> Response:
        caller = request.scope["fake.credential"]
        mine = [j for j in self.jobs.values() if j.creator == caller][:10]
        tasks = [{"id": j.id, "model": j.model, "prompt": j.prompt, "duration": j.seconds,
                  **self._task(request, j)} for j in mine]
        return JSONResponse({"tasks": tasks, "next_page_token": ""})

    async def creations(self, request: Request) -> Response:
        job = self.owned_job(request, request.path_params["task_id"])
        job.polls += 1
        return JSONResponse({"id": job.id, **self._task(request, job)})

    async def cancel(self, request: Request) -> Response:
        job = self.owned_job(request, request.path_params["task_id"])
        state = self._task(request, job)["state"]
        if state in ("success", "failed"):
            return self._error(400, "BadRequest", f"task state is {state}, can not cancel")
        job.cancelled = True
        return JSONResponse({})

    async def cdn(self, request: Request) -> Response:
        name = request.path_params["name"]
        job = self.jobs.get(name.split(".")[0].removesuffix("-cover"))
        if job is None or job.phase()[0] != "completed":
            return Response("<Error><Code>NoSuchKey</Code></Error>", status_code=404)
        if self.content_expired(job):
            body = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
            return Response(body, status_code=403, media_type="application/xml")
        if name.endswith("-cover.webp"):
            return Response(render_thumbnail(job.width, job.height), media_type="image/webp")
        data = await asyncio.to_thread(render_mp4, job.width, job.height, float(job.seconds))
        return Response(data, media_type="video/mp4")

    # --- helpers ------------------------------------------------------------------------

    def _task(self, request: Request, job: FakeJob) -> dict[str, Any]:
        phase, _ = job.phase()
        task: dict[str, Any] = {"state": _STATES.get(phase, "failed"), "err_code": "",
                                "credits": job.seconds * 4, "payload": job.extra["payload"],
                                "bgm": False, "off_peak": False, "creations": []}
        if phase == "completed":
            base = f"{self.cdn_base(request)}/cdn/{job.id}"
            task["creations"] = [{
                "id": f"c{job.id}", "url": f"{base}.mp4", "cover_url": f"{base}-cover.webp",
                "video": {"duration": float(job.seconds), "fps": 24,
                          "resolution": {"width": job.width, "height": job.height}},
            }]
        elif phase == "cancelled":
            task["err_code"] = "UserCancelled"
        elif phase == "failed":
            task["err_code"] = ("CreationPolicyViolation" if job.outcome == "moderation"
                                else "InternalServiceFailure")
        return task


def _decode_image(url: Any) -> tuple[bytes, str] | None:
    """(bytes, nearest ratio) of a ``data:image/...;base64,`` URL, None if it is not one."""
    head, _, encoded = str(url).partition(";base64,")
    if not head.startswith("data:image/") or not encoded:
        return None
    try:
        data = base64.b64decode(encoded, validate=True)
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError):
        return None
    target = math.log(width / height)
    ratio = min(_RATIOS, key=lambda r: abs(math.log(_RATIOS[r][0] / _RATIOS[r][1]) - target))
    return data, ratio


def _frame(resolution: str, ratio: str) -> tuple[int, int]:
    short = int(resolution.removesuffix("p"))
    a, b = _RATIOS[ratio]
    long = 2 * round(short * max(a, b) / min(a, b) / 2)
    return (long, short) if a >= b else (short, long)

