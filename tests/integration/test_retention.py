"""Deleting a job, and its retention running out, remove everything it stored: the
video, its thumbnail and spritesheet, and the reference image, on local storage and on
S3 (a real moto server). Every test lists the storage itself after the fact."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import httpx
import openai
import pytest

from tests.integration.helpers import png, wait_done
from tests.integration.s3_server import ACCESS_KEY, SECRET_KEY, moto_server
from tests.support.server import GatewayProcess

BUCKET = "retention"
BLOCKED = "retention-blocked-word"
REF = png(720, 1280)
#: a finished job's storage lives this long on the expiring gateway
RETENTION_SECONDS = 2.0

Lister = Callable[[], set[str]]


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    with moto_server() as url:
        yield url


def _local_lister(root: Path) -> Lister:
    def listing() -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*")
                if p.is_file() and not p.name.startswith(".")} if root.exists() else set()
    return listing


def _s3_lister(endpoint: str, prefix: str) -> Lister:
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    def listing() -> set[str]:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return {o["Key"].removeprefix(prefix) for page in pages for o in page.get("Contents", [])}
    return listing


@pytest.fixture(scope="module", params=["local", "s3"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """None for a local directory, else the S3 endpoint."""
    return request.getfixturevalue("s3") if request.param == "s3" else None


def _start(tmp: Path, name: str, endpoint: str | None, **env: str
           ) -> tuple[GatewayProcess, Lister]:
    full = {"REELGATE_MODERATION_WORDS": BLOCKED, "REELGATE_HOUSEKEEPING_SECONDS": "0.5",
            **env}
    listing = _local_lister(tmp / "media")
    if endpoint is not None:
        full["REELGATE_STORAGE_URL"] = (
            f"s3://{BUCKET}/{name}?endpoint_url={endpoint}&region=us-east-1"
            f"&access_key={ACCESS_KEY}&secret_key={SECRET_KEY}&create_bucket=true")
        listing = _s3_lister(endpoint, name + "/")
    gw = GatewayProcess(tmp, env=full)
    gw.start()
    return gw, listing


@pytest.fixture(scope="module")
def keeping(tmp_path_factory: pytest.TempPathFactory,
            backend: str | None) -> Iterator[tuple[GatewayProcess, Lister, openai.OpenAI]]:
    gw, listing = _start(tmp_path_factory.mktemp("keep"), "keep", backend)
    key = gw.create_key("retention", tenant="retention")
    yield gw, listing, openai.OpenAI(api_key=key, base_url=gw.base_url, max_retries=0)
    gw.stop()


@pytest.fixture(scope="module")
def expiring(tmp_path_factory: pytest.TempPathFactory,
             backend: str | None) -> Iterator[tuple[GatewayProcess, Lister, openai.OpenAI]]:
    gw, listing = _start(tmp_path_factory.mktemp("expire"), "expire", backend,
                         REELGATE_RETENTION_DAYS=str(RETENTION_SECONDS / 86400))
    key = gw.create_key("retention", tenant="retention")
    yield gw, listing, openai.OpenAI(api_key=key, base_url=gw.base_url, max_retries=0)
    gw.stop()


def _create(client: openai.OpenAI, prompt: str) -> str:
    video = client.videos.create(prompt=prompt, size="720x1280", seconds="4",
                                 input_reference=("ref.png", REF, "image/png"))
    return video.id


def _owned(listing: Lister, job_id: str) -> set[str]:
    return {k for k in listing() if job_id in k}


def _eventually_empty(listing: Lister, job_id: str, what: str) -> None:
    deadline = time.monotonic() + 90  # generous: housekeeping on a loaded machine
    while (left := _owned(listing, job_id)):
        assert time.monotonic() < deadline, f"{what}: still stored {sorted(left)}"
        time.sleep(0.2)


def test_delete_removes_the_video_its_variants_and_the_reference(keeping: tuple[
        GatewayProcess, Lister, openai.OpenAI]) -> None:
    _, listing, client = keeping
    job_id = _create(client, "retention: deleted after completion")
    assert wait_done(client, job_id).status == "completed"
    assert _owned(listing, job_id) == {
        f"videos/{job_id}/video.mp4", f"videos/{job_id}/thumbnail.webp",
        f"videos/{job_id}/spritesheet.webp", f"references/{job_id}.png"}
    client.videos.delete(job_id)
    assert _owned(listing, job_id) == set()


def test_delete_of_a_failed_job_removes_its_reference(keeping: tuple[
        GatewayProcess, Lister, openai.OpenAI]) -> None:
    _, listing, client = keeping
    job_id = _create(client, f"retention: {BLOCKED}")
    assert wait_done(client, job_id).status == "failed"
    assert _owned(listing, job_id) == {f"references/{job_id}.png"}
    client.videos.delete(job_id)
    assert _owned(listing, job_id) == set()


def test_expiry_removes_everything_a_completed_job_stored(expiring: tuple[
        GatewayProcess, Lister, openai.OpenAI]) -> None:
    gw, listing, client = expiring
    job_id = _create(client, "retention: expires")
    assert wait_done(client, job_id).status == "completed"
    _eventually_empty(listing, job_id, "an expired job")
    resp = httpx.get(f"{gw.base_url}/videos/{job_id}/content",
                     headers={"Authorization": f"Bearer {client.api_key}"})
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "video_expired"
    assert client.videos.retrieve(job_id).status == "completed"  # the row stays


def test_expiry_removes_a_failed_jobs_reference(expiring: tuple[
        GatewayProcess, Lister, openai.OpenAI]) -> None:
    _, listing, client = expiring
    job_id = _create(client, f"retention: {BLOCKED} and expires")
    assert wait_done(client, job_id).status == "failed"
    _eventually_empty(listing, job_id, "a failed job's reference")
