"""The example Wan 2.2 workflows shipped in ``examples/comfyui``, as a channel's options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reelgate.providers.comfyui.workflow import Registration, build_registration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "comfyui"
MODEL = "wan-2.2-local"


def example(kind: str) -> Registration:
    """``text`` (wan22_t2v) or ``image`` (wan22_i2v), checked like ``workflows add``."""
    stem = "wan22_t2v" if kind == "text" else "wan22_i2v"
    workflow = json.loads((EXAMPLES / f"{stem}.json").read_text())
    mapping = json.loads((EXAMPLES / f"{stem}.mapping.json").read_text())
    return build_registration(workflow, mapping["inputs"], output_node=mapping.get("output_node"),
                              fps=mapping.get("fps"), frame_step=mapping.get("frame_step", 1),
                              frame_offset=mapping.get("frame_offset", 0))


def workflows_option(model: str = MODEL) -> dict[str, Any]:
    return {model: {"text": example("text").as_option(), "image": example("image").as_option()}}
