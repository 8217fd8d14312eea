"""A fake ComfyUI server: its HTTP routes and ``/ws`` with the shapes ComfyUI's code uses.

Like the real one it executes one prompt at a time from a queue ordered by ``number``,
keeps history in memory (a restart forgets everything), sends execution events only to
the websocket whose ``clientId`` is the prompt's ``client_id``, and records every
message with a millisecond ``timestamp`` in ``history[id]["status"]["messages"]``.

Routes: ``POST /prompt`` (validation and ``node_errors`` from :mod:`.comfyui_nodes`),
``GET /prompt``, ``GET /queue``, ``POST /queue`` (``delete`` / ``clear``),
``POST /interrupt`` (optionally one ``prompt_id``), ``GET /history[/{id}]``,
``POST /history``, ``GET /view``, ``POST /upload/image``, ``GET /system_stats`` and
``GET /ws``. A "proxy" in front checks the key: ``none`` accepts no header,
``TOKEN`` a bearer token, ``basic:USER:PASS`` basic auth.

Test knobs: ``render_seconds`` per prompt, ``paused`` (the queue holds its prompts),
error words in a prompt fail it at the sampler (``execution_error``), and a shared
:class:`RenderLog` counts renders by reelgate job id across servers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from .comfyui_nodes import validate_prompt
from .core import FakeJob, FakeUpstream
from .media import render_mp4

__all__ = ["ComfyUIFake", "RenderLog"]

_STEPS = 5
_PREVIEW = b"\x00\x00\x00\x01\x00\x00\x00\x01" + b"\xff\xd8\xff\xe0fake-preview"


class RenderLog:
    """Every render any fake started: (server, prompt id, reelgate job id)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[tuple[str, str, str]] = []

    def record(self, server: str, prompt_id: str, job_id: str) -> None:
        with self._lock:
            self.entries.append((server, prompt_id, job_id))

    def by_job(self) -> dict[str, list[str]]:
        with self._lock:
            out: dict[str, list[str]] = {}
            for server, _, job_id in self.entries:
                out.setdefault(job_id, []).append(server)
            return out


@dataclass
class Prompt:
    number: float
    prompt_id: str
    graph: dict[str, Any]
    extra_data: dict[str, Any]
    outputs: list[str]
    interrupted: bool = False
    started: bool = False
    loaded_images: dict[str, bytes] = field(default_factory=dict)

    def item(self) -> list[Any]:
        return [self.number, self.prompt_id, self.graph, self.extra_data, self.outputs]


def _now_ms() -> int:
    return int(time.time() * 1000)


