"""A fake Runway developer API: ``image_to_video``, ``text_to_video`` and ``tasks``.

Provider ``base_url`` = ``{server}/v1``. Like Runway it insists on a known
``X-Runway-Version`` (400 otherwise), answers errors as ``{"error": "..."}``, checks
each model's ratios and durations, takes ``promptImage`` as an https URL or a base64
data URI of at most 5 MB, and charges each key credits per second (a key without
enough, or in ``broke``, gets 400 "You do not have enough credits to run this task.").

Queued tasks say ``PENDING`` and ``THROTTLED`` in turn. Finished tasks list one
signed output URL on a CDN host (another origin, no credential); every poll mints a
fresh one. :meth:`RunwayFake.expire_links` revokes every link minted so far (the CDN
then answers 403 like an expired signature) and ``stale_links = n`` makes the next
``n`` links dead on arrival, so tests can check that a fresh link is fetched.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .core import FakeJob, FakeUpstream
from .media import render_mp4

__all__ = ["RunwayFake"]

VERSION = "2024-11-06"
_I2V_RATIOS = ("1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672")
#: model -> (credits per second, image_to_video ratios, text_to_video ratios)
MODELS: dict[str, tuple[int, tuple[str, ...], tuple[str, ...]]] = {
    "gen4_turbo": (5, _I2V_RATIOS, ()),
    "gen4.5": (12, _I2V_RATIOS, ("1280:720", "720:1280")),
}
MAX_DATA_URI = 5 * 1024 * 1024
NO_CREDITS = "You do not have enough credits to run this task."


class RunwayFake(FakeUpstream):
    public_prefixes = ("/cdn/",)
    broke_status = 400  # what a key in ``broke`` gets on create: not enough credits

    def __init__(self, *, credits: int = 1_000_000, **options: Any) -> None:
        super().__init__(**options)
        self.default_credits = credits
        self.credits: dict[str, int] = {}  # balances that differ from the default
        self.broke: set[str] = set()  # keys whose organization has no credits left
        self.stale_links = 0
        self._epoch = 0  # links minted before the current epoch are revoked

    def base_url(self, server_url: str) -> str:
        return f"{server_url}/v1"

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/image_to_video", self.image_to_video, methods=["POST"]),
            Route("/v1/text_to_video", self.text_to_video, methods=["POST"]),
            Route("/v1/tasks/{task_id}", self.retrieve, methods=["GET"]),
            Route("/v1/tasks/{task_id}", self.delete, methods=["DELETE"]),
            Route("/v1/organization", self.organization, methods=["GET"]),
            Route("/cdn/{name}", self.cdn, methods=["GET"]),
        ]

    def credential(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None

    def error_response(self, status: int, message: str, code: str | None) -> Response:
        return JSONResponse({"error": message}, status_code=status)

    def bad_key_response(self, credential: str | None) -> Response:
        return self.error_response(401, "Incorrect hostname for API key, or invalid API key", None)

    def not_found_response(self, job_id: str) -> Response:
        return self.error_response(404, "Task not found", None)

    def reset(self) -> None:
        super().reset()
        self.credits.clear()
        self.broke.clear()
        self.stale_links = 0

    def balance(self, key: str) -> int:
        return 0 if key in self.broke else self.credits.get(key, self.default_credits)

    def expire_links(self) -> None:
        """Every output URL handed out so far stops working (a fresh poll gets a new one)."""
        self._epoch += 1

    # --- handlers ---------------------------------------------------------------------

    async def image_to_video(self, request: Request) -> Response:
        return await self._create(request, image=True)

    async def text_to_video(self, request: Request) -> Response:
        return await self._create(request, image=False)

    async def retrieve(self, request: Request) -> Response:
        if (refused := _version_refusal(request)) is not None:
            return refused
        job = self.owned_job(request, request.path_params["task_id"])
        job.polls += 1
        return JSONResponse(self._task(request, job))

    async def delete(self, request: Request) -> Response:
        if (refused := _version_refusal(request)) is not None:
            return refused
        job = self.owned_job(request, request.path_params["task_id"])
        if job.phase()[0] in ("queued", "in_progress"):
            job.cancelled = True
        else:
            del self.jobs[job.id]
        return Response(status_code=204)

    async def organization(self, request: Request) -> Response:
        if (refused := _version_refusal(request)) is not None:
            return refused
        key = request.scope["fake.credential"]
        limits = {"maxConcurrentGenerations": 2, "maxDailyGenerations": 200}
        return JSONResponse({
            "creditBalance": self.balance(key),
            "tier": {"maxMonthlyCreditSpend": 10_000, "models": dict.fromkeys(MODELS, limits)},
            "usage": {"models": {}},
        })

    async def cdn(self, request: Request) -> Response:
        job = self.jobs.get(request.path_params["name"].removesuffix(".mp4"))
        if job is None or job.phase()[0] != "completed":
            return Response("<Error><Code>NoSuchKey</Code></Error>", status_code=404)
        epoch = request.query_params.get("_epoch", "")
        if self.content_expired(job) or epoch != str(self._epoch):
            return Response("<Error><Code>AccessDenied</Code><Message>Request has expired"
                            "</Message></Error>", status_code=403, media_type="application/xml")
        data = await asyncio.to_thread(render_mp4, job.width, job.height, float(job.seconds))
        return Response(data, media_type="video/mp4")

    # --- helpers ----------------------------------------------------------------------

    async def _create(self, request: Request, *, image: bool) -> Response:
        if (refused := _version_refusal(request)) is not None:
            return refused
        body = await request.json()
        model, ratio, duration = body.get("model"), body.get("ratio"), body.get("duration")
        if model not in MODELS:
            return self.error_response(400, f"Invalid model {model!r} for this endpoint", None)
        rate, i2v_ratios, t2v_ratios = MODELS[model]
        if ratio not in (i2v_ratios if image else t2v_ratios):
            return self.error_response(400, f"Invalid ratio {ratio!r} for {model}", None)
        if not isinstance(duration, int) or isinstance(duration, bool) or not 2 <= duration <= 10:
            return self.error_response(400, "duration must be an integer from 2 to 10", None)
        prompt = body.get("promptText")
        if not isinstance(prompt, str) or not prompt or len(prompt.encode("utf-16-le")) > 2000:
            return self.error_response(400, "promptText must be 1 to 1000 characters", None)
        reference: bytes | str | None = None
        if image:
            reference = _prompt_image(body.get("promptImage"))
            if isinstance(reference, str) and not reference.startswith("https://"):
                return self.error_response(400, f"promptImage: {reference}", None)
        key = request.scope["fake.credential"]
        if self.balance(key) < rate * duration:
            return self.error_response(400, NO_CREDITS, None)
        self.credits[key] = self.balance(key) - rate * duration
        width, height = (int(v) for v in ratio.split(":"))
        task_id = f"{self.token(8)}-{self.token(4)}-{self.token(12)}"
        self.new_job(request, task_id, model=model, prompt=prompt, width=width, height=height,
                     seconds=duration, extra={"reference": reference, "ratio": ratio})
        return JSONResponse({"id": task_id})

    def _task(self, request: Request, job: FakeJob) -> dict[str, Any]:
        phase, progress = job.phase()
        created = datetime.fromtimestamp(job.created_at, UTC).isoformat().replace("+00:00", "Z")
        task: dict[str, Any] = {"id": job.id, "createdAt": created}
        if phase == "queued":
            task["status"] = "PENDING" if job.polls % 2 else "THROTTLED"
        elif phase == "in_progress":
            task.update(status="RUNNING", progress=progress / 100)
        elif phase == "cancelled":
            task["status"] = "CANCELLED"
        elif phase == "completed":
            task.update(status="SUCCEEDED", output=[self._link(request, job)])
        else:
            moderated = job.outcome == "moderation"
            task.update(
                status="FAILED",
                failure="The prompt text was flagged by content moderation." if moderated
                else "An unexpected error occurred while generating the output.",
                failureCode="SAFETY.INPUT.TEXT" if moderated else "INTERNAL.BAD_OUTPUT.CODE01",
            )
        return task

    def _link(self, request: Request, job: FakeJob) -> str:
        epoch = self._epoch
        if self.stale_links > 0:
            self.stale_links -= 1
            epoch -= 1  # signed for a key that is already rotated out: dead on arrival
        expires = int(time.time()) + 86_400
        return (f"{self.cdn_base(request)}/cdn/{job.id}.mp4?_epoch={epoch}&_exp={expires}"
                f"&_jwt={self.token(32)}")


def _version_refusal(request: Request) -> Response | None:
    version = request.headers.get("x-runway-version")
    if version == VERSION:
        return None
    message = ("You must provide a valid X-Runway-Version header" if version is None
               else f"Unsupported API version: {version}")
    return JSONResponse({"error": message}, status_code=400)


def _prompt_image(value: Any) -> bytes | str:
    """The decoded image of a data URI, else the URL itself or why it cannot be used."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        value = value[0].get("uri")
    if not isinstance(value, str) or not value:
        return "is required"
    if not value.startswith("data:"):
        return value if value.startswith("https://") else "Only HTTPS URLs are allowed."
    head, _, data = value.partition(";base64,")
    if not head.startswith("data:image/") or not data:
        return "Invalid data URI."
    if len(value) > MAX_DATA_URI:
        return "Data URI is too large."
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return "Invalid data URI."
