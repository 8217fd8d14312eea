"""Build the configured storage backend from one URL-shaped setting.

One string is easy to pass through an environment variable: ``file:///var/lib/reelgate``
(or a plain path) for a directory, ``s3://bucket/prefix?endpoint_url=...`` for S3.
The S3 backend's libraries (aioboto3, botocore: a third of the install and of the start-up
imports) are the optional ``s3`` extra, imported only when an ``s3:`` URL is configured.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from reelgate.media.local import LocalStorage
from reelgate.media.storage import Storage

if TYPE_CHECKING:
    from reelgate.media.s3 import S3Storage

__all__ = ["S3_EXTRA_MISSING", "storage_from_url"]

S3_EXTRA_MISSING = (
    "S3 storage needs the s3 extra, which is not installed: pip install 'reelgate[s3]' "
    "(in a checkout: .venv/bin/pip install -e '.[s3]')"
)
_S3_LIBRARIES = frozenset({"aioboto3", "aiobotocore", "boto3", "botocore", "s3transfer"})

_S3_PARAMS = frozenset({"endpoint_url", "region", "access_key", "secret_key", "create_bucket"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def storage_from_url(url: str) -> Storage:
    """``file:``/path → LocalStorage, ``s3:`` → S3Storage; anything else is a ValueError.

    S3 credentials come from ``access_key``/``secret_key`` query parameters if given
    (handy in tests); otherwise botocore's own chain reads ``AWS_ACCESS_KEY_ID``,
    ``AWS_SECRET_ACCESS_KEY`` and ``AWS_SESSION_TOKEN``, then profiles and instance
    roles. (Copying the env keys in here would drop the session token.)
    """
    url = url.strip()
    if not url:
        raise ValueError("storage URL is empty")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "s3":
        return _s3_from_url(url)
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError(f"file URL must be file:///absolute/path, got {url!r}")
        return LocalStorage(Path(unquote(parts.path)))
    if "://" in url:
        raise ValueError(f"unsupported storage URL scheme {parts.scheme!r}")
    return LocalStorage(Path(url).expanduser())


def _s3_from_url(url: str) -> S3Storage:
    parts = urlsplit(url)
    if not parts.netloc or "@" in parts.netloc or ":" in parts.netloc:
        raise ValueError(f"S3 URL must be s3://bucket[/prefix][?params], got {url!r}")
    params = {name: values[-1] for name, values in parse_qs(parts.query, True).items()}
    unknown = sorted(set(params) - _S3_PARAMS)
    if unknown:
        raise ValueError(f"unknown S3 URL parameter(s): {', '.join(unknown)}")
    return _s3_class()(
        parts.netloc,
        endpoint_url=params.get("endpoint_url") or None,
        region=params.get("region") or None,
        access_key=params.get("access_key") or None,
        secret_key=params.get("secret_key") or None,
        prefix=unquote(parts.path),
        create_bucket=_flag(params.get("create_bucket", ""), "create_bucket"),
    )


def _s3_class() -> type[S3Storage]:
    """S3Storage, imported now: a missing extra is a clear error, not a traceback."""
    try:
        from reelgate.media.s3 import S3Storage
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in _S3_LIBRARIES:
            raise ValueError(f"{S3_EXTRA_MISSING}; missing module: {exc.name}") from exc
        raise
    return S3Storage


def _flag(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")
