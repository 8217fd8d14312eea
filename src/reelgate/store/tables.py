"""All tables, as SQLAlchemy Core metadata shared by repositories and migrations.

Times are unix seconds (float). Money is integer micro-USD. Every job state change
is a compare-and-swap on ``jobs.version``; ledger rows are unique on ``entry_key``
so a replayed billing event is a no-op.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

__all__ = [
    "admin_session_revocations",
    "api_keys",
    "catalog_models",
    "catalog_revision",
    "channel_credentials",
    "channels",
    "characters",
    "job_events",
    "jobs",
    "ledger",
    "metadata",
    "metric_totals",
    "prices",
    "report_buckets",
    "tenants",
    "upstream_errors",
    "webhook_deliveries",
    "webhook_endpoints",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("balance_micros", BigInteger, nullable=False, default=0),
    Column("price_multiplier_ppm", Integer, nullable=False, default=1_000_000),
    Column("unlimited", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant_id", String(40), ForeignKey("tenants.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
    Column("expires_at", Float),
    Column("allowed_models", JSON),
    Column("spend_cap_micros", BigInteger),
    Column("spent_micros", BigInteger, nullable=False, default=0),
    Column("max_in_flight", Integer),
    Column("creates_per_minute", Integer),
    Column("polls_per_minute", Integer),
    Column("last_used_at", Float),
    # a name says which key: unique among a tenant's live keys (a revoked one frees it)
    Index("uq_api_keys_tenant_live_name", "tenant_id", "name", unique=True,
          sqlite_where=text("revoked_at IS NULL"), postgresql_where=text("revoked_at IS NULL")),
)

channels = Table(
    "channels",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("provider", String(40), nullable=False),
    Column("base_url", String(500), nullable=False, default=""),
    Column("options", JSON, nullable=False, default=dict),
    #: public model -> upstream model; {"*": "*"} serves every catalog model
    Column("models", JSON, nullable=False, default=dict),
    Column("priority", Integer, nullable=False, default=0),
    Column("weight", Integer, nullable=False, default=1),
    Column("max_concurrent", Integer, nullable=False, default=0),
    Column("requests_per_second", Float),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("cooldown_until", Float, nullable=False, default=0.0),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

channel_credentials = Table(
    "channel_credentials",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("channel_id", String(40), ForeignKey("channels.id"), nullable=False, index=True),
    Column("label", String(200), nullable=False, default=""),
    Column("secret_encrypted", Text, nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("cooldown_until", Float, nullable=False, default=0.0),
    Column("created_at", Float, nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant_id", String(40), ForeignKey("tenants.id"), nullable=False),
    Column("key_id", String(40), nullable=False),
    Column("model", String(100), nullable=False),
    #: the retired model the client asked for, when its successor renders the job
    Column("requested_model", String(100)),
    Column("prompt", Text, nullable=False),
    Column("size", String(20), nullable=False),
    Column("seconds", Integer, nullable=False),
    Column("quality", String(20), nullable=False, default="standard"),
    #: internal state: queued, submitting, in_progress, downloading, completed, failed
    Column("state", String(20), nullable=False),
    Column("progress", Integer, nullable=False, default=0),
    Column("version", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("started_at", Float),
    Column("completed_at", Float),
    #: when the job reached its final state (completed or failed), for reporting
    Column("finished_at", Float),
    Column("expires_at", Float),
    Column("deleted_at", Float),
    Column("remixed_from", String(40)),
    Column("reference_key", String(300)),
    Column("reference_mime", String(40)),
    Column("reference_width", Integer),
    Column("reference_height", Integer),
    Column("channel_id", String(40)),
    Column("credential_id", String(40)),
    Column("upstream_model", String(200)),
    Column("upstream_id", String(500)),
    Column("upstream_status", String(100)),
    Column("result_url", Text),
    Column("error_code", String(100)),
    Column("error_message", Text),
    Column("next_poll_at", Float),
    Column("poll_count", Integer, nullable=False, default=0),
    Column("last_polled_at", Float),
    Column("lease_owner", String(100)),
    Column("lease_until", Float),
    Column("submit_attempts", Integer, nullable=False, default=0),
    #: the last refused submit: {channel, channel_id, reason, error_kind, status_code, at}
    Column("last_refusal", JSON),
    Column("rendered_seconds", Float),
    Column("rendered_size", String(20)),
    #: GPU time of the render by the upstream's own clock (self-hosted servers report it)
    Column("render_seconds", Float),
    #: billed by GPU time: the GPU seconds reserved, the most charged (None: by video)
    Column("render_cap_seconds", Integer),
    Column("media", JSON),  # {variant: {key, size, etag, content_type}}
    Column("price_micros", BigInteger, nullable=False, default=0),
    Column("charged_micros", BigInteger),
    Column("idempotency_key", String(300)),
    Column("request_hash", String(64)),
    #: what made the job: create (NULL), remix, edit or extend
    Column("operation", String(20)),
    #: the job an edit or extension was made from by id (lineage; it may be gone since)
    Column("source_id", String(40)),
    #: the job's own copy of its source clip (under its media prefix): uploaded, or
    #: copied from the source job at create, so deleting the source breaks nothing
    Column("source_key", String(300)),
    #: an extension's new segment (``seconds`` is the stitched total; billed: this)
    Column("segment_seconds", Integer),
    #: extensions in this job's chain, itself included (at most 6)
    Column("extensions", Integer),
    #: characters named by the create: [{"id", "upstream_id"}]
    Column("characters", JSON),
    #: the alias (a dated snapshot) the client asked for; echoed as the video's model
    Column("model_alias", String(100)),
    Index("ix_jobs_tenant_created", "tenant_id", "created_at", "id"),
    Index("ix_jobs_due", "state", "next_poll_at"),
    # the claim's: due order, live jobs only (finished ones have no next_poll_at)
    Index("ix_jobs_next_poll", "next_poll_at", postgresql_where=text("next_poll_at IS NOT NULL"),
          sqlite_where=text("next_poll_at IS NOT NULL")),
    Index("ix_jobs_channel_state", "channel_id", "state"),
    # the dashboard (reelgate.reporting): each window query is one range scan of one
    # covering index; unfinished jobs (finished_at NULL) lead ix_jobs_finished
    Index("ix_jobs_finished", "finished_at", "state", "model", "channel_id", "created_at",
          "started_at"),
    Index("ix_jobs_created", "created_at"),
    Index("ix_jobs_started", "started_at"),
    UniqueConstraint("tenant_id", "idempotency_key", name="uq_jobs_tenant_idempotency"),
)

job_events = Table(
    "job_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(40), nullable=False, index=True),
    Column("at", Float, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("state", String(20)),
    Column("progress", Integer),
    Column("detail", JSON),
)

ledger = Table(
    "ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", String(40), ForeignKey("tenants.id"), nullable=False, index=True),
    Column("key_id", String(40)),
    Column("job_id", String(40), index=True),
    #: topup, reserve, settle, refund, adjustment
    Column("kind", String(20), nullable=False),
    Column("amount_micros", BigInteger, nullable=False),
    #: unique per event, e.g. "reserve:video_x"; a replay collides and is a no-op
    Column("entry_key", String(300), nullable=False, unique=True),
    Column("note", Text),
    Column("created_at", Float, nullable=False),
    #: the dashboard's spend and refund queries: one covering range scan per kind
    Index("ix_ledger_kind_created", "kind", "created_at", "tenant_id", "amount_micros",
          "job_id"),
)

#: failed upstream calls per channel, operation (submit, poll, recover, download) and
#: kind (connection, timeout, http_5xx, ...): counters every process's /metrics reads
upstream_errors = Table(
    "upstream_errors",
    metadata,
    Column("channel_id", String(40), primary_key=True),
    Column("op", String(20), primary_key=True),
    Column("kind", String(40), primary_key=True),
    Column("count", BigInteger, nullable=False, default=0),
    Column("updated_at", Float, nullable=False),
)

#: running totals that /metrics reads instead of scanning history (reelgate.store.totals):
#: each row is added to in the transaction of the change it counts, keyed by metric
#: (settle, refund, jobs, failures, polls, duration, webhooks, webhook_attempts) and
#: whichever of model, tenant, channel and label (state, error code, bucket) it has ("")
metric_totals = Table(
    "metric_totals",
    metadata,
    Column("metric", String(20), primary_key=True),
    Column("model", String(100), primary_key=True),
    Column("tenant_id", String(40), primary_key=True),
    Column("channel_id", String(40), primary_key=True),
    Column("label", String(100), primary_key=True),
    #: entries, jobs or deliveries
    Column("count", BigInteger, nullable=False, default=0),
    #: micro-USD, polls, microseconds or attempts
    Column("amount", BigInteger, nullable=False, default=0),
)

prices = Table(
    "prices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(100), nullable=False),
    Column("size", String(20), nullable=False),
    #: "" for the global price, else a tenant id
    Column("tenant_id", String(40), nullable=False, default=""),
    Column("micros_per_second", BigInteger, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("model", "size", "tenant_id", name="uq_prices_model_size_tenant"),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant_id", String(40), ForeignKey("tenants.id"), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("events", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("allow_private", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("endpoint_id", String(40), ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("job_id", String(40)),
    Column("event_type", String(40), nullable=False),
    #: unique per (endpoint, event), so an event enqueued twice is delivered once
    Column("event_key", String(300), nullable=False, unique=True),
    Column("payload", Text, nullable=False),
    #: pending, delivered, dead
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float),
    Column("lease_until", Float),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)

#: characters (``POST /v1/videos/characters``): a tenant's, known to one channel
characters = Table(
    "characters",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant_id", String(40), ForeignKey("tenants.id"), nullable=False),
    Column("key_id", String(40), nullable=False),
    Column("name", String(200), nullable=False),
    #: the channel and key that created it upstream; creates naming it go there
    Column("channel_id", String(40), nullable=False),
    Column("credential_id", String(40)),
    Column("upstream_id", String(500), nullable=False),
    Column("price_micros", BigInteger, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Index("ix_characters_tenant_created", "tenant_id", "created_at"),
)

#: operator changes to the model catalog, merged over the shipped defaults
catalog_models = Table(
    "catalog_models",
    metadata,
    Column("id", String(100), primary_key=True),
    #: the fields the operator set, in the catalog file format (see reelgate.catalog)
    Column("doc", JSON, nullable=False),
    #: bumped by every change; a writer that read another version loses (409)
    Column("version", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

#: one row (id 1): bumped with every catalog change, so each process notices a change
#: by reading one integer, and writers queue on its row lock
catalog_revision = Table(
    "catalog_revision",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("revision", Integer, nullable=False),
)

#: admin UI sessions signed out before their cookie expired (see reelgate.auth.sessions)
admin_session_revocations = Table(
    "admin_session_revocations",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("expires_at", Float, nullable=False),
)

#: the dashboard's closed buckets, computed once (see reelgate.reporting.slots): what
#: (an aggregate and its format version), bucket width and start -> the aggregate
report_buckets = Table(
    "report_buckets",
    metadata,
    Column("what", String(40), primary_key=True),
    Column("step", Integer, primary_key=True, autoincrement=False),
    Column("start", Float, primary_key=True),
    Column("payload", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)
