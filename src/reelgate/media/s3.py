"""An S3-compatible bucket (AWS, MinIO, R2, moto...) as a media store.

Uploads stream through a multipart upload so memory stays at about one part whatever
the video's size; S3 makes the finished object visible atomically. One client (and so
one connection pool) is opened on first use and kept until :meth:`S3Storage.aclose`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aioboto3
import anyio
from anyio import to_thread
from botocore.config import Config
from botocore.exceptions import ClientError

from reelgate.media.local import CHUNK_SIZE, file_chunks, validate_key, validate_prefix
from reelgate.media.storage import StoredObject

__all__ = ["MIN_PART_SIZE", "PART_SIZE", "S3Storage"]

PART_SIZE = 8 * 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024  # S3's floor for every part but the last
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})
_DELETE_BATCH = 1000  # DeleteObjects' limit, also ListObjectsV2's page size


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _strip_etag(value: object) -> str:
    return str(value).strip('"')


class S3Storage:
    """Media in one bucket, optionally below a key prefix."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        prefix: str = "",
        create_bucket: bool = False,
        part_size: int = PART_SIZE,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        if not bucket:
            raise ValueError("bucket is required")
        if part_size < MIN_PART_SIZE or chunk_size <= 0:
            raise ValueError(f"part_size must be >= {MIN_PART_SIZE} and chunk_size positive")
        prefix = prefix.strip("/")
        self.bucket = bucket
        self.prefix = validate_key(prefix) + "/" if prefix else ""
        self.endpoint_url = endpoint_url
        self.region = region
        self.part_size = part_size
        self.chunk_size = chunk_size
        self._create_bucket = create_bucket
        self._session = aioboto3.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
        )
        self._client: Any = None
        self._stack: AsyncExitStack | None = None
        self._lock = anyio.Lock()

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def _key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    async def _s3(self) -> Any:
        """The shared client, opened (and the bucket created if asked) on first use."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                config = Config(
                    signature_version="s3v4",
                    s3={"addressing_style": "path" if self.endpoint_url else "auto"},
                    retries={"max_attempts": 3, "mode": "standard"},
                    # S3-compatible stores often reject the newer default checksum trailers.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                )
                stack = AsyncExitStack()
                client = await stack.enter_async_context(
                    self._session.client("s3", endpoint_url=self.endpoint_url, config=config)
                )
                try:
                    if self._create_bucket:
                        await self._ensure_bucket(client)
                except BaseException:
                    await stack.aclose()
                    raise
                self._client, self._stack = client, stack
            return self._client

    async def _ensure_bucket(self, client: Any) -> None:
        try:
            await client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _error_code(exc) not in _NOT_FOUND:
                raise
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region and self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            await client.create_bucket(**kwargs)
        except ClientError as exc:
            if _error_code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise

    async def put_stream(
        self, key: str, chunks: AsyncIterable[bytes], content_type: str
    ) -> StoredObject:
        """One PutObject if the stream fits in a part, else a multipart upload."""
        full = self._key(key)
        client = await self._s3()
        source = aiter(chunks)
        head = bytearray()
        async for chunk in source:
            head += chunk
            if len(head) >= self.part_size:
                break
        else:
            response = await client.put_object(
                Bucket=self.bucket, Key=full, Body=bytes(head), ContentType=content_type
            )
            return StoredObject(key, len(head), _strip_etag(response["ETag"]), content_type)
        upload = await client.create_multipart_upload(
            Bucket=self.bucket, Key=full, ContentType=content_type
        )
        upload_id = upload["UploadId"]
        try:
            size, etag = await self._upload_parts(client, full, upload_id, head, source)
        except BaseException:
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await client.abort_multipart_upload(
                    Bucket=self.bucket, Key=full, UploadId=upload_id
                )
            raise
        return StoredObject(key, size, etag, content_type)

    async def _upload_parts(
        self,
        client: Any,
        full: str,
        upload_id: str,
        buffer: bytearray,
        source: AsyncIterator[bytes],
    ) -> tuple[int, str]:
        """Send ``part_size`` slices as they fill, then the remainder; returns size, etag."""
        parts: list[dict[str, Any]] = []
        size = 0

        async def send(data: bytes) -> None:
            number = len(parts) + 1
            response = await client.upload_part(
                Bucket=self.bucket, Key=full, UploadId=upload_id, PartNumber=number, Body=data
            )
            parts.append({"ETag": response["ETag"], "PartNumber": number})

        async def drain(final: bool) -> None:
            nonlocal size
            while len(buffer) >= self.part_size or (final and (buffer or not parts)):
                with memoryview(buffer) as view:
                    data = bytes(view[: self.part_size])
                del buffer[: len(data)]
                size += len(data)
                await send(data)

        await drain(final=False)
        async for chunk in source:
            buffer += chunk
            await drain(final=False)
        await drain(final=True)
        done = await client.complete_multipart_upload(
            Bucket=self.bucket, Key=full, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
        return size, _strip_etag(done["ETag"])

    async def put_file(self, key: str, path: Path, content_type: str) -> StoredObject:
        return await self.put_stream(key, file_chunks(Path(path), self.chunk_size), content_type)

    async def stat(self, key: str) -> StoredObject | None:
        client = await self._s3()
        try:
            head = await client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                return None
            raise
        size, etag = int(head["ContentLength"]), _strip_etag(head["ETag"])
        return StoredObject(key, size, etag, head.get("ContentType") or "application/octet-stream")

    async def read_range(self, key: str, start: int, end: int) -> AsyncGenerator[bytes, None]:
        """Yield ``start..end`` inclusive (clamped to the size) from one ranged GetObject.

        Raises FileNotFoundError for a missing key and ValueError when ``start`` is
        negative or past the end, like :class:`LocalStorage`.
        """
        full = self._key(key)
        if start < 0:
            raise ValueError("start must not be negative")
        if end < start:
            return
        client = await self._s3()
        try:
            response = await client.get_object(
                Bucket=self.bucket, Key=full, Range=f"bytes={start}-{end}"
            )
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                raise FileNotFoundError(key) from exc
            if _error_code(exc) == "InvalidRange":
                raise ValueError(f"start {start} is past the end of {key!r}") from exc
            raise
        body = response["Body"]
        async with body:
            if not str(response.get("ContentRange", "")).startswith(f"bytes {start}-"):
                raise OSError(f"the S3 endpoint ignored the Range request for {key!r}")
            while chunk := await body.read(self.chunk_size):
                yield chunk

    async def download_to(self, key: str, path: Path) -> None:
        """Stream the object into a temporary file beside ``path``, then rename it in."""
        stored = await self.stat(key)
        if stored is None:
            raise FileNotFoundError(key)
        dest = Path(path)
        await to_thread.run_sync(lambda: dest.parent.mkdir(parents=True, exist_ok=True))
        tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(8)}.tmp")
        fh = await to_thread.run_sync(tmp.open, "wb")
        try:
            async for chunk in self.read_range(key, 0, stored.size - 1):
                await to_thread.run_sync(fh.write, chunk)
            await to_thread.run_sync(fh.close)
            await to_thread.run_sync(os.replace, tmp, dest)
        except BaseException:
            fh.close()
            tmp.unlink(missing_ok=True)
            raise

    async def delete_prefix(self, prefix: str) -> None:
        """Delete every key starting with ``prefix``, a page (1000 keys) per request."""
        full = self.prefix + validate_prefix(prefix)
        client = await self._s3()
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=full, PaginationConfig={"PageSize": _DELETE_BATCH}
        )
        async for page in pages:
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if not objects:
                continue
            result = await client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
            )
            if result.get("Errors"):
                first = result["Errors"][0]
                raise OSError(f"could not delete {first.get('Key')!r}: {first.get('Message')}")

    async def presigned_url(self, key: str, expires_in: int) -> str | None:
        client = await self._s3()
        url = await client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._key(key)},
            ExpiresIn=expires_in,
        )
        return str(url)

    async def check(self) -> None:
        """Readiness: the bucket answers HeadBucket with these credentials."""
        client = await self._s3()
        await client.head_bucket(Bucket=self.bucket)

    async def aclose(self) -> None:
        async with self._lock:
            stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()
