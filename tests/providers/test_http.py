"""The single error mapper, the status vocabulary and the streaming helper."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx
import pytest

from reelgate.providers.base import ChannelSpec, ErrorKind, UpstreamError, UpstreamStatus
from reelgate.providers.http import (
    UpstreamClient,
    json_object,
    map_status,
    parse_progress,
    parse_retry_after,
    upstream_error,
)

REQ = httpx.Request("POST", "https://up.example/v1/videos")


def response(
    status: int, body: Any = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    if isinstance(body, (dict, list)):
        return httpx.Response(status, json=body, headers=headers, request=REQ)
    return httpx.Response(status, text=body or "", headers=headers, request=REQ)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ErrorKind.REJECTED),
        (401, ErrorKind.AUTH),
        (403, ErrorKind.AUTH),
        (404, ErrorKind.NOT_FOUND),
        (410, ErrorKind.NOT_FOUND),
        (409, ErrorKind.REJECTED),
        (422, ErrorKind.REJECTED),
        (500, ErrorKind.UNAVAILABLE),
        (502, ErrorKind.UNAVAILABLE),
        (503, ErrorKind.UNAVAILABLE),
    ],
)
def test_status_kinds(status: int, kind: ErrorKind) -> None:
    error = upstream_error(response(status, {"error": {"message": "m"}}), creates=True)
    assert error.kind is kind
    assert error.status_code == status


def test_gateway_timeout_is_ambiguous_only_for_creates() -> None:
    assert upstream_error(response(504, "upstream timed out"), creates=True).kind is (
        ErrorKind.AMBIGUOUS
    )
    assert upstream_error(response(504, "upstream timed out")).kind is ErrorKind.UNAVAILABLE


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_rate_limit_retry_after(headers: dict[str, str], expected: float | None) -> None:
    error = upstream_error(response(429, {"error": {"message": "slow down"}}, headers))
    assert error.kind is ErrorKind.RATE_LIMITED
    assert error.retry_after == expected
    assert error.accepted_impossible


def test_retry_after_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    value = parse_retry_after(httpx.Headers({"Retry-After": when}))
    assert value is not None and 25 <= value <= 31


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            {"error": {"message": "bad size", "type": "invalid_request_error", "code": "bad_size"}},
            "bad_size",
            "bad size",
        ),
        (
            {"error": {"message": "no", "type": "invalid_request_error", "code": None}},
            "invalid_request_error",
            "no",
        ),
        ({"error": {"code": 400, "message": "bad ratio", "status": "INVALID_ARGUMENT"}},
         "INVALID_ARGUMENT", "bad ratio"),
        ({"error": {"code": "InvalidParameter", "message": "duration"}}, "InvalidParameter",
         "duration"),
        ({"code": "quota", "message": "relay says no"}, "quota", "relay says no"),
        ("<html>nginx</html>", None, "<html>nginx</html>"),
    ],
)  # fmt: skip
def test_rejection_keeps_upstream_code_and_message(body: Any, code: str, message: str) -> None:
    error = upstream_error(response(400, body))
    assert error.kind is ErrorKind.REJECTED
    assert (error.code, error.message) == (code, message)


def test_google_bad_key_400_is_auth() -> None:
    body = {
        "error": {
            "code": 400,
            "message": "API key not valid.",
            "status": "INVALID_ARGUMENT",
            "details": [{"reason": "API_KEY_INVALID"}],
        }
    }
    error = upstream_error(response(400, body))
    assert (error.kind, error.code) == (ErrorKind.AUTH, "API_KEY_INVALID")


@pytest.mark.parametrize(
    ("exc", "creates", "kind"),
    [
        (httpx.ConnectError("refused"), True, ErrorKind.UNAVAILABLE),
        (httpx.ConnectTimeout("slow dns"), True, ErrorKind.UNAVAILABLE),
        (httpx.ReadTimeout("no answer"), True, ErrorKind.AMBIGUOUS),
        (httpx.ReadTimeout("no answer"), False, ErrorKind.UNAVAILABLE),
        (httpx.RemoteProtocolError("disconnected"), True, ErrorKind.AMBIGUOUS),
        (httpx.ReadError("reset"), False, ErrorKind.UNAVAILABLE),
        (httpx.WriteTimeout("stuck"), True, ErrorKind.AMBIGUOUS),
    ],
)
def test_transport_kinds(exc: httpx.HTTPError, creates: bool, kind: ErrorKind) -> None:
    assert upstream_error(exc, creates=creates).kind is kind


def test_unparseable_json_is_protocol() -> None:
    with pytest.raises(UpstreamError) as caught:
        json_object(response(200, '{"id": "vid'))
    assert caught.value.kind is ErrorKind.PROTOCOL
    with pytest.raises(UpstreamError):
        json_object(response(200, ["not", "an", "object"]))


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("pending", UpstreamStatus.QUEUED),
        ("NOT_START", UpstreamStatus.QUEUED),
        ("submitted", UpstreamStatus.QUEUED),
        ("processing", UpstreamStatus.IN_PROGRESS),
        ("generating", UpstreamStatus.IN_PROGRESS),
        ("in-progress", UpstreamStatus.IN_PROGRESS),
        ("succeeded", UpstreamStatus.COMPLETED),
        ("SUCCESS", UpstreamStatus.COMPLETED),
        ("done", UpstreamStatus.COMPLETED),
        ("failure", UpstreamStatus.FAILED),
        ("canceled", UpstreamStatus.FAILED),
        ("expired", UpstreamStatus.FAILED),
        ("unknown", UpstreamStatus.IN_PROGRESS),
        ("created", UpstreamStatus.IN_PROGRESS),
        ("", UpstreamStatus.IN_PROGRESS),
    ],
)
def test_status_vocabulary(word: str, status: UpstreamStatus) -> None:
    assert map_status(word, upstream="t", job="j") is status


def test_unknown_status_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    map_status("weird", upstream="relay-1", job="task_1")
    assert "weird" in caplog.text and "task_1" in caplog.text


@pytest.mark.parametrize(
    ("value", "expected"),
    [(45, 45), (45.6, 46), ("45%", 45), (" 80 % ", 80), ("12", 12), (150, 100), (-3, 0),
     ("n/a", None), (None, None), (True, None), (float("nan"), None)],
)  # fmt: skip
def test_progress_forms(value: Any, expected: int | None) -> None:
    assert parse_progress(value) == expected


def _client(handler: Any) -> UpstreamClient:
    channel = ChannelSpec("c", "c", "openai", "https://api.example/v1")
    return UpstreamClient(channel, transport=httpx.MockTransport(handler))


async def test_stream_follows_redirects_without_leaking_the_key() -> None:
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.headers.get("authorization")))
        if request.url.host == "api.example":
            return httpx.Response(302, headers={"location": "https://cdn.example/v.mp4?sig=1"})
        return httpx.Response(200, content=b"x" * 200_000, headers={"content-type": "video/mp4"})

    client = _client(handler)
    chunks = [
        c
        async for c in client.stream(
            client.url("videos/v/content"), auth={"authorization": "Bearer k"}
        )
    ]
    await client.aclose()
    assert sum(map(len, chunks)) == 200_000 and len(chunks) > 1
    assert seen == [("api.example", "Bearer k"), ("cdn.example", None)]


async def test_stream_keeps_the_signature_of_a_signed_url() -> None:
    """A presigned result URL is its query string: dropping it makes every link "expired"."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.query.decode())
        return httpx.Response(200, content=b"x", headers={"content-type": "video/mp4"})

    client = _client(handler)
    signed = "https://cdn.example/v.mp4?X-Amz-Expires=60&X-Amz-Signature=ab%2Fc"
    assert [c async for c in client.stream(signed)] == [b"x"]
    assert [c async for c in client.stream(signed, params={"alt": "media"})] == [b"x"]
    await client.aclose()
    assert seen == ["X-Amz-Expires=60&X-Amz-Signature=ab%2Fc",
                    "X-Amz-Expires=60&X-Amz-Signature=ab%2Fc&alt=media"]


