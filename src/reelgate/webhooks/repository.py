"""Webhook endpoints and the delivery outbox in the database.

Deliveries are rows written in the same transaction as the job change they report
(the outbox pattern), so an event exists if and only if its change was committed.
Dispatchers lease due rows; finishing a delivery is a compare-and-swap on the lease,
so a dispatcher whose lease ran out cannot overwrite the work of the one that took
the row over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, and_, bindparam, cast, delete, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.ids import new_id, now
from reelgate.store import totals
from reelgate.store.direct import Direct
from reelgate.store.tables import tenants, webhook_deliveries, webhook_endpoints

__all__ = [
    "Delivery",
    "Endpoint",
    "add_endpoint",
    "claim_due",
    "count_by_status",
    "endpoints_for",
    "enqueue",
    "enqueue_for_tenant",
    "finish",
    "get_delivery",
    "get_endpoint",
    "list_deliveries",
    "list_endpoints",
    "next_due",
    "remove_endpoint",
    "replay",
    "set_secret",
]

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"
#: a dead delivery that was sent again as a new row
REPLAYED = "replayed"
STATUSES = (PENDING, DELIVERED, DEAD, REPLAYED)


@dataclass(frozen=True)
class Endpoint:
    id: str
    tenant_id: str
    tenant_name: str
    url: str
    secret: str
    events: tuple[str, ...]
    enabled: bool
    allow_private: bool
    created_at: float


@dataclass(frozen=True)
class Delivery:
    id: str
    endpoint_id: str
    job_id: str | None
    event_type: str
    event_key: str
    payload: str
    status: str
    attempts: int
    next_attempt_at: float | None
    lease_until: float | None
    last_status_code: int | None
    last_error: str | None
    created_at: float
    delivered_at: float | None

    @classmethod
    def from_row(cls, row: Any) -> Delivery:
        m = row._mapping
        return cls(**{k: m[k] for k in cls.__dataclass_fields__})


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(row.id, row.tenant_id, row.tenant_name, row.url, row.secret,
                    tuple(row.events or ()), bool(row.enabled), bool(row.allow_private),
                    row.created_at)


def _endpoint_query() -> Any:
    return select(webhook_endpoints, tenants.c.name.label("tenant_name")).join(
        tenants, tenants.c.id == webhook_endpoints.c.tenant_id)


async def add_endpoint(conn: AsyncConnection, *, tenant_id: str, url: str, secret: str,
                       events: tuple[str, ...], allow_private: bool) -> Endpoint:
    eid = new_id("we", 8)
    await conn.execute(webhook_endpoints.insert().values(
        id=eid, tenant_id=tenant_id, url=url, secret=secret, events=list(events),
        enabled=True, allow_private=allow_private, created_at=now()))
    found = await get_endpoint(conn, eid)
    assert found is not None
    return found


async def get_endpoint(conn: AsyncConnection, endpoint_id: str) -> Endpoint | None:
    row = (await conn.execute(
        _endpoint_query().where(webhook_endpoints.c.id == endpoint_id))).first()
    return _endpoint(row) if row else None


async def list_endpoints(conn: AsyncConnection, *, tenant_id: str | None = None
                         ) -> list[Endpoint]:
    query = _endpoint_query().order_by(webhook_endpoints.c.created_at)
    if tenant_id is not None:
        query = query.where(webhook_endpoints.c.tenant_id == tenant_id)
    return [_endpoint(r) for r in await conn.execute(query)]


async def set_secret(conn: AsyncConnection, endpoint_id: str, secret: str) -> bool:
    res = await conn.execute(update(webhook_endpoints)
                             .where(webhook_endpoints.c.id == endpoint_id)
                             .values(secret=secret))
    return bool(res.rowcount)


async def remove_endpoint(conn: AsyncConnection, endpoint_id: str) -> bool:
    """Delete an endpoint and its delivery log (pending deliveries are dropped). The
    finished ones leave the totals of deliveries by status (what the DELETE really
    removed: a delivery finished meanwhile is counted as it ended); their attempts stay
    counted."""
    gone = await conn.execute(delete(webhook_deliveries).where(
        webhook_deliveries.c.endpoint_id == endpoint_id).returning(webhook_deliveries.c.status))
    await totals.add(conn, [totals.Count("webhooks", label=str(status), count=-1)
                            for status, in gone if status != PENDING])
    res = await conn.execute(delete(webhook_endpoints).where(
        webhook_endpoints.c.id == endpoint_id))
    return bool(res.rowcount)


async def endpoints_for(conn: AsyncConnection, tenant_id: str) -> list[Endpoint]:
    """The tenant's enabled endpoints (callers filter by event type)."""
    query = _endpoint_query().where(webhook_endpoints.c.tenant_id == tenant_id,
                                    webhook_endpoints.c.enabled.is_(True))
    return [_endpoint(r) for r in await conn.execute(query)]


