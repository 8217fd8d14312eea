"""Job.from_row: the fast copy of a whole row, and the checked way for anything else."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import create_engine, insert, select

from reelgate.jobs.model import Job
from reelgate.jobs.states import State
from reelgate.media.objects import StoredObject
from reelgate.store.tables import jobs


def _row(*columns: object) -> object:
    engine = create_engine("sqlite://")
    jobs.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(jobs).values(
            id="video_1", tenant_id="t", key_id="k", model="sora-2", prompt="p",
            size="1280x720", seconds=4, quality="standard", state="in_progress", progress=10,
            version=3, created_at=1.0, updated_at=2.0, poll_count=0, submit_attempts=1,
            price_micros=5, characters=[{"id": "c"}],
            media={"video": {"key": "k/v.mp4", "size": 9, "etag": "e",
                             "content_type": "video/mp4"}}))
    with engine.connect() as conn:
        return conn.execute(select(*columns) if columns else select(jobs)).first()


def test_a_whole_row_becomes_the_same_job_the_checked_constructor_builds() -> None:
    row = _row()
    job = Job.from_row(row)
    data = dict(row._mapping)  # type: ignore[attr-defined]
    data["state"] = State(data["state"])
    data["media"] = {k: StoredObject.from_json(v) for k, v in data["media"].items()}
    assert job == Job(**data)
    assert job.state is State.IN_PROGRESS and job.media["video"].size == 9
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.progress = 50  # type: ignore[misc]
    assert dataclasses.replace(job, progress=50).progress == 50


def test_a_row_without_every_column_still_fails_loudly() -> None:
    row = _row(jobs.c.id, jobs.c.state, jobs.c.media)
    with pytest.raises(TypeError):
        Job.from_row(row)
