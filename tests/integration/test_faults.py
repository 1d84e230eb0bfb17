"""Faults under ``registry serve all`` (a real subprocess) on real storage: a root on tmpfs, a disk that fills up,
the server killed mid-upload, the S3 server stopped mid-push. Each test ends with the storage check
(:mod:`storage_check`): every blob hashes to its name, every link names a stored blob.

Mounts need root: the tmpfs test falls back to ``/dev/shm``, the full-disk test to a size-limited tmpfs when no
loop device can be set up; what cannot run is skipped with the reason.
"""

from __future__ import annotations

import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from registry_process import RunningRegistry, serving, serving_config
from storage_check import check_s3_storage, check_storage
from upload_client import (
    MANIFEST_TYPE,
    finish_upload,
    image_manifest,
    oci_error,
    patch_chunk,
    pulled,
    push_chunked,
    push_monolithic,
    put_manifest,
    sha256,
    start_upload,
    upload_offset,
)

from registry_core.testing.configs import s3_config
from registry_core.testing.mounts import MountUnavailable, loop_ext4, tmpfs
from registry_core.testing.servers import Process, free_port, start_moto, stop

pytestmark = pytest.mark.integration

MiB = 1 << 20
REPO = "faults/app"
TIMEOUT = 60.0
"""Bounds every request and wait, so that a fault can never hang the suite."""
DISK_MIB = 32
LAYOUT = Path("docker/registry/v2")


def client_of(registry: RunningRegistry) -> httpx.Client:
    return httpx.Client(base_url=registry.url, timeout=TIMEOUT)


def blob_files(root: Path) -> set[str]:
    blobs = root / LAYOUT / "blobs"
    return {str(p.relative_to(blobs)) for p in blobs.rglob("*") if p.is_file()} if blobs.is_dir() else set()


def upload_data(root: Path, location: str) -> Path:
    """The data file of the upload at ``location`` (``/v2/<name>/blobs/uploads/<id>``)."""
    upload_id = location.rstrip("/").rsplit("/", 1)[1]
    return root / LAYOUT / "repositories" / REPO / "_uploads" / upload_id / "data"


def assert_no_path_in(response: httpx.Response, *paths: Path) -> None:
    for text in ("_uploads", "docker/registry", *map(str, paths)):
        assert text not in response.text, response.text


# -- a root on tmpfs ---------------------------------------------------------------------------------------


@pytest.fixture
def tmpfs_root(tmp_path: Path) -> Iterator[Path]:
    try:
        with tmpfs(tmp_path / "tmpfs") as path:
            yield path / "registry"
    except MountUnavailable as exc:
        pytest.skip(f"no tmpfs: {exc}")


@pytest.mark.parametrize("sendfile", [True, False], ids=["sendfile", "copies"])
def test_push_and_pull_with_the_root_on_tmpfs(tmp_path: Path, tmpfs_root: Path, sendfile: bool) -> None:
    chunked, monolithic = os.urandom(3 * MiB + 11), os.urandom(MiB + 5)
    with serving(tmp_path, root=tmpfs_root, sendfile=sendfile) as registry, client_of(registry) as client:
        chunked_digest = push_chunked(client, REPO, chunked, MiB)
        monolithic_digest = push_monolithic(client, REPO, monolithic)
        assert pulled(client, REPO, chunked_digest) == chunked
        assert pulled(client, REPO, monolithic_digest) == monolithic
        manifest = image_manifest(monolithic, [chunked])
        assert put_manifest(client, REPO, "v1", manifest).status_code == 201
        response = client.get(f"/v2/{REPO}/manifests/v1", headers={"Accept": MANIFEST_TYPE})
        assert response.status_code == 200 and response.content == manifest
    assert blob_files(tmpfs_root)  # the bytes really are on the tmpfs
    check_storage(tmpfs_root)


