"""The newer routes of the fake OpenAI Videos upstream: edits, extensions, characters.

* ``POST /videos/edits``: JSON ``{prompt, video: {id}}`` (the job must be the caller
  key's, completed) or multipart ``prompt`` + ``video`` file (+ ``model``);
* ``POST /videos/extensions``: the same plus ``seconds`` (4, 8, 12, 16 or 20), the
  result reporting the stitched total;
* ``POST /videos/characters``: multipart ``name`` + ``video`` only, answering
  ``{id, name, created_at}``; ``GET /videos/characters/{id}``.

Each job records how it came: ``extra["operation"]``, ``extra["encoding"]`` (``json`` or
``multipart``), ``extra["source"]`` (the video id named) or ``extra["upload"]`` (the
clip's bytes), so tests assert the gateway used the upstream's encoding; the key is
the job's ``creator``, and touching another key's job or character is a violation.
"""

from __future__ import annotations

import io
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any

import av
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .core import FakeJob, Violation

__all__ = ["OperationsMixin"]

SEGMENTS = {"4", "8", "12", "16", "20"}


def _clip_shape(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, whole seconds) of an uploaded MP4, or None if it does not decode."""
    try:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            seconds = float(stream.duration * stream.time_base) if stream.duration else 0.0
            return stream.codec_context.width, stream.codec_context.height, round(seconds)
    except (av.FFmpegError, IndexError):
        return None


class OperationsMixin:
    """Mixed into :class:`~tests.fakes.openai_fake.OpenAIFake` (which provides the rest)."""

    characters: dict[str, dict[str, Any]]

    def reset(self) -> None:
        super().reset()  # type: ignore[misc]
        self.characters.clear()

    def operation_routes(self, prefix: str) -> list[BaseRoute]:
        return [
            Route(prefix + "/edits", self.edit, methods=["POST"]),
            Route(prefix + "/extensions", self.extend, methods=["POST"]),
            Route(prefix + "/characters", self.create_character, methods=["POST"]),
            Route(prefix + "/characters/{character_id}", self.get_character, methods=["GET"]),
        ]

    if TYPE_CHECKING:  # provided by OpenAIFake and FakeUpstream
        _lock: threading.Lock
        _violations: list[Violation]

        def error_response(self, status: int, message: str, code: str | None) -> Response: ...
        def new_job(self, request: Request, job_id: str, **fields: Any) -> FakeJob: ...
        def owned_job(self, request: Request, job_id: str) -> FakeJob: ...
        def _new_id(self) -> str: ...
        def _video(self, request: Request, job: FakeJob) -> dict[str, Any]: ...
        def _version_error(self, request: Request) -> Response | None: ...

    async def _body(self, request: Request) -> tuple[str, dict[str, Any], bytes | None]:
        """(encoding, fields, uploaded video) of an edit, extension or character."""
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            async with request.form() as form:
                fields: dict[str, Any] = {}
                upload = None
                for key, value in form.multi_items():
                    if isinstance(value, UploadFile):
                        upload = await value.read() if key == "video" else upload
                    elif key == "video[id]":
                        fields["video"] = {"id": value}
                    else:
                        fields[key] = value
                return "multipart", fields, upload
        try:
            body = await request.json()
        except ValueError:
            body = None
        return "json", body if isinstance(body, dict) else {}, None

    async def edit(self, request: Request) -> Response:
        return await self._derived(request, "edit")

    async def extend(self, request: Request) -> Response:
        return await self._derived(request, "extend")

    async def _derived(self, request: Request, operation: str) -> Response:
        if (refused := self._version_error(request)) is not None:
            return refused
        encoding, fields, upload = await self._body(request)
        prompt = str(fields.get("prompt") or "")
        if not prompt:
            return self.error_response(400, "Missing required parameter: 'prompt'.", None)
        segment = 0
        if operation == "extend":
            seconds = str(fields.get("seconds") or "")
            if seconds not in SEGMENTS:
                return self.error_response(400, f"Invalid seconds {seconds!r}", None)
            segment = int(seconds)
        extra: dict[str, Any] = {"operation": operation, "encoding": encoding,
                                 "fields": {k: v for k, v in fields.items() if k != "video"}}
        video = fields.get("video")
        if upload is not None:
            shape = _clip_shape(upload)
            if shape is None:
                return self.error_response(400, "The video could not be decoded.", None)
            width, height, base = shape
            model = str(fields.get("model") or "sora-2")
            extra["upload"] = upload
        elif isinstance(video, dict) and isinstance(video.get("id"), str):
            source = self.owned_job(request, video["id"])
            if source.phase()[0] != "completed":
                return self.error_response(400, "Only completed videos can be used.", None)
            width, height, base, model = source.width, source.height, source.seconds, \
                source.model
            extra["source"] = source.id
        else:
            return self.error_response(400, "Missing required parameter: 'video'.", None)
        job = self.new_job(request, self._new_id(), model=model, prompt=prompt, width=width,
                           height=height, seconds=base + segment, extra=extra)
        return JSONResponse(self._video(request, job))

    async def create_character(self, request: Request) -> Response:
        if (refused := self._version_error(request)) is not None:
            return refused
        encoding, fields, upload = await self._body(request)
        name = fields.get("name")
        if encoding != "multipart" or upload is None or not isinstance(name, str) or not name:
            return self.error_response(400, "A character needs multipart 'name' and 'video'.",
                                       None)
        if _clip_shape(upload) is None:
            return self.error_response(400, "The video could not be decoded.", None)
        character_id = "char_" + secrets.token_hex(8)
        self.characters[character_id] = {
            "id": character_id, "name": name, "created_at": int(time.time()),
            "creator": request.scope["fake.credential"], "upload": upload}
        return JSONResponse(self._character(character_id))

    async def get_character(self, request: Request) -> Response:
        if (refused := self._version_error(request)) is not None:
            return refused
        character_id = request.path_params["character_id"]
        if not self.owns_character(request, character_id):
            return self.error_response(404, f"Character '{character_id}' not found.", None)
        return JSONResponse(self._character(character_id))

    def _character(self, character_id: str) -> dict[str, Any]:
        found = self.characters[character_id]
        return {k: found[k] for k in ("id", "name", "created_at")}

    def owns_character(self, request: Request, character_id: str) -> bool:
        """Whether the caller's key made the character (a violation is recorded if not)."""
        found = self.characters.get(character_id)
        if found is None:
            return False
        used = request.scope.get("fake.credential")
        if used != found["creator"]:
            with self._lock:
                self._violations.append(Violation("wrong_key", request.method,
                                                  request.url.path, character_id,
                                                  found["creator"], used))
            return False
        return True

    def named_characters(self, request: Request,
                         fields: dict[str, Any]) -> tuple[list[str], Response | None]:
        """The character ids a create names (``characters`` in JSON or ``characters[][id]``
        folded by the create reader), each the caller's; else a 400 to answer."""
        named = fields.pop("characters", None) or []
        ids = [c.get("id") for c in named if isinstance(c, dict)]
        for character_id in ids:
            if not isinstance(character_id, str) or not self.owns_character(request,
                                                                            character_id):
                return [], self.error_response(400, f"Unknown character {character_id!r}.",
                                               None)
        return [str(i) for i in ids], None
