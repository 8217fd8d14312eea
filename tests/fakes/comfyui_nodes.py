"""The nodes the fake ComfyUI knows, and prompt validation with ComfyUI's own shapes.

Mirrors ``execution.validate_prompt`` / ``validate_inputs`` (ComfyUI, 2025): a prompt
is checked from each output node backwards; a bad node is reported once in
``node_errors[node_id] = {"errors": [...], "dependent_outputs": [...], "class_type"}``
with error types ``required_input_missing``, ``value_not_in_list``,
``value_smaller_than_min``, ``invalid_input_type``, ``return_type_mismatch`` and
``custom_validation_failed`` (LoadImage's missing file); the top-level error is
``invalid_prompt``, ``prompt_no_outputs`` or ``prompt_outputs_failed_validation``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MODELS", "NODES", "NodeSpec", "validate_prompt"]

#: model files "installed" on the fake server
MODELS = {
    "unet": ["wan2.2_ti2v_5B_fp16.safetensors"],
    "clip": ["umt5_xxl_fp8_e4m3fn_scaled.safetensors"],
    "vae": ["wan2.2_vae.safetensors"],
}


@dataclass(frozen=True)
class NodeSpec:
    #: input name -> "INT" | "FLOAT" | "STRING" | a link type ("MODEL", ...) | [choices]
    required: Mapping[str, Any]
    optional: Mapping[str, Any] = field(default_factory=dict)
    returns: tuple[str, ...] = ()
    output_node: bool = False
    minimum: Mapping[str, float] = field(default_factory=dict)


_SCALARS = {"INT": int, "FLOAT": float, "STRING": str}

NODES: dict[str, NodeSpec] = {
    "UNETLoader": NodeSpec({"unet_name": MODELS["unet"], "weight_dtype": ["default", "fp8_e4m3fn"]},
                           returns=("MODEL",)),
    "CLIPLoader": NodeSpec({"clip_name": MODELS["clip"], "type": ["wan", "ltxv"]},
                           {"device": ["default", "cpu"]}, returns=("CLIP",)),
    "VAELoader": NodeSpec({"vae_name": MODELS["vae"]}, returns=("VAE",)),
    "ModelSamplingSD3": NodeSpec({"model": "MODEL", "shift": "FLOAT"}, returns=("MODEL",)),
    "CLIPTextEncode": NodeSpec({"text": "STRING", "clip": "CLIP"}, returns=("CONDITIONING",)),
    "Wan22ImageToVideoLatent": NodeSpec(
        {"vae": "VAE", "width": "INT", "height": "INT", "length": "INT", "batch_size": "INT"},
        {"start_image": "IMAGE"}, returns=("LATENT",),
        minimum={"width": 32, "height": 32, "length": 1, "batch_size": 1}),
    "KSampler": NodeSpec(
        {"model": "MODEL", "seed": "INT", "steps": "INT", "cfg": "FLOAT",
         "sampler_name": ["euler", "uni_pc"], "scheduler": ["simple", "normal"],
         "positive": "CONDITIONING", "negative": "CONDITIONING", "latent_image": "LATENT",
         "denoise": "FLOAT"}, returns=("LATENT",), minimum={"seed": 0, "steps": 1}),
    "VAEDecode": NodeSpec({"samples": "LATENT", "vae": "VAE"}, returns=("IMAGE",)),
    "CreateVideo": NodeSpec({"images": "IMAGE", "fps": "FLOAT"}, returns=("VIDEO",),
                            minimum={"fps": 1.0}),
    "SaveVideo": NodeSpec({"video": "VIDEO", "filename_prefix": "STRING",
                           "format": ["auto", "mp4"], "codec": ["auto", "h264"]},
                          output_node=True),
    "LoadImage": NodeSpec({"image": "STRING"}, returns=("IMAGE", "MASK")),
}


def _error(kind: str, message: str, details: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": extra}


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2


def _check_value(spec: NodeSpec, name: str, kind: Any, value: Any,
                 file_exists: Callable[[str], bool], class_type: str) -> dict[str, Any] | None:
    if isinstance(kind, list):
        if value not in kind:
            return _error("value_not_in_list", "Value not in list",
                          f"{name}: '{value}' not in {kind}", input_name=name,
                          received_value=value)
        return None
    if class_type == "LoadImage" and name == "image":
        if not isinstance(value, str) or not file_exists(value):
            return _error("custom_validation_failed", "Custom validation failed for node",
                          f"image - Invalid image file: {value}", input_name=name)
        return None
    convert = _SCALARS.get(kind)
    if convert is None:
        return None
    try:
        converted = convert(value)
    except (TypeError, ValueError) as exc:
        return _error("invalid_input_type", f"Failed to convert an input value to a {kind} value",
                      f"{name}, {value}, {exc}", input_name=name, received_value=value)
    low = spec.minimum.get(name)
    if low is not None and converted < low:
        return _error("value_smaller_than_min", f"Value {converted} smaller than min of {low}",
                      name, input_name=name, received_value=value)
    return None


def _validate(prompt: Mapping[str, Any], node_id: str, validated: dict[str, tuple[bool, list]],
              file_exists: Callable[[str], bool]) -> bool:
    if node_id in validated:
        return validated[node_id][0]
    node = prompt[node_id]
    spec = NODES[node["class_type"]]
    inputs = node.get("inputs", {})
    errors: list[dict[str, Any]] = []
    valid = True
    for name, kind in {**spec.required, **spec.optional}.items():
        if name not in inputs:
            if name in spec.required:
                errors.append(_error("required_input_missing", "Required input is missing",
                                     name, input_name=name))
            continue
        value = inputs[name]
        if _is_link(value):
            source = str(value[0])
            if source not in prompt or prompt[source].get("class_type") not in NODES:
                errors.append(_error("bad_linked_input", "Bad linked input", name,
                                     input_name=name))
                continue
            returns = NODES[prompt[source]["class_type"]].returns
            slot = value[1]
            if not isinstance(slot, int) or slot >= len(returns) or returns[slot] != kind:
                errors.append(_error("return_type_mismatch",
                                     "Return type mismatch between linked nodes",
                                     f"{name}, received_type({returns}) mismatch input_type"
                                     f"({kind})", input_name=name))
                continue
            if not _validate(prompt, source, validated, file_exists):
                valid = False
            continue
        problem = _check_value(spec, name, kind, value, file_exists, node["class_type"])
        if problem is not None:
            errors.append(problem)
    ok = valid and not errors
    validated[node_id] = (ok, errors)
    return ok


def validate_prompt(prompt: Any, file_exists: Callable[[str], bool]
                    ) -> tuple[bool, dict[str, Any] | None, list[str], dict[str, Any]]:
    """``(valid, error, good_outputs, node_errors)``, as ComfyUI's function returns."""
    if not isinstance(prompt, dict):
        return False, _error("invalid_prompt", "Prompt is not an object", ""), [], {}
    outputs = []
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or "class_type" not in node:
            return False, _error("invalid_prompt", "Cannot execute because a node is missing "
                                 "the class_type property.", f"Node ID '#{node_id}'"), [], {}
        if node["class_type"] not in NODES:
            return False, _error("invalid_prompt", f"Cannot execute because node "
                                 f"{node['class_type']} does not exist.",
                                 f"Node ID '#{node_id}'"), [], {}
        if NODES[node["class_type"]].output_node:
            outputs.append(node_id)
    if not outputs:
        return False, _error("prompt_no_outputs", "Prompt has no outputs", ""), [], {}
    good: list[str] = []
    node_errors: dict[str, Any] = {}
    validated: dict[str, tuple[bool, list]] = {}
    details = []
    for output in outputs:
        if _validate(prompt, output, validated, file_exists):
            good.append(output)
            continue
        for node_id, (ok, errors) in validated.items():
            if ok or not errors:
                continue
            entry = node_errors.setdefault(node_id, {
                "errors": errors, "dependent_outputs": [],
                "class_type": prompt[node_id]["class_type"]})
            entry["dependent_outputs"].append(output)
            details += [f"{e['message']}: {e['details']}" for e in errors]
    if not good:
        error = _error("prompt_outputs_failed_validation", "Prompt outputs failed validation",
                       "\n".join(details))
        return False, error, [], node_errors
    return True, None, good, node_errors