async def enqueue(conn: AsyncConnection, *, endpoint_id: str, job_id: str | None,
                  event_type: str, event_key: str, payload: str,
                  due: float | None = None) -> None:
    """Insert a pending delivery unless one with ``event_key`` exists already."""
    t = now()
    values = dict(id=new_id("whd", 12), endpoint_id=endpoint_id, job_id=job_id,
                  event_type=event_type, event_key=event_key, payload=payload,
                  status=PENDING, attempts=0, next_attempt_at=t if due is None else due,
                  created_at=t)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(webhook_deliveries).values(**values)
    await conn.execute(stmt.on_conflict_do_nothing(index_elements=["event_key"]))


def _fan_out(dialect: Any) -> Any:
    """``INSERT INTO webhook_deliveries SELECT ... FROM webhook_endpoints``: one row per
    enabled endpoint of the tenant that asked for the event type, in one statement (no
    lookup first; with no endpoint configured it writes nothing). The event type is
    matched in the endpoint's JSON list as its quoted string; the delivery id is a
    random prefix per event plus the endpoint's own suffix, so it is unique per row."""
    ep = webhook_endpoints
    t: Any = bindparam("b_t")
    rows = select(
        bindparam("b_prefix", type_=String) + func.substr(ep.c.id, 4),
        ep.c.id, bindparam("b_job", type_=String), bindparam("b_type", type_=String),
        ep.c.id + literal(":") + bindparam("b_dedupe", type_=String),
        bindparam("b_payload", type_=String), literal(PENDING), literal(0), t, t,
    ).where(ep.c.tenant_id == bindparam("b_tenant"), ep.c.enabled.is_(True),
            cast(ep.c.events, String).like(bindparam("b_pattern", type_=String),
                                           escape="\\"))
    cols = ["id", "endpoint_id", "job_id", "event_type", "event_key", "payload", "status",
            "attempts", "next_attempt_at", "created_at"]
    return (dialect.insert(webhook_deliveries).from_select(cols, rows)
            .on_conflict_do_nothing(index_elements=["event_key"]))


_FAN_OUT = {"postgresql": Direct(_fan_out(postgresql)), "sqlite": Direct(_fan_out(sqlite))}


async def enqueue_for_tenant(conn: AsyncConnection, *, tenant_id: str, job_id: str,
                             event_type: str, dedupe: str, payload: str) -> None:
    """A pending delivery of this event for each of the tenant's endpoints that wants
    it (event key ``<endpoint id>:<job id>:<dedupe>``, as :func:`enqueue` would)."""
    escaped = event_type.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    await _FAN_OUT[conn.dialect.name].execute(conn, {
        "b_prefix": new_id("whd", 6), "b_job": job_id, "b_type": event_type,
        "b_dedupe": f"{job_id}:{dedupe}", "b_payload": payload, "b_t": now(),
        "b_tenant": tenant_id, "b_pattern": f'%"{escaped}"%'})


async def get_delivery(conn: AsyncConnection, delivery_id: str) -> Delivery | None:
    row = (await conn.execute(
        select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id))).first()
    return Delivery.from_row(row) if row else None


async def list_deliveries(
    conn: AsyncConnection, *, status: str | None = None, endpoint_id: str | None = None,
    job_id: str | None = None, tenant_id: str | None = None, limit: int = 50,
) -> list[Delivery]:
    query = select(webhook_deliveries).order_by(webhook_deliveries.c.created_at.desc(),
                                                webhook_deliveries.c.id.desc())
    if status is not None:
        query = query.where(webhook_deliveries.c.status == status)
    if endpoint_id is not None:
        query = query.where(webhook_deliveries.c.endpoint_id == endpoint_id)
    if job_id is not None:
        query = query.where(webhook_deliveries.c.job_id == job_id)
    if tenant_id is not None:
        owned = select(webhook_endpoints.c.id).where(webhook_endpoints.c.tenant_id == tenant_id)
        query = query.where(webhook_deliveries.c.endpoint_id.in_(owned))
    return [Delivery.from_row(r) for r in await conn.execute(query.limit(limit))]


