"""ComfyUI as an upstream: a workflow server on your own GPUs.

One channel is one ComfyUI server. A job is the model's registered workflow filled in
(:mod:`.workflow`), with the reference image uploaded first (``/upload/image``), sent
to ``POST /prompt`` under a prompt id derived from our job id; it is followed through
``/history/{id}`` and ``/queue``, downloaded from ``/view``, and cancelled by removing
it from the queue or interrupting it.

ComfyUI renders one prompt at a time. With ``queue_limit`` (default 1) a submit is
refused as *busy* (RATE_LIMITED, nothing sent) while the server already holds that
many prompts, from us or anyone, so jobs wait in reelgate's durable queue and go to
whichever server of a farm is free, instead of piling into one server's in-memory
queue that a restart would lose. Submits from one process are serialised per server,
so they cannot race each other past that check.

The channel key says how to reach a server behind a proxy: ``none`` (no auth),
``bearer:TOKEN`` (or a bare token) or ``basic:USER:PASSWORD``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any
from urllib.parse import urlencode

import httpx

from reelgate.providers.base import (
    ChannelSpec,
    Credential,
    ErrorKind,
    SubmitRequest,
    UpstreamError,
    UpstreamJob,
    UpstreamStatus,
    Variant,
)
from reelgate.providers.comfyui import wire
from reelgate.providers.comfyui.progress import ProgressFeed
from reelgate.providers.comfyui.workflow import (
    JobValues,
    WorkflowError,
    pick,
    prompt_id_for,
    seed_for,
)
from reelgate.providers.http import UpstreamClient, json_object, upstream_error

__all__ = ["ComfyUIProvider", "auth_headers"]

log = logging.getLogger(__name__)

_RECENT_HISTORY = 64  # how far back a lookup by job id looks on servers that ignore our id
_BUSY_RETRY = 1.0
_STATUS = {"success": UpstreamStatus.COMPLETED, "error": UpstreamStatus.FAILED}


def auth_headers(secret: str) -> dict[str, str]:
    """``none`` | ``bearer:TOKEN`` | ``basic:USER:PASSWORD`` | a bare bearer token."""
    text = secret.strip()
    if text.lower() in ("", "none", "-"):
        return {}
    if text.lower().startswith("basic:"):
        user, _, password = text[6:].partition(":")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}
    if text.lower().startswith("bearer:"):
        text = text[7:]
    return {"Authorization": f"Bearer {text}"}


class ComfyUIProvider:
    """Provider for one ComfyUI server; one instance per channel (and process)."""

    name = "comfyui"
    supports_remix = False
    native_variants = frozenset({Variant.VIDEO})

    def __init__(
        self, channel: ChannelSpec, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.channel = channel
        self._http = UpstreamClient(channel, transport=transport)
        self._queue_limit = int(channel.options.get("queue_limit", 1))
        self._websocket = bool(channel.options.get("websocket", True))
        self.client_id = f"reelgate-{secrets.token_hex(8)}"
        self._submitting = asyncio.Lock()
        self.feed: ProgressFeed | None = None

    # --- Provider protocol --------------------------------------------------------------

    async def submit(self, request: SubmitRequest, credential: Credential) -> UpstreamJob:
        if request.remix_of:
            raise UpstreamError(ErrorKind.REJECTED, "ComfyUI cannot remix", code="unsupported")
        try:
            registration = pick(self.channel.options.get("workflows"), request.model,
                                with_image=request.reference is not None)
        except WorkflowError as exc:
            raise UpstreamError(ErrorKind.REJECTED, f"channel {self.channel.name}: {exc}",
                                code=exc.code) from exc
        auth = auth_headers(credential.secret)
        image = await self._upload(request, auth) if request.reference is not None else None
        values = JobValues(request.prompt, request.width, request.height, int(request.seconds),
                           seed_for(request.job_id), image)
        prompt_id = prompt_id_for(request.job_id)
        body = {
            "prompt": registration.fill(values), "prompt_id": prompt_id,
            "client_id": self.client_id,
            "extra_data": {"reelgate_job_id": request.job_id, "reelgate_model": request.model,
                           "reelgate_output_node": registration.output_node},
        }
        async with self._submitting:
            await self._refuse_if_busy(auth)
            self._listen(auth)
            epoch = self.feed.epoch if self.feed is not None else None
            answer = await self._post_prompt(body, auth, request.job_id)
        if isinstance(answer, UpstreamJob):
            return answer  # the answer was lost, but the server has the prompt
        problem = wire.rejection(answer, registration.output_node)
        upstream_id = str(answer.get("prompt_id") or "")
        if not upstream_id:
            raise UpstreamError(ErrorKind.PROTOCOL, "POST /prompt answered without a prompt_id")
        if problem is not None:  # queued, but without the node that saves our video
            await self._forget(upstream_id, auth)
            raise UpstreamError(ErrorKind.REJECTED, problem, code="workflow_invalid")
        if self.feed is not None:  # just queued: not started (a start is sent to our socket)
            self.feed.saw_pending(upstream_id, epoch)
        return UpstreamJob(upstream_id, UpstreamStatus.QUEUED, progress=0, raw_status="pending",
                           extra={"queue_number": answer.get("number")})

    async def fetch(self, upstream_id: str, credential: Credential) -> UpstreamJob:
        """History first (done), then the queue (waiting or running), then history again
        in case it finished between the two; nowhere means the server forgot it."""
        auth = auth_headers(credential.secret)
        entry = await self._history(upstream_id, auth)
        if entry is None:
            epoch = self.feed.epoch if self.feed is not None else None
            state = wire.find_in_queue(await self._queue(auth), prompt_id=upstream_id)
            if state is not None:
                return self._from_queue(upstream_id, state, epoch)
            entry = await self._history(upstream_id, auth)
        if entry is None:
            if self.feed is not None and self.feed.never_started(upstream_id):
                raise UpstreamError(
                    ErrorKind.NOT_FOUND, f"ComfyUI at {self.channel.base_url} went away and "
                    f"came back without prompt {upstream_id}, which it had not started",
                    never_started=True)
            raise UpstreamError(ErrorKind.NOT_FOUND, f"ComfyUI at {self.channel.base_url} no "
                                f"longer knows prompt {upstream_id} (was it restarted?)")
        if self.feed is not None:
            self.feed.saw_started(upstream_id)
        return self._from_history(upstream_id, entry)

    async def download(
        self, job: UpstreamJob, variant: Variant, credential: Credential
    ) -> AsyncIterator[bytes]:
        stream = self._http.stream_result(job, variant, auth_headers(credential.secret),
                                          provider="ComfyUI")
        async with aclosing(stream) as chunks:
            async for chunk in chunks:
                yield chunk

    async def delete(self, upstream_id: str, credential: Credential) -> None:
        """Take it off the queue, interrupt it if it is the prompt running now (only
        then: older servers interrupt whatever runs), and drop its history entry."""
        auth = auth_headers(credential.secret)
        state = wire.find_in_queue(await self._queue(auth), prompt_id=upstream_id)
        if state is not None and state.running:
            await self._post("interrupt", {"prompt_id": upstream_id}, auth)
        await self._forget(upstream_id, auth)

    async def recover(self, job_id: str, credential: Credential) -> UpstreamJob | None:
        return await self._lookup(job_id, auth_headers(credential.secret))

    async def check(self, credential: Credential) -> str | None:
        """``/system_stats`` and ``/queue``: the server's GPU, free VRAM and load."""
        auth = auth_headers(credential.secret)
        stats = await self._http.request_json("GET", self._http.url("system_stats"),
                                              headers=auth)
        system, devices = stats.get("system"), stats.get("devices")
        if not isinstance(system, dict) or not isinstance(devices, list):
            raise UpstreamError(ErrorKind.PROTOCOL, "/system_stats is not ComfyUI's answer")
        running, pending = wire.queue_lengths(await self._queue(auth))
        parts = [f"ComfyUI {system.get('comfyui_version', '?')}"]
        for device in devices:
            if isinstance(device, dict):
                parts.append(f"{device.get('name', '?')}: {_gib(device.get('vram_free'))}/"
                             f"{_gib(device.get('vram_total'))} GiB VRAM free")
        parts.append(f"queue {running} running, {pending} pending")
        return "; ".join(parts)

    async def aclose(self) -> None:
        if self.feed is not None:
            await self.feed.close()
        await self._http.aclose()

    # --- calls --------------------------------------------------------------------------

    async def _upload(self, request: SubmitRequest, auth: Mapping[str, str]) -> str:
        """Put the reference into the server's input folder; returns the name to load.
        Nothing renders yet, so any failure here is a clean "not accepted"."""
        ref = request.reference
        assert ref is not None
        filename = f"reelgate-{request.job_id}.{ref.mime.rsplit('/', 1)[-1]}"
        answer = await self._http.request_json(
            "POST", self._http.url("upload/image"), headers=dict(auth),
            data={"type": "input", "overwrite": "true"},
            files={"image": (filename, ref.data, ref.mime)})
        name, subfolder = answer.get("name"), answer.get("subfolder") or ""
        if not isinstance(name, str) or not name:
            raise UpstreamError(ErrorKind.PROTOCOL, "/upload/image answered without a name")
        return f"{subfolder}/{name}" if subfolder else name

    async def _refuse_if_busy(self, auth: Mapping[str, str]) -> None:
        if self._queue_limit <= 0:
            return
        running, pending = wire.queue_lengths(await self._queue(auth))
        if running + pending >= self._queue_limit:
            raise UpstreamError(
                ErrorKind.RATE_LIMITED, f"ComfyUI at {self.channel.base_url} is busy ({running} "
                f"running, {pending} pending; queue_limit {self._queue_limit})",
                code="server_busy", retry_after=_BUSY_RETRY)

    async def _post_prompt(self, body: dict[str, Any], auth: Mapping[str, str],
                           job_id: str) -> dict[str, Any] | UpstreamJob:
        """``POST /prompt``; a 400 names the bad nodes. An unanswered or unreadable
        answer is looked up by our prompt id before it is called ambiguous."""
        try:  # bounded: an endless answer is unreadable (PROTOCOL), not a full memory
            response = await self._http.request_any("POST", self._http.url("prompt"),
                                                    json=body, headers=dict(auth), creates=True)
        except UpstreamError as exc:
            return await self._found_or(exc, job_id, auth)
        if response.status_code == 400 and _has_node_errors(response):
            raise UpstreamError(ErrorKind.REJECTED, wire.rejection(response.json()) or "",
                                status_code=400, code="workflow_invalid")
        if not response.is_success:
            return await self._found_or(upstream_error(response, creates=True), job_id, auth)
        try:
            return json_object(response)
        except UpstreamError as exc:
            return await self._found_or(exc, job_id, auth)

    async def _found_or(self, error: UpstreamError, job_id: str,
                        auth: Mapping[str, str]) -> UpstreamJob:
        if error.kind not in (ErrorKind.AMBIGUOUS, ErrorKind.PROTOCOL):
            raise error
        try:
            found = await self._lookup(job_id, auth)
        except UpstreamError:
            found = None
        if found is None:
            raise error
        log.info("%s: the answer to a submit was lost, but ComfyUI has prompt %s for job %s",
                 self.channel.name, found.upstream_id, job_id)
        return found

    async def _lookup(self, job_id: str, auth: Mapping[str, str]) -> UpstreamJob | None:
        """Our job on this server, by the prompt id we asked for or, on servers that
        chose their own id, by the job id in the prompt's ``extra_data``."""
        prompt_id = prompt_id_for(job_id)
        entry = await self._history(prompt_id, auth)
        if entry is not None:
            return self._from_history(prompt_id, entry)
        state = wire.find_in_queue(await self._queue(auth), prompt_id=prompt_id, job_id=job_id)
        if state is not None:
            return self._from_queue(str(state.item[1]), state, None)
        recent = await self._http.request_json("GET", self._http.url("history"),
                                               headers=dict(auth),
                                               params={"max_items": str(_RECENT_HISTORY)})
        for found_id, entry in recent.items():
            if isinstance(entry, dict) and (found_id == prompt_id or wire.extra_data(
                    entry.get("prompt")).get("reelgate_job_id") == job_id):
                return self._from_history(found_id, entry)
        return None

    async def _history(self, prompt_id: str, auth: Mapping[str, str]) -> dict[str, Any] | None:
        answer = await self._http.request_json(
            "GET", self._http.url(f"history/{prompt_id}"), headers=dict(auth))
        entry = answer.get(prompt_id)
        return entry if isinstance(entry, dict) else None

    async def _queue(self, auth: Mapping[str, str]) -> dict[str, Any]:
        return await self._http.request_json("GET", self._http.url("queue"), headers=dict(auth))

    async def _post(self, path: str, body: dict[str, Any], auth: Mapping[str, str]) -> None:
        await self._http.request("POST", self._http.url(path), json=body, headers=dict(auth))

    async def _forget(self, prompt_id: str, auth: Mapping[str, str]) -> None:
        await self._post("queue", {"delete": [prompt_id]}, auth)
        await self._post("history", {"delete": [prompt_id]}, auth)

    def _listen(self, auth: Mapping[str, str]) -> None:
        if not self._websocket:
            return
        if self.feed is None:
            ws = self._http.base_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
            self.feed = ProgressFeed(f"{ws}/ws?{urlencode({'clientId': self.client_id})}", auth)
        self.feed.start()

    # --- answers -> UpstreamJob ---------------------------------------------------------------

    def _from_queue(self, prompt_id: str, state: wire.QueueState,
                    epoch: int | None) -> UpstreamJob:
        """``epoch``: the websocket connection open when the queue was asked for."""
        if self.feed is not None:
            if state.running:
                self.feed.saw_started(prompt_id)
            else:
                self.feed.saw_pending(prompt_id, epoch)
        if not state.running:  # earlier in the line, a little more "progress"
            return UpstreamJob(prompt_id, UpstreamStatus.QUEUED,
                               progress=max(0, 4 - state.position), raw_status="pending",
                               extra={"queue_position": state.position})
        fraction = self.feed.fraction(prompt_id) if self.feed is not None else None
        progress = 5 + int(90 * fraction) if fraction is not None else 5
        return UpstreamJob(prompt_id, UpstreamStatus.IN_PROGRESS, progress=progress,
                           raw_status="running")

    def _from_history(self, prompt_id: str, entry: Mapping[str, Any]) -> UpstreamJob:
        status = entry.get("status")
        word = str(status.get("status_str") or "") if isinstance(status, dict) else ""
        render = wire.render_seconds(status)  # GPU time, from ComfyUI's own timestamps
        mapped = _STATUS.get(word)
        if mapped is None and not word and entry.get("outputs"):
            mapped = UpstreamStatus.COMPLETED  # servers before status reporting
        if mapped is None:
            log.warning("%s: unknown ComfyUI status %r for prompt %s; treating as in_progress",
                        self.channel.name, word, prompt_id)
            return UpstreamJob(prompt_id, UpstreamStatus.IN_PROGRESS, raw_status=word,
                               render_seconds=render)
        if mapped is UpstreamStatus.FAILED:
            code, message = wire.execution_failure(status)
            return UpstreamJob(prompt_id, mapped, raw_status=word, error_code=code,
                               error_message=message, render_seconds=render)
        node = wire.extra_data(entry.get("prompt")).get("reelgate_output_node")
        found = wire.output_file(entry.get("outputs"), node if isinstance(node, str) else None)
        if found is None:
            where = f"node {node}" if node else "any node"
            return UpstreamJob(prompt_id, UpstreamStatus.FAILED, raw_status=word,
                               error_code="no_video_output", render_seconds=render,
                               error_message=f"The workflow finished but {where} saved no video.")
        url = f"{self._http.url('view')}?{urlencode(found.query)}"
        return UpstreamJob(prompt_id, UpstreamStatus.COMPLETED, progress=100, raw_status=word,
                           result_url=url, render_seconds=render)


def _has_node_errors(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "node_errors" in body


def _gib(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value / 2**30:.1f}"
    return "?"
