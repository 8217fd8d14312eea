"""Who is calling: a plain value, free of SQL and HTTP, so any layer may name it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Principal"]


@dataclass(frozen=True)
class Principal:
    """The key and its tenant, with the key's limits."""

    key_id: str
    key_name: str
    tenant_id: str
    tenant_name: str
    allowed_models: tuple[str, ...] | None = None
    spend_cap_micros: int | None = None
    max_in_flight: int | None = None
    creates_per_minute: int | None = None
    polls_per_minute: int | None = None
    expires_at: float | None = None
