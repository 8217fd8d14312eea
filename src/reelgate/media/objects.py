"""A stored object as everyone names it: storage backends return it, a job's media
map keeps it, the content responder serves it. A plain value, no framework."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["StoredObject"]


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    etag: str  # strong validator, quoted form is added by the responder
    content_type: str

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "size": self.size, "etag": self.etag,
                "content_type": self.content_type}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoredObject:
        return cls(str(data["key"]), int(data["size"]), str(data["etag"]),
                   str(data["content_type"]))
