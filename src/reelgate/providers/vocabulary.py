"""Status words and progress values, shared by providers whose upstreams speak them.

Relays in particular invent their own words, and an unknown word must never fail a
job that may still finish.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from reelgate.providers.base import UpstreamStatus

__all__ = ["map_status", "parse_progress"]

log = logging.getLogger(__name__)

_SYNONYMS: dict[str, UpstreamStatus] = {
    **dict.fromkeys(("pending", "submitted", "not_start", "queued"), UpstreamStatus.QUEUED),
    **dict.fromkeys(
        ("processing", "running", "in_progress", "generating"), UpstreamStatus.IN_PROGRESS
    ),
    **dict.fromkeys(
        ("succeeded", "success", "completed", "finished", "done"), UpstreamStatus.COMPLETED
    ),
    **dict.fromkeys(
        ("failed", "failure", "error", "cancelled", "canceled", "expired"),
        UpstreamStatus.FAILED,
    ),
}


def map_status(raw: str, *, upstream: str, job: str) -> UpstreamStatus:
    """Map a status word; an unknown word is IN_PROGRESS (never FAILED) plus a warning.

    A relay saying ``unknown`` or ``created`` has not told us the job failed, and
    failing it would refund a job the upstream may still finish and bill.
    """
    word = raw.strip().lower().replace("-", "_").replace(" ", "_")
    status = _SYNONYMS.get(word)
    if status is None:
        log.warning("%s: unknown status %r for job %s; treating as in_progress", upstream, raw, job)
        return UpstreamStatus.IN_PROGRESS
    return status


def parse_progress(value: Any) -> int | None:
    """Progress as an int percentage from an int, a float or a string like ``"45%"``."""
    if isinstance(value, bool) or value is None:
        return None
    number: float
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().rstrip("%").strip())
        except ValueError:
            return None
    else:
        return None
    if math.isnan(number) or math.isinf(number):
        return None
    return max(0, min(100, round(number)))
