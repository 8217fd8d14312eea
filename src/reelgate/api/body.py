"""Reading create/remix/edit/extension bodies: JSON or multipart, with hard size limits.

Both encodings end up as the same mapping of fields (bracketed multipart keys such as
``video[id]`` folded into the objects JSON would hold, :mod:`reelgate.api.brackets`),
so validation has one path. A reference image may come as a multipart file or as
``{"image_url": ...}`` (JSON, or ``input_reference[image_url]`` in multipart) holding a
data URL or a public http(s) URL, fetched through the guarded client
(:func:`reelgate.net.fetch.fetch_limited`: it connects only to the addresses it
checked, so a name that re-resolves to a private address is refused too). A video
clip (``video``) is written to a scratch file as it arrives, never held in memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelgate.api.brackets import fold
from reelgate.api.decode import parse_json, read_form
from reelgate.api.uploads import reference_from_object, save_clip
from reelgate.errors import InvalidRequest, PayloadTooLarge
from reelgate.jobs.requests import sniff_image
from reelgate.media.images import ReferenceImage

__all__ = ["Body", "BodyLimit", "read_body", "read_fields"]

_REF = "input_reference"
_CLIP = "video"


class BodyLimit:
    """ASGI middleware: refuse bodies over the limit before or while they arrive.

    Only a multipart form may carry a file (a reference image, a clip), so only it gets
    ``max_bytes``; every other body (JSON, urlencoded, none declared) gets
    ``max_json_bytes``: nothing else a client sends needs more.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, max_json_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_bytes = max_bytes if max_json_bytes is None else max_json_bytes

    def _limit(self, scope: Scope) -> int:
        for name, value in scope.get("headers", []):
            if name == b"content-type":
                kind = value.split(b";")[0].strip().lower()
                return self.max_bytes if kind == b"multipart/form-data" else self.max_json_bytes
        return self.max_json_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _send_413(send, limit)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _too_large(limit)
            return message

        await self.app(scope, limited, send)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Request body is larger than the limit of {limit} bytes.")


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps(_too_large(limit).body()).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@dataclass
class Body:
    """A request body read: its fields (nested as in JSON), the reference image, and an
    uploaded clip on local disk (:meth:`discard` deletes it; the caller must)."""

    fields: dict[str, Any]
    reference: ReferenceImage | None = None
    clip: Path | None = None

    def discard(self) -> None:
        if self.clip is not None:
            self.clip.unlink(missing_ok=True)
            self.clip = None


async def read_fields(request: Request, *, max_image_bytes: int,
                      allow_files: bool = True) -> tuple[dict[str, Any], ReferenceImage | None]:
    """A create's (or a remix's, ``allow_files=False``) fields and reference image."""
    body = await read_body(request, max_image_bytes=max_image_bytes, allow_files=allow_files)
    return body.fields, body.reference


async def read_body(request: Request, *, max_image_bytes: int, allow_files: bool = True,
                    clip_dir: Path | None = None, max_clip_bytes: int = 0,
                    reference: bool = True) -> Body:
    """``clip_dir``: where an uploaded ``video`` goes (None: no clip is taken);
    ``reference``: whether ``input_reference`` is a parameter of this route."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        data = parse_json(await request.body())
        if not isinstance(data, dict):
            raise InvalidRequest("The JSON body must be an object.", code="invalid_json")
        body = Body(data)
    elif ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        body = await _form(request, max_image_bytes, allow_files and reference,
                           clip_dir if allow_files else None, max_clip_bytes)
    else:
        raise InvalidRequest(
            "Unsupported Content-Type: send application/json or multipart/form-data.",
            code="invalid_content_type")
    try:
        await _resolve_reference(body, max_image_bytes, allow_files and reference)
    except BaseException:
        body.discard()
        raise
    return body


async def _resolve_reference(body: Body, max_bytes: int, allowed: bool) -> None:
    """An ``input_reference`` object (JSON, or folded from brackets) fetched or decoded."""
    spec = body.fields.pop(_REF, None)
    if spec is None:
        return
    if not allowed:
        raise InvalidRequest(f"Unrecognized request argument supplied: {_REF}", param=_REF,
                             code="unknown_parameter")
    if body.reference is not None:
        raise InvalidRequest(f"Parameter '{_REF}' was given more than once.", param=_REF,
                             code="duplicate_parameter")
    body.reference = await reference_from_object(spec, max_bytes)


async def _form(request: Request, max_image_bytes: int, images: bool, clip_dir: Path | None,
                max_clip_bytes: int) -> Body:
    files = int(images) + int(clip_dir is not None)
    form = await read_form(request, max_files=files, max_fields=32)
    body = Body({})
    items: list[tuple[str, Any]] = []
    try:
        for name, value in form.multi_items():
            if not isinstance(value, UploadFile):
                items.append((name, value))
            elif (name == _REF and images) or (name == _CLIP and clip_dir is not None):
                if (body.reference if name == _REF else body.clip) is not None:
                    raise InvalidRequest(f"Parameter '{name}' was given more than once.",
                                         param=name, code="duplicate_parameter")
                if name == _REF:
                    data = await value.read(max_image_bytes + 1)
                    if len(data) > max_image_bytes:
                        raise PayloadTooLarge(f"'input_reference' is larger than "
                                              f"{max_image_bytes} bytes.", param=_REF)
                    body.reference = sniff_image(data)
                else:
                    assert clip_dir is not None
                    body.clip = await save_clip(value, clip_dir, max_clip_bytes)
            elif name in (_REF, _CLIP):
                raise InvalidRequest(f"Unrecognized request argument supplied: {name}",
                                     param=name, code="unknown_parameter")
            else:
                raise InvalidRequest(f"Parameter '{name}' must not be a file.", param=name,
                                     code="invalid_type")
        body.fields = fold(items)
        for name, had in ((_REF, body.reference), (_CLIP, body.clip)):
            if had is not None and name in body.fields:
                raise InvalidRequest(f"Parameter '{name}' was given more than once.",
                                     param=name, code="duplicate_parameter")
        if isinstance(body.fields.get(_REF), str):
            raise InvalidRequest(f"'{_REF}' must be a file or an object "
                                 f"('{_REF}[image_url]').", param=_REF, code="invalid_type")
    except BaseException:
        body.discard()
        raise
    finally:
        await form.close()
    return body
