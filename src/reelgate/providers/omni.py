"""vLLM-Omni's ``/v1/videos`` extension fields (the ``openai`` provider's ``omni`` mode).

``vllm serve <model> --omni`` serves one open model (Wan, LTX, ...) behind an
OpenAI-shaped ``/v1/videos``. Its create takes ``multipart/form-data`` only, and
besides the OpenAI fields (``prompt``, ``model``, ``seconds``, ``size``) it reads
``width``, ``height``, ``num_frames``, ``fps`` and diffusion controls such as
``num_inference_steps`` (docs: serving/videos_api; protocol/videos.py). Sending the
frame count ourselves (``seconds x fps``) makes the clip length ours, not the model's
default. Its job record reports ``inference_time_s``: the GPU time of the render.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reelgate.providers.base import SubmitRequest

__all__ = ["DEFAULT_FPS", "omni_fields", "render_seconds"]

DEFAULT_FPS = 24  # vLLM-Omni's own default when none is given


def omni_fields(request: SubmitRequest, options: Mapping[str, Any]) -> dict[str, str]:
    """The form fields of a create, from the request's size and seconds and the
    channel's ``fps`` / ``num_inference_steps`` options."""
    fps = int(options.get("fps", DEFAULT_FPS))
    fields = {
        "model": request.model,
        "prompt": request.prompt,
        "seconds": str(request.seconds),
        "size": request.size,
        "width": str(request.width),
        "height": str(request.height),
        "fps": str(fps),
        "num_frames": str(int(request.seconds) * fps),
    }
    steps = options.get("num_inference_steps")
    if steps is not None:
        fields["num_inference_steps"] = str(int(steps))
    return fields


def render_seconds(body: Mapping[str, Any]) -> float | None:
    value = body.get("inference_time_s")
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None
