"""A fake Kling API: signed-JWT (or API-key) auth and text2video / image2video tasks.

Provider ``base_url`` = ``{server}`` (the bare domain, as Kling documents it).

Auth is checked the way Kling does, on every request: ``Authorization: Bearer <JWT>``
whose HS256 signature must verify with the secret of the ``ACCESS:SECRET`` key in
``keys`` named by its ``iss`` claim, whose ``exp`` must lie ahead and whose ``nbf``
must not lie ahead. Failures answer HTTP 401 with Kling's codes: 1001 no header, 1000
unknown access key, 1002 malformed token or bad signature, 1003 not yet valid, 1004
expired. A bearer token that is not a JWT is a plain API key (keys without a colon);
an ``ACCESS:SECRET`` pair sent raw is refused. Requests are recorded under the
matched key, so tests see ``ACCESS:SECRET`` for a good signature.

Create checks what Kling documents: ``duration`` a *string* (5/10, kling-v3 3-15),
``mode`` std/pro (4k on v3), ``aspect_ratio`` on text2video, and on image2video an
``image`` as bare base64 of a real image (a ``data:`` URL is refused, code 1201).
Prompts with a ``blocked_words`` word are refused at create (1301); those with a
moderation word fail later with Kling's risk-control message. Keys in ``broke``
get 1102 (HTTP 429: resource pack depleted). Tasks are found by ``task_id`` or by
``external_task_id``, each only under the kind that created it. Finished videos sit
on a CDN host (another origin, no credential) that answers 403 after ``content_ttl``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import io
import json
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from PIL import Image, UnidentifiedImageError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .core import FakeJob, FakeUpstream
from .media import render_mp4

__all__ = ["KlingFake", "verify_jwt"]

KINDS = ("text2video", "image2video")
MODELS = frozenset({"kling-v1", "kling-v1-6", "kling-v2-master", "kling-v2-1-master",
                    "kling-v2-5-turbo", "kling-v2-6", "kling-v3"})
_SHORT = {"std": 720, "pro": 1080, "4k": 2160}
_HTTP_CODES = {400: 1200, 401: 1000, 403: 1103, 404: 1203, 429: 1302, 500: 5000,
               502: 5001, 503: 5001, 504: 5002}
_AUTH_MESSAGES = {1000: "Authentication failed", 1001: "Authorization is empty",
                  1002: "Authorization is invalid", 1003: "Authorization is not yet valid",
                  1004: "Authorization has expired"}
_WORDS = {"queued": "submitted", "in_progress": "processing", "completed": "succeed"}
RISK_MESSAGE = "Failure to pass the risk control system"


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_jwt(token: str, secrets: Mapping[str, str], now: float) -> tuple[str, int]:
    """(access key, 0) for a valid token, else (access key or "", Kling's auth code)."""
    parts = token.split(".")
    if len(parts) != 3:
        return "", 1002
    try:
        header = json.loads(_unb64(parts[0]))
        claims = json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except (ValueError, binascii.Error):
        return "", 1002
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return "", 1002
    if header.get("alg") != "HS256":
        return "", 1002
    issuer = str(claims.get("iss", ""))
    secret = secrets.get(issuer)
    if secret is None:
        return issuer, 1000
    expected = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256)
    if not hmac.compare_digest(expected.digest(), signature):
        return issuer, 1002
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, int | float) or now >= exp:
        return issuer, 1004
    if isinstance(nbf, int | float) and now < nbf:
        return issuer, 1003
    return issuer, 0


