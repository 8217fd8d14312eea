"""Live status over SSE, with the job run by a separate `reelgate worker` process.

The API process runs with --no-worker, so every change the stream reports was made
by another process and can only have been seen through the database.
"""

from __future__ import annotations

import json

import httpx
import openai

from tests.support.server import GatewayProcess


def read_events(url: str, key: str, timeout: float = 90.0) -> list[tuple[str, dict[str, object]]]:
    """Parse an SSE stream into (event name, data) pairs until the server closes it."""
    events: list[tuple[str, dict[str, object]]] = []
    name, data = "message", ""
    with httpx.stream("GET", url, headers={"authorization": f"Bearer {key}"},
                      timeout=timeout) as resp:
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
            elif line == "" and data:
                events.append((name, json.loads(data)))
                name, data = "message", ""
    return events


def test_sse_follows_a_job_run_by_another_process(split: GatewayProcess) -> None:
    key = split.create_key("sse", tenant="watchers")
    client = openai.OpenAI(api_key=key, base_url=split.base_url, max_retries=0)
    # long enough (12 s at 1080p) that the stream's 0.5 s checks see it rendering
    video = client.videos.create(model="sora-2-pro", prompt="clouds over a ridge",
                                 seconds="12", size="1920x1080")
    events = read_events(f"{split.base_url}/videos/{video.id}/events", key)
    names = [n for n, _ in events]
    assert names[0] == "queued" and names[-1] == "completed", names
    assert "in_progress" in names, names
    first_done = names.index("completed")
    assert first_done == len(names) - 1  # the stream ends at the terminal state
    assert names.index("queued") < names.index("in_progress") < first_done
    for name, data in events:
        assert data["id"] == video.id and data["object"] == "video"
        assert data["status"] == name
    progress = [int(str(d["progress"])) for _, d in events]
    assert progress == sorted(progress) and progress[-1] == 100
    assert events[-1][1]["completed_at"] is not None
    # a finished job answers with its final state at once
    again = read_events(f"{split.base_url}/videos/{video.id}/events", key, timeout=10)
    assert [n for n, _ in again] == ["completed"]
    # the worker's log lines about this job carry its id as a field
    lines = [json.loads(x) for x in (split.data_dir / "worker.log").read_text().splitlines()
             if x.startswith("{")]
    assert any(rec.get("job_id") == video.id for rec in lines), lines[-5:]


def test_sse_is_scoped_to_the_tenant_and_rejects_bad_requests(split: GatewayProcess) -> None:
    owner = split.create_key("owner", tenant="sse-owner")
    intruder = split.create_key("intruder", tenant="sse-intruder")
    client = openai.OpenAI(api_key=owner, base_url=split.base_url, max_retries=0)
    video = client.videos.create(model="sora-2", prompt="private stream", seconds="4")
    url = f"{split.base_url}/videos/{video.id}/events"
    resp = httpx.get(url, headers={"authorization": f"Bearer {intruder}"}, timeout=10)
    assert resp.status_code == 404
    assert resp.json()["error"]["param"] == "video_id"
    missing = httpx.get(f"{split.base_url}/videos/video_nope/events",
                        headers={"authorization": f"Bearer {owner}"}, timeout=10)
    assert missing.status_code == 404
    anon = httpx.get(url, timeout=10)
    assert anon.status_code == 401 and anon.json()["error"]["code"] == "missing_api_key"
    events = read_events(url, owner)
    assert events[-1][0] == "completed"

