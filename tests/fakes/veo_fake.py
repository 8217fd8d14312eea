"""A fake Gemini API Veo upstream: ``predictLongRunning`` and long-running operations.

Provider ``base_url`` = ``{server}/v1beta``. A bad key answers 400 ``API_KEY_INVALID``
the way the Gemini API does. A finished video's uri is a Files-API download URL that
redirects (302) to a storage host on another origin, which must not see the key.
Prompts containing a moderation word end ``done`` with no samples and
``raiMediaFilteredReasons``; prompts with an error word end ``done`` with ``error``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .core import FakeJob, FakeUpstream
from .media import render_mp4

__all__ = ["VeoFake"]

_SIZES = {
    ("16:9", "720p"): (1280, 720),
    ("9:16", "720p"): (720, 1280),
    ("16:9", "1080p"): (1920, 1080),
    ("9:16", "1080p"): (1080, 1920),
}
RESPONSE_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
_STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
RAI_REASON = "Veo could not generate videos because the input prompt violates our usage guidelines."


class VeoFake(FakeUpstream):
    public_prefixes = ("/storage/",)

    def __init__(self, *, report_progress: bool = True, **options: Any) -> None:
        self.report_progress = report_progress
        self._files: dict[str, str] = {}  # file id -> operation name
        super().__init__(**options)

    def base_url(self, server_url: str) -> str:
        return f"{server_url}/v1beta"

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1beta/models", self.models, methods=["GET"]),
            Route("/v1beta/models/{action}", self.predict, methods=["POST"]),
            Route("/v1beta/models/{model}/operations/{op}", self.operation, methods=["GET"]),
            Route("/v1beta/models/{model}/operations/{op}", self.delete, methods=["DELETE"]),
            Route("/v1beta/files/{action}", self.download, methods=["GET"]),
            Route("/storage/{token}", self.storage, methods=["GET"]),
        ]

    def credential(self, request: Request) -> str | None:
        return request.headers.get("x-goog-api-key") or request.query_params.get("key")

    def error_response(self, status: int, message: str, code: str | None) -> Response:
        word = _STATUS.get(status, "RESOURCE_EXHAUSTED" if status == 429 else "UNAVAILABLE")
        body = {"error": {"code": status, "message": message, "status": word}}
        return JSONResponse(body, status_code=status)

    def bad_key_response(self, credential: str | None) -> Response:
        if credential is None:
            return self.error_response(403, "Method doesn't allow unregistered callers.", None)
        body = {
            "error": {
                "code": 400,
                "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                    }
                ],
            }
        }
        return JSONResponse(body, status_code=400)

    def not_found_response(self, job_id: str) -> Response:
        return self.error_response(404, f"Operation {job_id} not found.", None)

    def wrong_key_response(self, job_id: str) -> Response:
        return self.error_response(403, "The caller does not have permission", None)

    # --- handlers ---------------------------------------------------------------------

    async def models(self, request: Request) -> Response:
        """``models.list``: what a cheap "is this key good?" check calls."""
        names = ["veo-3.1-generate-preview", "veo-3.1-fast-generate-preview"]
        size = int(request.query_params.get("pageSize", "50"))
        listed = [{"name": f"models/{n}", "supportedGenerationMethods": ["predictLongRunning"]}
                  for n in names[:size]]
        return JSONResponse({"models": listed})

    async def predict(self, request: Request) -> Response:
        model, _, verb = request.path_params["action"].partition(":")
        if verb != "predictLongRunning":
            return self.error_response(404, f"Method {verb!r} not found", None)
        body = await request.json()
        instance = (body.get("instances") or [{}])[0]
        params = body.get("parameters") or {}
        size = _SIZES.get((params.get("aspectRatio", "16:9"), params.get("resolution", "720p")))
        duration = params.get("durationSeconds", 8)
        if not instance.get("prompt") or size is None or duration not in (4, 5, 6, 7, 8):
            return self.error_response(
                400, "Invalid prompt, aspectRatio/resolution or duration", None
            )
        image = _decode_image(instance.get("image"))
        if image is False:
            return self.error_response(400, "image.bytesBase64Encoded is not valid base64", None)
        name = f"models/{model}/operations/{self.token(12)}"
        self.new_job(
            request,
            name,
            model=model,
            prompt=instance["prompt"],
            width=size[0],
            height=size[1],
            seconds=duration,
            extra={"reference": image, "file": self.token(12)},
        )
        return JSONResponse({"name": name})

    async def operation(self, request: Request) -> Response:
        job = self.owned_job(request, _name(request))
        job.polls += 1
        return JSONResponse(self._operation(request, job))

    async def delete(self, request: Request) -> Response:
        job = self.owned_job(request, _name(request))
        del self.jobs[job.id]
        return JSONResponse({})

    async def download(self, request: Request) -> Response:
        file_id, _, verb = request.path_params["action"].partition(":")
        name = self._files.get(file_id)
        if verb != "download" or name is None:
            return self.error_response(404, f"File {file_id} not found", None)
        job = self.owned_job(request, name)
        if self.content_expired(job):
            return self.error_response(404, f"File {file_id} has expired", None)
        return RedirectResponse(f"{self.cdn_base(request)}/storage/{file_id}", status_code=302)

    async def storage(self, request: Request) -> Response:
        name = self._files.get(request.path_params["token"])
        job = self.jobs.get(name or "")
        if job is None or self.content_expired(job):
            return Response("NoSuchKey", status_code=404)
        data = await asyncio.to_thread(render_mp4, job.width, job.height, float(job.seconds))
        return Response(data, media_type="video/mp4")

    # --- helpers ----------------------------------------------------------------------

    def _operation(self, request: Request, job: FakeJob) -> dict[str, Any]:
        phase, progress = job.phase()
        operation: dict[str, Any] = {"name": job.id}
        if phase not in ("completed", "failed"):
            if self.report_progress:
                operation["metadata"] = {"progressPercent": progress}
            return operation
        operation["done"] = True
        if job.outcome == "error":
            operation["error"] = {"code": 13, "message": "Video generation failed internally."}
            return operation
        response: dict[str, Any] = {}
        if job.outcome == "moderation":
            response = {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [RAI_REASON]}
        else:
            file_id = job.extra["file"]
            self._files[file_id] = job.id
            uri = f"{request.url.scheme}://{request.url.netloc}/v1beta/files/{file_id}:download"
            response = {"generatedSamples": [{"video": {"uri": uri + "?alt=media"}}]}
        operation["response"] = {"@type": RESPONSE_TYPE, "generateVideoResponse": response}
        return operation


def _name(request: Request) -> str:
    params = request.path_params
    return f"models/{params['model']}/operations/{params['op']}"


def _decode_image(image: Any) -> bytes | bool | None:
    """The decoded reference image, None when absent, False when not valid base64."""
    if not isinstance(image, dict):
        return None
    try:
        return base64.b64decode(image.get("bytesBase64Encoded", ""), validate=True)
    except (binascii.Error, ValueError):
        return False
