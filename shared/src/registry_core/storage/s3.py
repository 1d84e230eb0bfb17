"""A driver over an S3 bucket (AWS S3 or any S3-compatible server: MinIO, Ceph, moto), after the Go ``s3-aws`` driver.

Design:

* One boto3 client, built once. boto3 is blocking, so every call to it runs in a worker thread through
  :meth:`S3Driver._call`, bounded by one :class:`anyio.CapacityLimiter` (``max_concurrency``; the HTTP
  connection pool is at least as large). That method is the only gateway to S3: it retries transient failures
  (:func:`with_retries`: exponential backoff with full jitter on throttling, 5xx, request and connection
  timeouts, on top of botocore's own ``standard`` retry mode) and maps botocore errors to the contract's in
  one place (:func:`map_s3_errors`, as httpx's ``map_httpcore_exceptions``).
* A driver path ``/a/b`` is the key ``a/b`` under the optional ``rootdirectory`` prefix. Directories do not
  exist as objects: a directory is the common prefix ``<key>/`` of some keys.
* ``put_content`` is one PutObject, hence atomic. ``move`` is a server-side copy (CopyObject below 5 GiB, a
  multipart copy above) then a delete of the source; nothing goes through this process.
* Streaming writers upload a multipart upload with parts of exactly ``chunksize`` bytes (but the last). Writes
  are gathered in one ``chunksize`` buffer, reused for every part and, through a small pool, by later writers
  (the Go driver's "Pool buffers used in S3.WriteStream"); it is sent zero-copy. ``close`` completes the
  upload into the object at the key, so that what was written survives this process; a later
  ``writer(path, append=True)`` starts a new upload whose first part(s) are the object itself, copied
  server-side (UploadPartCopy) when it is at least 5 MiB, or downloaded into the buffer when smaller. The
  multipart upload is created only when a part must be sent; a file that fits in the buffer is a single
  PutObject. Any failure aborts the multipart upload, and appending or cancelling also aborts uploads that a
  crashed writer left behind for the key (a bucket lifecycle rule ``AbortIncompleteMultipartUpload`` is still
  a good idea for writers that crash and are never resumed).
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from registry_core.storage.driver import (
    FileInfo,
    FileWriter,
    InvalidOffsetError,
    PathNotFoundError,
    StorageDriver,
    StorageError,
    StorageUnavailableError,
    UnsupportedMethodError,
)

T = TypeVar("T")

MiB = 1 << 20
GiB = 1 << 30
MIN_PART_SIZE = 5 * MiB
"""S3's smallest part but the last, and the smallest ``chunksize``."""
MAX_PART_SIZE = 5 * GiB
"""S3's largest part, largest CopyObject, and the largest ``chunksize``."""
MAX_PARTS = 10_000
READ_CHUNK = MiB
DELETE_BATCH = 1000
IDLE_BUFFERS = 4
"""Write buffers kept for reuse by later writers; more are allocated on demand and dropped when returned."""

NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchUpload", "NotFound", "404"})
RETRYABLE_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "ServiceUnavailable",
        "InternalError",
        "503",
    }
)
RETRYABLE_ERRORS: tuple[type[BaseException], ...] = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
    ResponseStreamingError,  # get_content reads its body within the attempt; reader() never retries reads
)
BACKOFF_BASE = 0.1
BACKOFF_CAP = 10.0


# -- the one error mapping and the one retry loop -------------------------------------------------------
def _error_code(exc: ClientError) -> tuple[str, int]:
    """The S3 error code (``NoSuchKey``, ``SlowDown``...; HeadObject has only the status) and HTTP status."""
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return str(code), int(status)


@contextmanager
def map_s3_errors(path: str) -> Iterator[None]:
    """Raise botocore's errors as the contract's: not found, invalid range, unavailable (a transient failure
    that outlasted the retries: unreachable, timeouts, 5xx, throttling), anything else a ``StorageError``."""
    try:
        yield
    except ClientError as exc:
        code, status = _error_code(exc)
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        if code in NOT_FOUND_CODES or (status == 404 and code != "NoSuchBucket"):
            raise PathNotFoundError(path) from exc
        if code == "InvalidRange" or status == 416:
            raise InvalidOffsetError(path, message) from exc
        if is_retryable(exc):  # still failing after the retries
            raise StorageUnavailableError(path, f"{code or status}: {message}") from exc
        raise StorageError(path, f"{code or status}: {message}") from exc
    except BotoCoreError as exc:
        if is_retryable(exc):
            raise StorageUnavailableError(path, str(exc)) from exc
        raise StorageError(path, str(exc)) from exc


