"""Registering and filling ComfyUI workflows, and reading ComfyUI's answers (no server)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from reelgate.catalog import CATALOG
from reelgate.catalog.document import spec_from_doc
from reelgate.catalog.files import parse_catalog_text
from reelgate.catalog.spec import Billing
from reelgate.providers.comfyui import wire
from reelgate.providers.comfyui.workflow import (
    InputPath,
    JobValues,
    Registration,
    WorkflowError,
    build_registration,
    pick,
    prompt_id_for,
    seed_for,
)
from tests.support.comfyui import EXAMPLES, example

T2V: dict[str, Any] = json.loads((EXAMPLES / "wan22_t2v.json").read_text())
MAP = {"prompt": "6.inputs.text", "width": "55.inputs.width", "height": "55.inputs.height",
       "frames": "55.inputs.length", "fps": "57.inputs.fps"}


def _error(workflow: Any = T2V, inputs: dict[str, Any] = MAP, **kw: Any) -> str:
    with pytest.raises(WorkflowError) as caught:
        build_registration(workflow, inputs, **kw)
    return str(caught.value)


def test_examples_register_and_round_trip() -> None:
    text, image = example("text"), example("image")
    assert (text.kind, image.kind) == ("text", "image")
    assert text.output_node == "58" and text.fps == 24.0  # read from the fps input
    assert Registration.from_option(json.loads(json.dumps(text.as_option()))) == text
    assert image.inputs["image"] == (InputPath("56", "image"),)


def test_the_shipped_gpu_time_catalog_entry_is_valid() -> None:
    """examples/comfyui/wan-2.2-local.toml: what ``models import`` reads, render-billed."""
    docs = parse_catalog_text((EXAMPLES / "wan-2.2-local.toml").read_text())
    spec = spec_from_doc("wan-2.2-local", docs["wan-2.2-local"])
    shipped = CATALOG.get("wan-2.2-local")
    assert shipped is not None and spec.sizes == shipped.sizes
    assert (spec.billing, spec.render_cap, spec.reserved_seconds(5)) == (
        Billing.RENDER_SECONDS, 900, 900)
    assert set(spec.prices.values()) == {500}  # $0.0005 per GPU second


def test_bad_registrations_say_what_is_wrong() -> None:
    assert "UI format" in _error({"nodes": [], "links": []})
    assert "class_type" in _error({"1": {"inputs": {}}})
    assert "unknown parameter(s) steps" in _error(inputs={**MAP, "steps": "3.inputs.steps"})
    assert "no node '99'" in _error(inputs={**MAP, "prompt": "99.inputs.text"})
    assert "has no input 'txt'" in _error(inputs={**MAP, "prompt": "6.inputs.txt"})
    assert "NODE.inputs.NAME" in _error(inputs={**MAP, "prompt": "6.text"})
    assert "wired to node 38" in _error(inputs={**MAP, "prompt": "6.inputs.clip"})
    assert "map prompt" in _error(inputs={k: v for k, v in MAP.items() if k != "prompt"})
    assert "frames (a frame count) or seconds" in _error(
        inputs={k: v for k, v in MAP.items() if k != "frames"})
    no_fps = {k: v for k, v in MAP.items() if k != "fps"}
    assert "give fps" in _error(inputs=no_fps)
    assert build_registration(T2V, no_fps, fps=16).fps == 16.0
    two_savers = copy.deepcopy(T2V)
    two_savers["59"] = copy.deepcopy(T2V["58"])
    assert "name it with output_node" in _error(two_savers)
    assert build_registration(two_savers, MAP, output_node="59").output_node == "59"
    assert "output node '77' is not in the workflow" in _error(output_node="77")
    assert "frame_step" in _error(frame_step=0)


def test_frames_snap_to_the_models_rule() -> None:
    wan = build_registration(T2V, MAP, frame_step=4, frame_offset=1)
    assert [wan.frames_for(s) for s in (2, 3, 4, 5)] == [49, 73, 97, 121]
    wan16 = build_registration(T2V, MAP, fps=16, frame_step=4, frame_offset=1)
    assert wan16.frames_for(5) == 81  # Wan 2.1/2.2 14B: 81 frames at 16 fps
    plain = build_registration(T2V, MAP)
    assert plain.frames_for(4) == 96


def test_fill_sets_every_mapped_input_and_keeps_types() -> None:
    reg = build_registration(T2V, {**MAP, "seed": "3.inputs.seed",
                                   "width": ["55.inputs.width"]}, frame_step=4, frame_offset=1)
    graph = reg.fill(JobValues("a heron", 832, 480, 3, seed=7))
    assert graph["6"]["inputs"]["text"] == "a heron"
    assert graph["55"]["inputs"] | {"vae": None} == {"width": 832, "height": 480, "length": 73,
                                                    "batch_size": 1, "vae": None}
    assert isinstance(graph["57"]["inputs"]["fps"], float) and graph["3"]["inputs"]["seed"] == 7
    assert graph["7"]["inputs"]["text"] == T2V["7"]["inputs"]["text"]  # unmapped: untouched
    assert T2V["6"]["inputs"]["text"] != "a heron"  # the template itself is not changed


def test_pick_by_reference() -> None:
    both = {"m": {"text": example("text").as_option(), "image": example("image").as_option()}}
    assert pick(both, "m", with_image=True).kind == "image"
    assert pick(both, "m", with_image=False).kind == "text"
    with pytest.raises(WorkflowError) as caught:
        pick({"m": {"image": example("image").as_option()}}, "m", with_image=False)
    assert caught.value.code == "reference_required"
    with pytest.raises(WorkflowError) as caught:
        pick(None, "m", with_image=False)
    assert caught.value.code == "workflow_missing"


def test_ids_and_seeds_are_stable_per_job() -> None:
    assert prompt_id_for("video_a") == prompt_id_for("video_a") != prompt_id_for("video_b")
    assert seed_for("video_a") == seed_for("video_a") < 2**53


def test_rejection_names_each_node() -> None:
    body = {"error": {"type": "prompt_outputs_failed_validation",
                      "message": "Prompt outputs failed validation", "details": "...",
                      "extra_info": {}},
            "node_errors": {"37": {"errors": [{"type": "value_not_in_list",
                                               "message": "Value not in list",
                                               "details": "unet_name: 'x' not in [...]",
                                               "extra_info": {}}],
                                   "dependent_outputs": ["58"], "class_type": "UNETLoader"}}}
    text = wire.rejection(body)
    assert text is not None and "node 37 (UNETLoader): Value not in list: unet_name" in text
    assert wire.rejection(body, output_node="58") is not None  # our output was dropped
    assert wire.rejection(body, output_node="60") is None  # another output was
    assert "no prompt" in (wire.rejection({"error": "no prompt", "node_errors": []}) or "")


def test_history_status_reading() -> None:
    status = {"status_str": "error", "completed": False, "messages": [
        ["execution_start", {"prompt_id": "p", "timestamp": 1_000}],
        ["execution_error", {"prompt_id": "p", "node_id": "3", "node_type": "KSampler",
                             "exception_type": "RuntimeError", "exception_message": "boom",
                             "timestamp": 13_500}]]}
    assert wire.render_seconds(status) == 12.5
    code, message = wire.execution_failure(status)
    assert code == "generation_failed" and "node 3 (KSampler): RuntimeError: boom" in message
    assert wire.render_seconds({"messages": "junk"}) is None
    outputs = {"58": {"images": [{"filename": "a.webp", "subfolder": "", "type": "output"},
                                 {"filename": "a.mp4", "subfolder": "v", "type": "output"}]},
               "60": {"gifs": [{"filename": "b.mp4", "subfolder": "", "type": "output"}]}}
    assert wire.output_file(outputs, "58") == wire.OutputFile("a.mp4", "v", "output")
    assert wire.output_file(outputs, "60") == wire.OutputFile("b.mp4", "", "output")
    assert wire.output_file(outputs, "99") is None


def test_queue_positions_follow_numbers() -> None:
    queue = {"queue_running": [[0, "r", {}, {}, []]],
             "queue_pending": [[7, "late", {}, {}, []], [3, "soon", {}, {"reelgate_job_id": "j"},
                                                         []]]}
    assert wire.find_in_queue(queue, prompt_id="r") == wire.QueueState(True, 0, [0, "r", {}, {},
                                                                              []])
    late = wire.find_in_queue(queue, prompt_id="late")
    assert late is not None and (late.running, late.position) == (False, 1)
    by_job = wire.find_in_queue(queue, prompt_id="other", job_id="j")
    assert by_job is not None and by_job.item[1] == "soon"
    assert wire.queue_lengths(queue) == (1, 2)
