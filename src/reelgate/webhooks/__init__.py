"""Signed client webhooks: an outbox written with job changes, and a dispatcher.

``hooks`` enqueues deliveries inside the job's transaction, ``dispatcher`` sends them
(Standard Webhooks signatures from ``signing``), ``service`` is what the CLI, admin
API and UI call to register endpoints and replay dead deliveries.
"""