class KlingFake(FakeUpstream):
    public_prefixes = ("/cdn/",)
    broke_status = 429  # what a key in ``broke`` gets on create (code 1102)

    def __init__(self, *, blocked_words: Iterable[str] = ("nsfw-input",),
                 **options: Any) -> None:
        self.blocked_words = set(blocked_words)
        self.broke: set[str] = set()  # keys whose resource pack is used up
        super().__init__(**options)

    def reset(self) -> None:
        super().reset()
        self.broke.clear()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/videos/{kind}", self.create, methods=["POST"]),
            Route("/v1/videos/{kind}", self.list, methods=["GET"]),
            Route("/v1/videos/{kind}/{ref}", self.retrieve, methods=["GET"]),
            Route("/cdn/{name}", self.cdn, methods=["GET"]),
        ]

    # --- auth ---------------------------------------------------------------------------

    def credential(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return None
        token = auth[7:].strip()
        if token.count(".") != 2:  # a plain API key; a raw ACCESS:SECRET pair never passes
            return f"!raw:{token}" if ":" in token else token
        pairs = dict(k.split(":", 1) for k in self.keys if ":" in k)
        issuer, code = verify_jwt(token, pairs, time.time())
        return f"{issuer}:{pairs[issuer]}" if code == 0 else f"!jwt:{code}:{issuer}"

    def bad_key_response(self, credential: str | None) -> Response:
        code = 1001 if credential is None else 1000
        if credential and credential.startswith("!jwt:"):
            code = int(credential.split(":")[1])
        return self._error(401, code, _AUTH_MESSAGES[code])

    def error_response(self, status: int, message: str, code: str | None) -> Response:
        return self._error(status, _HTTP_CODES.get(status, 1200 if status < 500 else 5000),
                           message)

    def not_found_response(self, job_id: str) -> Response:
        return self._error(404, 1203, f"task {job_id} does not exist")

    def rewrite_status_word(self, body: bytes, word: str) -> bytes:
        data = json.loads(body)
        if isinstance(data.get("data"), dict):
            data["data"]["task_status"] = word
        return json.dumps(data).encode()

    @staticmethod
    def _error(status: int, code: int, message: str) -> Response:
        body = {"code": code, "message": message, "request_id": str(uuid.uuid4())}
        return JSONResponse(body, status_code=status)

    @staticmethod
    def _ok(data: Any) -> Response:
        return JSONResponse({"code": 0, "message": "SUCCEED",
                             "request_id": str(uuid.uuid4()), "data": data})

    # --- handlers -----------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in KINDS:
            return self.error_response(404, f"no such route {kind}", None)
        body = await request.json()
        problem = _invalid(kind, body)
        if problem:
            return self._error(400, 1201, problem)
        prompt = str(body.get("prompt") or "")
        caller = request.scope["fake.credential"]
        if any(word in prompt.lower() for word in self.blocked_words):
            return self._error(400, 1301, "Trigger the content security policy of the platform")
        if caller in self.broke:
            return self._error(429, 1102, "Resource pack depleted or expired")
        external = body.get("external_task_id")
        if external and any(j.extra["external_task_id"] == external and j.creator == caller
                            for j in self.jobs.values()):
            return self._error(400, 1201, "external_task_id already exists")
        reference, ratio = None, str(body.get("aspect_ratio") or "16:9")
        if kind == "image2video":
            reference = base64.b64decode(body["image"])
            ratio = _image_ratio(reference)
        mode = str(body.get("mode") or "std")
        width, height = _frame(ratio, mode)
        task_id = f"{int(time.time() * 1000)}{secrets.randbelow(10**6):06d}"
        self.new_job(request, task_id, model=str(body.get("model_name") or "kling-v1"),
                     prompt=prompt, width=width, height=height,
                     seconds=int(body.get("duration") or "5"),
                     extra={"kind": kind, "external_task_id": external, "mode": mode,
                            "ratio": ratio, "reference": reference})
        return self._ok(self._task(request, self.jobs[task_id]))

    async def list(self, request: Request) -> Response:
        kind = request.path_params["kind"]
        caller = request.scope["fake.credential"]
        size = int(request.query_params.get("pageSize", "30"))
        mine = [j for j in self.jobs.values() if j.creator == caller and j.extra["kind"] == kind]
        return self._ok([self._task(request, j) for j in mine[:size]])

    async def retrieve(self, request: Request) -> Response:
        kind, ref = request.path_params["kind"], request.path_params["ref"]
        task_id = ref if ref in self.jobs else next(
            (j.id for j in self.jobs.values() if j.extra["external_task_id"] == ref), ref)
        job = self.owned_job(request, task_id)
        if job.extra["kind"] != kind:  # the poll URL must match the create kind
            return self.not_found_response(ref)
        job.polls += 1
        return self._ok(self._task(request, job))

    async def cdn(self, request: Request) -> Response:
        job = self.jobs.get(request.path_params["name"].removesuffix(".mp4"))
        if job is None or job.phase()[0] != "completed":
            return Response("<Error><Code>NoSuchKey</Code></Error>", status_code=404)
        if self.content_expired(job):
            body = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
            return Response(body, status_code=403, media_type="application/xml")
        data = await asyncio.to_thread(render_mp4, job.width, job.height, float(job.seconds))
        return Response(data, media_type="video/mp4")

    # --- helpers ------------------------------------------------------------------------

    def _task(self, request: Request, job: FakeJob) -> dict[str, Any]:
        phase, _ = job.phase()
        task: dict[str, Any] = {
            "task_id": job.id,
            "task_status": _WORDS.get(phase, phase),
            "task_status_msg": "",
            "task_info": {"external_task_id": job.extra["external_task_id"]},
            "created_at": int(job.created_at * 1000),
            "updated_at": int(min(time.time(), job.completed_at) * 1000),
        }
        if phase == "completed":
            url = f"{self.cdn_base(request)}/cdn/{job.id}.mp4"
            task["task_result"] = {"videos": [{"id": f"v-{job.id}", "url": url,
                                               "duration": str(job.seconds)}]}
            task["final_unit_deduction"] = str(job.seconds / 5 * 1.5)
        elif phase == "failed":
            task["task_status_msg"] = (RISK_MESSAGE if job.outcome == "moderation"
                                       else "Internal error, please try again later")
        return task


def _invalid(kind: str, body: Any) -> str | None:
    """Why Kling would refuse this create body, or None."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    model = body.get("model_name", "kling-v1")
    if model not in MODELS:
        return f"model_name {model!r} is not supported"
    duration = body.get("duration", "5")
    allowed = range(3, 16) if model == "kling-v3" else (5, 10)
    if not isinstance(duration, str) or not duration.isdigit() or int(duration) not in allowed:
        return f"duration must be a string in {list(map(str, allowed))}"
    modes = ("std", "pro", "4k") if model == "kling-v3" else ("std", "pro")
    if body.get("mode", "std") not in modes:
        return f"mode must be one of {modes}"
    if kind == "text2video":
        if not body.get("prompt") or len(str(body["prompt"])) > 2500:
            return "prompt is required (at most 2500 characters)"
        if body.get("aspect_ratio", "16:9") not in ("16:9", "9:16", "1:1"):
            return "aspect_ratio must be 16:9, 9:16 or 1:1"
        return None
    if "aspect_ratio" in body:
        return "aspect_ratio is not a parameter of image2video"
    return _invalid_image(body.get("image"))


def _invalid_image(image: Any) -> str | None:
    if not isinstance(image, str) or not image:
        return "image is required"
    if image.startswith("data:"):
        return "image base64 must not carry a data: prefix"
    try:
        data = base64.b64decode(image, validate=True)
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError):
        return "image is not valid base64 of a jpg/jpeg/png"
    if min(width, height) < 300:
        return "image must be at least 300x300 px"
    return None


def _image_ratio(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
    return "16:9" if width > height else "9:16" if width < height else "1:1"


def _frame(ratio: str, mode: str) -> tuple[int, int]:
    short = _SHORT.get(mode, 720)
    long = short * 16 // 9
    if ratio == "1:1":
        return short, short
    return (long, short) if ratio == "16:9" else (short, long)
