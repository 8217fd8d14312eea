"""Inputs that once reached a 500 (or were silently misread) are 4xx in OpenAI's envelope.

Each case is a finding of the hardening probe (issue 17): a decompression-bomb PNG,
nesting deep enough to exhaust the parser's stack, ``"model": null``, a lone surrogate,
bytes that are not UTF-8 in a form field, a JSON body far over ``max_json_bytes``, and
a header of a megabyte. All run against a real ``reelgate serve`` on loopback.
"""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from tests.support.server import TEST_DATABASE, GatewayProcess

BOUNDARY = "hardenboundary"


def _envelope(resp: httpx.Response, status: int, code: str, param: str | None = None) -> None:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert (err["type"], err["code"], err["param"]) == ("invalid_request_error", code, param)
    assert err["message"]


def _auth(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **extra}


def _post(gateway: GatewayProcess, key: str, content: bytes, ctype: str,
          path: str = "/videos") -> httpx.Response:
    return httpx.post(gateway.base_url + path, content=content,
                      headers=_auth(key, **{"Content-Type": ctype}), timeout=60)


def test_a_decompression_bomb_png_is_a_400(gateway: GatewayProcess, api_key: str) -> None:
    buf = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buf, "PNG")  # ~50 KB claiming 400 M pixels
    resp = httpx.post(gateway.base_url + "/videos", data={"prompt": "p", "size": "720x1280"},
                      files={"input_reference": ("bomb.png", buf.getvalue(), "image/png")},
                      headers=_auth(api_key), timeout=60)
    _envelope(resp, 400, "invalid_image_dimensions", "input_reference")


def _nested(depth: int) -> bytes:
    return b'{"prompt": "p", "size": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("depth", [100_000, 5_000])
def test_deeply_nested_json_create_is_a_400(gateway: GatewayProcess, api_key: str,
                                            depth: int) -> None:
    _envelope(_post(gateway, api_key, _nested(depth), "application/json"), 400, "invalid_json")


def test_nesting_the_parser_accepts_is_still_a_clean_400(gateway: GatewayProcess,
                                                         api_key: str) -> None:
    resp = _post(gateway, api_key, _nested(500), "application/json")
    _envelope(resp, 400, "invalid_type", "size")


def test_deeply_nested_json_remix_is_a_400(gateway: GatewayProcess, api_key: str,
                                           client: openai.OpenAI) -> None:
    video = client.videos.create_and_poll(prompt="nested remix source", poll_interval_ms=200)
    assert video.status == "completed"
    resp = _post(gateway, api_key, _nested(100_000), "application/json",
                 path=f"/videos/{video.id}/remix")
    _envelope(resp, 400, "invalid_json")


def test_model_null_means_the_default_model(gateway: GatewayProcess, api_key: str) -> None:
    resp = httpx.post(gateway.base_url + "/videos", json={"prompt": "p", "model": None},
                      headers=_auth(api_key))
    assert resp.status_code == 200, resp.text
    assert resp.json()["model"] == "sora-2"


@pytest.mark.parametrize("text", [r"a\ud800b", r"\udfff", r"x\ud83d"])
def test_a_lone_surrogate_in_the_prompt_is_a_400(gateway: GatewayProcess, api_key: str,
                                                 text: str) -> None:
    body = b'{"prompt": "' + text.encode() + b'"}'
    _envelope(_post(gateway, api_key, body, "application/json"), 400, "invalid_json")


def test_a_surrogate_pair_is_a_real_character(gateway: GatewayProcess, api_key: str) -> None:
    resp = _post(gateway, api_key, rb'{"prompt": "a fox \ud83e\udd8a"}', "application/json")
    assert resp.status_code == 200, resp.text
    got = httpx.get(f"{gateway.base_url}/videos/{resp.json()['id']}", headers=_auth(api_key))
    assert got.json()["prompt"] == "a fox \N{FOX FACE}"


def _multipart(fields: dict[str, bytes], charset: str = "") -> tuple[bytes, str]:
    parts = b"".join(b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: form-data; name=\""
                     + name.encode() + b"\"\r\n\r\n" + value + b"\r\n"
                     for name, value in fields.items())
    ctype = f"multipart/form-data; boundary={BOUNDARY}" + (f"; charset={charset}" if charset
                                                           else "")
    return parts + f"--{BOUNDARY}--\r\n".encode(), ctype


def test_invalid_utf8_in_a_multipart_field_is_a_400(gateway: GatewayProcess,
                                                    api_key: str) -> None:
    body, ctype = _multipart({"prompt": b"caf\xe9 \xff\xfe"})
    _envelope(_post(gateway, api_key, body, ctype), 400, "invalid_encoding", "prompt")


def test_utf8_multipart_fields_are_read_as_utf8(gateway: GatewayProcess, api_key: str) -> None:
    body, ctype = _multipart({"prompt": "café, 狐".encode()})
    resp = _post(gateway, api_key, body, ctype)
    assert resp.status_code == 200, resp.text
    assert resp.json()["prompt"] == "café, 狐"


def test_a_declared_charset_is_honoured(gateway: GatewayProcess, api_key: str) -> None:
    body, ctype = _multipart({"prompt": "café".encode("latin-1")}, charset="latin-1")
    resp = _post(gateway, api_key, body, ctype)
    assert resp.status_code == 200, resp.text
    assert resp.json()["prompt"] == "café"


@pytest.mark.parametrize("body", [b"prompt=caf%E9", b"prompt=\xff", b"prompt%FF=x"])
def test_invalid_utf8_in_an_urlencoded_field_is_a_400(gateway: GatewayProcess, api_key: str,
                                                      body: bytes) -> None:
    resp = _post(gateway, api_key, body, "application/x-www-form-urlencoded")
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == "invalid_encoding"


