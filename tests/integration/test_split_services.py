"""blob-read and two blob-write processes on one filesystem root and one Redis descriptor cache: an upload
alternates between writers, the blob is served by the reader, a delete through a writer is seen by the reader,
and concurrent pushes of the same blob through both writers leave one intact blob."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from registry_core import paths
from registry_core.digest import Digest
from registry_core.testing.configs import filesystem_config
from registry_core.testing.servers import Process, RedisServer, start_registry, stop

pytestmark = pytest.mark.integration


@dataclass
class Split:
    root: Path
    reader: Process
    writers: list[Process]


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Split]:
    directory = tmp_path_factory.mktemp("split")
    config = directory / "config.yml"
    config.write_text(filesystem_config(directory / "root", redis_server.addr))
    reader = start_registry("blob-read", config, directory)
    writers = [start_registry("blob-write", config, directory) for _ in range(2)]
    yield Split(directory / "root", reader, writers)
    for p in (reader, *writers):
        stop(p.proc)


def test_upload_alternating_writers_is_served_by_the_reader(split: Split) -> None:
    with httpx.Client(base_url=split.writers[0].url) as a, httpx.Client(base_url=split.writers[1].url) as b:
        upload_alternately(split, a, b)


def upload_alternately(split: Split, a: httpx.Client, b: httpx.Client) -> None:
    chunks = [os.urandom(300_000) for _ in range(4)]
    location = a.post("/v2/split/app/blobs/uploads/").headers["Location"]
    offset = 0
    for i, chunk in enumerate(chunks):
        writer = (a, b)[i % 2]
        headers = {"Content-Range": f"{offset}-{offset + len(chunk) - 1}", "Content-Type": "application/octet-stream"}
        response = writer.patch(location, content=chunk, headers=headers)
        assert response.status_code == 202, response.text
        offset += len(chunk)
        assert response.headers["Range"] == f"0-{offset - 1}"
    content = b"".join(chunks)
    digest = f"sha256:{hashlib.sha256(content).hexdigest()}"
    assert b.put(location, params={"digest": digest}).status_code == 201

    with httpx.Client(base_url=split.reader.url) as reader:
        got = reader.get(f"/v2/split/app/blobs/{digest}")
        assert got.status_code == 200 and got.content == content
        assert a.delete(f"/v2/split/app/blobs/{digest}").status_code == 202
        assert reader.head(f"/v2/split/app/blobs/{digest}").status_code == 404, "the reader must see the delete"


def test_concurrent_pushes_of_one_blob_through_both_writers(split: Split) -> None:
    content = os.urandom(2_000_000)
    digest = f"sha256:{hashlib.sha256(content).hexdigest()}"

    def push(i: int) -> int:
        writer = split.writers[i % 2]
        with httpx.Client(base_url=writer.url, timeout=60) as client:
            url = f"/v2/split/same/blobs/uploads/?digest={digest}"
            return client.post(url, content=content).status_code

    with ThreadPoolExecutor(10) as pool:
        assert list(pool.map(push, range(10))) == [201] * 10
    blob = split.root / paths.blob_data(Digest.parse(digest)).lstrip("/")
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == digest.split(":")[1]
    uploads = split.root / paths.uploads("split/same").lstrip("/")
    assert not uploads.exists() or not any(uploads.iterdir()), "no upload is left behind"
    with httpx.Client(base_url=split.reader.url) as reader:
        assert reader.get(f"/v2/split/same/blobs/{digest}").content == content
