"""Kling credentials: an ``ACCESS_KEY:SECRET_KEY`` pair signs a short JWT per request.

Kling's documented scheme is a JWT (RFC 7519) with HS256, ``iss`` = the access key,
``exp`` = now + 30 min and ``nbf`` = now - 5 s, signed with the secret key and sent as
``Authorization: Bearer <token>``. A token is made for every request, so a job polled
for hours never presents an expired one. Newer Kling accounts also get plain API
keys: a key without a colon is sent as-is as the bearer token.

HS256 is a few lines over :mod:`hmac`, so no JWT library is needed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping

__all__ = ["TOKEN_LIFETIME", "authorization", "b64url", "hs256", "jwt_hs256", "split_key"]

TOKEN_LIFETIME = 1800  # seconds: Kling's own examples use 30 minutes
NOT_BEFORE_SKEW = 5  # seconds back-dated, so a slightly fast server clock accepts it
_HEADER = {"alg": "HS256", "typ": "JWT"}


def b64url(data: bytes) -> str:
    """Base64url without padding, as JOSE wants it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hs256(signing_input: bytes, key: bytes) -> str:
    """The JWS HS256 signature of ``signing_input`` (RFC 7515 §3.1), base64url encoded."""
    return b64url(hmac.new(key, signing_input, hashlib.sha256).digest())


def jwt_hs256(claims: Mapping[str, object], secret: str) -> str:
    """A compact JWT: ``header.payload.signature``."""
    parts = [_json_b64(_HEADER), _json_b64(claims)]
    signing_input = ".".join(parts).encode("ascii")
    return f"{parts[0]}.{parts[1]}.{hs256(signing_input, secret.encode('utf-8'))}"


def _json_b64(value: Mapping[str, object]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def split_key(secret: str) -> tuple[str, str] | None:
    """``(access_key, secret_key)`` for an ``AK:SK`` key, None for a plain API key."""
    access, colon, secret_key = secret.partition(":")
    if not colon:
        return None
    return access, secret_key


def authorization(secret: str, clock: Callable[[], float] = time.time) -> dict[str, str]:
    """The ``Authorization`` header for one request made with the channel key ``secret``."""
    pair = split_key(secret)
    if pair is None:
        return {"Authorization": f"Bearer {secret}"}
    access, secret_key = pair
    now = int(clock())
    claims: dict[str, object] = {
        "iss": access,
        "exp": now + TOKEN_LIFETIME,
        "nbf": now - NOT_BEFORE_SKEW,
    }
    return {"Authorization": f"Bearer {jwt_hs256(claims, secret_key)}"}
