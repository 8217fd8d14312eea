"""Operator-registered ComfyUI workflows: checking a registration, filling it per job.

ComfyUI knows nothing of prompts, sizes or seconds: it runs a graph of nodes. An
operator registers, per public model, an API-format graph (ComfyUI's "Export (API)")
plus where each of reelgate's parameters goes (``"6.inputs.text"``) and which node
saves the video. Everything that can be wrong with a registration is found when it is
registered, not when a paying job reaches the GPU.

A model may have two registrations: ``text`` (text-to-video) and ``image``
(image-to-video, the one with an ``image`` input), chosen per job by whether the
client sent a reference image. They live in the channel's options::

    options["workflows"][model][kind] = Registration.as_option()
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "KINDS",
    "PARAMETERS",
    "VIDEO_SAVERS",
    "InputPath",
    "JobValues",
    "Registration",
    "WorkflowError",
    "build_registration",
    "pick",
    "prompt_id_for",
    "seed_for",
]

#: what reelgate can put into a workflow
PARAMETERS = ("prompt", "negative_prompt", "width", "height", "frames", "seconds", "fps",
              "seed", "image")
KINDS = ("text", "image")
#: node classes that save a video (core ComfyUI, VideoHelperSuite, animated savers)
VIDEO_SAVERS = frozenset({"SaveVideo", "VHS_VideoCombine", "SaveWEBM", "SaveAnimatedWEBP",
                          "SaveAnimatedPNG"})
_NAMESPACE = uuid.UUID("6f1c2b8e-3d4a-4e7b-9c55-0a7e2d9b1f44")
_SEPARATOR = ".inputs."


class WorkflowError(ValueError):
    """A registration that cannot work, or a job its channel cannot run; ``code`` is
    what the client sees if it comes up at submit time."""

    def __init__(self, message: str, code: str = "workflow_invalid") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class InputPath:
    """One node input, written ``NODE.inputs.NAME`` (node ids may contain dots or
    colons in subgraphs, so the split is on ``.inputs.``)."""

    node: str
    name: str

    @classmethod
    def parse(cls, text: str) -> InputPath:
        node, sep, name = text.strip().partition(_SEPARATOR)
        if not sep or not node or not name:
            raise WorkflowError(f"{text!r} is not a node input; write it as NODE.inputs.NAME, "
                                f"e.g. 6.inputs.text")
        return cls(node, name)

    def __str__(self) -> str:
        return f"{self.node}{_SEPARATOR}{self.name}"


@dataclass(frozen=True)
class JobValues:
    """What one job puts into the workflow."""

    prompt: str
    width: int
    height: int
    seconds: int
    seed: int
    image: str | None = None  # the name ComfyUI gave the uploaded reference
    negative_prompt: str | None = None


def prompt_id_for(job_id: str) -> str:
    """The ComfyUI prompt id we ask for: derived from our job id, so a job whose submit
    went unanswered (or whose worker died) can be looked up instead of sent again."""
    return str(uuid.uuid5(_NAMESPACE, job_id))


def seed_for(job_id: str) -> int:
    """A seed per job (ComfyUI would serve an identical graph from its cache), stable
    for the job, below 2**53 so every JSON reader keeps it exact."""
    return int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:8], "big") % (2**53)


def _is_link(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], int) and not isinstance(value[1], bool))


def _check_graph(workflow: Any) -> dict[str, dict[str, Any]]:
    if isinstance(workflow, dict) and "nodes" in workflow and "links" in workflow:
        raise WorkflowError("this is ComfyUI's UI format; export the workflow with "
                            "'Export (API)' instead")
    if not isinstance(workflow, dict) or not workflow:
        raise WorkflowError("the workflow must be a JSON object of node id -> node")
    for node_id, node in workflow.items():
        if (not isinstance(node, dict) or not isinstance(node.get("class_type"), str)
                or not isinstance(node.get("inputs"), dict)):
            raise WorkflowError(f"node {node_id!r} needs a 'class_type' and an 'inputs' object "
                                f"(is this an API-format export?)")
    return workflow


def _check_path(graph: Mapping[str, Any], param: str, path: InputPath) -> None:
    node = graph.get(path.node)
    if node is None:
        raise WorkflowError(f"{param} -> {path}: the workflow has no node {path.node!r}")
    inputs = node["inputs"]
    if path.name not in inputs:
        known = ", ".join(sorted(inputs)) or "none"
        raise WorkflowError(f"{param} -> {path}: node {path.node} ({node['class_type']}) has no "
                            f"input {path.name!r} (it has: {known})")
    if _is_link(inputs[path.name]):
        source = inputs[path.name][0]
        raise WorkflowError(f"{param} -> {path}: that input is wired to node {source}; map the "
                            f"widget that feeds it instead")


def _paths(raw: str | Sequence[str]) -> tuple[InputPath, ...]:
    items = [raw] if isinstance(raw, str) else list(raw)
    if not items or not all(isinstance(item, str) for item in items):
        raise WorkflowError(f"an input mapping must be a path or a list of paths, got {raw!r}")
    return tuple(InputPath.parse(item) for item in items)


def _output_node(graph: Mapping[str, Any], chosen: str | None) -> str:
    if chosen is not None:
        if chosen not in graph:
            raise WorkflowError(f"output node {chosen!r} is not in the workflow")
        return chosen
    savers = [nid for nid, node in graph.items() if node["class_type"] in VIDEO_SAVERS]
    if len(savers) != 1:
        found = ", ".join(savers) or "none"
        raise WorkflowError(f"cannot tell which node saves the video (video save nodes: "
                            f"{found}); name it with output_node")
    return savers[0]


@dataclass(frozen=True)
class Registration:
    """A checked workflow and its mapping; :meth:`fill` makes one job's graph."""

    workflow: Mapping[str, Any]
    inputs: Mapping[str, tuple[InputPath, ...]]
    output_node: str
    fps: float | None
    frame_step: int = 1
    frame_offset: int = 0

    @property
    def kind(self) -> str:
        return "image" if "image" in self.inputs else "text"

    def frames_for(self, seconds: int) -> int:
        """``seconds x fps`` snapped to ``step x n + offset`` (Wan wants 4n+1 frames,
        LTX 8n+1), never fewer than one step."""
        fps = self.fps or 0.0
        raw = round(seconds * fps)
        steps = max(1, round((raw - self.frame_offset) / self.frame_step))
        return steps * self.frame_step + self.frame_offset

    def fill(self, job: JobValues) -> dict[str, Any]:
        """A deep copy of the workflow with this job's values at the mapped inputs;
        numbers keep the type the template had (ComfyUI checks INT against FLOAT)."""
        values: dict[str, Any] = {
            "prompt": job.prompt, "width": job.width, "height": job.height,
            "seconds": job.seconds, "seed": job.seed,
        }
        if self.fps is not None:
            values["fps"] = self.fps
            values["frames"] = self.frames_for(job.seconds)
        if job.negative_prompt is not None:
            values["negative_prompt"] = job.negative_prompt
        if job.image is not None:
            values["image"] = job.image
        graph = copy.deepcopy(dict(self.workflow))
        for param, paths in self.inputs.items():
            if param not in values:
                continue  # e.g. no negative prompt given: the template's own stays
            for path in paths:
                inputs = graph[path.node]["inputs"]
                inputs[path.name] = _like(inputs[path.name], values[param])
        return graph

    def as_option(self) -> dict[str, Any]:
        inputs = {k: (str(v[0]) if len(v) == 1 else [str(p) for p in v])
                  for k, v in self.inputs.items()}
        out: dict[str, Any] = {"workflow": dict(self.workflow), "inputs": inputs,
                               "output_node": self.output_node}
        if self.fps is not None:
            out["fps"] = self.fps
        if self.frame_step != 1 or self.frame_offset != 0:
            out.update(frame_step=self.frame_step, frame_offset=self.frame_offset)
        return out

    @classmethod
    def from_option(cls, data: Any) -> Registration:
        if not isinstance(data, Mapping):
            raise WorkflowError("a registration must be an object with 'workflow' and 'inputs'")
        return build_registration(
            data.get("workflow"), data.get("inputs") or {}, output_node=data.get("output_node"),
            fps=data.get("fps"), frame_step=data.get("frame_step", 1),
            frame_offset=data.get("frame_offset", 0))