@pytest.mark.parametrize(
    ("status", "host", "kind"),
    [(403, "cdn.example", ErrorKind.NOT_FOUND), (403, "api.example", ErrorKind.AUTH),
     (410, "cdn.example", ErrorKind.NOT_FOUND), (503, "cdn.example", ErrorKind.UNAVAILABLE)],
)  # fmt: skip
async def test_stream_errors(status: int, host: str, kind: ErrorKind) -> None:
    client = _client(lambda request: httpx.Response(status, text="Request has expired"))
    with pytest.raises(UpstreamError) as caught:
        async for _ in client.stream(f"https://{host}/v.mp4", auth={"authorization": "Bearer k"}):
            pass
    await client.aclose()
    assert caught.value.kind is kind


async def test_stream_refuses_json_dressed_as_media() -> None:
    client = _client(lambda request: httpx.Response(200, json={"error": "not ready"}))
    with pytest.raises(UpstreamError) as caught:
        async for _ in client.stream("https://api.example/v1/videos/v/content"):
            pass
    await client.aclose()
    assert caught.value.kind is ErrorKind.PROTOCOL


async def test_stream_redirect_loop_is_protocol() -> None:
    client = _client(lambda request: httpx.Response(302, headers={"location": "/again"}))
    with pytest.raises(UpstreamError) as caught:
        async for _ in client.stream("https://api.example/start"):
            pass
    await client.aclose()
    assert caught.value.kind is ErrorKind.PROTOCOL


