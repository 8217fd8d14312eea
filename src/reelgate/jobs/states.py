"""The job state machine.

Internal states are finer than the four a client sees, so that a crash at any point
can be resumed: ``submitting`` marks "the upstream may have the job" and
``downloading`` marks "the upstream finished, our copy is not complete".
"""

from __future__ import annotations

import enum

__all__ = ["ACTIVE", "TERMINAL", "TRANSITIONS", "State", "can_move", "public_status"]


class State(enum.StrEnum):
    QUEUED = "queued"  # accepted by us, not yet sent upstream
    SUBMITTING = "submitting"  # being sent; a crash here needs recovery, not a resubmit
    IN_PROGRESS = "in_progress"  # upstream has it; we poll
    DOWNLOADING = "downloading"  # upstream done; copying media into our storage
    COMPLETED = "completed"
    FAILED = "failed"


ACTIVE = frozenset({State.QUEUED, State.SUBMITTING, State.IN_PROGRESS, State.DOWNLOADING})
TERMINAL = frozenset({State.COMPLETED, State.FAILED})

TRANSITIONS: dict[State, frozenset[State]] = {
    State.QUEUED: frozenset({State.SUBMITTING, State.FAILED}),
    # back to QUEUED only when the upstream certainly did not take the job (429, refused)
    State.SUBMITTING: frozenset({State.QUEUED, State.IN_PROGRESS, State.DOWNLOADING, State.FAILED}),
    # back to QUEUED only when the upstream lost the job before it started rendering it
    State.IN_PROGRESS: frozenset({State.QUEUED, State.DOWNLOADING, State.FAILED}),
    State.DOWNLOADING: frozenset({State.COMPLETED, State.FAILED}),
    State.COMPLETED: frozenset(),
    State.FAILED: frozenset(),
}


def can_move(src: State, dst: State) -> bool:
    return dst in TRANSITIONS[src] or src == dst


def public_status(state: State, upstream_status: str | None) -> str:
    """What the OpenAI-shaped API shows: queued | in_progress | completed | failed."""
    if state in (State.QUEUED, State.SUBMITTING):
        return "queued"
    if state == State.IN_PROGRESS:
        return "queued" if upstream_status == "queued" else "in_progress"
    if state == State.DOWNLOADING:
        return "in_progress"
    return state.value
