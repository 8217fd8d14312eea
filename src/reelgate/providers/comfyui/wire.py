"""Reading ComfyUI's answers, with the shapes its own server code produces.

Shapes (ComfyUI ``server.py`` and ``execution.py``):

* ``POST /prompt`` 200: ``{"prompt_id", "number", "node_errors"}``; 400:
  ``{"error": {"type", "message", "details", "extra_info"}, "node_errors": {node_id:
  {"errors": [{"type", "message", "details", "extra_info"}], "dependent_outputs",
  "class_type"}}}`` (older servers: ``"error"`` may be a plain string).
* ``GET /queue``: ``{"queue_running": [item], "queue_pending": [item]}``, an item being
  ``[number, prompt_id, prompt, extra_data, outputs_to_execute, ...]``; pending items
  run in ``number`` order.
* ``GET /history/{id}``: ``{}`` or ``{id: {"prompt": item, "outputs": {node_id: ui},
  "status": {"status_str": "success"|"error", "completed", "messages": [[event,
  data], ...]}, "meta"}}``; each message's data carries a ``timestamp`` in ms.
* Video save nodes report ``{"images"|"gifs"|"videos": [{"filename", "subfolder",
  "type"}], ...}`` in their node's outputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "OutputFile",
    "QueueState",
    "execution_failure",
    "extra_data",
    "find_in_queue",
    "output_file",
    "queue_lengths",
    "rejection",
    "render_seconds",
]

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mov", ".mkv", ".m4v")
_OUTPUT_KEYS = ("videos", "gifs", "images")
_MAX_DETAIL = 400


@dataclass(frozen=True)
class OutputFile:
    filename: str
    subfolder: str
    type: str

    @property
    def query(self) -> dict[str, str]:
        return {"filename": self.filename, "subfolder": self.subfolder, "type": self.type}


@dataclass(frozen=True)
class QueueState:
    running: bool
    position: int  # 0 = next to run (or running)
    item: list[Any]


def _as_dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def extra_data(item: Any) -> Mapping[str, Any]:
    """The ``extra_data`` of a queue or history item (its fourth element)."""
    if isinstance(item, list | tuple) and len(item) > 3:
        return _as_dict(item[3])
    return {}


def _items(queue: Mapping[str, Any], key: str) -> list[list[Any]]:
    raw = queue.get(key)
    return [i for i in raw if isinstance(i, list) and len(i) > 1] if isinstance(raw, list) else []


def find_in_queue(queue: Mapping[str, Any], *, prompt_id: str,
                  job_id: str | None = None) -> QueueState | None:
    """Where our prompt is in ``GET /queue``: by its id, or (servers too old to take a
    client's prompt id) by the job id we put in ``extra_data``."""

    def ours(item: list[Any]) -> bool:
        return item[1] == prompt_id or (
            job_id is not None and extra_data(item).get("reelgate_job_id") == job_id)

    for item in _items(queue, "queue_running"):
        if ours(item):
            return QueueState(True, 0, item)
    pending = sorted(_items(queue, "queue_pending"), key=_number)
    for position, item in enumerate(pending):
        if ours(item):
            return QueueState(False, position, item)
    return None


def _number(item: list[Any]) -> float:
    value = item[0]
    return float(value) if isinstance(value, int | float) else float("inf")


def queue_lengths(queue: Mapping[str, Any]) -> tuple[int, int]:
    return len(_items(queue, "queue_running")), len(_items(queue, "queue_pending"))


def output_file(outputs: Any, node: str | None) -> OutputFile | None:
    """The video a finished prompt saved: at ``node`` if known, else anywhere; a file
    with a video extension wins over others (animated WEBP/PNG savers)."""
    by_node = _as_dict(outputs)
    sources = [by_node.get(node)] if node is not None else list(by_node.values())
    found: list[OutputFile] = []
    for ui in sources:
        for key in _OUTPUT_KEYS:
            entries = _as_dict(ui).get(key)
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, Mapping) and isinstance(entry.get("filename"), str):
                    found.append(OutputFile(entry["filename"], str(entry.get("subfolder") or ""),
                                            str(entry.get("type") or "output")))
    videos = [f for f in found if f.filename.lower().endswith(VIDEO_EXTENSIONS)]
    best = videos or found
    return best[0] if best else None


def _messages(status: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    raw = status.get("messages")
    out = []
    for message in raw if isinstance(raw, list) else []:
        if isinstance(message, list | tuple) and len(message) == 2 and isinstance(message[0],
                                                                                 str):
            out.append((message[0], _as_dict(message[1])))
    return out


def render_seconds(status: Any) -> float | None:
    """GPU time of a finished prompt from ComfyUI's own timestamps: from
    ``execution_start`` to ``execution_success`` (or the error/interruption)."""
    start = end = None
    for event, data in _messages(_as_dict(status)):
        stamp = data.get("timestamp")
        if not isinstance(stamp, int | float) or isinstance(stamp, bool):
            continue
        if event == "execution_start":
            start = stamp
        elif event in ("execution_success", "execution_error", "execution_interrupted"):
            end = stamp
    if start is None or end is None or end < start:
        return None
    return round((end - start) / 1000.0, 3)


def execution_failure(status: Any) -> tuple[str, str]:
    """(code, message) for a prompt that ended in error, naming the node that failed."""
    for event, data in reversed(_messages(_as_dict(status))):
        node = f"node {data.get('node_id')} ({data.get('node_type')})"
        if event == "execution_interrupted":
            return "cancelled", f"Interrupted on the ComfyUI server at {node}."
        if event == "execution_error":
            kind = data.get("exception_type") or "error"
            text = str(data.get("exception_message") or "").strip()
            return "generation_failed", f"ComfyUI failed at {node}: {kind}: {text}"[:_MAX_DETAIL]
    return "generation_failed", "ComfyUI reported an error without details."


def _node_problem(node_id: str, entry: Mapping[str, Any]) -> str:
    errors = entry.get("errors")
    reasons = []
    for error in errors if isinstance(errors, list) else []:
        error = _as_dict(error)
        details = str(error.get("details") or "").strip()
        reasons.append(f"{error.get('message') or error.get('type')}"
                       + (f": {details}" if details else ""))
    return f"node {node_id} ({entry.get('class_type', '?')}): " + ("; ".join(reasons) or "invalid")


def rejection(body: Any, output_node: str | None = None) -> str | None:
    """Why ComfyUI refused (or half-refused) a prompt, naming each bad node.

    On a 400 the answer always explains; on a 200 ``node_errors`` lists outputs it
    dropped, which only matters when one of them is ours (``output_node``).
    """
    answer = _as_dict(body)
    node_errors = _as_dict(answer.get("node_errors"))
    if output_node is not None:  # accepted: is our output among the dropped ones?
        hit = [n for n, e in node_errors.items()
               if output_node in (_as_dict(e).get("dependent_outputs") or [])]
        if not hit:
            return None
    problems = [_node_problem(str(n), _as_dict(e)) for n, e in node_errors.items()]
    error = answer.get("error")
    if isinstance(error, Mapping):
        head = str(error.get("message") or error.get("type") or "invalid prompt")
        details = str(error.get("details") or "").strip()
        if details and not problems:
            head += f": {details}"
    else:
        head = str(error or "invalid prompt")
    text = "; ".join([f"ComfyUI rejected the workflow ({head})", *problems])
    return text[:_MAX_DETAIL * 2]
