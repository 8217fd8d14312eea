"""Request bodies decoded strictly: what cannot be read exactly is a 400, never a guess.

Starlette decodes a form field it cannot read as UTF-8 as latin-1 instead, and
``json.loads`` hands back nesting deep enough to exhaust the stack and strings holding
lone surrogates that no database can store. Each of those used to surface later, as a
wrong prompt or a 500; here they stop at the door with the field that caused them.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser
from starlette.requests import Request

from reelgate.errors import InvalidRequest

__all__ = ["parse_json", "read_form"]


def parse_json(raw: bytes) -> Any:
    """The JSON document in ``raw``; a 400 for broken JSON, nesting too deep for the
    parser, or a string that is not valid Unicode (a lone surrogate escape)."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"We could not parse the JSON body of your request: {exc}.",
                             code="invalid_json") from exc
    except RecursionError as exc:
        raise InvalidRequest("The JSON body of your request is nested too deeply.",
                             code="invalid_json") from exc
    try:  # a lone surrogate survives json.loads but not UTF-8 (nor the database)
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequest("The JSON body of your request holds a string that is not "
                             "valid Unicode (a lone surrogate).", code="invalid_json") from exc
    except RecursionError as exc:
        raise InvalidRequest("The JSON body of your request is nested too deeply.",
                             code="invalid_json") from exc
    if _holds_nul(data):
        field = next((k for k, v in data.items() if _holds_nul(k) or _holds_nul(v)), None) \
            if isinstance(data, dict) else None
        name = None if field is None or "\x00" in field else field
        raise InvalidRequest(f"Invalid value for '{name}': it holds a NUL character." if name
                             else "The JSON body holds a NUL character.", param=name,
                             code="invalid_value")
    return data


def _holds_nul(value: Any) -> bool:
    """Whether any string in ``value`` (keys too) holds U+0000; iterative, as the
    nesting may be as deep as the parser allowed."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class _Undecodable(Exception):
    def __init__(self, field: str) -> None:
        self.field = field


def _strict(data: bytes | bytearray, codec: str, field: str) -> str:
    try:
        text = bytes(data).decode(codec or "utf-8")
    except (UnicodeDecodeError, LookupError) as exc:
        raise _Undecodable(field) from exc
    if "\x00" in text:  # decodes, but no database can hold it
        raise _Undecodable(field)
    return text


class _StrictMultiPart(MultiPartParser):
    """Starlette's multipart parser, but a field that is not valid in its charset
    (UTF-8 unless the client declared another) is refused instead of read as latin-1."""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._current_part.content_disposition)
        if b"name" in options:
            _strict(options[b"name"], self._charset, "(field name)")
        super().on_headers_finished()

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None:
            self.items.append((part.field_name, _strict(part.data, self._charset,
                                                        part.field_name)))
        else:
            super().on_part_end()


class _StrictUrlEncoded(FormParser):
    """Starlette's urlencoded parser, but percent escapes must be UTF-8 (no U+FFFD
    replacement) and raw bytes must be UTF-8 (no latin-1)."""

    def on_field_end(self) -> None:
        self._current_fields += 1
        if self._current_fields > self.max_fields:
            raise MultiPartException(f"Too many fields. Maximum number of fields is "
                                     f"{self.max_fields}.")
        name = _unquote(self._field_name, "(field name)")
        self._items.append((name, _unquote(self._field_value, name)))


def _unquote(raw: bytearray, field: str) -> str:
    try:
        return unquote_plus(_strict(raw, "utf-8", field), errors="strict")
    except UnicodeDecodeError as exc:
        raise _Undecodable(field) from exc


async def read_form(request: Request, *, max_files: int, max_fields: int) -> FormData:
    """The multipart or urlencoded form of ``request``, strictly decoded."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    parser: MultiPartParser | FormParser
    if ctype == "multipart/form-data":
        parser = _StrictMultiPart(request.headers, request.stream(), max_files=max_files,
                                  max_fields=max_fields)
    else:
        parser = _StrictUrlEncoded(request.headers, request.stream(), max_fields=max_fields)
    try:
        return await parser.parse()
    except _Undecodable as exc:
        param = None if exc.field.startswith("(") else exc.field
        raise InvalidRequest(f"Form field {exc.field} is not valid UTF-8 (or the charset the "
                             "request declared), or holds a NUL character.", param=param,
                             code="invalid_encoding") from exc
    except MultiPartException as exc:
        raise InvalidRequest(f"Malformed form body: {exc.message}", code="invalid_form") from exc
    except FormParserError as exc:  # the urlencoded parser does not wrap its own errors
        raise InvalidRequest(f"Malformed form body: {exc}.", code="invalid_form") from exc
