"""A job whose only channel's upstream is down: why it waits is visible (the channel's
name and "connection refused" on the job, in the admin API and UI, in the timeline),
and past the submit deadline it fails with ``no_channel_accepted``, refunded once.

The upstream is a closed port on loopback: every connection to it is refused.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import openai
import pytest

from tests.integration.helpers import wait_done
from tests.support.server import GatewayProcess, free_port

ADMIN = "rg-admin-stuck-tests"
T = TypeVar("T")


def _gateway(data_dir: Path, **env: str) -> GatewayProcess:
    gw = GatewayProcess(data_dir, env={"REELGATE_LOCAL_CHANNEL": "off",
                                       "REELGATE_ADMIN_TOKEN": ADMIN, **env})
    gw.start()
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    gw.cli("channels", "add", "dead-relay", "--provider", "openai", "--base-url", dead,
           "--key", "sk-upstream-never-reached")
    return gw


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """The default submit deadline (10 minutes): a job here stays queued."""
    gw = _gateway(tmp_path_factory.mktemp("patient"))
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gw = _gateway(tmp_path_factory.mktemp("impatient"),
                  REELGATE_SUBMIT_DEADLINE_SECONDS="3")
    yield gw
    gw.stop()


def admin(gw: GatewayProcess, path: str, **params: Any) -> Any:
    resp = httpx.get(f"{gw.root_url}/admin/api{path}", params=params, timeout=30,
                     headers={"Authorization": f"Bearer {ADMIN}"})
    assert resp.status_code == 200, resp.text
    return resp.json()


def eventually(check: Callable[[], T | None], what: str, timeout: float = 120.0) -> T:
    deadline = time.monotonic() + timeout
    while (found := check()) is None:
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return found


def _prepaid_client(gw: GatewayProcess, tenant: str) -> openai.OpenAI:
    gw.cli("tenants", "create", tenant, "--balance", "10")
    secret = gw.cli("keys", "create", "--name", "k", "--tenant", tenant).strip().splitlines()[-1]
    return openai.OpenAI(api_key=secret, base_url=gw.base_url, max_retries=0)


def test_a_stuck_job_says_which_channel_refused_it_and_why(patient: GatewayProcess) -> None:
    client = _prepaid_client(patient, "stuck")
    video = client.videos.create(model="sora-2", prompt="a fox, stuck", seconds="4",
                                 size="1280x720")

    def refused() -> dict[str, Any] | None:
        job: dict[str, Any] = admin(patient, f"/jobs/{video.id}")
        return job if job["last_submit_refusal"] else None

    job = eventually(refused, "a refused submit on the job")
    why = job["last_submit_refusal"]
    assert why["channel"] == "dead-relay" and "connection refused" in why["reason"]
    assert job["state"] == "queued"
    rejected = [e for e in job["events"] if e["kind"] == "submit_rejected"]
    assert rejected and rejected[0]["detail"]["channel"] == "dead-relay"
    assert "connection refused" in rejected[0]["detail"]["reason"]
    listed = admin(patient, "/jobs", status="queued")["data"]
    assert next(j for j in listed if j["id"] == video.id)["last_submit_refusal"]["channel"] \
        == "dead-relay"
    seen = client.videos.retrieve(video.id)  # the public object stays OpenAI's shape
    assert (seen.status, seen.error) == ("queued", None)
    assert "last_submit_refusal" not in seen.model_dump()

    web = httpx.Client(base_url=patient.root_url, timeout=30)
    form = web.get("/admin/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    assert web.post("/admin/login", data={"token": ADMIN, "csrf": token.group(1)}
                    ).status_code == 303
    page = web.get(f"/admin/jobs/{video.id}").text
    shown = page.split('id="last-refusal"', 1)[1].split("</dd>", 1)[0]
    assert "dead-relay" in shown and "connection refused" in shown
    client.videos.delete(video.id)


def test_past_the_deadline_the_job_fails_and_is_refunded_once(
        impatient: GatewayProcess) -> None:
    client = _prepaid_client(impatient, "refunded")
    video = client.videos.create(model="sora-2", prompt="a fox, refused", seconds="4",
                                 size="1280x720")
    done = wait_done(client, video.id, timeout=180)
    assert done.status == "failed" and done.error is not None
    assert done.error.code == "no_channel_accepted"
    assert "'dead-relay'" in done.error.message and "connection refused" in done.error.message
    job = admin(impatient, f"/jobs/{video.id}")
    assert job["last_submit_refusal"]["channel"] == "dead-relay"
    assert [e["kind"] for e in job["events"]].count("state:failed") == 1
    entries = admin(impatient, "/tenants/refunded/ledger", job_id=video.id, limit=100)["data"]
    kinds = sorted(e["kind"] for e in entries)
    assert kinds == ["refund", "reserve"], entries
    assert sum(e["amount_micros"] for e in entries) == 0
    tenant = admin(impatient, "/tenants/refunded")
    assert tenant["balance_micros"] == 10_000_000 and tenant["consistent"]
