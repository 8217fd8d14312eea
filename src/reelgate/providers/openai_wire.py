"""How the ``openai`` provider encodes each operation, as the Videos API takes it.

* create: JSON, or multipart when a reference image goes along (``input_reference`` a
  file); characters as ``characters: [{"id"}]`` in JSON, ``characters[][id]`` fields
  in multipart (the SDK's bracket form);
* remix: ``POST /videos/{id}/remix``, JSON ``{"prompt"}``;
* edit: ``POST /videos/edits``, JSON ``{"prompt", "video": {"id"}}`` for a video the
  upstream has; multipart with ``video`` the clip (and ``model``) otherwise;
* extend: ``POST /videos/extensions``, the same with ``seconds`` (the new segment);
* character: ``POST /videos/characters``, multipart ``name`` and ``video``.

Clips are sent as open files, which httpx streams in chunks: never read into memory.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from reelgate.providers.base import Operation, SubmitRequest

__all__ = ["Call", "character_call", "submit_call"]


@dataclass
class Call:
    """One request: the path under the videos prefix, and httpx keyword arguments."""

    path: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


def _reference_file(request: SubmitRequest) -> tuple[str, bytes, str]:
    ref = request.reference
    assert ref is not None
    return f"reference.{ref.mime.rsplit('/', 1)[-1]}", ref.data, ref.mime


def submit_call(request: SubmitRequest, files: ExitStack) -> Call:
    """The request that starts ``request`` upstream; clip files opened on ``files``."""
    if request.remix_of:
        return Call((request.remix_of, "remix"), {"json": {"prompt": request.prompt}})
    if request.operation in (Operation.EDIT, Operation.EXTEND):
        return _derived(request, files)
    fields: dict[str, Any] = {"model": request.model, "prompt": request.prompt,
                              "seconds": str(request.seconds), "size": request.size}
    if request.reference is None:
        if request.characters:
            fields["characters"] = [{"id": c} for c in request.characters]
        return Call((), {"json": fields})
    if request.characters:
        fields["characters[][id]"] = list(request.characters)
    return Call((), {"data": fields, "files": {"input_reference": _reference_file(request)}})


def _derived(request: SubmitRequest, files: ExitStack) -> Call:
    source = request.source
    assert source is not None
    path = "edits" if request.operation is Operation.EDIT else "extensions"
    fields: dict[str, Any] = {"prompt": request.prompt}
    if request.operation is Operation.EXTEND:
        fields["seconds"] = str(request.seconds)
    if source.upstream_id:  # the upstream has the source: name it
        return Call((path,), {"json": {**fields, "video": {"id": source.upstream_id}}})
    clip = files.enter_context(source.path.open("rb"))
    return Call((path,), {"data": {**fields, "model": request.model},
                          "files": {"video": ("source.mp4", clip, "video/mp4")}})


def character_call(name: str, clip: Any) -> Call:
    return Call(("characters",), {"data": {"name": name},
                                  "files": {"video": ("character.mp4", clip, "video/mp4")}})
