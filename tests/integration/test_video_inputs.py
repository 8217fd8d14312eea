"""Inputs of the newer Videos API on a live gateway: dated snapshots echoed back,
``input_reference`` as an object (JSON and bracketed multipart), and an
``image_url`` that points into a private network refused without a connection."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.integration.helpers import png, wait_done
from tests.support.server import GatewayProcess

BOUNDARY = "reelgate-test-boundary"


def multipart(fields: list[tuple[str, str]],
              files: list[tuple[str, str, bytes, str]] = ()) -> tuple[bytes, dict[str, str]]:
    """A multipart body with bracketed keys as the SDK writes them, built by hand."""
    out = b""
    for name, value in fields:
        out += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n").encode()
    for name, filename, data, ctype in files:
        out += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n').encode()
        out += data + b"\r\n"
    out += f"--{BOUNDARY}--\r\n".encode()
    return out, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def post(gateway: GatewayProcess, key: str, path: str, *, json: Any = None,
         form: list[tuple[str, str]] | None = None,
         files: list[tuple[str, str, bytes, str]] = ()) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    url = f"{gateway.base_url}{path}"
    if json is not None:
        return httpx.post(url, json=json, headers=headers, timeout=60)
    body, ctype = multipart(form or [], files)
    return httpx.post(url, content=body, headers={**headers, **ctype}, timeout=60)


def test_dated_snapshots_are_echoed_as_the_model(client: openai.OpenAI) -> None:
    for name in ("sora-2-2025-10-06", "sora-2-2025-12-08", "sora-2-pro-2025-10-06"):
        video = client.videos.create(model=name, prompt=f"snapshot {name}", seconds="4",
                                     size="1280x720")
        assert video.model == name
        assert client.videos.retrieve(video.id).model == name
        client.videos.delete(video.id)


def test_remix_keeps_the_snapshot_name(client: openai.OpenAI) -> None:
    source = client.videos.create_and_poll(model="sora-2-2025-12-08", prompt="a snapshot cat",
                                           poll_interval_ms=200)
    assert source.status == "completed" and source.model == "sora-2-2025-12-08"
    remix = client.videos.remix(source.id, prompt="the cat, in the rain")
    assert remix.model == "sora-2-2025-12-08"
    client.videos.delete(remix.id)


def test_image_url_in_bracketed_multipart(gateway: GatewayProcess, api_key: str,
                                          client: openai.OpenAI) -> None:
    url = "data:image/png;base64," + base64.b64encode(png(1280, 720, (10, 40, 220))).decode()
    resp = post(gateway, api_key, "/videos", form=[
        ("prompt", "bracketed reference"), ("size", "1280x720"),
        ("input_reference[image_url]", url)])
    assert resp.status_code == 200, resp.text
    done = wait_done(client, resp.json()["id"])
    assert done.status == "completed"


@pytest.mark.parametrize(("form", "param", "code"), [
    ([("input_reference[file_id]", "file-123")], "input_reference", "unsupported_value"),
    ([("input_reference[image_url]", "data:image/png;base64,@@")], "input_reference",
     "invalid_value"),
    ([("input_reference[image_url]", "data:image/png;base64,"
       + base64.b64encode(b"GIF89a" + b"\0" * 40).decode())], "input_reference",
     "invalid_image_format"),
    ([("input_reference", "not-an-object")], "input_reference", "invalid_type"),
    ([("input_reference[image_url]", "a"), ("input_reference[file_id]", "b")],
     "input_reference", "invalid_type"),
    ([("characters[][id]", "char_a"), ("characters[][id]", "char_b"),
      ("characters[][id]", "char_c")], "characters", "array_above_max_length"),
    ([("characters[][id]", "char_a"), ("characters[][id]", "char_a")], "characters",
     "invalid_value"),
    ([("characters[][name]", "x")], "characters", "invalid_type"),
])
def test_bad_objects_in_bracketed_multipart(gateway: GatewayProcess, api_key: str,
                                            form: list[tuple[str, str]], param: str,
                                            code: str) -> None:
    resp = post(gateway, api_key, "/videos", form=[("prompt", "p"), *form])
    assert resp.status_code == 400, resp.text
    assert (resp.json()["error"]["param"], resp.json()["error"]["code"]) == (param, code)


@pytest.fixture()
def listener() -> Iterator[socket.socket]:
    """A loopback port that would see any connection the gateway made to it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def _connections(sock: socket.socket) -> int:
    seen = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return seen
        conn.close()
        seen += 1


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
@pytest.mark.parametrize("encoding", ["json", "multipart"])
def test_image_url_into_a_private_network_is_never_fetched(
        gateway: GatewayProcess, api_key: str, listener: socket.socket, host: str,
        encoding: str) -> None:
    url = f"http://{host}:{listener.getsockname()[1]}/secret.png"
    if encoding == "json":
        resp = post(gateway, api_key, "/videos",
                    json={"prompt": "ssrf", "input_reference": {"image_url": url}})
    else:
        resp = post(gateway, api_key, "/videos", form=[("prompt", "ssrf"),
                                                       ("input_reference[image_url]", url)])
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == "invalid_url"
    assert resp.json()["error"]["param"] == "input_reference"
    assert _connections(listener) == 0


def test_models_say_what_each_can_do(client: openai.OpenAI, gateway: GatewayProcess,
                                     api_key: str) -> None:
    resp = httpx.get(f"{gateway.base_url}/models", headers={"Authorization": f"Bearer {api_key}"})
    models = {m["id"]: m for m in resp.json()["data"]}
    sora = models["sora-2"]
    assert {"edit", "extend", "characters", "remix"} <= set(sora["operations"])
    assert set(sora["available_operations"]) == set(sora["operations"])  # the local renderer
    assert sora["extension_seconds"] == ["4", "8", "12", "16", "20"]
    assert (sora["max_extensions"], sora["max_total_seconds"]) == (6, 120)
    assert "sora-2-2025-12-08" in sora["aliases"]
    veo = models["veo-3.1"]
    assert "remix" not in veo["operations"] and "remix" not in veo["available_operations"]