# -- a full disk -------------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A small file system to fill: a loop-mounted ext4, else a size-limited tmpfs (both give a real ENOSPC)."""
    try:
        with loop_ext4(tmp_path / "disk.img", tmp_path / "disk", size_mib=DISK_MIB) as path:
            yield path
        return
    except MountUnavailable as loop_failed:
        reason = str(loop_failed)
    try:
        with tmpfs(tmp_path / "disk", size=f"{DISK_MIB}m") as path:
            yield path
    except MountUnavailable as exc:
        pytest.skip(f"no small file system to fill: {reason}; {exc}")


def fill(disk: Path, name: str) -> Path:
    """Write ``name`` on ``disk`` until no byte more fits."""
    filler = disk / name
    with open(filler, "wb", buffering=0) as f:
        for piece in (MiB, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * piece)
            except OSError as exc:
                assert exc.errno == 28, exc  # ENOSPC
        os.fsync(f.fileno())
    return filler


def leave_free(disk: Path, size: int) -> list[Path]:
    """Fill ``disk`` but for about ``size`` bytes; the files to delete to free it again."""
    spare = disk / "spare"
    spare.write_bytes(b"\0" * size)
    filler = fill(disk, "filler")
    spare.unlink()
    os.sync()
    return [filler]


def test_a_full_disk_answers_507_and_pushes_resume_once_space_is_freed(tmp_path: Path, small_disk: Path) -> None:
    root = small_disk / "registry"
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    config, first, second = b'{"architecture":"amd64","os":"linux"}', os.urandom(MiB), os.urandom(4 * MiB)
    data = first + second
    with serving(server_dir, root=root) as registry, client_of(registry) as client:
        config_digest = push_monolithic(client, REPO, config)
        location = start_upload(client, REPO)
        assert patch_chunk(client, location, first, 0).status_code == 202
        blobs_before = blob_files(root)
        fillers = leave_free(small_disk, MiB + MiB // 2)

        # A chunk larger than the space left: 507, the OCI body, no path.
        response = patch_chunk(client, location, second, len(first))
        assert response.status_code == 507, response.text
        assert oci_error(response)["code"] == "STORAGE_FULL"
        assert_no_path_in(response, small_disk, root)
        assert registry.process is not None
        upload_file = str(upload_data(root, location).relative_to(root))
        logged = [line for line in registry.process.output().splitlines() if upload_file in line]
        assert len(logged) == 1 and "ERROR" in logged[0], logged  # the log tells where, once

        # Nothing partial is visible; the upload holds a real prefix, and says so.
        assert client.head(f"/v2/{REPO}/blobs/{sha256(data)}").status_code == 404
        assert blob_files(root) == blobs_before
        offset = upload_offset(client, location)
        stored = upload_data(root, location).read_bytes()
        assert len(first) < offset == len(stored) < len(data)  # a part of the chunk is kept
        assert stored == data[:offset]

        # With no byte left: a manifest put and a monolithic push are 507 too, and leave nothing behind.
        fillers.append(fill(small_disk, "filler-2"))
        manifest = image_manifest(config, [])
        response = put_manifest(client, REPO, "v1", manifest)
        assert response.status_code == 507, response.text
        assert oci_error(response)["code"] == "STORAGE_FULL"
        assert_no_path_in(response, small_disk, root)
        assert client.get(f"/v2/{REPO}/manifests/v1").status_code == 404
        extra = os.urandom(64 * 1024)
        response = client.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": sha256(extra)}, content=extra)
        assert response.status_code == 507, response.text
        assert blob_files(root) == blobs_before
        assert upload_offset(client, location) == offset

        # Space freed: the same upload resumes from its offset and completes; new pushes succeed.
        for filler in fillers:
            filler.unlink()
        os.sync()
        response = patch_chunk(client, location, data[offset:], offset)
        assert response.status_code == 202, response.text
        response = finish_upload(client, response.headers["Location"], sha256(data))
        assert response.status_code == 201, response.text
        assert pulled(client, REPO, sha256(data)) == data
        assert put_manifest(client, REPO, "v1", image_manifest(config, [data])).status_code == 201
        assert push_chunked(client, REPO, extra, 32 * 1024) == sha256(extra)
        assert client.head(f"/v2/{REPO}/blobs/{config_digest}").status_code == 200
    check_storage(root)


# -- the server killed mid-upload --------------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


def test_kill_9_mid_upload_then_resume_from_the_reported_offset(tmp_path: Path) -> None:
    root = tmp_path / "data"
    data = os.urandom(6 * MiB + 3)
    with serving(tmp_path) as registry, client_of(registry) as client:
        location = start_upload(client, REPO)
        for start in (0, MiB):
            assert patch_chunk(client, location, data[start : start + MiB], start).status_code == 202
        # A third PATCH streams its body and is cut off by the kill, halfway through.
        assert registry.process is not None
        host, port = registry.host.split(":")
        with socket.create_connection((host, int(port)), timeout=TIMEOUT) as stream:
            rest = data[2 * MiB :]
            head = f"PATCH {location} HTTP/1.1\r\nHost: {registry.host}\r\nContent-Length: {len(rest)}\r\n\r\n"
            stream.sendall(head.encode() + rest[: 2 * MiB + MiB // 2])
            data_file = upload_data(root, location)
            wait_until(lambda: data_file.stat().st_size > 2 * MiB, "the server to store part of the third PATCH")
            registry.process.proc.send_signal(signal.SIGKILL)
            registry.process.proc.wait(timeout=TIMEOUT)

    with serving(tmp_path) as registry, client_of(registry) as client:
        offset = upload_offset(client, location)
        assert 2 * MiB < offset == upload_data(root, location).stat().st_size <= len(data)
        response = patch_chunk(client, location, data[offset:], offset)
        assert response.status_code == 202, response.text
        response = finish_upload(client, response.headers["Location"], sha256(data))
        assert response.status_code == 201, response.text
        assert pulled(client, REPO, sha256(data)) == data
    check_storage(root)


# -- the S3 server stopped mid-push ------------------------------------------------------------------------

S3_ROOT = "/registry"


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )


def start_s3(directory: Path, bucket: str, port: int | None = None) -> Process:
    """moto's S3 server with an (empty) ``bucket``."""
    server = start_moto(directory, port)
    client = s3_client(server.url)
    client.create_bucket(Bucket=bucket)
    client.close()
    return server


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    assert oci_error(response)["code"] == "UNAVAILABLE"
    assert_no_path_in(response)


def test_s3_stopped_mid_push_answers_503_then_pushes_succeed_once_it_is_back(tmp_path: Path) -> None:
    bucket = f"faults-{uuid.uuid4().hex[:8]}"
    moto = start_s3(tmp_path, bucket)
    data, other = os.urandom(2 * MiB + 7), os.urandom(MiB)
    port = free_port()
    config = s3_config(moto.url, bucket, rootdirectory=S3_ROOT, log_level="info", http={"addr": f"127.0.0.1:{port}"})
    try:
        with serving_config(tmp_path, config, port) as registry, client_of(registry) as client:
            other_digest = push_monolithic(client, REPO, other)
            location = start_upload(client, REPO)
            assert patch_chunk(client, location, data[:MiB], 0).status_code == 202

            stop(moto.proc)
            assert_unavailable(patch_chunk(client, location, data[MiB:], MiB))
            assert_unavailable(client.get(location))
            assert_unavailable(client.post(f"/v2/{REPO}/blobs/uploads/"))
            assert_unavailable(client.get(f"/v2/{REPO}/blobs/{other_digest}"))

            # Back on the same port, empty (moto keeps nothing): the interrupted upload is gone, its blob
            # never became visible, and a new push of it succeeds.
            moto = start_s3(tmp_path, bucket, moto.port)
            assert client.get(location).status_code == 404
            assert client.head(f"/v2/{REPO}/blobs/{sha256(data)}").status_code == 404
            assert push_chunked(client, REPO, data, MiB) == sha256(data)
            assert pulled(client, REPO, sha256(data)) == data
        s3 = s3_client(moto.url)
        try:
            check_s3_storage(s3, bucket, S3_ROOT)
        finally:
            s3.close()
    finally:
        stop(moto.proc)
