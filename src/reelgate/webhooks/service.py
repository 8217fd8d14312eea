"""Registering endpoints and managing deliveries, for the CLI, admin API and UI alike.

The URL is checked against private and loopback ranges here, at registration, and
again by the dispatcher before every attempt (DNS can change in between). Endpoints
registered with ``allow_private`` skip both checks; only an operator can set that.
"""

from __future__ import annotations

import base64
import binascii

from reelgate.auth import repository as auth_repo
from reelgate.errors import ConflictError, InvalidRequest, NotFound
from reelgate.net.ssrf import UnsafeURL, check_url
from reelgate.store.db import Database
from reelgate.webhooks import repository as repo
from reelgate.webhooks.events import parse_events
from reelgate.webhooks.signing import PREFIX, generate_secret

__all__ = ["WebhookService"]

_MAX_URL = 2000


def _check_secret(secret: str) -> None:
    key = secret.removeprefix(PREFIX)
    try:
        ok = secret.startswith(PREFIX) and len(base64.b64decode(key, validate=True)) >= 16
    except (binascii.Error, ValueError):
        ok = False
    if not ok:
        raise InvalidRequest("'secret' must be 'whsec_' followed by the base64 of at least "
                             "16 bytes; omit it to get a generated one.", param="secret",
                             code="invalid_value")


class WebhookService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def register(self, *, tenant: str, url: str, events: str | list[str] | None = None,
                       secret: str | None = None, allow_private: bool = False) -> repo.Endpoint:
        """Add an endpoint for the tenant named ``tenant``; the secret is generated if absent."""
        if not isinstance(url, str) or not url or len(url) > _MAX_URL:
            raise InvalidRequest(f"'url' must be a URL of at most {_MAX_URL} characters.",
                                 param="url", code="invalid_url")
        try:
            await check_url(url, allow_private=allow_private)
        except UnsafeURL as exc:
            raise InvalidRequest(f"'url' is not allowed: {exc}.", param="url",
                                 code="invalid_url") from exc
        try:
            wanted = parse_events(events)
        except ValueError as exc:
            raise InvalidRequest(f"Invalid 'events': {exc}.", param="events",
                                 code="invalid_value") from exc
        if secret is not None:
            _check_secret(secret)
        async with self.db.begin() as conn:
            found = await auth_repo.get_tenant_by_name(conn, tenant)
            if found is None:
                raise NotFound(f"No tenant named '{tenant}'.", param="tenant",
                               code="tenant_not_found")
            return await repo.add_endpoint(conn, tenant_id=found.id, url=url,
                                           secret=secret or generate_secret(), events=wanted,
                                           allow_private=allow_private)

    async def endpoints(self, *, tenant: str | None = None) -> list[repo.Endpoint]:
        async with self.db.read() as conn:
            tenant_id = None
            if tenant is not None:
                found = await auth_repo.get_tenant_by_name(conn, tenant)
                if found is None:
                    raise NotFound(f"No tenant named '{tenant}'.", param="tenant",
                                   code="tenant_not_found")
                tenant_id = found.id
            return await repo.list_endpoints(conn, tenant_id=tenant_id)

    async def rotate_secret(self, endpoint_id: str, secret: str | None = None) -> repo.Endpoint:
        """A new signing secret (generated if absent) for every delivery from now on,
        retries of older events included: the receiver must switch to it at once."""
        if secret is not None:
            _check_secret(secret)
        async with self.db.begin() as conn:
            if not await repo.set_secret(conn, endpoint_id, secret or generate_secret()):
                raise NotFound(f"No webhook endpoint '{endpoint_id}'.", param="endpoint_id")
            found = await repo.get_endpoint(conn, endpoint_id)
        assert found is not None
        return found

    async def remove(self, endpoint_id: str) -> None:
        async with self.db.begin() as conn:
            if not await repo.remove_endpoint(conn, endpoint_id):
                raise NotFound(f"No webhook endpoint '{endpoint_id}'.", param="endpoint_id")

    async def deliveries(self, *, status: str | None = None, endpoint_id: str | None = None,
                         job_id: str | None = None, limit: int = 50) -> list[repo.Delivery]:
        if status is not None and status not in repo.STATUSES:
            raise InvalidRequest(f"Invalid 'status': {status!r}; choose from "
                                 f"{', '.join(repo.STATUSES)}.", param="status",
                                 code="invalid_value")
        async with self.db.read() as conn:
            return await repo.list_deliveries(conn, status=status, endpoint_id=endpoint_id,
                                              job_id=job_id, limit=limit)

    async def delivery(self, delivery_id: str) -> repo.Delivery:
        async with self.db.read() as conn:
            found = await repo.get_delivery(conn, delivery_id)
        if found is None:
            raise NotFound(f"No webhook delivery '{delivery_id}'.", param="delivery_id")
        return found

    async def replay(self, delivery_id: str) -> repo.Delivery:
        """Queue a dead (or delivered) delivery again; pending ones are already queued."""
        async with self.db.begin() as conn:
            found = await repo.get_delivery(conn, delivery_id)
            if found is None:
                raise NotFound(f"No webhook delivery '{delivery_id}'.", param="delivery_id")
            if found.status == repo.PENDING:
                raise ConflictError(f"Delivery '{delivery_id}' is still pending; it will be "
                                    "retried on its own.", param="delivery_id",
                                    code="delivery_pending")
            return await repo.replay(conn, found)
