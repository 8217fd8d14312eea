"""The fake ComfyUI answers with the shapes ComfyUI's own server code produces.

Checked against ``server.py`` / ``execution.py`` (Comfy-Org/ComfyUI a125cd8,
2025-10): ``POST /prompt``'s 400 body (``error`` object + ``node_errors`` per node
with ``errors``, ``dependent_outputs``, ``class_type``), a 200 that drops one output,
``/queue`` items, ``/history`` entries with timestamped ``status.messages``, and the
websocket's ``status`` / ``execution_start`` / ``progress`` / ``executing`` messages.
The provider tests rely on these shapes; if the fake drifted, they would prove nothing.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.fakes import FakeServer
from tests.fakes.comfyui_fake import ComfyUIFake
from tests.support.comfyui import EXAMPLES

ERROR_KEYS = {"type", "message", "details", "extra_info"}


@pytest.fixture()
def comfy() -> Iterator[tuple[ComfyUIFake, str]]:
    fake = ComfyUIFake(render_seconds=0.2)
    server = FakeServer(fake).start()
    yield fake, server.url
    server.stop()


def _workflow() -> dict[str, Any]:
    graph: dict[str, Any] = json.loads((EXAMPLES / "wan22_t2v.json").read_text())
    return graph


def _post(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/prompt", json=body, timeout=10)


def test_a_refused_prompt_is_a_400_naming_each_bad_node(comfy: tuple[ComfyUIFake, str]) -> None:
    fake, url = comfy
    graph = _workflow()
    graph["37"]["inputs"]["unet_name"] = "missing.safetensors"  # value_not_in_list
    graph["55"]["inputs"]["length"] = 20000  # value_bigger_than_max
    graph["3"]["inputs"]["steps"] = "many"  # invalid_input_type
    answer = _post(url, {"prompt": graph, "client_id": "c1"})
    assert answer.status_code == 400
    body = answer.json()
    assert set(body) == {"error", "node_errors"}
    assert set(body["error"]) == ERROR_KEYS
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    assert body["error"]["message"] == "Prompt outputs failed validation"
    errors = body["node_errors"]
    assert set(errors) == {"37", "55", "3"}  # nodes downstream of them carry no errors
    for node_id, entry in errors.items():
        assert set(entry) == {"errors", "dependent_outputs", "class_type"}
        assert entry["dependent_outputs"] == ["58"] and entry["class_type"] == graph[node_id][
            "class_type"]
        assert all(set(e) == ERROR_KEYS for e in entry["errors"])
    kinds = {n: [e["type"] for e in entry["errors"]] for n, entry in errors.items()}
    assert kinds == {"37": ["value_not_in_list"], "55": ["value_bigger_than_max"],
                     "3": ["invalid_input_type"]}
    unet = errors["37"]["errors"][0]
    assert unet["details"].startswith("unet_name: 'missing.safetensors' not in [")
    assert unet["extra_info"]["input_name"] == "unet_name"
    assert errors["55"]["errors"][0]["message"] == "Value 20000 bigger than max of 16384"
    assert fake.pending == [] and fake.running is None  # nothing was queued


def test_missing_prompt_and_broken_links(comfy: tuple[ComfyUIFake, str]) -> None:
    _, url = comfy
    answer = _post(url, {"client_id": "c1"})
    assert answer.status_code == 400
    assert answer.json() == {"error": {"type": "no_prompt", "message": "No prompt provided",
                                       "details": "No prompt provided", "extra_info": {}},
                             "node_errors": {}}
    graph = _workflow()
    graph["3"]["inputs"]["model"] = ["99", 0]  # a link to a node that is not there
    body = _post(url, {"prompt": graph}).json()
    assert body["node_errors"]["58"]["errors"][0]["type"] == "exception_during_validation"
    graph = _workflow()
    graph["3"]["inputs"]["model"] = ["48", 0, 1]
    entry = _post(url, {"prompt": graph}).json()["node_errors"]["3"]
    assert entry["errors"][0]["type"] == "bad_linked_input"
    graph = _workflow()
    graph["3"]["inputs"]["model"] = ["38", 0]  # a CLIP where a MODEL goes
    error = _post(url, {"prompt": graph}).json()["node_errors"]["3"]["errors"][0]
    assert error["type"] == "return_type_mismatch"
    assert error["details"] == "model, received_type(CLIP) mismatch input_type(MODEL)"
    graph = _workflow()
    graph["1"] = {"class_type": "NoSuchNode", "inputs": {}}
    error = _post(url, {"prompt": graph}).json()["error"]
    assert (error["type"], error["details"]) == ("invalid_prompt", "Node ID '#1'")


def test_a_200_may_drop_one_output(comfy: tuple[ComfyUIFake, str]) -> None:
    """Two outputs, one of them invalid: queued with the good one, the bad one listed."""
    fake, url = comfy
    graph = _workflow()
    graph["90"] = copy.deepcopy(graph["58"])
    graph["91"] = {**copy.deepcopy(graph["57"]), "inputs": {"images": ["8", 0], "fps": 0.5}}
    graph["90"]["inputs"]["video"] = ["91", 0]
    answer = _post(url, {"prompt": graph, "prompt_id": "p-two"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["prompt_id"] == "p-two" and isinstance(body["number"], int | float)
    assert body["node_errors"]["91"]["dependent_outputs"] == ["90"]
    assert body["node_errors"]["91"]["errors"][0]["type"] == "value_smaller_than_min"
    assert fake.prompts["p-two"].outputs == ["58"]  # only the good output runs


def test_queue_history_and_websocket_shapes(comfy: tuple[ComfyUIFake, str]) -> None:
    fake, url = comfy
    ws_url = url.replace("http://", "ws://") + "/ws?clientId=me"
    with connect(ws_url, open_timeout=10) as ws:
        hello = json.loads(ws.recv(timeout=10))
        assert hello == {"type": "status", "data": {"status": {"exec_info": {
            "queue_remaining": 0}}, "sid": "me"}}
        fake.paused = True
        answer = _post(url, {"prompt": _workflow(), "client_id": "me", "prompt_id": "p1",
                             "extra_data": {"k": "v"}}).json()
        queue = httpx.get(f"{url}/queue", timeout=10).json()
        assert queue["queue_running"] == []
        number, prompt_id, graph, extra, outputs = queue["queue_pending"][0]
        assert (number, prompt_id, outputs) == (answer["number"], "p1", ["58"])
        assert extra == {"k": "v", "client_id": "me"} and graph["6"]["class_type"]
        fake.paused = False
        seen: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            raw = ws.recv(timeout=30)
            if isinstance(raw, bytes):
                assert raw[:4] == b"\x00\x00\x00\x01"  # PREVIEW_IMAGE, big-endian
                continue
            message = json.loads(raw)
            seen.append(message["type"])
            if message["type"] == "progress":
                assert set(message["data"]) == {"value", "max", "prompt_id", "node"}
            if message["type"] == "executing" and message["data"]["node"] is None:
                assert message["data"]["prompt_id"] == "p1"
                break
    assert seen.index("execution_start") < seen.index("progress") < seen.index(
        "execution_success")
    entry = httpx.get(f"{url}/history/p1", timeout=10).json()["p1"]
    assert set(entry) == {"prompt", "outputs", "status", "meta"}
    assert entry["prompt"][1] == "p1" and len(entry["prompt"]) == 5
    status = entry["status"]
    assert (status["status_str"], status["completed"]) == ("success", True)
    events = [event for event, _ in status["messages"]]
    assert events == ["execution_start", "execution_cached", "execution_success"]
    assert all(isinstance(data["timestamp"], int) for _, data in status["messages"])
    saved = entry["outputs"]["58"]["images"][0]
    assert set(saved) == {"filename", "subfolder", "type"} and saved["type"] == "output"
    view = httpx.get(f"{url}/view", params=saved, timeout=10)
    assert view.status_code == 200 and view.content[4:8] == b"ftyp"
    assert httpx.get(f"{url}/history/unknown", timeout=10).json() == {}
    assert httpx.get(f"{url}/view", params={"filename": "../x"}, timeout=10).status_code == 400