def is_retryable(exc: BaseException) -> bool:
    """Throttling, 5xx and timeouts are worth another try; everything else fails at once."""
    if isinstance(exc, ClientError):
        code, status = _error_code(exc)
        return code in RETRYABLE_CODES or status >= 500 or status == 429
    return isinstance(exc, RETRYABLE_ERRORS)


def backoff(attempt: int) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): exponential with full jitter, capped."""
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))


async def _sleep(seconds: float) -> None:
    await anyio.sleep(seconds)


async def with_retries(attempt: Callable[[], Awaitable[T]], *, max_retries: int) -> T:
    """Await ``attempt()``, again after a backoff while it fails with a retryable error, at most ``max_retries``
    more times."""
    for retry in range(max_retries + 1):
        try:
            return await attempt()
        except Exception as exc:
            if retry == max_retries or not is_retryable(exc):
                raise
        await _sleep(backoff(retry))
    raise AssertionError("unreachable")  # pragma: no cover


# -- small pieces ----------------------------------------------------------------------------------------
class _ViewReader(io.RawIOBase):
    """A read-only, seekable file over a memoryview, so botocore sends a buffer without copying it whole."""

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view = view
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def __len__(self) -> int:
        return len(self._view)

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._pos + size)
        chunk = bytes(self._view[self._pos : end])
        self._pos = max(self._pos, end)
        return chunk

    def readall(self) -> bytes:
        return self.read()

    def readinto(self, buffer: Any) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _segments(path: str) -> tuple[str, ...]:
    return tuple(path.strip("/").split("/"))


# -- the driver -----------------------------------------------------------------------------------------
class S3Driver(StorageDriver):
    name = "s3"

    copy_threshold: int = MAX_PART_SIZE
    """Objects larger than this are moved with a multipart copy (CopyObject stops at 5 GiB)."""
    copy_part_size: int = 64 * MiB
    """Part size of a multipart copy (raised when needed to stay within 10,000 parts)."""

    def __init__(
        self,
        *,
        bucket: str,
        region: str = "us-east-1",
        regionendpoint: str | None = None,
        rootdirectory: str = "",
        chunksize: int = 10 * 1024 * 1024,
        accesskey: str | None = None,
        secretkey: str | None = None,
        sessiontoken: str | None = None,
        secure: bool = True,
        forcepathstyle: bool = True,
        skipverify: bool = False,
        max_concurrency: int = 32,
        max_retries: int = 5,
    ) -> None:
        if not MIN_PART_SIZE <= chunksize <= MAX_PART_SIZE:
            raise ValueError(f"chunksize must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes, got {chunksize}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if max_retries < 0:
            raise ValueError(f"max_retries must not be negative, got {max_retries}")
        self.bucket = bucket
        self.root = rootdirectory.strip("/")
        self.chunksize = chunksize
        self.max_retries = max_retries
        self._limiter = anyio.CapacityLimiter(max_concurrency)
        self._buffers: list[bytearray] = []
        endpoint = regionendpoint
        if endpoint and "://" not in endpoint:
            endpoint = f"{'https' if secure else 'http'}://{endpoint}"
        config = Config(
            region_name=region,
            s3={"addressing_style": "path" if forcepathstyle else "auto"},
            signature_version="s3v4",  # also for presigned URLs, which would otherwise be SigV2 in us-east-1
            max_pool_connections=max_concurrency,
            retries={"mode": "standard", "total_max_attempts": 2},
            # Checksums only where S3 demands them: S3-compatible servers differ in what else they accept.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # Without both keys, boto3's default chain (environment, profile, instance role...) provides them.
        keys = {"aws_access_key_id": accesskey, "aws_secret_access_key": secretkey} if accesskey and secretkey else {}
        if keys and sessiontoken:
            keys["aws_session_token"] = sessiontoken
        self._client: Any = boto3.session.Session().client(
            "s3",
            region_name=region,
            endpoint_url=endpoint,
            **keys,
            use_ssl=secure,
            verify=False if skipverify else None,
            config=config,
        )

    # -- the gateway to S3 -------------------------------------------------------------------------------
    async def _call(self, path: str, fn: Callable[[], T], *, retry: bool = True) -> T:
        """Run the blocking ``fn`` in a worker thread (again while it fails transiently, if ``retry``), its
        errors mapped for ``path``."""
        attempt = partial(anyio.to_thread.run_sync, fn, limiter=self._limiter)
        with map_s3_errors(path):
            return await with_retries(attempt, max_retries=self.max_retries if retry else 0)

    async def _s3(self, path: str, operation: str, **params: Any) -> Any:
        """Call the client's ``operation`` on our bucket. A memoryview ``Body`` is sent without a copy, read
        afresh from its start by each attempt."""
        method = getattr(self._client, operation)

        def request() -> Any:
            body = params.get("Body")
            fresh = {"Body": _ViewReader(body)} if isinstance(body, memoryview) else {}
            return method(Bucket=self.bucket, **{**params, **fresh})

        return await self._call(path, request)

    # -- paths and keys ----------------------------------------------------------------------------------
    def _key(self, path: str) -> str:
        relative = path.strip("/")
        return f"{self.root}/{relative}" if self.root and relative else self.root or relative

    def _prefix(self, path: str) -> str:
        """The prefix of every key below the directory ``path``."""
        key = self._key(path)
        return f"{key}/" if key else ""

    def _path(self, key: str) -> str | None:
        """The driver path of ``key``, or ``None`` for keys outside the root or that no path maps to."""
        prefix = f"{self.root}/" if self.root else ""
        if not key.startswith(prefix):
            return None
        relative = key[len(prefix) :].rstrip("/")
        if not relative or "" in relative.split("/"):
            return None
        return f"/{relative}"

    # -- shared requests ---------------------------------------------------------------------------------
    async def _head(self, path: str) -> dict[str, Any] | None:
        """The HeadObject response for the file ``path``, or ``None`` if there is none."""
        try:
            return await self._s3(path, "head_object", Key=self._key(path))
        except PathNotFoundError:
            return None

    async def _pages(self, path: str, prefix: str, **params: Any) -> AsyncIterator[dict[str, Any]]:
        """The pages of ListObjectsV2 under ``prefix``."""
        params = {"Prefix": prefix, **params}
        while True:
            page = await self._s3(path, "list_objects_v2", **params)
            yield page
            if not page.get("IsTruncated"):
                return
            params["ContinuationToken"] = page["NextContinuationToken"]

    async def _objects(self, path: str) -> list[dict[str, Any]]:
        """Every object below the directory ``path`` (the objects, not only the direct children)."""
        return [obj async for page in self._pages(path, self._prefix(path)) for obj in page.get("Contents", [])]

    async def _abort_uploads(self, path: str, key: str, *, below: bool = False) -> None:
        """Abort every multipart upload in progress for ``key`` (crashed writers leave them behind), and with
        ``below`` every one under the directory ``key`` too (a purged upload's crashed writer)."""
        params: dict[str, Any] = {"Prefix": key}
        while True:
            page = await self._s3(path, "list_multipart_uploads", **params)
            for upload in page.get("Uploads", []):
                if upload["Key"] == key or (below and upload["Key"].startswith(f"{key}/")):
                    await _MultipartUpload(self, path, upload["Key"], upload["UploadId"]).abort()
            if not page.get("IsTruncated"):
                return
            params.update(KeyMarker=page["NextKeyMarker"], UploadIdMarker=page["NextUploadIdMarker"])

    def _take_buffer(self) -> bytearray:
        return self._buffers.pop() if self._buffers else bytearray(self.chunksize)

    def _give_buffer(self, buffer: bytearray) -> None:
        if len(self._buffers) < IDLE_BUFFERS:
            self._buffers.append(buffer)

    # -- whole files -------------------------------------------------------------------------------------
    async def get_content(self, path: str) -> bytes:
        def get() -> bytes:
            body = self._client.get_object(Bucket=self.bucket, Key=self._key(path))["Body"]
            with body:
                return body.read()

        return await self._call(path, get)

    async def put_content(self, path: str, content: bytes) -> None:
        await self._s3(path, "put_object", Key=self._key(path), Body=content)

    # -- streams -----------------------------------------------------------------------------------------
    async def reader(self, path: str, offset: int = 0) -> AsyncIterator[bytes]:  # type: ignore[override]
        key = self._key(path)
        try:
            if offset:
                response = await self._s3(path, "get_object", Key=key, Range=f"bytes={offset}-")
            else:
                response = await self._s3(path, "get_object", Key=key)
        except InvalidOffsetError:
            head = await self._head(path)
            if head is None:
                raise PathNotFoundError(path) from None
            if offset == head["ContentLength"]:
                return  # at the very end: nothing to read
            raise InvalidOffsetError(path, f"offset {offset} beyond size {head['ContentLength']}") from None
        body = response["Body"]
        try:
            # No retry of a read: a stream broken mid-way cannot be resumed by reading on.
            while chunk := await self._call(path, partial(body.read, READ_CHUNK), retry=False):
                yield chunk
        finally:
            body.close()  # drops the connection without reading on: no blocking I/O

    async def writer(self, path: str, *, append: bool = False) -> FileWriter:
        key = self._key(path)
        existing = -1
        if append:
            await self._abort_uploads(path, key)
            head = await self._head(path)
            existing = -1 if head is None else head["ContentLength"]
        writer = _S3Writer(self, path, key, self._take_buffer(), existing)
        if 0 < existing < MIN_PART_SIZE:
            await writer._guarded(writer._load())
        return writer

    # -- metadata ----------------------------------------------------------------------------------------
    async def stat(self, path: str) -> FileInfo:
        if path != "/":
            head = await self._head(path)
            if head is not None:
                return FileInfo(path, head["ContentLength"], _utc(head["LastModified"]), is_dir=False)
        page = await self._s3(path, "list_objects_v2", Prefix=self._prefix(path), MaxKeys=1)
        contents = page.get("Contents", [])
        if contents:
            return FileInfo(path, 0, _utc(contents[0]["LastModified"]), is_dir=True)
        if path == "/":
            return FileInfo(path, 0, datetime.now(UTC), is_dir=True)
        raise PathNotFoundError(path)

    async def list(self, path: str) -> list[str]:
        children: set[str] = set()
        async for page in self._pages(path, self._prefix(path), Delimiter="/"):
            keys = [p["Prefix"] for p in page.get("CommonPrefixes", [])] + [o["Key"] for o in page.get("Contents", [])]
            children.update(child for child in map(self._path, keys) if child is not None and child != path)
        if not children and path != "/":
            raise PathNotFoundError(path)
        return sorted(children)

    async def move(self, source: str, dest: str) -> None:
        head = await self._head(source)
        if head is None:
            raise PathNotFoundError(source)
        if source == dest:
            return
        size = head["ContentLength"]
        copy_source = {"Bucket": self.bucket, "Key": self._key(source)}
        if size <= self.copy_threshold:
            await self._s3(dest, "copy_object", Key=self._key(dest), CopySource=copy_source)
        else:
            upload = await _MultipartUpload.start(self, dest, self._key(dest))
            async with upload.guard():
                await upload.copy(self._key(source), size, max(self.copy_part_size, math.ceil(size / MAX_PARTS)))
                await upload.complete()
        # What was at ``dest`` is replaced: a tree there goes, and the source with it.
        await self._delete_tree(dest, [self._key(source)])

    async def delete(self, path: str) -> None:
        is_file = await self._head(path) is not None
        found = await self._delete_tree(path, [self._key(path)] if is_file else []) or is_file
        await self._abort_uploads(path, self._key(path), below=True)
        if not found:
            raise PathNotFoundError(path)

    async def _delete_tree(self, path: str, keys: list[str]) -> bool:
        """Delete ``keys`` and every object below the directory ``path``; whether there was any of the latter."""
        batch, below = [{"Key": key} for key in keys], False
        async for page in self._pages(path, self._prefix(path)):
            for obj in page.get("Contents", []):
                below = True
                batch.append({"Key": obj["Key"]})
                if len(batch) == DELETE_BATCH:
                    await self._delete_batch(path, batch)
                    batch = []
        if batch:
            await self._delete_batch(path, batch)
        return below

    async def _delete_batch(self, path: str, objects: list[dict[str, str]]) -> None:
        response = await self._s3(path, "delete_objects", Delete={"Objects": objects, "Quiet": True})
        if errors := response.get("Errors"):
            first = errors[0]
            raise StorageError(path, f"{len(errors)} keys not deleted, {first['Key']}: {first.get('Code')}")

    async def walk(self, path: str) -> AsyncIterator[FileInfo]:  # type: ignore[override]
        objects = await self._objects(path)
        if not objects and path != "/":
            if await self._head(path) is not None:
                return  # a file: nothing below it
            raise PathNotFoundError(path)
        depth = 0 if path == "/" else len(_segments(path))
        entries: dict[tuple[str, ...], FileInfo] = {}
        for obj in objects:
            child = self._path(obj["Key"])
            if child is None:
                continue
            segments, modified = _segments(child), _utc(obj["LastModified"])
            entries[segments] = FileInfo(child, obj["Size"], modified, is_dir=False)
            for end in range(depth + 1, len(segments)):
                directory = segments[:end]
                seen = entries.get(directory)
                if seen is None or (seen.is_dir and seen.modified < modified):
                    entries[directory] = FileInfo("/" + "/".join(directory), 0, modified, is_dir=True)
        for segments in sorted(entries):
            yield entries[segments]

    async def url_for(self, path: str, *, method: str = "GET", expires_in: int = 1200) -> str:
        operations = {"GET": "get_object", "HEAD": "head_object"}
        if method.upper() not in operations:
            raise UnsupportedMethodError(path, f"url_for with method {method}")
        presign = partial(
            self._client.generate_presigned_url,
            operations[method.upper()],
            Params={"Bucket": self.bucket, "Key": self._key(path)},
            ExpiresIn=expires_in,
        )
        return await self._call(path, presign)

    async def aclose(self) -> None:
        self._buffers.clear()
        await anyio.to_thread.run_sync(self._client.close, limiter=self._limiter)


# -- multipart uploads and the writer ------------------------------------------------------------------
class _MultipartUpload:
    """One multipart upload in progress: its parts so far, and the requests that add, complete or abort."""

    def __init__(self, driver: S3Driver, path: str, key: str, upload_id: str) -> None:
        self.driver, self.path, self.key, self.upload_id = driver, path, key, upload_id
        self.parts: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, driver: S3Driver, path: str, key: str) -> _MultipartUpload:
        response = await driver._s3(path, "create_multipart_upload", Key=key)
        return cls(driver, path, key, response["UploadId"])

    async def _request(self, operation: str, **params: Any) -> Any:
        return await self.driver._s3(self.path, operation, Key=self.key, UploadId=self.upload_id, **params)

    async def upload(self, view: memoryview) -> None:
        """Send ``view`` as the next part."""
        number = len(self.parts) + 1
        response = await self._request("upload_part", PartNumber=number, Body=view)
        self.parts.append({"PartNumber": number, "ETag": response["ETag"]})

    async def copy(self, source_key: str, size: int, part_size: int) -> None:
        """Add the ``size`` bytes of the object ``source_key`` as the next parts of ``part_size`` bytes (but the
        last), copied server-side and in parallel (bounded by the driver's limiter)."""
        first = len(self.parts) + 1
        copied: list[dict[str, Any]] = []
        errors: list[Exception] = []
        source = {"Bucket": self.driver.bucket, "Key": source_key}

        async def copy_part(number: int, start: int) -> None:
            byte_range = f"bytes={start}-{min(size, start + part_size) - 1}"
            try:
                response = await self._request(
                    "upload_part_copy", PartNumber=number, CopySource=source, CopySourceRange=byte_range
                )
            except Exception as exc:  # the first failure stops the others and is raised as it is
                errors.append(exc)
                tg.cancel_scope.cancel()
                return
            copied.append({"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]})

        async with anyio.create_task_group() as tg:
            for number, start in enumerate(range(0, size, part_size), start=first):
                tg.start_soon(copy_part, number, start)
        if errors:
            raise errors[0]
        self.parts.extend(sorted(copied, key=lambda part: part["PartNumber"]))

    async def complete(self) -> None:
        await self._request("complete_multipart_upload", MultipartUpload={"Parts": self.parts})

    async def abort(self) -> None:
        """Abort, even when cancelled; an upload already gone is fine."""
        with anyio.CancelScope(shield=True):
            with suppress(PathNotFoundError):
                await self._request("abort_multipart_upload")

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """``async with upload.guard():`` aborts the upload if the block fails, so that none is left behind."""
        try:
            yield
        except BaseException:
            await self.abort()
            raise


class _S3Writer(FileWriter):
    """Gathers writes in one ``chunksize`` buffer and sends each full buffer as a part (see the module doc).

    ``existing`` is the size of the object appended to, or ``-1`` (not appending, or no object). An object of
    at least 5 MiB becomes the first part(s) by a server-side copy when the upload is created; a smaller one is
    loaded into the buffer by :meth:`_load`.
    """

    def __init__(self, driver: S3Driver, path: str, key: str, buffer: bytearray, existing: int) -> None:
        self._driver, self._path, self._key = driver, path, key
        self._buffer: bytearray | None = buffer
        self._view = memoryview(buffer)
        self._fill = 0
        self._size = self._stored = max(existing, 0)
        self._pending_copy = existing if existing >= MIN_PART_SIZE else 0
        self._unchanged = existing >= 0  # appending to an object that is there: until a byte comes, keep it
        self._upload: _MultipartUpload | None = None
        self._done = False
        self._failed = False

    @property
    def size(self) -> int:
        return self._size

    def _check(self) -> None:
        if self._done:
            raise ValueError("writer failed" if self._failed else "writer already closed")

    async def _guarded(self, step: Awaitable[None]) -> None:
        """Await ``step``; if it fails, abort the multipart upload and refuse any further use but ``cancel``."""
        try:
            await step
        except BaseException:
            self._done = self._failed = True
            self._size = self._stored  # the object at the key is as it was: the upload is aborted
            await self._drop()
            raise

    async def _drop(self) -> None:
        """Give the buffer back and abort the upload in progress, if any."""
        if self._buffer is not None:
            self._driver._give_buffer(self._buffer)
            self._buffer, self._view = None, memoryview(b"")
        if self._upload is not None:
            upload, self._upload = self._upload, None
            await upload.abort()

    async def _load(self) -> None:
        content = await self._driver.get_content(self._path)
        self._view[: len(content)] = content
        self._fill = self._size = len(content)

    async def _ensure_upload(self) -> _MultipartUpload:
        if self._upload is None:
            self._upload = await _MultipartUpload.start(self._driver, self._path, self._key)
            if size := self._pending_copy:
                # Equal parts of at most 5 GiB: every one is at least 5 MiB, as parts before the last must be.
                await self._upload.copy(self._key, size, math.ceil(size / math.ceil(size / MAX_PART_SIZE)))
                self._pending_copy = 0
        return self._upload

    async def _send(self, view: memoryview) -> None:
        upload = await self._ensure_upload()
        await upload.upload(view)

    async def write(self, data: bytes) -> int:
        self._check()
        view = memoryview(data).cast("B")
        if view:
            await self._guarded(self._write(view))
        return len(view)

    async def _write(self, data: memoryview) -> None:
        chunksize, pos = self._driver.chunksize, 0
        self._unchanged = False
        while pos < len(data):
            if self._fill == 0 and len(data) - pos >= chunksize:
                await self._send(data[pos : pos + chunksize])  # a whole part as it is: no copy
                taken = chunksize
            else:
                taken = min(len(data) - pos, chunksize - self._fill)
                self._view[self._fill : self._fill + taken] = data[pos : pos + taken]
                self._fill += taken
                if self._fill == chunksize:
                    await self._send(self._view)
                    self._fill = 0
            pos += taken
            self._size += taken

    async def _persist(self) -> None:
        """Make the object at the key hold everything written: one PutObject, or complete the upload."""
        if self._unchanged:
            return
        if self._upload is None and not self._pending_copy:
            await self._driver._s3(self._path, "put_object", Key=self._key, Body=self._view[: self._fill])
            return
        upload = await self._ensure_upload()
        if self._fill or not upload.parts:
            await upload.upload(self._view[: self._fill])
            self._fill = 0
        await upload.complete()
        self._upload = None

    async def _finish(self) -> None:
        self._check()
        await self._guarded(self._persist())
        self._done = True
        await self._drop()

    async def close(self) -> None:
        if not self._done:
            await self._finish()

    async def commit(self) -> None:
        await self._finish()

    async def cancel(self) -> None:
        if self._done and not self._failed:
            raise ValueError("writer already closed")
        self._done = True
        await self._drop()
        await self._driver._abort_uploads(self._path, self._key)
        await self._driver._s3(self._path, "delete_object", Key=self._key)