class ComfyUIFake(FakeUpstream):
    def __init__(self, *, name: str = "comfy", render_seconds: float = 0.3,
                 render_log: RenderLog | None = None, keys: tuple[str, ...] = ("none",),
                 **options: Any) -> None:
        self.name = name
        self.render_seconds = render_seconds
        self.render_log = render_log or RenderLog()
        self.paused = False
        #: bytes of whitespace after the next ``POST /prompt`` answers (0: none)
        self.answer_padding = 0
        self.pending: list[Prompt] = []
        self.running: Prompt | None = None
        self.history: dict[str, dict[str, Any]] = {}
        self.files: dict[tuple[str, str, str], bytes] = {}
        self.prompts: dict[str, Prompt] = {}
        self.sockets: dict[str, WebSocket] = {}
        self.ws_clients: list[str] = []
        self.most_held = 0  # the most prompts (running + pending) held at once
        self.number = 0
        self._executor: asyncio.Task[None] | None = None
        super().__init__(keys=keys, complete_after=render_seconds, **options)

    # --- FakeUpstream hooks -----------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/prompt", self.post_prompt, methods=["POST"]),
            Route("/prompt", self.get_prompt, methods=["GET"]),
            Route("/queue", self.get_queue, methods=["GET"]),
            Route("/queue", self.post_queue, methods=["POST"]),
            Route("/interrupt", self.interrupt, methods=["POST"]),
            Route("/history", self.get_history, methods=["GET"]),
            Route("/history", self.post_history, methods=["POST"]),
            Route("/history/{prompt_id}", self.get_history_item, methods=["GET"]),
            Route("/view", self.view, methods=["GET"]),
            Route("/upload/image", self.upload, methods=["POST"]),
            Route("/system_stats", self.system_stats, methods=["GET"]),
        ]

    def credential(self, request: Request | WebSocket) -> str | None:
        auth = request.headers.get("authorization", "")
        if not auth:
            return "none"
        if auth.lower().startswith("bearer "):
            return auth[7:]
        if auth.lower().startswith("basic "):
            with contextlib.suppress(ValueError):
                return "basic:" + base64.b64decode(auth[6:]).decode()
        return auth

    def error_response(self, status: int, message: str, code: str | None) -> Response:
        return Response(f"{status}: {message}", status_code=status, media_type="text/plain")

    def bad_key_response(self, credential: str | None) -> Response:
        return Response("<html><body><h1>401 Authorization Required</h1></body></html>",
                        status_code=401, media_type="text/html")

    def reset(self) -> None:
        super().reset()
        self.pending.clear()
        self.history.clear()
        self.prompts.clear()
        self.files.clear()
        self.paused = False
        self.most_held = 0
        if self.running is not None:
            self.running.interrupted = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._executor is None or self._executor.done():
            self._executor = asyncio.get_running_loop().create_task(self._execute_loop())
        if scope["type"] == "websocket":
            await self._websocket(WebSocket(scope, receive, send))
            return
        await super().__call__(scope, receive, send)

    # --- HTTP handlers ----------------------------------------------------------------

    async def post_prompt(self, request: Request) -> Response:
        body = await request.json()
        if "number" in body:
            number = float(body["number"])
        else:
            number = float(-self.number if body.get("front") else self.number)
            self.number += 1
        if "prompt" not in body:
            error = {"type": "no_prompt", "message": "No prompt provided",
                     "details": "No prompt provided", "extra_info": {}}
            return JSONResponse({"error": error, "node_errors": {}}, status_code=400)
        prompt_id = str(body.get("prompt_id") or uuid.uuid4())
        valid, error, outputs, node_errors = validate_prompt(body["prompt"], self._input_exists)
        if not valid:
            return JSONResponse({"error": error, "node_errors": node_errors}, status_code=400)
        extra = dict(body.get("extra_data") or {})
        if "client_id" in body:
            extra["client_id"] = body["client_id"]
        prompt = Prompt(number, prompt_id, body["prompt"], extra, outputs)
        self.prompts[prompt_id] = prompt
        self.pending.append(prompt)
        self.most_held = max(self.most_held, len(self.pending) + (self.running is not None))
        self._record_job(request, prompt)
        await self._broadcast_status()
        answer = {"prompt_id": prompt_id, "number": number, "node_errors": node_errors}
        if self.answer_padding:  # valid JSON, but far more of it than any answer needs
            body = json.dumps(answer).encode() + b" " * self.answer_padding
            return Response(body, media_type="application/json")
        return JSONResponse(answer)

    async def get_prompt(self, request: Request) -> Response:
        return JSONResponse(self._queue_info())

    async def get_queue(self, request: Request) -> Response:
        running = [self.running.item()] if self.running is not None else []
        return JSONResponse({"queue_running": running,
                             "queue_pending": [p.item() for p in self.pending]})

    async def post_queue(self, request: Request) -> Response:
        body = await request.json()
        if body.get("clear"):
            self.pending.clear()
        for prompt_id in body.get("delete", []):
            self.pending = [p for p in self.pending if p.prompt_id != prompt_id]
        return Response(status_code=200)

    async def interrupt(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        target = body.get("prompt_id") if isinstance(body, dict) else None
        if self.running is not None and (not target or target == self.running.prompt_id):
            self.running.interrupted = True
        return Response(status_code=200)

    async def get_history(self, request: Request) -> Response:
        items = list(self.history.items())
        if "max_items" in request.query_params:
            items = items[-int(request.query_params["max_items"]):]
        return JSONResponse(dict(items))

    async def get_history_item(self, request: Request) -> Response:
        prompt_id = request.path_params["prompt_id"]
        entry = self.history.get(prompt_id)
        return JSONResponse({prompt_id: entry} if entry is not None else {})

    async def post_history(self, request: Request) -> Response:
        body = await request.json()
        if body.get("clear"):
            self.history.clear()
        for prompt_id in body.get("delete", []):
            self.history.pop(prompt_id, None)
        return Response(status_code=200)

    async def view(self, request: Request) -> Response:
        query = request.query_params
        filename = query.get("filename")
        if filename is None:
            return Response(status_code=404)
        if not filename or filename.startswith("/") or ".." in filename:
            return Response(status_code=400)
        key = (query.get("type", "output"), query.get("subfolder", ""), filename)
        data = self.files.get(key)
        if data is None:
            return Response(status_code=404)
        return Response(data, media_type="video/mp4",
                        headers={"Content-Disposition": f'filename="{filename}"'})

    async def upload(self, request: Request) -> Response:
        async with request.form() as form:
            image = form.get("image")
            if image is None or isinstance(image, str) or not image.filename:
                return Response(status_code=400)
            data = await image.read()
            kind = str(form.get("type") or "input")
            subfolder = str(form.get("subfolder") or "")
            overwrite = str(form.get("overwrite") or "") in ("true", "1")
            name = image.filename
        stem, dot, ext = name.rpartition(".")
        counter = 1
        while (kind, subfolder, name) in self.files and not overwrite:
            if self.files[(kind, subfolder, name)] == data:
                break
            name = f"{stem} ({counter}){dot}{ext}"
            counter += 1
        self.files[(kind, subfolder, name)] = data
        return JSONResponse({"name": name, "subfolder": subfolder, "type": kind})

    async def system_stats(self, request: Request) -> Response:
        gib = 2**30
        return JSONResponse({
            "system": {"os": "posix", "ram_total": 64 * gib, "ram_free": 40 * gib,
                       "comfyui_version": "0.3.64", "python_version": "3.12.3",
                       "pytorch_version": "2.8.0+cu128", "embedded_python": False,
                       "argv": ["main.py", "--listen"]},
            "devices": [{"name": "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync",
                         "type": "cuda", "index": 0, "vram_total": 24 * gib,
                         "vram_free": 20 * gib, "torch_vram_total": 2 * gib,
                         "torch_vram_free": gib}],
        })

    # --- websocket --------------------------------------------------------------------

    async def _websocket(self, ws: WebSocket) -> None:
        if self.credential(ws) not in self.keys:
            await ws.close(code=1008)
            return
        await ws.accept()
        sid = ws.query_params.get("clientId") or uuid.uuid4().hex
        self.sockets[sid] = ws
        self.ws_clients.append(sid)
        try:
            await ws.send_json({"type": "status", "data": {"status": self._queue_info(),
                                                           "sid": sid}})
            while True:
                await ws.receive_text()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            if self.sockets.get(sid) is ws:
                del self.sockets[sid]

    async def _send(self, event: str, data: dict[str, Any], sid: str | None) -> None:
        targets = list(self.sockets.values()) if sid is None else (
            [self.sockets[sid]] if sid in self.sockets else [])
        for ws in targets:
            with contextlib.suppress(Exception):
                await ws.send_json({"type": event, "data": data})

    async def _broadcast_status(self) -> None:
        await self._send("status", {"status": self._queue_info()}, None)

    # --- execution --------------------------------------------------------------------

    async def _execute_loop(self) -> None:
        while True:
            if self.paused or not self.pending:
                await asyncio.sleep(0.02)
                continue
            prompt = min(self.pending, key=lambda p: p.number)
            self.pending.remove(prompt)
            self.running = prompt
            try:
                await self._execute(prompt)
            finally:
                self.running = None
            await self._broadcast_status()

    async def _execute(self, prompt: Prompt) -> None:
        sid = prompt.extra_data.get("client_id")
        messages: list[list[Any]] = []

        async def message(event: str, data: dict[str, Any], broadcast: bool = False) -> None:
            data = {**data, "timestamp": _now_ms()}
            messages.append([event, data])
            await self._send(event, data, None if broadcast else sid)

        prompt.started = True
        self.render_log.record(self.name, prompt.prompt_id,
                               str(prompt.extra_data.get("reelgate_job_id", "")))
        await message("execution_start", {"prompt_id": prompt.prompt_id})
        await message("execution_cached", {"nodes": [], "prompt_id": prompt.prompt_id})
        graph = prompt.graph
        for node_id, node in graph.items():
            if node["class_type"] == "LoadImage":
                name = node["inputs"]["image"]
                sub, _, base = name.rpartition("/")
                prompt.loaded_images[node_id] = self.files[("input", sub, base)]
        sampler = next((n for n, v in graph.items() if v["class_type"] == "KSampler"), None)
        failed = self._error_word(graph)
        await self._send("executing", {"node": sampler, "display_node": sampler,
                                       "prompt_id": prompt.prompt_id}, sid)
        for step in range(1, _STEPS + 1):
            step_ends = time.monotonic() + self.render_seconds / _STEPS
            while time.monotonic() < step_ends and not prompt.interrupted:
                await asyncio.sleep(min(0.05, max(0.0, step_ends - time.monotonic())))
            if prompt.interrupted:
                await message("execution_interrupted", {
                    "prompt_id": prompt.prompt_id, "node_id": sampler, "node_type": "KSampler",
                    "executed": []}, broadcast=True)
                return self._finish(prompt, {}, messages, "error")
            if failed and step == _STEPS // 2 + 1:
                await message("execution_error", {
                    "prompt_id": prompt.prompt_id, "node_id": sampler, "node_type": "KSampler",
                    "executed": [], "exception_message": "CUDA out of memory. Tried to allocate "
                    "2.00 GiB", "exception_type": "torch.OutOfMemoryError", "traceback": [],
                    "current_inputs": {}, "current_outputs": []})
                return self._finish(prompt, {}, messages, "error")
            await self._send("progress", {"value": step, "max": _STEPS,
                                          "prompt_id": prompt.prompt_id, "node": sampler}, sid)
            if sid in self.sockets:
                with contextlib.suppress(Exception):
                    await self.sockets[sid].send_bytes(_PREVIEW)
        outputs = await self._save_outputs(prompt)
        for node_id, ui in outputs.items():
            await self._send("executed", {"node": node_id, "display_node": node_id, "output": ui,
                                          "prompt_id": prompt.prompt_id}, sid)
        await message("execution_success", {"prompt_id": prompt.prompt_id})
        self._finish(prompt, outputs, messages, "success")
        await self._send("executing", {"node": None, "prompt_id": prompt.prompt_id}, sid)

    def _finish(self, prompt: Prompt, outputs: dict[str, Any], messages: list[list[Any]],
                word: str) -> None:
        self.history[prompt.prompt_id] = {
            "prompt": prompt.item(), "outputs": outputs,
            "status": {"status_str": word, "completed": word == "success", "messages": messages},
            "meta": {n: {"node_id": n, "display_node": n, "parent_node": None,
                         "real_node_id": n} for n in outputs},
        }

    async def _save_outputs(self, prompt: Prompt) -> dict[str, Any]:
        width, height, frames, fps = _shape(prompt.graph)
        data = await asyncio.to_thread(render_mp4, width, height, frames / fps)
        outputs: dict[str, Any] = {}
        for index, node_id in enumerate(prompt.outputs, start=1):
            filename = f"reelgate_{len(self.files) + index:05}_.mp4"
            self.files[("output", "video", filename)] = data
            outputs[node_id] = {"images": [{"filename": filename, "subfolder": "video",
                                            "type": "output"}], "animated": [True]}
        return outputs

    # --- helpers ----------------------------------------------------------------------

    def _queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": len(self.pending) + (self.running is not None)}}

    def _input_exists(self, name: str) -> bool:
        sub, _, base = name.rpartition("/")
        return ("input", sub, base) in self.files

    def _error_word(self, graph: dict[str, Any]) -> bool:
        texts = [str(v["inputs"].get("text", "")) for v in graph.values()
                 if v["class_type"] == "CLIPTextEncode"]
        return any(w in t for t in texts for w in self.error_words)

    def _record_job(self, request: Request, prompt: Prompt) -> None:
        """A FakeJob view for the shared upstream test helpers (``up.job(prompt)``)."""
        width, height, frames, fps = _shape(prompt.graph)
        sampler = next((v for v in prompt.graph.values() if v["class_type"] == "KSampler"), {})
        positive = sampler.get("inputs", {}).get("positive", [None])[0]
        text = prompt.graph.get(positive, {}).get("inputs", {}).get("text", "")
        self.jobs[prompt.prompt_id] = FakeJob(
            id=prompt.prompt_id, creator=request.scope["fake.credential"],
            model=str(prompt.extra_data.get("reelgate_model", "")), prompt=str(text),
            width=width, height=height, seconds=round(frames / fps),
            complete_after=self.render_seconds, extra={"prompt": prompt})


def _shape(graph: dict[str, Any]) -> tuple[int, int, int, float]:
    """(width, height, frames, fps) from the latent and video nodes of a Wan graph."""
    width = height = 64
    frames, fps = 24, 24.0
    for node in graph.values():
        inputs = node["inputs"]
        if {"width", "height", "length"} <= set(inputs):
            width, height, frames = int(inputs["width"]), int(inputs["height"]), int(
                inputs["length"])
        if node["class_type"] == "CreateVideo":
            fps = float(inputs["fps"])
    return width, height, frames, fps
