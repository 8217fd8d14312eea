"""The gateway on S3-compatible storage (a real moto server on loopback).

Two API processes and a worker share the database and one bucket: the worker copies
finished videos into the bucket, either API streams them back (with Range), and the
one started with REELGATE_STORAGE_REDIRECT=1 answers with a presigned URL instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import openai
import pytest

from tests.fakes import OpenAIFake
from tests.integration.helpers import decode_info, png, wait_done
from tests.integration.s3_server import ACCESS_KEY, SECRET_KEY, moto_server
from tests.scale.conftest import LIVE_ENV
from tests.scale.support import Deployment

BUCKET = "reelgate-media"
PREFIX = "prod/eu"


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, s3: str,
               upstream: tuple[OpenAIFake, str]) -> Iterator[Deployment]:
    storage = (f"s3://{BUCKET}/{PREFIX}?endpoint_url={s3}&region=us-east-1"
               f"&access_key={ACCESS_KEY}&secret_key={SECRET_KEY}&create_bucket=true")
    dep = Deployment(tmp_path_factory.mktemp("s3dep"), env=LIVE_ENV, storage_url=storage)
    try:
        dep.add_fake_channel(upstream[1])
        dep.add_worker()
        dep.add_apis(2, each=[{}, {"REELGATE_STORAGE_REDIRECT": "1"}])
        yield dep
    finally:
        dep.stop()


def _bucket_keys(s3: str, under: str) -> dict[str, int]:
    client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1",
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    listing = client.list_objects_v2(Bucket=BUCKET, Prefix=under)
    return {o["Key"]: o["Size"] for o in listing.get("Contents", [])}


def test_media_lives_in_the_bucket_and_every_api_serves_it(
    deployment: Deployment, s3: str, upstream: tuple[OpenAIFake, str], tmp_path: Path
) -> None:
    fake, _ = upstream
    key = deployment.create_key()
    streaming, redirecting = deployment.apis
    client = openai.OpenAI(api_key=key, base_url=streaming.base_url, max_retries=0)
    reference = png(1280, 720, (10, 120, 200))
    video = client.videos.create(model="sora-2", prompt="a lighthouse", seconds="4",
                                 size="1280x720",
                                 input_reference=("ref.png", reference, "image/png"))
    done = wait_done(client, video.id, timeout=60)
    assert done.status == "completed", done

    # the reference went up to the bucket and from there to the upstream, intact
    assert _bucket_keys(s3, f"{PREFIX}/references/{video.id}") != {}
    sent = [j for j in fake.jobs.values() if j.prompt == "a lighthouse"]
    assert len(sent) == 1 and sent[0].extra["reference"] == reference

    stored = _bucket_keys(s3, f"{PREFIX}/videos/{video.id}/")
    assert sorted(k.rsplit("/", 1)[1] for k in stored) == [
        "spritesheet.webp", "thumbnail.webp", "video.mp4"]
    data = client.videos.download_content(video.id).read()
    assert len(data) == stored[f"{PREFIX}/videos/{video.id}/video.mp4"]
    assert decode_info(data)[:2] == (1280, 720)

    auth = {"Authorization": f"Bearer {key}"}
    url = f"/videos/{video.id}/content"
    part = httpx.get(streaming.base_url + url, headers={**auth, "Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == data[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(data)}"

    moved = httpx.get(redirecting.base_url + url, headers=auth)
    assert moved.status_code == 307
    assert moved.headers["location"].startswith(s3)
    assert httpx.get(moved.headers["location"]).content == data  # presigned: no key needed
    thumb = httpx.get(redirecting.base_url + url, params={"variant": "thumbnail"},
                      headers=auth, follow_redirects=True)
    assert thumb.status_code == 200 and thumb.content[:4] == b"RIFF"

    client.videos.delete(video.id)
    assert _bucket_keys(s3, f"{PREFIX}/videos/{video.id}/") == {}
