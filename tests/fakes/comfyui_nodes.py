"""The nodes the fake ComfyUI knows, and prompt validation with ComfyUI's own shapes.

Mirrors ``execution.validate_prompt`` / ``validate_inputs`` (ComfyUI as of 2025-10,
Comfy-Org/ComfyUI a125cd8): a prompt is checked from each output node backwards; a
bad node is reported once in ``node_errors[node_id] = {"errors": [...],
"dependent_outputs": [...], "class_type"}`` (nodes downstream of it are invalid but
carry no errors, so they are not listed), each error ``{"type", "message", "details",
"extra_info"}`` of type ``required_input_missing``, ``bad_linked_input``,
``return_type_mismatch``, ``invalid_input_type``, ``value_smaller_than_min``,
``value_bigger_than_max``, ``value_not_in_list`` or ``custom_validation_failed``
(LoadImage's missing file); a validation that raises (a link to a missing node) is
``exception_during_validation`` on the output node. The top-level error is
``invalid_prompt``, ``prompt_no_outputs`` or ``prompt_outputs_failed_validation``
(whose details list every reason, one per line).
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
    maximum: Mapping[str, float] = field(default_factory=dict)


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
        minimum={"width": 32, "height": 32, "length": 1, "batch_size": 1},
        maximum={"width": 16384, "height": 16384, "length": 16384, "batch_size": 4096}),
    "KSampler": NodeSpec(
        {"model": "MODEL", "seed": "INT", "steps": "INT", "cfg": "FLOAT",
         "sampler_name": ["euler", "uni_pc"], "scheduler": ["simple", "normal"],
         "positive": "CONDITIONING", "negative": "CONDITIONING", "latent_image": "LATENT",
         "denoise": "FLOAT"}, returns=("LATENT",),
        minimum={"seed": 0, "steps": 1, "cfg": 0.0, "denoise": 0.0},
        maximum={"seed": 2**64 - 1, "steps": 10000, "cfg": 100.0, "denoise": 1.0}),
    "VAEDecode": NodeSpec({"samples": "LATENT", "vae": "VAE"}, returns=("IMAGE",)),
    "CreateVideo": NodeSpec({"images": "IMAGE", "fps": "FLOAT"}, returns=("VIDEO",),
                            minimum={"fps": 1.0}, maximum={"fps": 120.0}),
    "SaveVideo": NodeSpec({"video": "VIDEO", "filename_prefix": "STRING",
                           "format": ["auto", "mp4"], "codec": ["auto", "h264"]},
                          output_node=True),
    "LoadImage": NodeSpec({"image": "STRING"}, returns=("IMAGE", "MASK")),
}


def _error(kind: str, message: str, details: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": extra}


class _InnerFailure(Exception):
    """What makes ComfyUI's validation itself raise (a link to a node that is not
    there, a slot past the outputs): reported on the output node being validated."""


def _config(spec: NodeSpec, name: str, kind: Any) -> list[Any]:
    """``input_config`` as ComfyUI reports it: ``[type, {min, max, ...}]``."""
    limits = {k: v for k, v in (("min", spec.minimum.get(name)), ("max", spec.maximum.get(name)))
              if v is not None}
    return [kind, limits]


def _check_value(spec: NodeSpec, name: str, kind: Any, value: Any,
                 file_exists: Callable[[str], bool], class_type: str) -> dict[str, Any] | None:
    """One widget value, in ComfyUI's order: convert, min, max, then the combo list;
    LoadImage's own VALIDATE_INPUTS replaces the combo check of its file name."""
    config = _config(spec, name, kind)
    if class_type == "LoadImage" and name == "image":
        if not isinstance(value, str) or not file_exists(value):
            return _error("custom_validation_failed", "Custom validation failed for node",
                          f"image - Invalid image file: {value}", input_name=name)
        return None
    convert = _SCALARS.get(kind) if isinstance(kind, str) else None
    converted = value
    if convert is not None:
        try:
            converted = convert(value)
        except (TypeError, ValueError) as exc:
            return _error("invalid_input_type",
                          f"Failed to convert an input value to a {kind} value",
                          f"{name}, {value}, {exc}", input_name=name, input_config=config,
                          received_value=value, exception_message=str(exc))
    low, high = spec.minimum.get(name), spec.maximum.get(name)
    if low is not None and converted < low:
        return _error("value_smaller_than_min", f"Value {converted} smaller than min of {low}",
                      name, input_name=name, input_config=config, received_value=converted)
    if high is not None and converted > high:
        return _error("value_bigger_than_max", f"Value {converted} bigger than max of {high}",
                      name, input_name=name, input_config=config, received_value=converted)
    if isinstance(kind, list) and value not in kind:
        return _error("value_not_in_list", "Value not in list",
                      f"{name}: '{value}' not in {kind}", input_name=name, input_config=config,
                      received_value=value)
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
        if isinstance(value, list):  # any list is a link in an API-format prompt
            if len(value) != 2:
                errors.append(_error(
                    "bad_linked_input",
                    "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                    name, input_name=name, input_config=_config(spec, name, kind),
                    received_value=value))
                continue
            source = str(value[0])
            if source not in prompt:
                raise _InnerFailure(repr(source), "KeyError")
            returns = NODES[prompt[source]["class_type"]].returns
            if not isinstance(value[1], int) or value[1] >= len(returns):
                raise _InnerFailure("tuple index out of range", "IndexError")
            received = returns[value[1]]
            if received != kind:
                errors.append(_error(
                    "return_type_mismatch", "Return type mismatch between linked nodes",
                    f"{name}, received_type({received}) mismatch input_type({kind})",
                    input_name=name, input_config=_config(spec, name, kind),
                    received_type=received, linked_node=value))
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
        try:
            if _validate(prompt, output, validated, file_exists):
                good.append(output)
                continue
        except _InnerFailure as exc:
            message, kind = exc.args
            validated[output] = (False, [_error(
                "exception_during_validation", "Exception when validating node", message,
                exception_type=kind, traceback=[])])
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
