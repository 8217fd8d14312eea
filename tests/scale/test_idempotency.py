"""Idempotency-Key on create and remix, over HTTP, on the run's database.

The live deployment reuses keys after 3 s (REELGATE_IDEMPOTENCY_TTL_SECONDS) instead
of 24 h, so the expiry rule can be seen.
"""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest

from tests.integration.helpers import wait_done
from tests.scale.support import Deployment

BODY = {"model": "sora-2", "prompt": "idempotent fox", "seconds": "4", "size": "1280x720"}


def _post(live: Deployment, key: str, idem: str, body: dict[str, Any],
          path: str = "/videos") -> httpx.Response:
    return httpx.post(live.apis[0].base_url + path, json=body, timeout=30,
                      headers={"Authorization": f"Bearer {key}", "Idempotency-Key": idem})


@pytest.fixture(scope="module")
def key(live: Deployment) -> str:
    return live.create_key(tenant="idem", name="idem")


def _jobs_with(live: Deployment, idem: str) -> int:
    rows = live.query("SELECT count(*) FROM jobs j JOIN tenants t ON t.id = j.tenant_id "
                      "WHERE t.name = 'idem' AND j.idempotency_key = :k", k=idem)
    return int(rows[0][0])


def test_same_key_and_body_returns_the_original_job(live: Deployment, key: str) -> None:
    idem = secrets.token_hex(8)
    first = _post(live, key, idem, BODY)
    again = _post(live, key, idem, dict(reversed(list(BODY.items()))))  # same, reordered
    assert first.status_code == again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert _jobs_with(live, idem) == 1


def test_same_key_with_another_body_is_a_409_in_openais_envelope(
    live: Deployment, key: str
) -> None:
    idem = secrets.token_hex(8)
    assert _post(live, key, idem, BODY).status_code == 200
    clash = _post(live, key, idem, {**BODY, "prompt": "another fox"})
    assert clash.status_code == 409
    error = clash.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "idempotency_key_reused" and error["param"] == "Idempotency-Key"
    client = openai.OpenAI(api_key=key, base_url=live.apis[0].base_url, max_retries=0)
    with pytest.raises(openai.ConflictError):
        client.videos.create(model="sora-2", prompt="a third fox", seconds="4",
                             size="1280x720", extra_headers={"Idempotency-Key": idem})


def test_twenty_concurrent_duplicates_create_exactly_one_job(
    live: Deployment, key: str
) -> None:
    idem = secrets.token_hex(8)
    body = {**BODY, "prompt": f"stampede {idem}"}
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: _post(live, key, idem, body), range(20)))
    assert [a.status_code for a in answers] == [200] * 20, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert _jobs_with(live, idem) == 1
    rows = live.query("SELECT count(*) FROM jobs WHERE prompt = :p", p=body["prompt"])
    assert rows == [(1,)]
    ledger = live.query("SELECT kind, count(*) FROM ledger WHERE job_id = :j GROUP BY kind",
                        j=answers[0].json()["id"])
    assert ("reserve", 1) in ledger  # one job, reserved once


def test_remix_honours_the_key_too(live: Deployment, key: str) -> None:
    client = openai.OpenAI(api_key=key, base_url=live.apis[0].base_url, max_retries=0)
    source = client.videos.create(model="sora-2", prompt="remix source", seconds="4",
                                  size="1280x720")
    assert wait_done(client, source.id, timeout=60).status == "completed"
    idem = secrets.token_hex(8)
    path = f"/videos/{source.id}/remix"
    first = _post(live, key, idem, {"prompt": "now at night"}, path)
    again = _post(live, key, idem, {"prompt": "now at night"}, path)
    clash = _post(live, key, idem, {"prompt": "now in the rain"}, path)
    assert first.status_code == again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["remixed_from_video_id"] == source.id
    assert clash.status_code == 409


def test_a_key_may_be_reused_once_its_window_is_over(live: Deployment, key: str) -> None:
    idem = secrets.token_hex(8)
    first = _post(live, key, idem, BODY).json()["id"]
    time.sleep(3.5)  # the deployment's window is 3 s (24 h by default)
    other = _post(live, key, idem, {**BODY, "prompt": "a new fox, same key"})
    assert other.status_code == 200
    assert other.json()["id"] != first
    assert _post(live, key, idem, {**BODY, "prompt": "a new fox, same key"}).json()["id"] \
        == other.json()["id"]
    assert _jobs_with(live, idem) == 1  # the old job let go of the key
    assert live.query("SELECT count(*) FROM jobs WHERE id = :j", j=first) == [(1,)]