async def count_by_status(conn: AsyncConnection) -> dict[str, int]:
    query = select(webhook_deliveries.c.status, func.count()).group_by(
        webhook_deliveries.c.status)
    return {str(s): int(n) for s, n in await conn.execute(query)}


async def claim_due(conn: AsyncConnection, *, limit: int, lease_seconds: float,
                    skip_locked: bool) -> list[Delivery]:
    """Lease up to ``limit`` due deliveries; the lease expiry is the owner's token."""
    t = now()
    due = and_(
        webhook_deliveries.c.status == PENDING,
        webhook_deliveries.c.next_attempt_at <= t,
        or_(webhook_deliveries.c.lease_until.is_(None), webhook_deliveries.c.lease_until < t),
    )
    query = (select(webhook_deliveries.c.id, webhook_deliveries.c.lease_until).where(due)
             .order_by(webhook_deliveries.c.next_attempt_at).limit(limit))
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    claimed: list[Delivery] = []
    lease = t + lease_seconds
    for row in (await conn.execute(query)).all():
        previous = webhook_deliveries.c.lease_until
        same_lease = previous.is_(None) if row.lease_until is None else previous == row.lease_until
        res = await conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == row.id, webhook_deliveries.c.status == PENDING,
                   same_lease)
            .values(lease_until=lease))
        if res.rowcount == 1:
            found = await get_delivery(conn, row.id)
            if found is not None:
                claimed.append(found)
    return claimed


async def next_due(conn: AsyncConnection) -> float | None:
    """When the earliest pending delivery nobody holds is due."""
    t = now()
    query = select(func.min(webhook_deliveries.c.next_attempt_at)).where(
        webhook_deliveries.c.status == PENDING,
        or_(webhook_deliveries.c.lease_until.is_(None), webhook_deliveries.c.lease_until < t))
    value = (await conn.execute(query)).scalar_one_or_none()
    return float(value) if value is not None else None


async def finish(conn: AsyncConnection, delivery: Delivery, **values: Any) -> bool:
    """Record an attempt's outcome if we still hold the lease we claimed with (and
    only then count it in the totals: the attempt, and the delivery if it ended)."""
    res = await conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == delivery.id,
               webhook_deliveries.c.status == PENDING,
               webhook_deliveries.c.lease_until == delivery.lease_until)
        .values(lease_until=None, **values))
    if res.rowcount != 1:
        return False
    status = values.get("status", PENDING)
    await totals.add(conn, [
        totals.Count("webhook_attempts", amount=int(values.get("attempts", delivery.attempts))
                     - delivery.attempts),
        *([totals.Count("webhooks", label=str(status), count=1)] if status != PENDING else [])])
    return True


async def replay(conn: AsyncConnection, delivery: Delivery) -> Delivery:
    """Send a finished delivery again, as a new row with a fresh retry window.

    The payload (so the event id, which receivers use to deduplicate) is unchanged;
    a dead original is marked ``replayed`` so it leaves the dead-letter list.
    """
    key = f"{delivery.event_key}:replay:{new_id('r', 6)}"
    await enqueue(conn, endpoint_id=delivery.endpoint_id, job_id=delivery.job_id,
                  event_type=delivery.event_type, event_key=key, payload=delivery.payload)
    if delivery.status == DEAD:
        res = await conn.execute(update(webhook_deliveries)
                                 .where(webhook_deliveries.c.id == delivery.id,
                                        webhook_deliveries.c.status == DEAD)
                                 .values(status=REPLAYED))
        if res.rowcount == 1:
            await totals.add(conn, [totals.Count("webhooks", label=DEAD, count=-1),
                                    totals.Count("webhooks", label=REPLAYED, count=1)])
    row = (await conn.execute(select(webhook_deliveries)
                              .where(webhook_deliveries.c.event_key == key))).first()
    assert row is not None
    return Delivery.from_row(row)