def _like(template: Any, value: Any) -> Any:
    if isinstance(template, bool) or isinstance(value, str):
        return value
    if isinstance(template, int) and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(template, float) and isinstance(value, int):
        return float(value)
    return value


def _number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise WorkflowError(f"{what} must be a positive number, got {value!r}")
    return float(value)


def build_registration(
    workflow: Any, inputs: Mapping[str, Any], *, output_node: str | None = None,
    fps: Any = None, frame_step: Any = 1, frame_offset: Any = 0,
) -> Registration:
    """Check a workflow and its mapping; raise :class:`WorkflowError` saying what is wrong.

    ``prompt``, ``width`` and ``height`` must be mapped, and ``frames`` or ``seconds``,
    or the workflow would render the same clip whatever was asked (and billed). ``fps``
    defaults to the template's value at the mapped ``fps`` input.
    """
    graph = _check_graph(workflow)
    unknown = sorted(set(inputs) - set(PARAMETERS))
    if unknown:
        raise WorkflowError(f"unknown parameter(s) {', '.join(unknown)}; reelgate can map "
                            f"{', '.join(PARAMETERS)}")
    paths = {param: _paths(raw) for param, raw in inputs.items()}
    for param, found in paths.items():
        for path in found:
            _check_path(graph, param, path)
    missing = [p for p in ("prompt", "width", "height") if p not in paths]
    if missing:
        raise WorkflowError(f"map {', '.join(missing)} to the node input(s) that take it")
    if "frames" not in paths and "seconds" not in paths:
        raise WorkflowError("map frames (a frame count) or seconds, or every clip would have "
                            "the template's length")
    rate = _number(fps, "fps")
    if rate is None and "fps" in paths:
        first = paths["fps"][0]
        rate = _number(graph[first.node]["inputs"][first.name], f"the value at {first}")
    if rate is None and "frames" in paths:
        raise WorkflowError("frames are seconds x fps: give fps, or map the fps input")
    if (not isinstance(frame_step, int) or isinstance(frame_step, bool) or frame_step < 1
            or not isinstance(frame_offset, int) or isinstance(frame_offset, bool)
            or frame_offset < 0):
        raise WorkflowError("frame_step must be an integer >= 1 and frame_offset >= 0")
    return Registration(graph, paths, _output_node(graph, output_node), rate, frame_step,
                        frame_offset)


def pick(workflows: Any, model: str, *, with_image: bool) -> Registration:
    """The registration a job for ``model`` runs, by whether it has a reference image."""
    entry = workflows.get(model) if isinstance(workflows, Mapping) else None
    if not isinstance(entry, Mapping) or not entry:
        raise WorkflowError(f"no workflow is registered for model {model!r} on this channel "
                            f"(reelgate workflows add ...)", code="workflow_missing")
    kind = "image" if with_image else "text"
    data = entry.get(kind)
    if data is None and with_image:
        raise WorkflowError(f"model {model!r} has no image-to-video workflow here; this job's "
                            f"input_reference cannot be used", code="reference_not_supported")
    if data is None:
        raise WorkflowError(f"model {model!r} only has an image-to-video workflow here; send "
                            f"an input_reference", code="reference_required")
    return Registration.from_option(data)
