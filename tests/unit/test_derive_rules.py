"""The rules of edits and extensions, decided before any job exists: lengths, chains,
models, and what a source must be."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reelgate.catalog import CATALOG, Operation
from reelgate.errors import InvalidRequest
from reelgate.ids import now
from reelgate.jobs.derive import Derived, parse_derived, plan_from_clip, plan_from_job
from reelgate.jobs.model import Job
from reelgate.jobs.states import State
from reelgate.media.derive import VideoInfo
from reelgate.media.objects import StoredObject

VIDEO = StoredObject("videos/video_src/video.mp4", 10, "e", "video/mp4")


def _job(**values: Any) -> Job:
    t = now()
    base: dict[str, Any] = dict(
        id="video_src", tenant_id="t", key_id="k", model="sora-2", prompt="p",
        size="1280x720", seconds=4, quality="standard", state=State.COMPLETED, progress=100,
        version=3, created_at=t, updated_at=t, started_at=t, completed_at=t, expires_at=t + 9,
        deleted_at=None, remixed_from=None, reference_key=None, reference_mime=None,
        channel_id="ch_1", credential_id="cred_1", upstream_model="sora-2",
        upstream_id="up_1", upstream_status="completed", result_url=None, error_code=None,
        error_message=None, next_poll_at=None, poll_count=1, last_polled_at=t,
        lease_owner=None, lease_until=None, submit_attempts=1, rendered_seconds=4.0,
        rendered_size="1280x720", media={"video": VIDEO}, price_micros=1, charged_micros=1,
        idempotency_key=None, request_hash=None)
    base.update(values)
    return Job(**base)


def _extend(seconds: int) -> Derived:
    return Derived(Operation.EXTEND, "more", "video_src", seconds, None)


def _refused(call: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as err:
        call()
    return err.value


def test_an_extension_is_the_whole_but_billed_its_segment() -> None:
    params, origin = plan_from_job(_extend(8), _job(), CATALOG)
    assert (params.seconds, params.size, origin.segment_seconds, origin.extensions) == \
        (12, "1280x720", 8, 1)
    assert origin.pin == ("ch_1", "cred_1")
    assert origin.values()["source_id"] == "video_src"


def test_at_most_six_extensions_in_a_chain() -> None:
    _, origin = plan_from_job(_extend(4), _job(seconds=20, rendered_seconds=20.0,
                                                    extensions=5), CATALOG)
    assert origin.extensions == 6
    err = _refused(lambda: plan_from_job(_extend(4), _job(extensions=6), CATALOG))
    assert (err.param, err.code) == ("video", "too_many_extensions")


@pytest.mark.parametrize(("source", "segment", "ok"), [(100, 20, True), (104, 16, True),
                                                        (104, 20, False), (116, 8, False)])
def test_at_most_120_seconds_in_all(source: int, segment: int, ok: bool) -> None:
    job = _job(seconds=source, rendered_seconds=float(source))
    if ok:
        assert plan_from_job(_extend(segment), job, CATALOG)[0].seconds == source + segment
    else:
        err = _refused(lambda: plan_from_job(_extend(segment), job, CATALOG))
        assert (err.param, err.code) == ("seconds", "video_too_long")


def test_an_edit_is_as_long_as_its_source() -> None:
    req = Derived(Operation.EDIT, "gold", "video_src", None, None)
    params, origin = plan_from_job(req, _job(seconds=8, rendered_seconds=8.0), CATALOG)
    assert (params.seconds, origin.segment_seconds, origin.extensions) == (8, None, None)


@pytest.mark.parametrize(("job", "code"), [
    (_job(state=State.IN_PROGRESS), "invalid_video_status"),
    (_job(state=State.FAILED), "invalid_video_status"),
    (_job(media={}), "video_expired"),
    (_job(model="veo-3.1"), "unsupported_operation"),  # Veo: no OpenAI-style edits
])
def test_what_a_source_must_be(job: Job, code: str) -> None:
    req = Derived(Operation.EDIT, "gold", "video_src", None, None)
    assert _refused(lambda: plan_from_job(req, job, CATALOG)).code == code


def test_a_clip_must_be_a_size_the_model_renders(tmp_path: Path) -> None:
    spec = CATALOG.get("sora-2")
    assert spec is not None
    req = Derived(Operation.EXTEND, "p", None, 4, None)
    ok = VideoInfo(1280, 720, 3.96, 95, "h264")
    params, origin = plan_from_clip(req, spec, None, tmp_path / "c.mp4", ok)
    assert (params.seconds, origin.extensions, origin.clip) == (8, 1, tmp_path / "c.mp4")
    err = _refused(lambda: plan_from_clip(req, spec, None, tmp_path / "c.mp4",
                                          replace(ok, width=1920, height=1080)))
    assert (err.param, err.code) == ("video", "invalid_video_dimensions")


@pytest.mark.parametrize(("fields", "clip", "param", "code"), [
    ({"prompt": "p", "video": {"id": "v", "x": 1}}, False, "video", "invalid_type"),
    ({"prompt": "p", "video": {"id": ""}}, False, "video", "invalid_type"),
    ({"prompt": "p", "video": {"id": "v"}}, True, "video", "duplicate_parameter"),
    ({"prompt": "", "video": {"id": "v"}}, False, "prompt", "empty_string"),
    ({"prompt": "p", "video": {"id": "v"}, "seconds": "12.0"}, False, "seconds",
     "invalid_value"),
])
def test_parse_refusals(fields: dict[str, Any], clip: bool, param: str, code: str) -> None:
    op = Operation.EXTEND if "seconds" in fields else Operation.EDIT
    err = _refused(lambda: parse_derived(fields, op, clip=clip, max_prompt_chars=100))
    assert (err.param, err.code) == (param, code)
