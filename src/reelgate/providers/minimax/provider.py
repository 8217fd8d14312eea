"""MiniMax Hailuo: the V1 video API (Hailuo 02 / 2.3) and the V2 one (MiniMax-H3).

The upstream model name picks the API (:func:`~.tasks.is_v2_model`); V2 task ids
are stored as ``v2/<id>`` so every follow-up asks the API that made the task.

V1 is three calls: create, query by task id, then ``files/retrieve`` for the
download URL of the finished file. V2 answers the URL in the task itself. Both
URLs are signed and short-lived (MiniMax says "download promptly"); a link that
has expired by the time the video is copied home is asked for again, once, since
MiniMax hands out a fresh one for as long as it keeps the file. The key only ever
goes to the channel's own origin, never to the storage host behind the link.

V1 has no cancel or delete: deleting a V1 job here leaves the task to finish (and
be billed) upstream. V2 tasks are deleted.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import replace
from typing import Any
from urllib.parse import quote

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
from reelgate.providers.http import UpstreamClient
from reelgate.providers.minimax.errors import check_base_resp, refine
from reelgate.providers.minimax.tasks import (
    V2_PREFIX,
    is_v2_model,
    v1_body,
    v1_job,
    v2_body,
    v2_job,
)

__all__ = ["MiniMaxProvider"]

log = logging.getLogger(__name__)


class MiniMaxProvider:
    """Provider for ``api.minimax.io`` / ``api.minimaxi.com``; one instance per channel."""

    name = "minimax"
    supports_remix = False
    native_variants = frozenset({Variant.VIDEO})

    def __init__(
        self, channel: ChannelSpec, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.channel = channel
        self._http = UpstreamClient(channel, transport=transport)

    @staticmethod
    def _auth(credential: Credential) -> dict[str, str]:
        return {"Authorization": f"Bearer {credential.secret}"}

    async def _call(
        self, method: str, path: str, credential: Credential, *, creates: bool = False,
        lookup: bool = False, check: bool = True, **kwargs: Any,
    ) -> dict[str, Any]:
        """One API call; HTTP errors and (with ``check``) HTTP-200 ``base_resp`` errors
        alike raise."""
        try:
            body = await self._http.request_json(
                method, self._http.url(path), creates=creates,
                headers=self._auth(credential), **kwargs)
        except UpstreamError as exc:
            if exc.status_code is None:
                raise
            raise refine(exc, creates=creates, lookup=lookup) from exc
        if check:
            check_base_resp(body, creates=creates, lookup=lookup)
        return body

    # --- Provider -----------------------------------------------------------------------

    async def submit(self, request: SubmitRequest, credential: Credential) -> UpstreamJob:
        if request.remix_of:
            raise UpstreamError(ErrorKind.REJECTED, "MiniMax cannot remix", code="unsupported")
        v2 = is_v2_model(request.model)
        answer = await self._call(
            "POST", "v2/video_generation" if v2 else "v1/video_generation", credential,
            creates=True, json=v2_body(request) if v2 else v1_body(request))
        task_id = answer.get("task_id")
        if not isinstance(task_id, str | int) or isinstance(task_id, bool) or not str(task_id):
            raise UpstreamError(ErrorKind.PROTOCOL, "video_generation returned no task_id")
        upstream_id = f"{V2_PREFIX}{task_id}" if v2 else str(task_id)
        return UpstreamJob(upstream_id, UpstreamStatus.QUEUED, progress=0, raw_status="queued",
                           seconds=float(request.seconds), size=request.size)

    async def fetch(self, upstream_id: str, credential: Credential) -> UpstreamJob:
        if upstream_id.startswith(V2_PREFIX):
            task_id = upstream_id.removeprefix(V2_PREFIX)
            body = await self._call(
                "GET", f"v2/query/video_generation/{quote(task_id, safe='')}", credential,
                lookup=True)
            return v2_job(body, task_id, upstream=self.channel.name)
        body = await self._call("GET", "v1/query/video_generation", credential, lookup=True,
                                check=False, params={"task_id": upstream_id})
        if "status" not in body:  # not a task: base_resp says why (of a task, how it ended)
            check_base_resp(body, lookup=True)
        job = v1_job(body, upstream_id, upstream=self.channel.name)
        if job.status is not UpstreamStatus.COMPLETED:
            return job
        return replace(job, result_url=await self._download_url(job.extra["file_id"],
                                                                 credential))

    async def _download_url(self, file_id: str, credential: Credential) -> str:
        body = await self._call("GET", "v1/files/retrieve", credential, lookup=True,
                                params={"file_id": file_id})
        file = body.get("file")
        url = file.get("download_url") if isinstance(file, dict) else None
        if not isinstance(url, str) or not url:
            raise UpstreamError(ErrorKind.PROTOCOL, f"files/retrieve gave no download_url "
                                f"for file {file_id}")
        return url

    async def download(
        self, job: UpstreamJob, variant: Variant, credential: Credential
    ) -> AsyncIterator[bytes]:
        """Stream the video; a link that expired before a byte came is renewed once."""
        if variant is not Variant.VIDEO:
            raise UpstreamError(ErrorKind.NOT_FOUND, f"MiniMax serves no {variant.value}")
        if job.result_url:
            started = False
            try:
                async with aclosing(self._stream(job.result_url, credential)) as chunks:
                    async for chunk in chunks:
                        started = True
                        yield chunk
                return
            except UpstreamError as exc:
                if started or exc.kind is not ErrorKind.NOT_FOUND:
                    raise
                log.info("%s: the link for %s is gone (%s); asking for a fresh one",
                         self.channel.name, job.upstream_id, exc.message)
        fresh = await self.fetch(job.upstream_id, credential)
        if fresh.status is not UpstreamStatus.COMPLETED or not fresh.result_url:
            raise UpstreamError(ErrorKind.NOT_FOUND,
                                f"{job.upstream_id} has no video any more ({fresh.raw_status})")
        async with aclosing(self._stream(fresh.result_url, credential)) as chunks:
            async for chunk in chunks:
                yield chunk

    def _stream(self, url: str, credential: Credential) -> AsyncGenerator[bytes, None]:
        return self._http.stream(url, auth=self._auth(credential))

    async def delete(self, upstream_id: str, credential: Credential) -> None:
        if not upstream_id.startswith(V2_PREFIX):
            log.info("%s: MiniMax V1 cannot cancel or delete task %s; it runs to its end "
                     "upstream", self.channel.name, upstream_id)
            return
        task_id = quote(upstream_id.removeprefix(V2_PREFIX), safe="")
        try:
            await self._call("DELETE", f"v2/video_generation/{task_id}", credential,
                             lookup=True)
        except UpstreamError as exc:
            if exc.kind is not ErrorKind.NOT_FOUND:
                raise

    async def recover(self, job_id: str, credential: Credential) -> UpstreamJob | None:
        """Tasks carry no client reference, so a lost create cannot be found again."""
        return None

    async def check(self, credential: Credential) -> None:
        """List one V2 task: authenticated, cheap, and creates nothing."""
        await self._call("GET", "v2/query/video_generation", credential,
                         params={"page_num": "1", "page_size": "1"})

    async def aclose(self) -> None:
        await self._http.aclose()
