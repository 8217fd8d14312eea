"""Inputs that arrive as more than a field: a reference image named by URL or data URL,
and an uploaded video clip (edits, extensions, characters).

An ``image_url`` is fetched only through :func:`reelgate.net.fetch.fetch_limited`: the
guarded client resolves the name once and connects only to an address it checked, so
a private, loopback or metadata address is refused before any connection, including
one a name re-resolves to after a first check (DNS rebinding). What arrives is
sniffed like an uploaded file (format, pixel count); a clip is streamed to a scratch
file with a hard size limit, never held in memory.
"""

from __future__ import annotations

import base64
import binascii
import os
import tempfile
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile

from reelgate.errors import InvalidRequest, PayloadTooLarge
from reelgate.jobs.requests import sniff_image
from reelgate.media.images import ReferenceImage
from reelgate.net.fetch import FetchFailed, fetch_limited

__all__ = ["reference_from_object", "save_clip"]

_REF = "input_reference"
_CHUNK = 1 << 20


async def reference_from_object(spec: Any, max_bytes: int) -> ReferenceImage:
    """``{"image_url": ...}`` (a data URL or an http(s) URL); ``{"file_id"}`` is a 400."""
    if not isinstance(spec, dict) or set(spec) - {"image_url", "file_id"} or len(spec) != 1:
        raise InvalidRequest("'input_reference' must be an object with exactly one of "
                             "'image_url' or 'file_id'.", param=_REF, code="invalid_type")
    if "file_id" in spec:
        raise InvalidRequest("'input_reference.file_id' is not supported by this gateway "
                             "(it has no Files API); send 'image_url' (a data: or https:// "
                             "URL) or a multipart file.", param=_REF, code="unsupported_value")
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
        fetched = await fetch_limited(url, max_bytes=max_bytes)
    except FetchFailed as exc:
        if exc.code == "too_large":
            raise PayloadTooLarge(f"'input_reference' is larger than {max_bytes} bytes.",
                                  param=_REF) from exc
        raise InvalidRequest(f"'input_reference.image_url' could not be used: {exc.message}.",
                             param=_REF, code="invalid_url") from exc
    return fetched.data


async def save_clip(upload: UploadFile, directory: Path, max_bytes: int) -> Path:
    """The uploaded ``video`` written to a new file in ``directory`` (the caller deletes
    it); over ``max_bytes`` it is a 413 and nothing is left behind."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="clip-", suffix=".mp4", dir=directory)
    path = Path(name)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await upload.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(f"'video' is larger than {max_bytes} bytes.",
                                          param="video")
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path
