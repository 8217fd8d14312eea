"""Reading create/remix bodies: JSON or multipart, with hard size limits.

Both encodings end up as the same mapping of fields, so validation has one path.
Reference images may come as a multipart file or, in JSON, as ``{"image_url": ...}``
holding a data URL or a public http(s) URL (checked against private ranges).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import httpx
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelgate.api.decode import parse_json, read_form
from reelgate.errors import InvalidRequest, PayloadTooLarge
from reelgate.jobs.requests import sniff_image
from reelgate.media.images import ReferenceImage
from reelgate.net.ssrf import UnsafeURL, check_url

__all__ = ["BodyLimit", "read_fields"]

_REF = "input_reference"


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


async def read_fields(request: Request, *, max_image_bytes: int,
                      allow_files: bool = True) -> tuple[dict[str, Any], ReferenceImage | None]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        return await _json_fields(request, max_image_bytes, allow_files)
    if ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return await _form_fields(request, max_image_bytes, allow_files)
    raise InvalidRequest(
        "Unsupported Content-Type: send application/json or multipart/form-data.",
        code="invalid_content_type")


async def _json_fields(
    request: Request, max_image_bytes: int, allow_files: bool
) -> tuple[dict[str, Any], ReferenceImage | None]:
    data = parse_json(await request.body())
    if not isinstance(data, dict):
        raise InvalidRequest("The JSON body must be an object.", code="invalid_json")
    ref_spec = data.pop(_REF, None)
    if ref_spec is None:
        return data, None
    if not allow_files:
        raise InvalidRequest(f"Unrecognized request argument supplied: {_REF}", param=_REF,
                             code="unknown_parameter")
    return data, await _reference_from_json(ref_spec, max_image_bytes)


async def _reference_from_json(spec: Any, max_bytes: int) -> ReferenceImage:
    if not isinstance(spec, dict) or set(spec) - {"image_url", "file_id"} or len(spec) != 1:
        raise InvalidRequest("'input_reference' must be an object with exactly one of "
                             "'image_url' or 'file_id'.", param=_REF, code="invalid_type")
    if "file_id" in spec:
        raise InvalidRequest("'input_reference.file_id' is not supported by this gateway; "
                             "send 'image_url' or a multipart file.", param=_REF,
                             code="unsupported_value")
    url = spec["image_url"]
    if not isinstance(url, str):
        raise InvalidRequest("'input_reference.image_url' must be a string.", param=_REF,
                             code="invalid_type")
    data = _decode_data_url(url) if url.startswith("data:") else await _fetch(url, max_bytes)
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"'input_reference' is larger than {max_bytes} bytes.", param=_REF)
    return sniff_image(data)


def _decode_data_url(url: str) -> bytes:
    header, _, payload = url.partition(",")
    if not header.endswith(";base64"):
        raise InvalidRequest("'input_reference.image_url' data URLs must be base64.",
                             param=_REF, code="invalid_value")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest("'input_reference.image_url' is not valid base64.", param=_REF,
                             code="invalid_value") from exc


async def _fetch(url: str, max_bytes: int) -> bytes:
    try:
        await check_url(url)
    except UnsafeURL as exc:
        raise InvalidRequest(f"'input_reference.image_url' is not allowed: {exc}.", param=_REF,
                             code="invalid_url") from exc
    chunks: list[bytes] = []
    size = 0
    try:
        async with httpx.AsyncClient(timeout=15, follow_redirects=False) as client, \
                client.stream("GET", url) as resp:
            if resp.status_code != 200:
                raise InvalidRequest(f"Fetching 'input_reference.image_url' returned "
                                     f"{resp.status_code}.", param=_REF, code="invalid_url")
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(f"'input_reference' is larger than {max_bytes} "
                                          "bytes.", param=_REF)
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise InvalidRequest(f"Could not fetch 'input_reference.image_url': {exc}.",
                             param=_REF, code="invalid_url") from exc
    return b"".join(chunks)


async def _form_fields(
    request: Request, max_image_bytes: int, allow_files: bool
) -> tuple[dict[str, Any], ReferenceImage | None]:
    form = await read_form(request, max_files=1 if allow_files else 0, max_fields=32)
    fields: dict[str, Any] = {}
    reference: ReferenceImage | None = None
    for name, value in form.multi_items():
        if name in fields or (name == _REF and reference is not None):
            raise InvalidRequest(f"Parameter '{name}' was given more than once.", param=name,
                                 code="duplicate_parameter")
        if isinstance(value, UploadFile):
            if name != _REF:
                raise InvalidRequest(f"Parameter '{name}' must not be a file.", param=name,
                                     code="invalid_type")
            data = await value.read(max_image_bytes + 1)
            if len(data) > max_image_bytes:
                raise PayloadTooLarge(f"'input_reference' is larger than {max_image_bytes} "
                                      "bytes.", param=_REF)
            reference = sniff_image(data)
        else:
            fields[name] = value
    await form.close()
    return fields, reference
