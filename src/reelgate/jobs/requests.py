"""Strict parsing of create and remix requests, for JSON and multipart alike.

The official Python SDK sends every create as multipart with string fields, other
clients send JSON with typed values; both arrive here as a mapping. Every rule of the
seed document is enforced with a 400 naming the offending ``param``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from reelgate.catalog import Catalog, ModelSpec, Operation, Refusal
from reelgate.errors import InvalidRequest
from reelgate.media.images import ReferenceImage, image_type

__all__ = ["MAX_CHARACTERS", "CreateParams", "parse_characters", "parse_create",
           "parse_prompt", "parse_remix", "sniff_image"]

DEFAULT_MODEL = "sora-2"
_CREATE_FIELDS = frozenset({"model", "prompt", "seconds", "size", "input_reference",
                            "characters"})
#: characters one create may name (the Videos API's limit)
MAX_CHARACTERS = 2
_REMIX_FIELDS = frozenset({"prompt"})
#: far above any catalog size (a reference must match the video's), far below what
#: would take Pillow seconds and gigabytes to decode: a 48 KB PNG can claim 20000x20000
MAX_REFERENCE_PIXELS = 8192 * 8192


@dataclass(frozen=True)
class CreateParams:
    model: ModelSpec
    prompt: str
    size: str
    seconds: int
    reference: ReferenceImage | None
    #: the retired model the client asked for, when ``model`` is its successor
    requested_model: str | None = None
    #: set when a retired model's create was redirected to its successor
    notice: str | None = None
    #: the alias (a dated snapshot) the client named, echoed as the video's model
    alias: str | None = None
    #: characters the create names (ids as sent; resolved by the API)
    characters: tuple[str, ...] = ()


def _bad(message: str, param: str | None, code: str = "invalid_value") -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code)


def _reject_unknown(fields: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for name in fields:
        if name not in allowed:
            raise _bad(f"Unrecognized request argument supplied: {name}", name,
                       "unknown_parameter")


def _string(fields: Mapping[str, Any], name: str, default: str | None = None) -> str | None:
    value = fields.get(name, default)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(f"Invalid type for '{name}': expected a string, got "
                   f"{type(value).__name__}.", name, "invalid_type")
    return value


def parse_characters(fields: Mapping[str, Any]) -> tuple[str, ...]:
    """``characters: [{"id": ...}]``, at most two, no repeats (multipart:
    ``characters[][id]``)."""
    value = fields.get("characters")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
            isinstance(c, dict) and set(c) == {"id"} and isinstance(c["id"], str) and c["id"]
            for c in value):
        raise _bad("'characters' must be a list of objects like {\"id\": \"char_...\"}.",
                   "characters", "invalid_type")
    ids = tuple(str(c["id"]) for c in value)
    if len(ids) > MAX_CHARACTERS:
        raise _bad(f"'characters' names {len(ids)} characters; at most {MAX_CHARACTERS} may "
                   "appear in one video.", "characters", "array_above_max_length")
    if len(set(ids)) != len(ids):
        raise _bad("'characters' names the same character twice.", "characters",
                   "invalid_value")
    return ids


def parse_prompt(fields: Mapping[str, Any], max_chars: int) -> str:
    prompt = _string(fields, "prompt")
    if prompt is None:
        raise _bad("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter")
    if not prompt.strip():
        raise _bad("'prompt' must not be empty.", "prompt", "empty_string")
    if len(prompt) > max_chars:
        raise _bad(f"'prompt' is too long: {len(prompt)} characters, the maximum is "
                   f"{max_chars}.", "prompt", "string_above_max_length")
    return prompt


def _too_many_pixels(width: int, height: int) -> InvalidRequest:
    size = f" ({width}x{height})" if width else ""
    return _bad(f"'input_reference' has too many pixels{size} to be a reference image; "
                f"the most is {MAX_REFERENCE_PIXELS}.", "input_reference",
                "invalid_image_dimensions")


def sniff_image(data: bytes) -> ReferenceImage:
    """Identify an image by its bytes, never by a file name or a claimed type."""
    mime = image_type(data[:16])
    if mime is None:
        raise _bad("'input_reference' must be a JPEG, PNG or WEBP image.", "input_reference",
                   "invalid_image_format")
    try:
        with Image.open(io.BytesIO(data)) as img:  # reads the header only
            width, height = img.size
            if width * height > MAX_REFERENCE_PIXELS:
                raise _too_many_pixels(width, height)
            img.verify()
    except Image.DecompressionBombError as exc:  # Pillow's own, far higher, limit
        raise _too_many_pixels(0, 0) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _bad("'input_reference' is not a readable image.", "input_reference",
                   "invalid_image") from exc
    return ReferenceImage(data, mime, width, height)


def parse_create(
    fields: Mapping[str, Any], reference: ReferenceImage | None, catalog: Catalog,
    *, max_prompt_chars: int,
) -> CreateParams:
    _reject_unknown(fields, _CREATE_FIELDS)
    prompt = parse_prompt(fields, max_prompt_chars)
    model_id = _string(fields, "model")
    model_id = DEFAULT_MODEL if model_id is None else model_id  # null, like absent
    resolved = catalog.resolve(model_id)
    if isinstance(resolved, Refusal):
        raise resolved.error()
    spec = resolved.spec
    seconds = _string(fields, "seconds")
    seconds = spec.default_seconds if seconds is None else seconds
    size = _string(fields, "size")
    size = spec.default_size if size is None else size
    refusal = spec.refusal(size, seconds)
    if refusal is None and reference is not None:
        refusal = spec.operation_refusal(Operation.IMAGE_REFERENCE, "input_reference")
    if refusal is None and reference is None:
        refusal = spec.reference_refusal(size)
    characters = parse_characters(fields)
    if refusal is None and characters:
        refusal = spec.operation_refusal(Operation.CHARACTERS, "characters")
    if refusal is not None:
        raise refusal.error()
    if reference is not None and f"{reference.width}x{reference.height}" != size:
        raise _bad(f"'input_reference' is {reference.width}x{reference.height} but the "
                   f"requested size is {size}; they must match.", "input_reference",
                   "invalid_image_dimensions")
    redirected = resolved.redirected_from
    alias = model_id if redirected is None and model_id != spec.id else None
    return CreateParams(spec, prompt, size, int(seconds), reference,
                        redirected.id if redirected else None, resolved.notice, alias,
                        characters)


def parse_remix(fields: Mapping[str, Any], *, max_prompt_chars: int) -> str:
    _reject_unknown(fields, _REMIX_FIELDS)
    return parse_prompt(fields, max_prompt_chars)