def test_a_10_mb_json_body_is_a_413(gateway: GatewayProcess, api_key: str) -> None:
    body = json.dumps({"prompt": "p" * (10 << 20)}).encode()
    _envelope(_post(gateway, api_key, body, "application/json"), 413, "payload_too_large")


def test_a_chunked_json_body_over_the_limit_is_a_413(gateway: GatewayProcess,
                                                     api_key: str) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted as it arrives
        yield b'{"prompt": "'
        for _ in range(40):
            yield b"p" * (64 << 10)
        yield b'"}'

    resp = httpx.post(gateway.base_url + "/videos", content=chunks(), timeout=60,
                      headers=_auth(api_key, **{"Content-Type": "application/json"}))
    _envelope(resp, 413, "payload_too_large")


def test_a_json_body_under_the_limit_is_read(gateway: GatewayProcess, api_key: str) -> None:
    body = json.dumps({"prompt": "p" * 30_000}).encode()  # the prompt limit, not the body's
    assert _post(gateway, api_key, body, "application/json").status_code == 200


def test_a_multipart_body_may_still_carry_a_large_file(gateway: GatewayProcess,
                                                       api_key: str) -> None:
    junk = b"\x89PNG\r\n\x1a\n" + b"\0" * (3 << 20)  # 3 MB: over the JSON limit
    resp = httpx.post(gateway.base_url + "/videos", data={"prompt": "p"}, timeout=60,
                      files={"input_reference": ("r.png", junk)}, headers=_auth(api_key))
    _envelope(resp, 400, "invalid_image", "input_reference")  # read whole, then judged


@pytest.mark.parametrize("size", [1 << 20, 40 << 10])
def test_an_oversized_header_is_a_431(gateway: GatewayProcess, size: int) -> None:
    resp = httpx.get(gateway.base_url + "/videos", timeout=60,
                     headers={"Authorization": "Bearer " + "a" * size})
    _envelope(resp, 431, "request_header_fields_too_large")


def test_a_normal_header_is_still_read(gateway: GatewayProcess) -> None:
    resp = httpx.get(gateway.base_url + "/videos", headers={"Authorization": "Bearer " +
                                                            "a" * (8 << 10)})
    _envelope(resp, 401, "invalid_api_key")


def test_a_header_that_never_ends_is_cut_off(gateway: GatewayProcess) -> None:
    """Sent a little at a time, with no end of line: refused once past the limit, not
    buffered until the client stops."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=60) as sock:
        sock.sendall(b"GET /v1/videos HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ")
        answer = b""
        try:
            for _ in range(200):  # 200 x 1 KB, far past the 32 KB limit
                sock.sendall(b"a" * 1024)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server has answered and closed
        while chunk := _recv(sock):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431"), answer[:200]
    assert json.loads(body)["error"]["code"] == "request_header_fields_too_large"


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""


def _keepalive_requests(gateway: GatewayProcess, key: str) -> list[Any]:
    with httpx.Client(headers=_auth(key)) as c:
        return [c.get(gateway.base_url + "/videos").status_code for _ in range(5)]


def test_keep_alive_requests_are_counted_one_by_one(gateway: GatewayProcess,
                                                    api_key: str) -> None:
    """The head limit is per request: many small requests on one connection pass."""
    assert _keepalive_requests(gateway, api_key) == [200] * 5


# NUL: PostgreSQL can neither store nor compare text holding U+0000 (the fuzzer's find)
@pytest.mark.parametrize(("path", "param"), [
    ("/videos/video_%00x", None),
    ("/videos?after=video_%00", "after"),
    ("/billing/ledger?job_id=a%00b", "job_id"),
    ("/models/sora%002", None),
])
def test_a_nul_in_the_url_is_a_400(gateway: GatewayProcess, api_key: str, path: str,
                                   param: str | None) -> None:
    resp = httpx.get(gateway.base_url + path, headers=_auth(api_key))
    _envelope(resp, 400, "invalid_value", param)


def test_a_nul_in_a_json_field_is_a_400(gateway: GatewayProcess, api_key: str) -> None:
    resp = httpx.post(gateway.base_url + "/videos", json={"prompt": "a\u0000b"},
                      headers=_auth(api_key))
    _envelope(resp, 400, "invalid_value", "prompt")


def test_a_backslash_u0000_spelled_out_is_just_text(gateway: GatewayProcess,
                                                    api_key: str) -> None:
    resp = httpx.post(gateway.base_url + "/videos", json={"prompt": "say \\u0000"},
                      headers=_auth(api_key))
    assert resp.status_code == 200, resp.text
    assert resp.json()["prompt"] == "say \\u0000"


def test_a_nul_in_a_form_field_is_a_400(gateway: GatewayProcess, api_key: str) -> None:
    body, ctype = _multipart({"prompt": b"a\x00b"})
    _envelope(_post(gateway, api_key, body, ctype), 400, "invalid_encoding", "prompt")


def test_a_nul_in_an_admin_body_is_never_a_500(gateway: GatewayProcess) -> None:
    token = (gateway.data_dir / "admin.token").read_text().strip()
    resp = httpx.post(f"{gateway.root_url}/admin/api/tenants", json={"name": "a\u0000b"},
                      headers={"Authorization": f"Bearer {token}"})
    if TEST_DATABASE == "postgres":  # SQLite stores the NUL; PostgreSQL refuses it: a 400
        _envelope(resp, 400, "invalid_value")
    else:
        assert resp.status_code == 201, resp.text