async def test_read_timeout_option() -> None:
    channel = ChannelSpec("c", "c", "openai", "https://api.example/v1", {"read_timeout": 2.5})
    client = UpstreamClient(channel)
    assert (client.client.timeout.read, client.client.timeout.connect) == (2.5, 5.0)
    assert client._origin_client is not None
    assert client._origin_client.read_timeout == 2.5
    await client.aclose()


def _request_parts(head: bytes, body: bytes) -> tuple[str, dict[str, str], bytes]:
    lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.lower().split(": ", 1) for line in lines[1:] if line)
    return lines[0], {k: fields[k] for k in ("authorization", "content-type") if k in fields}, body


@pytest.mark.parametrize("kwargs", [
    {"json": {"prompt": "ünïcode", "seconds": "4", "n": [1, 2]}},
    {"content": b'{"raw": true}', "headers": {"content-type": "application/json"}},
    {"params": {"api-version": "2025 preview", "a": "1/2"}},
    {"json": {"a": 1}, "headers": {"Content-Type": "application/vnd+json"}},
], ids=["json", "content", "params", "own-content-type"])
async def test_the_channels_origin_is_sent_the_same_request_httpx_would_send(
        kwargs: dict[str, Any]) -> None:
    """Polls and submits to the channel's own base URL go through the lean origin client;
    what the upstream receives is what httpx sent for the same call."""
    from reelgate.net.policy import OutboundPolicy
    from reelgate.net.transport import GuardedTransport
    from tests.net.support import Scripted, ok

    async with Scripted(lambda head, body: ok(b'{"id":"v1"}')) as server:
        base = f"http://127.0.0.1:{server.port}/v1"
        channel = ChannelSpec("c", "c", "openai", base, {})
        lean = UpstreamClient(channel)
        plain = UpstreamClient(channel, transport=GuardedTransport(
            OutboundPolicy.for_channel(base, {})))
        assert plain._origin_client is None
        answers = []
        for client in (lean, plain):
            headers = {"authorization": "Bearer k", **kwargs.get("headers", {})}
            answers.append(await client.request_json(
                "POST", client.url("videos?x=1"), headers=headers,
                **{k: v for k, v in kwargs.items() if k != "headers"}))
            await client.aclose()
    assert answers == [{"id": "v1"}] * 2
    sent = [_request_parts(head, body) for head, body in server.requests]
    assert sent[0] == sent[1]
    assert server.connections == 2


async def test_only_the_origin_and_plain_bodies_take_the_lean_client() -> None:
    """Multipart bodies and other hosts keep httpx (and its guard): the lean client's
    connection count stays at the requests it was given."""
    from tests.net.support import Scripted, ok

    async with Scripted(lambda head, body: ok(b'{"id":"v1"}')) as server:
        channel = ChannelSpec("c", "c", "openai", f"http://127.0.0.1:{server.port}/v1", {})
        client = UpstreamClient(channel)
        assert client._origin_client is not None
        await client.request_json("POST", client.url("videos"),
                                  files={"input_reference": ("a.png", b"png", "image/png")},
                                  data={"prompt": "p"})
        assert client._origin_client._idle == []  # httpx carried the multipart one
        await client.request_json("GET", client.url("videos/v1"))
        assert len(client._origin_client._idle) == 1
        with pytest.raises(UpstreamError) as caught:  # another host: guarded, refused
            await client.request_json("GET", f"http://127.0.0.2:{server.port}/v1/videos")
        await client.aclose()
    assert caught.value.code == "upstream_url_refused"
    assert b"multipart/form-data" in server.requests[0][0]
