"""Alibaba Wan on DashScope (Model Studio): asynchronous video-synthesis tasks.

``POST /api/v1/services/aigc/video-generation/video-synthesis`` with
``X-DashScope-Async: enable`` (DashScope refuses synchronous calls) creates a task,
``GET /api/v1/tasks/{task_id}`` reads it, ``POST /api/v1/tasks/{task_id}/cancel``
cancels it while it is still PENDING. ``Authorization: Bearer <key>``. The base URL
is the region's host: ``https://dashscope-intl.aliyuncs.com`` (Singapore; or the
workspace's ``https://{WorkspaceId}.ap-southeast-1.maas.aliyuncs.com``),
``https://dashscope-us.aliyuncs.com`` (Virginia), ``https://dashscope.aliyuncs.com``
(Beijing); keys work only in their own region. A trailing ``/api/v1`` is tolerated.

Errors can arrive with HTTP 200, so every body is checked for a top-level ``code``
(:mod:`.errors`). Task ids and result links last 24 hours: the video is copied home
at once, and a link found expired fails the copy (DashScope hands out no fresh one).
DashScope takes no client reference, so a create lost in a crash cannot be found.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from reelgate.providers.base import (
    ChannelSpec,
    Credential,
    ErrorKind,
    SubmitRequest,
    UpstreamError,
    UpstreamJob,
)
from reelgate.providers.dashscope.errors import body_error, refine
from reelgate.providers.dashscope.tasks import create_body, task_job
from reelgate.providers.hosted import HostedProvider
from reelgate.providers.http import (
    json_object,
    parse_retry_after,
    upstream_error,
)

__all__ = ["DashScopeProvider"]

log = logging.getLogger(__name__)

CREATE_PATH = "api/v1/services/aigc/video-generation/video-synthesis"


def _api_root(base_url: str) -> str:
    return base_url.rstrip("/").removesuffix("/api/v1")


class DashScopeProvider(HostedProvider):
    """Provider for DashScope's video synthesis; one instance per channel."""

    name = "dashscope"
    label = "DashScope"

    @staticmethod
    def _client_channel(channel: ChannelSpec) -> ChannelSpec:
        return replace(channel, base_url=_api_root(channel.base_url))

    def _task_url(self, task_id: str, *rest: str) -> str:
        return self._http.url("/".join(("api/v1/tasks", quote(task_id, safe=""), *rest)))

    async def _call(self, method: str, url: str, credential: Credential, *,
                    creates: bool = False, headers: dict[str, str] | None = None,
                    **kwargs: Any) -> dict[str, Any]:
        """One bounded request; an error is raised whether it came as a real HTTP
        error or as a 200 whose body carries a ``code``."""
        response = await self._http.request_any(
            method, url, creates=creates, headers={**self._auth(credential), **(headers or {})},
            **kwargs)
        if not response.is_success:
            raise refine(upstream_error(response, creates=creates), creates=creates)
        body = json_object(response)
        error = body_error(body, status=response.status_code, creates=creates)
        if error is not None:
            error.retry_after = parse_retry_after(response.headers)
            raise error
        return body

    # --- Provider protocol --------------------------------------------------------------

    async def submit(self, request: SubmitRequest, credential: Credential) -> UpstreamJob:
        if request.remix_of:
            raise UpstreamError(ErrorKind.REJECTED, "DashScope cannot remix", code="unsupported")
        body = create_body(request)
        answer = await self._call("POST", self._http.url(CREATE_PATH), credential, creates=True,
                                  headers={"X-DashScope-Async": "enable"}, json=body)
        output = answer.get("output")
        task_id = output.get("task_id") if isinstance(output, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise UpstreamError(ErrorKind.PROTOCOL, "video-synthesis returned no task_id",
                                status_code=200)
        job = task_job(answer, task_id, upstream=self.channel.name)
        return replace(job, seconds=job.seconds or float(request.seconds),
                       size=job.size or request.size)

    async def fetch(self, upstream_id: str, credential: Credential) -> UpstreamJob:
        body = await self._call("GET", self._task_url(upstream_id), credential)
        return task_job(body, upstream_id, upstream=self.channel.name)

    async def delete(self, upstream_id: str, credential: Credential) -> None:
        """Cancel the task; DashScope cancels only PENDING ones, and its refusal of a
        running or finished task is logged and accepted: nothing more can be asked."""
        try:
            await self._call("POST", self._task_url(upstream_id, "cancel"), credential)
        except UpstreamError as exc:
            if exc.kind is not ErrorKind.REJECTED:
                raise
            log.info("%s: DashScope would not cancel %s: %s", self.channel.name, upstream_id,
                     exc.message)

    async def recover(self, job_id: str, credential: Credential) -> UpstreamJob | None:
        """Tasks carry no client reference, so a lost create cannot be found again."""
        return None

    async def check(self, credential: Credential) -> None:
        """Look up a task that cannot exist: authenticated, free, creates nothing.
        DashScope answers ``UNKNOWN`` for it; anything else is not DashScope."""
        body = await self._call("GET", self._task_url(str(uuid.uuid4())), credential)
        output = body.get("output")
        if not isinstance(output, dict) or "task_status" not in output:
            raise UpstreamError(ErrorKind.PROTOCOL,
                                "the base URL answered, but not with a DashScope task")

    async def aclose(self) -> None:
        await self._http.aclose()
