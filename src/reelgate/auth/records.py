"""Tenants and keys as plain values, as the repository reads them and others show them."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KeyRecord", "TenantRecord"]


@dataclass(frozen=True)
class TenantRecord:
    id: str
    name: str
    balance_micros: int
    price_multiplier_ppm: int
    #: postpaid: charges are recorded, creates are never refused for balance
    unlimited: bool


@dataclass(frozen=True)
class KeyRecord:
    """A key as lists show it: never the secret, only its displayed prefix."""

    id: str
    tenant_id: str
    tenant_name: str
    name: str
    prefix: str
    created_at: float
    revoked_at: float | None
