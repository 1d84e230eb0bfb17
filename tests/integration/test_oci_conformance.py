"""The OCI distribution-spec conformance suite, ported: its workflows, over real HTTP, against ``registry serve all``.

Written from the behaviour of the suite in opencontainers/distribution-spec ``conformance/`` (no code taken):

- **v1.1.1** (ginkgo): the four workflows, pull, push, content discovery and content management, each with the
  suite's setup and teardown and its permissive status sets; a workflow shares one repository, as the suite
  shares its namespace (:func:`test_v111_pull` ... :func:`test_v111_content_management`);
- **main** (the rewrite): every blob push method in sha256 and sha512 (monolithic POST, POST+PUT, streamed PATCH,
  chunked, in order and out of order, last chunk in the PUT), mounts (from a repository, anonymous, of a missing
  blob), cancel, range requests, the empty and ``{}`` blobs, bad digests; then for each kind of content
  (:data:`CONTENT`: images, indexes, nested and empty indexes, artifacts, referrers, missing subjects,
  ``data`` fields, non-distributable layers, custom fields, sha512, tag parameters, a bad digest) push, list,
  HEAD, GET, referrers (filtered too) and delete, each delete checked by a HEAD; and the manifest error cases.

Configured as the rewrite's strictest profile ("dev"): ``Docker-Content-Digest`` is required, uploads can be
cancelled, tags can be pushed as ``?tag=`` parameters. Sparse manifests (off in the suite's defaults) are checked
as what this registry does: refused with ``MANIFEST_BLOB_UNKNOWN``.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import io
import json
import os
import secrets
import tarfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from conftest import RunningRegistry

pytestmark = pytest.mark.integration

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
ND_LAYER = "application/vnd.oci.image.layer.nondistributable.v1.tar"
ND_LAYER_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCTET_STREAM = "application/octet-stream"
EXAMPLE_TYPE_1 = "application/vnd.example.oci.conformance.v1"
EXAMPLE_TYPE_2 = "application/vnd.example.oci.conformance.v2"
ACCEPT_MANIFESTS = {"Accept": f"{OCI_INDEX}, {OCI_MANIFEST}"}
CHUNK_MIN = 1024
"""The suite's smallest chunk; blobs of 3 chunks are ``3 * CHUNK_MIN - 5`` bytes."""
ERROR_CODES = frozenset(
    [
        "BLOB_UNKNOWN",
        "BLOB_UPLOAD_INVALID",
        "BLOB_UPLOAD_UNKNOWN",
        "DIGEST_INVALID",
        "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_INVALID",
        "MANIFEST_UNKNOWN",
        "MANIFEST_UNVERIFIED",
        "NAME_INVALID",
        "NAME_UNKNOWN",
        "SIZE_INVALID",
        "TAG_INVALID",
        "UNAUTHORIZED",
        "DENIED",
        "UNSUPPORTED",
    ]
)
OK = range(200, 300)
DELETED_OR_REFUSED = (*OK, 405)
"""v1.1.1 teardown: a manifest it pushed is deleted, or deletes are disabled."""
DELETED_GONE_OR_REFUSED = (*OK, 404, 405)
"""v1.1.1 teardown: a blob may already be gone."""

Json = dict[str, Any]


# -- fixtures and HTTP helpers -------------------------------------------------------------------------------------
@pytest.fixture
def api(registry_server: RunningRegistry) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry_server.url, timeout=60.0) as client:
        yield client


def new_repository() -> str:
    return f"conformance/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def repo() -> str:
    return new_repository()


@pytest.fixture
def repo2() -> str:
    return new_repository()


def expect(response: httpx.Response, *statuses: int) -> httpx.Response:
    request = response.request
    assert response.status_code in statuses, (
        f"{request.method} {request.url}: {response.status_code}, expected {statuses}: {response.text[:400]}"
    )
    return response


def expect_error(response: httpx.Response, status: int, code: str) -> None:
    expect(response, status)
    assert code in error_codes(response), response.text[:400]


def error_codes(response: httpx.Response) -> list[str]:
    return [str(error.get("code")) for error in response.json().get("errors", [])]


def location(api: httpx.Client, response: httpx.Response, **params: str) -> httpx.URL:
    """The ``Location`` of ``response``, resolved against the registry, its own query kept and ``params`` added."""
    value = response.headers.get("location")
    assert value, f"{response.request.method} {response.request.url}: no Location header"
    return api.base_url.join(value).copy_merge_params(params)


def relative(url: httpx.URL) -> str:
    return url.raw_path.decode()


# -- digests and content -------------------------------------------------------------------------------------------
def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def random_digest() -> str:
    return digest_of(os.urandom(64))


def encode(document: Json) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def media_type_of(manifest: bytes) -> str:
    """The manifest's ``mediaType`` (the suite's rule: an image manifest when there is none)."""
    return str(json.loads(manifest).get("mediaType") or OCI_MANIFEST)


def subject_of(manifest: bytes) -> str | None:
    subject = json.loads(manifest).get("subject")
    return None if subject is None else str(subject["digest"])


def tar_layer(number: int) -> tuple[bytes, bytes]:
    """A tar of one small text file: ``(tar, gzip of it)``, different on each call."""
    content = f"Conformance file {number}, lucky number {secrets.randbelow(2**63)}\n".encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"./conformance-{number}.txt")
        info.size, info.mode = len(content), 0o644
        tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue(), gzip.compress(buffer.getvalue(), mtime=0)


# -- pushing and checking blobs --------------------------------------------------------------------------------------
def start_upload(api: httpx.Client, repo: str) -> httpx.Response:
    response = expect(api.post(f"/v2/{repo}/blobs/uploads/", content=b""), 202)
    location(api, response)
    return response


def push_post_only(api: httpx.Client, repo: str, data: bytes, digest: str) -> httpx.Response:
    """One POST ``?digest=`` carrying the blob."""
    headers = {"Content-Type": OCTET_STREAM}
    return api.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data, headers=headers)


def push_post_put(api: httpx.Client, repo: str, data: bytes, digest: str) -> httpx.Response:
    """POST for a session, then one PUT ``?digest=`` carrying the blob."""
    url = location(api, start_upload(api, repo), digest=digest)
    return api.put(url, content=data, headers={"Content-Type": OCTET_STREAM})


def push_stream(api: httpx.Client, repo: str, data: bytes, digest: str) -> httpx.Response:
    """POST, one PATCH without ``Content-Range`` streaming the blob, an empty PUT ``?digest=``."""
    url = location(api, start_upload(api, repo))
    patched = expect(api.patch(url, content=data, headers={"Content-Type": OCTET_STREAM}), 202)
    return api.put(location(api, patched, digest=digest), content=b"")


def push_chunked(
    api: httpx.Client, repo: str, data: bytes, digest: str, *, put_last: bool = False, out_of_order: bool = False
) -> httpx.Response:
    """POST, then PATCHes of about a third of the blob each with ``Content-Range`` (the last one in the PUT if
    ``put_last``); ``out_of_order`` first sends each chunk's successor (or the first chunk again), which must be
    refused with 416, and recovers the upload's offset with a GET."""
    started = start_upload(api, repo)
    size = max(len(data) // 3 + 1, int(started.headers.get("oci-chunk-min-length", 0)), CHUNK_MIN)
    size = min(size, len(data))
    url, last_byte = location(api, started), -1
    while last_byte < len(data) - 1:
        if out_of_order:
            url = send_out_of_order_chunk(api, url, data, digest, last_byte, size, put_last)
        start, last_byte = last_byte + 1, min(last_byte + size, len(data) - 1)
        final = put_last and last_byte == len(data) - 1
        response = send_chunk(api, url.copy_merge_params({"digest": digest}) if final else url, data, start, last_byte)
        if final:
            return response
        url = location(api, expect(response, 202))
    return api.put(url.copy_merge_params({"digest": digest}), content=b"")


def send_chunk(api: httpx.Client, url: httpx.URL, data: bytes, start: int, last: int) -> httpx.Response:
    """PATCH, or PUT when ``url`` carries the digest, of ``data[start:last + 1]`` with its ``Content-Range``."""
    headers = {"Content-Type": OCTET_STREAM, "Content-Range": f"{start}-{last}"}
    method = "PUT" if "digest" in url.params else "PATCH"
    return api.request(method, url, content=data[start : last + 1], headers=headers)


def send_out_of_order_chunk(
    api: httpx.Client, url: httpx.URL, data: bytes, digest: str, last_byte: int, size: int, put_last: bool
) -> httpx.URL:
    """Send the chunk after the next one (or the first again): 416; then GET the upload: 204 with its offset."""
    bad_start = last_byte + 1 + size if last_byte + 1 + size < len(data) else 0
    bad_last = min(bad_start + size - 1, len(data) - 1)
    target = url.copy_merge_params({"digest": digest}) if put_last and bad_last == len(data) - 1 else url
    expect(send_chunk(api, target, data, bad_start, bad_last), 416)
    status = expect(api.get(url), 204)
    current = status.headers.get("range", "")
    assert current.startswith("0-"), f"Range after a 416: {current!r}"
    if last_byte >= 0:
        assert current == f"0-{last_byte}"
    return location(api, status)


PushMethod = Callable[[httpx.Client, str, bytes, str], httpx.Response]

PUSH_METHODS: dict[str, PushMethod] = {
    "post only": push_post_only,
    "post+put": push_post_put,
    "stream": push_stream,
    "chunked single": push_chunked,
    "chunked multi": push_chunked,
    "chunked multi and put chunk": partial(push_chunked, put_last=True),
    "chunked out-of-order": partial(push_chunked, out_of_order=True),
    "chunked out-of-order and put chunk": partial(push_chunked, put_last=True, out_of_order=True),
}
MULTI_CHUNK = frozenset(name for name in PUSH_METHODS if name.startswith("chunked") and name != "chunked single")


def check_created(api: httpx.Client, response: httpx.Response, data: bytes, digest: str) -> None:
    """201, ``Docker-Content-Digest``, and a ``Location`` that serves the blob."""
    expect(response, 201)
    assert response.headers.get("docker-content-digest") == digest
    check_body(expect(api.get(location(api, response)), 200), data)


def check_body(response: httpx.Response, data: bytes) -> None:
    assert response.content == data
    assert response.headers["content-length"] == str(len(data))


def check_blob(api: httpx.Client, repo: str, digest: str, data: bytes) -> None:
    """HEAD (no body, length, digest) and GET (the bytes) of a blob."""
    head = expect(api.head(f"/v2/{repo}/blobs/{digest}"), 200)
    assert (head.content, head.headers["content-length"]) == (b"", str(len(data)))
    assert head.headers.get("docker-content-digest") == digest
    get = expect(api.get(f"/v2/{repo}/blobs/{digest}"), 200)
    check_body(get, data)
    assert get.headers.get("docker-content-digest") == digest


def delete_blob(api: httpx.Client, repo: str, digest: str) -> None:
    """DELETE (202, or 404 when already gone), then the blob is gone at once (HEAD 404)."""
    response = expect(api.delete(f"/v2/{repo}/blobs/{digest}"), 202, 404)
    if response.status_code == 202:
        assert response.headers.get("content-length", "0") == "0"
    expect(api.head(f"/v2/{repo}/blobs/{digest}"), 404)


def push_blob(api: httpx.Client, repo: str, data: bytes, digest: str | None = None) -> str:
    digest = digest or digest_of(data)
    expect(push_post_put(api, repo, data, digest), 201)
    return digest


# -- pushing and checking manifests ----------------------------------------------------------------------------------
def put_manifest(api: httpx.Client, repo: str, reference: str, manifest: bytes, tags: tuple[str, ...] = ()) -> None:
    """PUT, checked as the suite checks it: 201, the digest, ``OCI-Subject``, ``OCI-Tag`` for each ``?tag=``, and a
    ``Location`` that serves the manifest with its type and length."""
    params = [("tag", tag) for tag in tags]
    headers = {"Content-Type": media_type_of(manifest)}
    response = expect(
        api.put(f"/v2/{repo}/manifests/{reference}", params=params, content=manifest, headers=headers), 201
    )
    assert response.headers.get("docker-content-digest") == (reference if ":" in reference else digest_of(manifest))
    if (subject := subject_of(manifest)) is not None:
        assert response.headers.get("oci-subject") == subject
    accepted = {tag.strip() for value in response.headers.get_list("oci-tag") for tag in value.split(",")}
    assert set(tags) <= accepted, f"OCI-Tag {accepted} lacks {tags}"
    check_manifest(expect(api.get(location(api, response), headers=ACCEPT_MANIFESTS), 200), manifest)


def check_manifest(response: httpx.Response, manifest: bytes, *, head: bool = False) -> None:
    assert response.headers.get("content-type") == media_type_of(manifest)
    assert response.headers.get("content-length") == str(len(manifest))
    assert response.content == (b"" if head else manifest)


def check_manifest_reads(api: httpx.Client, repo: str, reference: str, manifest: bytes, digest: str) -> None:
    """HEAD and GET by tag or digest: 200, type, length, digest header; the body on GET only."""
    for method in ("HEAD", "GET"):
        response = expect(api.request(method, f"/v2/{repo}/manifests/{reference}", headers=ACCEPT_MANIFESTS), 200)
        check_manifest(response, manifest, head=method == "HEAD")
        assert response.headers.get("docker-content-digest") == digest


def delete_manifest(api: httpx.Client, repo: str, reference: str) -> None:
    """DELETE a tag or a manifest (202, or 404 when already gone), then it is gone at once (HEAD 404)."""
    expect(api.delete(f"/v2/{repo}/manifests/{reference}"), 202, 404)
    expect(api.head(f"/v2/{repo}/manifests/{reference}", headers=ACCEPT_MANIFESTS), 404)


def tag_list(api: httpx.Client, repo: str, **params: str) -> list[str]:
    response = expect(api.get(f"/v2/{repo}/tags/list", params=params), 200)
    assert response.json()["name"] == repo
    return list(response.json()["tags"] or [])


def referrers(api: httpx.Client, repo: str, subject: str, **params: str) -> httpx.Response:
    """The referrers of ``subject``: always 200 and an OCI index."""
    response = expect(api.get(f"/v2/{repo}/referrers/{subject}", params=params), 200)
    assert response.headers.get("content-type") == OCI_INDEX
    index = response.json()
    assert (index.get("schemaVersion"), index.get("mediaType")) == (2, OCI_INDEX)
    return response


def is_referrer(entry: Json, goal: Json) -> bool:
    """``entry`` of a referrers list is ``goal``: same digest, type, size, artifact type, and its annotations."""
    keys = ("digest", "mediaType", "size")
    return (
        all(entry.get(key) == goal[key] for key in keys)
        and entry.get("artifactType", "") == goal["artifactType"]
        and goal["annotations"].items() <= (entry.get("annotations") or {}).items()
    )


# -- kinds of content (the rewrite's data tests) ---------------------------------------------------------------------
@dataclass(frozen=True)
class Spec:
    """How to generate a manifest (the rewrite's generator options); an index passes it on to its images."""

    tag: str | None = None
    algorithm: str = "sha256"
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    unique_annotation: bool = False
    config_media_type: str = OCI_CONFIG
    config_bytes: bytes = b"{}"
    layer_count: int = 2
    layer_media_type: str = OCI_LAYER_GZIP
    layer_bytes: bytes | None = None
    platform: tuple[str, str] = ("linux", "amd64")
    platforms: tuple[tuple[str, str], ...] = (("linux", "amd64"), ("linux", "arm64"))
    subject: Json | None = None
    extra_field: bool = False
    with_data: bool = False


@dataclass
class Content:
    """What one data test pushes, in order, and expects back (the rewrite's ``testData``)."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, bytes] = field(default_factory=dict)
    """Digest -> bytes, in push order (children before the indexes that list them)."""
    tags: dict[str, str] = field(default_factory=dict)
    referrers: dict[str, list[Json]] = field(default_factory=dict)
    """Subject digest -> the entries its referrers list must hold."""
    tag_params: bool = False
    """Push tags as ``?tag=`` parameters of the PUT by digest."""
    bad_digests: set[str] = field(default_factory=set)
    """Manifests whose bytes do not hash to their digest: a PUT by that digest must be refused."""

    def blob(self, data: bytes, media_type: str, spec: Spec) -> Json:
        digest = digest_of(data, spec.algorithm)
        self.blobs[digest] = data
        return self._descriptor(media_type, digest, data, spec)

    def layer(self, number: int, spec: Spec) -> tuple[Json, str]:
        """A tar layer (gzipped unless the spec's type is the plain tar), and its diff id."""
        plain, gzipped = tar_layer(number)
        data = plain if spec.layer_media_type == OCI_LAYER else gzipped
        return self.blob(data, spec.layer_media_type, spec), digest_of(plain, spec.algorithm)

    def config(self, spec: Spec, diff_ids: list[str]) -> Json:
        config = {
            "author": "OCI Conformance Test",
            "os": spec.platform[0],
            "architecture": spec.platform[1],
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        return self.blob(encode(with_extra_field(config, spec)), OCI_CONFIG, spec)

    def image(self, spec: Spec) -> Json:
        """An image (or artifact) manifest with its config and layers (``genManifestFull``)."""
        layers, diff_ids = [], []
        for number in range(spec.layer_count):
            if spec.layer_media_type.startswith("application/vnd.oci.image.layer.v1."):
                layer, diff_id = self.layer(number, spec)
            else:
                data = spec.layer_bytes if spec.layer_bytes is not None else os.urandom(2048)
                layer = self.blob(data, spec.layer_media_type, spec)
                diff_id = layer["digest"]
            layers.append(layer)
            diff_ids.append(diff_id)
        if spec.config_media_type == OCI_CONFIG:
            config = self.config(spec, diff_ids)
        else:
            config = self.blob(spec.config_bytes, spec.config_media_type, spec)
        return self.manifest(config, layers, spec)

    def manifest(self, config: Json, layers: list[Json], spec: Spec) -> Json:
        document: Json = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers}
        descriptor = self._add_manifest(document, spec)
        self._add_referrer(descriptor, spec, spec.artifact_type or config["mediaType"])
        return descriptor

    def index(self, children: list[Json], platforms: list[tuple[str, str] | None], spec: Spec) -> Json:
        manifests = [
            child if platform is None else {**child, "platform": {"os": platform[0], "architecture": platform[1]}}
            for child, platform in zip(children, platforms, strict=True)
        ]
        descriptor = self._add_manifest({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}, spec)
        self._add_referrer(descriptor, spec, spec.artifact_type or "")
        return descriptor

    def image_index(self, spec: Spec) -> Json:
        """An index of one image per platform, each generated with the same options (``genIndexFull``)."""
        images = [self.image(dataclasses.replace(spec, tag=None, platform=p)) for p in spec.platforms]
        return self.index(images, list(spec.platforms), spec)

    def _add_manifest(self, document: Json, spec: Spec) -> Json:
        if spec.artifact_type:
            document["artifactType"] = spec.artifact_type
        if spec.subject is not None:
            document["subject"] = spec.subject
        annotations = dict(spec.annotations)
        if spec.unique_annotation:
            annotations[f"org.example.{secrets.token_hex(8)}"] = secrets.token_hex(8)
        if annotations:
            document["annotations"] = annotations
        data = encode(with_extra_field(document, spec))
        digest = digest_of(data, spec.algorithm)
        self.manifests[digest] = data
        if spec.tag is not None:
            self.tags[spec.tag] = digest
        return self._descriptor(document["mediaType"], digest, data, spec)

    def _add_referrer(self, descriptor: Json, spec: Spec, artifact_type: str) -> None:
        if spec.subject is None:
            return
        annotations = json.loads(self.manifests[descriptor["digest"]]).get("annotations", {})
        entry = {**descriptor, "artifactType": artifact_type, "annotations": annotations}
        entry.pop("data", None)
        self.referrers.setdefault(spec.subject["digest"], []).append(entry)

    @staticmethod
    def _descriptor(media_type: str, digest: str, data: bytes, spec: Spec) -> Json:
        descriptor: Json = {"mediaType": media_type, "digest": digest, "size": len(data)}
        if spec.with_data:
            descriptor["data"] = base64.b64encode(data).decode()
        return descriptor


def with_extra_field(document: Json, spec: Spec) -> Json:
    """``document`` with a field no spec defines, when the spec asks for one."""
    return {**document, f"org.{secrets.token_hex(6)}": secrets.token_hex(6)} if spec.extra_field else document


ARTIFACT = Spec(
    artifact_type=EXAMPLE_TYPE_1, config_media_type=OCI_EMPTY, layer_count=1, layer_media_type=EXAMPLE_TYPE_1
)
REFERRER = dataclasses.replace(
    ARTIFACT, annotations={"org.opencontainers.conformance": "hello"}, unique_annotation=True
)


Build = Callable[[Content], object]
"""Fills a :class:`Content` with one kind of content (what the rewrite's ``GenerateData`` does per data test)."""


def content_of(build: Build) -> Content:
    content = Content()
    build(content)
    return content


def nested_index(content: Content) -> None:
    children = [content.image_index(Spec()), content.image_index(Spec())]
    content.index(children, [None, None], Spec(tag="index-of-index"))


def artifacts_with_subject(content: Content) -> None:
    subject = content.image(Spec(tag="image"))
    content.image(Spec(subject=subject))
    content.image(dataclasses.replace(REFERRER, subject=subject, tag="tagged-artifact1"))
    second = dataclasses.replace(REFERRER, artifact_type=EXAMPLE_TYPE_2, layer_media_type=OCTET_STREAM)
    content.image(dataclasses.replace(second, subject=subject, tag="tagged-artifact2"))


def index_with_subject(content: Content) -> None:
    subject = content.image_index(Spec(tag="index"))
    content.image_index(dataclasses.replace(REFERRER, subject=subject, tag="tagged-artifact"))


def missing_subject(content: Content) -> None:
    subject = {"mediaType": OCI_MANIFEST, "size": 123, "digest": digest_of(b"missing content")}
    content.image(dataclasses.replace(REFERRER, subject=subject, tag="tagged-artifact"))


def non_distributable(content: Content) -> None:
    spec = Spec()
    external = [
        {"mediaType": media_type, "digest": (d := random_digest()), "size": size, "urls": [f"https://x.example/{d}"]}
        for media_type, size in ((ND_LAYER_GZIP, 123456), (ND_LAYER, 12345))
    ]
    layer, diff_id = content.layer(0, spec)
    config = content.config(spec, [random_digest(), external[1]["digest"], diff_id])
    content.manifest(config, [*external, layer], Spec(tag="non-distributable-image"))


def tag_parameters(algorithm: str) -> Callable[[Content], None]:
    def build(content: Content) -> None:
        prefix = f"tag-param-{algorithm}"
        content.image_index(Spec(tag=prefix, algorithm=algorithm))
        content.tags |= {f"{prefix}-{i}": digest for i, digest in enumerate(content.manifests)}
        content.tag_params = True

    return build


def bad_digest(content: Content) -> None:
    digest = content.image(Spec())["digest"]
    content.manifests[digest] += b"  "
    content.bad_digests.add(digest)


LARGE_ANNOTATIONS = {f"large-{i}": "A" * 10000 for i in range(390)}
"""About 3.9 MB of annotations: a manifest near the 4 MiB the spec asks registries to take."""

CONTENT: dict[str, Build] = {
    "image": lambda c: c.image(Spec(tag="image")),
    "image-uncompressed": lambda c: c.image(Spec(tag="image-uncompressed", layer_media_type=OCI_LAYER)),
    "large-manifest": lambda c: c.image(Spec(tag="large-manifest", annotations=LARGE_ANNOTATIONS)),
    "index": lambda c: c.image_index(Spec(tag="index")),
    "nested-index": nested_index,
    "empty-index": lambda c: c.image_index(Spec(tag="index", platforms=())),
    "artifact": lambda c: c.image(dataclasses.replace(ARTIFACT, tag="artifact")),
    "artifact-index": lambda c: c.image_index(dataclasses.replace(ARTIFACT, tag="artifact-index")),
    "artifact-without-layers": lambda c: c.image(
        dataclasses.replace(ARTIFACT, tag="artifact-without-layers", layer_media_type=OCI_EMPTY, layer_bytes=b"{}")
    ),
    "artifacts-with-subject": artifacts_with_subject,
    "index-with-subject": index_with_subject,
    "missing-subject": missing_subject,
    "data-field": lambda c: c.image(Spec(tag="data-field", with_data=True)),
    "non-distributable-layers": non_distributable,
    "custom-fields": lambda c: c.image_index(Spec(tag="custom-fields", extra_field=True)),
    "no-layers": lambda c: c.image(Spec(tag="no-layers", layer_count=0)),
    "sha512": lambda c: c.image_index(Spec(algorithm="sha512")),
    "tag-param-sha256": tag_parameters("sha256"),
    "tag-param-sha512": tag_parameters("sha512"),
    "bad-digest-image": bad_digest,
}


def push_content(api: httpx.Client, repo: str, content: Content) -> set[str]:
    """Blobs, then every manifest by digest in order, then each tag; the tags pushed."""
    for digest, data in content.blobs.items():
        push_blob(api, repo, data, digest)
    pushed: set[str] = set()
    for digest, manifest in content.manifests.items():
        if digest in content.bad_digests:
            expect_error(
                api.put(f"/v2/{repo}/manifests/{digest}", content=manifest, headers=json_type(manifest)),
                400,
                "DIGEST_INVALID",
            )
            continue
        tags = tuple(t for t, d in content.tags.items() if d == digest) if content.tag_params else ()
        put_manifest(api, repo, digest, manifest, tags)
        pushed.update(tags)
    for tag, digest in content.tags.items():
        if tag not in pushed:
            put_manifest(api, repo, tag, content.manifests[digest])
            pushed.add(tag)
    return pushed


def json_type(manifest: bytes) -> dict[str, str]:
    return {"Content-Type": media_type_of(manifest)}


def check_tags(api: httpx.Client, repo: str, content: Content) -> None:
    """Every tag listed; ``last`` starts the list strictly after it."""
    listed = tag_list(api, repo)
    assert set(content.tags) <= set(listed)
    assert listed == sorted(listed)
    if len(listed) >= 2:
        half = len(listed) // 2
        after = tag_list(api, repo, last=listed[half - 1])
        assert set(after).isdisjoint(listed[:half]) and set(listed[half:]) <= set(after)


def check_reads(api: httpx.Client, repo: str, content: Content) -> None:
    for tag, digest in content.tags.items():
        check_manifest_reads(api, repo, tag, content.manifests[digest], digest)
    for digest, manifest in content.manifests.items():
        if digest not in content.bad_digests:
            check_manifest_reads(api, repo, digest, manifest, digest)
    for digest, data in content.blobs.items():
        check_blob(api, repo, digest, data)


def check_referrers(api: httpx.Client, repo: str, content: Content) -> None:
    """Each subject lists its referrers; filtered by each artifact type, exactly those (``OCI-Filters-Applied``)."""
    for subject, goals in content.referrers.items():
        listed = referrers(api, repo, subject).json()["manifests"]
        for goal in goals:
            assert any(is_referrer(entry, goal) for entry in listed), f"{goal['digest']} not listed for {subject}"
        for artifact_type in {goal["artifactType"] for goal in goals} - {""}:
            filtered = referrers(api, repo, subject, artifactType=artifact_type)
            applied = {f.strip() for f in filtered.headers.get("oci-filters-applied", "").split(",")}
            assert "artifactType" in applied
            entries = filtered.json()["manifests"]
            assert all(entry.get("artifactType") == artifact_type for entry in entries)
            for goal in (g for g in goals if g["artifactType"] == artifact_type):
                assert any(is_referrer(entry, goal) for entry in entries)


def delete_content(api: httpx.Client, repo: str, content: Content, tags: set[str]) -> None:
    """Tags, then manifests (indexes first), then blobs; each gone at once."""
    for tag in tags:
        delete_manifest(api, repo, tag)
    for digest in reversed(content.manifests):
        delete_manifest(api, repo, digest)
    for digest in content.blobs:
        delete_blob(api, repo, digest)


# -- main: blobs ---------------------------------------------------------------------------------------------------
ALGORITHMS = ["sha256", "sha512"]


def test_ping(api: httpx.Client) -> None:
    expect(api.get("/v2/"), 200)


def test_empty_repository(api: httpx.Client, repo: str) -> None:
    """Listing the tags of a repository never pushed: 404 ``NAME_UNKNOWN`` (the suite takes 200 too); its
    referrers: an empty index."""
    expect_error(api.get(f"/v2/{repo}/tags/list"), 404, "NAME_UNKNOWN")
    assert referrers(api, repo, random_digest()).json()["manifests"] == []


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("method", list(PUSH_METHODS))
def test_blob_push(api: httpx.Client, repo: str, method: str, algorithm: str) -> None:
    data = os.urandom(3 * CHUNK_MIN - 5 if method in MULTI_CHUNK else 512)
    digest = digest_of(data, algorithm)
    check_created(api, PUSH_METHODS[method](api, repo, data, digest), data, digest)
    check_blob(api, repo, digest, data)
    delete_blob(api, repo, digest)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("method", ["post only", "post+put", "chunked multi", "chunked multi and put chunk", "stream"])
def test_blob_push_with_a_bad_digest(api: httpx.Client, repo: str, method: str, algorithm: str) -> None:
    data = os.urandom(3 * CHUNK_MIN - 5)
    digest = digest_of(data, algorithm)
    expect_error(PUSH_METHODS[method](api, repo, data + b"oh no", digest), 400, "DIGEST_INVALID")
    expect(api.head(f"/v2/{repo}/blobs/{digest}"), 404)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_get_missing_blob(api: httpx.Client, repo: str, algorithm: str) -> None:
    push_blob(api, repo, b"something else")
    missing = digest_of(os.urandom(16), algorithm)
    expect_error(api.get(f"/v2/{repo}/blobs/{missing}"), 404, "BLOB_UNKNOWN")
    assert expect(api.head(f"/v2/{repo}/blobs/{missing}"), 404).content == b""


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_mount_from_another_repository(api: httpx.Client, repo: str, repo2: str, algorithm: str) -> None:
    data = os.urandom(512)
    digest = push_blob(api, repo2, data, digest_of(data, algorithm))
    mounted = api.post(f"/v2/{repo}/blobs/uploads/", params={"mount": digest, "from": repo2})
    check_created(api, mounted, data, digest)
    assert relative(location(api, mounted)) == f"/v2/{repo}/blobs/{digest}"
    check_blob(api, repo, digest, data)
    delete_blob(api, repo, digest)
    check_blob(api, repo2, digest, data)  # the source keeps it
    delete_blob(api, repo2, digest)


def test_mount_without_from(api: httpx.Client, repo: str, repo2: str) -> None:
    """No automatic cross-mounting: a mount without ``from`` starts an upload (202), which completes normally."""
    data = os.urandom(512)
    digest = push_blob(api, repo2, data)
    started = expect(api.post(f"/v2/{repo}/blobs/uploads/", params={"mount": digest}), 202)
    assert relative(location(api, started)).startswith(f"/v2/{repo}/blobs/uploads/")
    check_created(api, api.put(location(api, started, digest=digest), content=data), data, digest)


@pytest.mark.parametrize("source", ["repo2", "never/pushed"])
def test_mount_of_a_missing_blob(api: httpx.Client, repo: str, repo2: str, source: str) -> None:
    """A blob the source does not hold (or a source that does not exist): an upload starts instead (202)."""
    source = repo2 if source == "repo2" else source
    push_blob(api, repo2, b"another blob")
    data = os.urandom(512)
    digest = digest_of(data)
    started = expect(api.post(f"/v2/{repo}/blobs/uploads/", params={"mount": digest, "from": source}), 202)
    assert relative(location(api, started)).startswith(f"/v2/{repo}/blobs/uploads/")
    check_created(api, api.put(location(api, started, digest=digest), content=data), data, digest)


def test_cancel_upload(api: httpx.Client, repo: str) -> None:
    started = start_upload(api, repo)
    url = location(api, started)
    expect(api.patch(url, content=b"partial", headers={"Content-Type": OCTET_STREAM}), 202)
    expect(api.delete(url), 204)
    expect_error(api.get(url), 404, "BLOB_UPLOAD_UNKNOWN")


RANGES = [
    ("500-1499", 500, 1500),
    ("500-", 500, 2048),
    ("-500", 1548, 2048),
    ("2000-5000", 2000, 2048),
    ("500-0", None, None),
    ("5000-10000", None, None),
]


@pytest.mark.parametrize(("requested", "first", "end"), RANGES, ids=[r[0] for r in RANGES])
def test_blob_range_request(api: httpx.Client, repo: str, requested: str, first: int | None, end: int | None) -> None:
    data = os.urandom(2048)
    digest = push_blob(api, repo, data)
    response = api.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": f"bytes={requested}"})
    if first is None or end is None:
        expect(response, 416)
        return
    expect(response, 206)
    check_body(response, data[first:end])
    assert response.headers["content-range"] in (f"bytes {first}-{end - 1}/{len(data)}", f"bytes {first}-{end - 1}/*")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("data", [b"", b"{}"], ids=["empty", "emptyJSON"])
def test_well_known_blobs(api: httpx.Client, repo: str, data: bytes, algorithm: str) -> None:
    digest = digest_of(data, algorithm)
    for method in (push_post_only, push_post_put, push_stream):
        check_created(api, method(api, repo, data, digest), data, digest)
    check_blob(api, repo, digest, data)
    delete_blob(api, repo, digest)


# -- main: content -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(CONTENT))
def test_content(api: httpx.Client, repo: str, kind: str) -> None:
    """Push, list, HEAD and GET, referrers, delete: the rewrite's run over one kind of content."""
    content = content_of(CONTENT[kind])
    tags = push_content(api, repo, content)
    check_tags(api, repo, content)
    check_reads(api, repo, content)
    check_referrers(api, repo, content)
    delete_content(api, repo, content, tags)


def test_sparse_manifests_are_refused(api: httpx.Client, repo: str) -> None:
    """This registry does not take sparse content (the suite's default skips it): a manifest or index that
    references what the repository lacks is refused with ``MANIFEST_BLOB_UNKNOWN``, as the spec requires then."""
    content = content_of(lambda c: c.image(Spec()))
    missing_layer = next(d for d, data in content.blobs.items() if data[:2] == b"\x1f\x8b")
    for digest, data in content.blobs.items():
        if digest != missing_layer:
            push_blob(api, repo, data, digest)
    image, manifest = next(iter(content.manifests.items()))
    response = api.put(f"/v2/{repo}/manifests/{image}", content=manifest, headers=json_type(manifest))
    expect_error(response, 400, "MANIFEST_BLOB_UNKNOWN")
    index = encode(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": image, "size": len(manifest)}],
        }
    )
    expect_error(
        api.put(f"/v2/{repo}/manifests/sparse-index", content=index, headers=json_type(index)),
        400,
        "MANIFEST_BLOB_UNKNOWN",
    )


def test_missing_manifests(api: httpx.Client, repo: str) -> None:
    push_blob(api, repo, b"the repository exists")
    for reference in (random_digest(), f"missing-{secrets.token_hex(8)}"):
        expect_error(api.get(f"/v2/{repo}/manifests/{reference}", headers=ACCEPT_MANIFESTS), 404, "MANIFEST_UNKNOWN")


def test_manifest_with_an_invalid_digest(api: httpx.Client, repo: str) -> None:
    content = content_of(lambda c: c.image(Spec(layer_count=1)))
    for digest, data in content.blobs.items():
        push_blob(api, repo, data, digest)
    manifest = next(iter(content.manifests.values()))
    put = api.put(f"/v2/{repo}/manifests/sha256:baddigeststring", content=manifest, headers=json_type(manifest))
    expect_error(put, 400, "DIGEST_INVALID")
    expect(api.get(f"/v2/{repo}/manifests/sha256:baddigeststring", headers=ACCEPT_MANIFESTS), 400, 404)


def test_tag_list_pagination(api: httpx.Client, repo: str) -> None:
    """``n`` limits a page and a ``Link`` leads to the next; ``n=0`` is an empty page."""
    content = content_of(lambda c: c.image(Spec()))
    push_content(api, repo, content)
    manifest = next(iter(content.manifests.values()))
    tags = sorted(f"t{i}" for i in range(5))
    for tag in tags:
        put_manifest(api, repo, tag, manifest)
    first = expect(api.get(f"/v2/{repo}/tags/list", params={"n": "2"}), 200)
    assert first.json()["tags"] == tags[:2]
    link = first.headers["link"]
    assert link.endswith('>; rel="next"')
    second = expect(api.get(link[1 : link.index(">")]), 200)
    assert second.json()["tags"] == tags[2:4]
    assert tag_list(api, repo, n="0") == []
    assert tag_list(api, repo, n="10", last=tags[3]) == tags[4:]


# -- v1.1.1 ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Legacy:
    """The v1.1.1 suite's fixed content: a config and an image manifest per workflow, one layer, small blobs."""

    configs: list[bytes]
    manifests: list[bytes]
    layer: bytes
    empty_layer_manifest: bytes
    blob_a: bytes = field(default_factory=lambda: os.urandom(42))
    blob_b: bytes = field(default_factory=lambda: os.urandom(42))

    @property
    def chunks(self) -> tuple[bytes, bytes]:
        """``blob_b`` in two chunks: 22 then 20 bytes."""
        return self.blob_b[:22], self.blob_b[22:]


def legacy_config() -> bytes:
    author = secrets.token_urlsafe(12)
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}, "author": author}
    return json.dumps(config, indent="\t").encode()


def legacy_descriptor(media_type: str, content: bytes, **extra: Any) -> Json:
    return {"mediaType": media_type, "digest": digest_of(content), "size": len(content), **extra}


def legacy_manifest(config: bytes, layers: list[Json], *, with_media_type: bool = True) -> bytes:
    """An image manifest as the v1.1.1 suite writes it: tab-indented, a config descriptor carrying ``data`` and a
    field no spec defines."""
    unspecified = base64.b64encode(b"hello world").decode()
    config_descriptor = legacy_descriptor(
        OCI_CONFIG, config, data=base64.b64encode(config).decode(), newUnspecifiedField=unspecified
    )
    manifest: Json = {"schemaVersion": 2, "mediaType": OCI_MANIFEST} if with_media_type else {"schemaVersion": 2}
    manifest |= {"config": config_descriptor, "layers": layers}
    return json.dumps(manifest, indent="\t").encode()


@pytest.fixture
def legacy() -> Legacy:
    layer = tar_layer(0)[1]
    layers = [legacy_descriptor(OCI_LAYER_GZIP, layer, newUnspecifiedField=None)]
    configs = [legacy_config() for _ in range(5)]
    return Legacy(
        configs=configs,
        manifests=[legacy_manifest(config, layers) for config in configs],
        layer=layer,
        empty_layer_manifest=legacy_manifest(configs[1], [], with_media_type=False),
    )


def populate(api: httpx.Client, repo: str, *blobs: bytes) -> None:
    """The v1.1.1 setup's pushes: POST for a session, PUT the blob; any 2xx."""
    for data in blobs:
        started = api.post(f"/v2/{repo}/blobs/uploads/")
        expect(api.put(location(api, started, digest=digest_of(data)), content=data), *OK)


def populate_manifest(api: httpx.Client, repo: str, reference: str, manifest: bytes) -> httpx.Response:
    return expect(api.put(f"/v2/{repo}/manifests/{reference}", content=manifest, headers=json_type(manifest)), *OK)


def teardown(api: httpx.Client, repo: str, manifests: list[str], blobs: list[str], *, gone_ok: bool = False) -> None:
    """The v1.1.1 teardowns: manifests first (deleted or refused), then blobs (deleted, gone or refused)."""
    for digest in manifests:
        expect(
            api.delete(f"/v2/{repo}/manifests/{digest}"), *(DELETED_GONE_OR_REFUSED if gone_ok else DELETED_OR_REFUSED)
        )
    for digest in blobs:
        expect(api.delete(f"/v2/{repo}/blobs/{digest}"), *DELETED_GONE_OR_REFUSED)


def test_v111_pull(api: httpx.Client, repo: str, legacy: Legacy) -> None:
    config, m0, m1 = legacy.configs[0], legacy.manifests[0], legacy.manifests[1]
    populate(api, repo, config, legacy.configs[1], legacy.layer)
    populate_manifest(api, repo, "tagtest0", m0)
    populate_manifest(api, repo, digest_of(m1), m1)

    dummy = digest_of(b"hello world")
    for method in ("HEAD", "GET"):
        expect(api.request(method, f"/v2/{repo}/blobs/{dummy}"), 404)
        found = expect(api.request(method, f"/v2/{repo}/blobs/{digest_of(config)}"), 200)
        assert found.headers.get("docker-content-digest") == digest_of(config)
        expect(api.request(method, f"/v2/{repo}/manifests/.INVALID_MANIFEST_NAME"), 404)
        for reference, manifest in ((digest_of(m0), m0), (digest_of(m1), m1), ("tagtest0", m0)):
            response = expect(
                api.request(method, f"/v2/{repo}/manifests/{reference}", headers={"Accept": OCI_MANIFEST}), 200
            )
            assert response.headers.get("docker-content-digest") == digest_of(manifest)

    bad = api.request("GET", f"/v2/{repo}/manifests/sha256:totallywrong", content=b"blablabla", headers=json_type(m0))
    expect(bad, 400, 404)
    if bad.status_code == 400:
        assert error_codes(bad)[0] in ERROR_CODES

    teardown(
        api, repo, [digest_of(m0), digest_of(m1)], [digest_of(c) for c in (config, legacy.configs[1], legacy.layer)]
    )


def test_v111_push(api: httpx.Client, repo: str, legacy: Legacy) -> None:
    v111_push_streamed(api, repo, legacy)
    v111_push_monolithic(api, repo, legacy)
    v111_push_chunked(api, repo, legacy)
    v111_cross_mount(api, repo, legacy)
    config, manifest = legacy.configs[1], legacy.manifests[1]
    expect(api.get(f"/v2/{repo}/manifests/.INVALID_MANIFEST_NAME"), 404)
    for i in range(4):
        location(api, populate_manifest(api, repo, f"test{i}", manifest))
    empty = populate_manifest(api, repo, "emptylayer", legacy.empty_layer_manifest)
    assert empty.status_code == 201 and empty.headers.get("location"), "a manifest with no layers is refused"
    expect(api.get(f"/v2/{repo}/manifests/{digest_of(manifest)}", headers={"Accept": OCI_MANIFEST}), 200)
    manifests = [digest_of(manifest), digest_of(legacy.empty_layer_manifest)]
    teardown(api, repo, manifests, [digest_of(config), digest_of(legacy.layer)])


def v111_push_streamed(api: httpx.Client, repo: str, legacy: Legacy) -> None:
    started = expect(api.post(f"/v2/{repo}/blobs/uploads/"), 202)
    patched = expect(
        api.patch(location(api, started), content=legacy.blob_a, headers={"Content-Type": OCTET_STREAM}), 202
    )
    put = expect(api.put(location(api, patched, digest=digest_of(legacy.blob_a)), content=b""), 201)
    location(api, put)


def v111_push_monolithic(api: httpx.Client, repo: str, legacy: Legacy) -> None:
    config = legacy.configs[1]
    expect(api.get(f"/v2/{repo}/blobs/{digest_of(b'hello world')}"), 404)
    posted = expect(push_post_only(api, repo, config, digest_of(config)), 201, 202)
    location(api, posted)
    expect(api.get(f"/v2/{repo}/blobs/{digest_of(config)}"), 200 if posted.status_code == 201 else 404)
    for data in (config, legacy.layer):
        put = expect(push_post_put(api, repo, data, digest_of(data)), 201)
        location(api, put)
        expect(api.get(f"/v2/{repo}/blobs/{digest_of(data)}"), 200)


def v111_push_chunked(api: httpx.Client, repo: str, legacy: Legacy) -> None:
    first, second = legacy.chunks
    first_range, second_range = f"0-{len(first) - 1}", f"{len(first)}-{len(legacy.blob_b) - 1}"
    out_of_order = location(api, start_upload(api, repo))
    expect(chunk(api, out_of_order, second, second_range), 416)

    url = location(api, start_upload(api, repo))
    patched = expect(chunk(api, url, first, first_range), 202)
    assert patched.headers.get("range") == first_range
    expect(chunk(api, url, first, first_range), 416)  # a retried chunk
    status = expect(api.get(url), 204)
    assert status.headers.get("range") == first_range
    patched = expect(chunk(api, location(api, status), second, second_range), 202)
    put = expect(api.put(location(api, patched, digest=digest_of(legacy.blob_b)), content=b""), 201)
    location(api, put)


def chunk(api: httpx.Client, url: httpx.URL, data: bytes, content_range: str) -> httpx.Response:
    headers = {"Content-Type": OCTET_STREAM, "Content-Range": content_range}
    return api.patch(url, content=data, headers=headers)


def v111_cross_mount(api: httpx.Client, repo: str, legacy: Legacy) -> None:
    target = new_repository()
    anonymous = expect(api.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest_of(b"hello world")}), 202)
    location(api, anonymous)
    digest = digest_of(legacy.blob_a)
    mounted = expect(api.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": repo}), 201, 202)
    if mounted.status_code == 201:
        assert relative(location(api, mounted)) == f"/v2/{target}/blobs/{digest}"
        expect(api.get(location(api, mounted)), 200)
    else:
        assert relative(location(api, mounted)).startswith(f"/v2/{target}/blobs/uploads/")
    # without automatic content discovery, a mount without `from` is an upload
    expect(api.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest}), 202)


def test_v111_content_discovery(api: httpx.Client, repo: str, legacy: Legacy) -> None:
    config, manifest = legacy.configs[2], legacy.manifests[2]
    populate(api, repo, config, legacy.layer)
    for i in range(4):
        populate_manifest(api, repo, f"test{i}", manifest)
    refs = LegacyReferrers.build(legacy)
    refs.populate(api, repo, legacy)

    tags = tag_list(api, repo)
    assert len(tags) == 5
    half = len(tags) // 2
    page = tag_list(api, repo, n=str(half))
    assert len(page) == half
    rest = tag_list(api, repo, n=str(half), last=page[-1])
    assert len(rest) <= half and rest and page[-1] not in rest and rest[0] > page[-1]

    refs.check(api, repo, legacy)
    refs.teardown(api, repo, legacy, manifest)


@dataclass(frozen=True)
class LegacyReferrers:
    """The v1.1.1 referrers: artifacts of types A and B on ``manifests[4]`` (typed by their config, or by
    ``artifactType`` with an empty config), an index of type "food stand" on it too, and one on ``manifests[3]``,
    which is never pushed."""

    ref_a: bytes = b"NHL Peanut Butter on my NHL bagel"
    ref_b: bytes = b"NBA Strawberry Jam on my NBA croissant"
    type_a: str = "application/vnd.nhl.peanut.butter.bagel"
    type_b: str = "application/vnd.nba.strawberry.jam.croissant"
    annotation: str = "org.opencontainers.conformance.test"
    manifests: dict[str, bytes] = field(default_factory=dict)
    """Name -> bytes: a_config, a_layer, index, b_config, b_layer, c_layer."""

    @classmethod
    def build(cls, legacy: Legacy) -> LegacyReferrers:
        refs = cls()
        subject = legacy_descriptor(OCI_MANIFEST, legacy.manifests[4])
        empty = legacy_descriptor(OCI_EMPTY, b"{}")
        for name, blob, artifact_type in (("a", refs.ref_a, refs.type_a), ("b", refs.ref_b, refs.type_b)):
            by_config = {"config": legacy_descriptor(artifact_type, blob), "layers": [empty]}
            by_type = {
                "artifactType": artifact_type,
                "config": empty,
                "layers": [legacy_descriptor(artifact_type, blob)],
            }
            refs.manifests[f"{name}_config"] = refs.artifact(by_config, subject, f"test config {name}")
            refs.manifests[f"{name}_layer"] = refs.artifact(by_type, subject, f"test layer {name}")
            if name == "a":
                children = [legacy_descriptor(OCI_MANIFEST, refs.manifests[k]) for k in ("a_config", "a_layer")]
                index = {"mediaType": OCI_INDEX, "artifactType": "application/vnd.food.stand", "manifests": children}
                refs.manifests["index"] = refs.artifact(index, subject, "test index")
        missing_subject = legacy_descriptor(OCI_MANIFEST, legacy.manifests[3])
        c = {"artifactType": refs.type_b, "config": empty, "layers": [legacy_descriptor(refs.type_b, refs.ref_b)]}
        refs.manifests["c_layer"] = refs.artifact(c, missing_subject, None)
        return refs

    def artifact(self, body: Json, subject: Json, annotation: str | None) -> bytes:
        document: Json = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, **body, "subject": subject}
        if annotation is not None:
            document["annotations"] = {self.annotation: annotation}
        return json.dumps(document, indent="\t").encode()

    def digest(self, name: str) -> str:
        return digest_of(self.manifests[name])

    def populate(self, api: httpx.Client, repo: str, legacy: Legacy) -> None:
        """Referrers of type A and the index before their subject, the subject, then type B, then one whose
        subject is never pushed; each PUT answers ``OCI-Subject``."""
        assert digest_of(b"{}") == "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        populate(api, repo, b"{}", self.ref_a)
        self.put(api, repo, ("a_config", "a_layer", "index"), legacy.manifests[4])
        populate(api, repo, legacy.configs[4], legacy.layer)
        populate_manifest(api, repo, "tagtest0", legacy.manifests[4])
        populate(api, repo, self.ref_b)
        self.put(api, repo, ("b_config", "b_layer"), legacy.manifests[4])
        self.put(api, repo, ("c_layer",), legacy.manifests[3])

    def put(self, api: httpx.Client, repo: str, names: tuple[str, ...], subject: bytes) -> None:
        for name in names:
            response = populate_manifest(api, repo, self.digest(name), self.manifests[name])
            assert response.headers.get("oci-subject") == digest_of(subject)

    def check(self, api: httpx.Client, repo: str, legacy: Legacy) -> None:
        assert referrers(api, repo, digest_of(b"hello world")).json()["manifests"] == []
        subject = digest_of(legacy.manifests[4])
        self.check_listed(referrers(api, repo, subject), ("a_config", "a_layer", "index", "b_config", "b_layer"))
        filtered = referrers(api, repo, subject, artifactType=self.type_a)
        assert filtered.headers.get("oci-filters-applied") == "artifactType"
        self.check_listed(filtered, ("a_config", "a_layer"))
        listed = referrers(api, repo, digest_of(legacy.manifests[3])).json()["manifests"]
        assert [entry["digest"] for entry in listed] == [self.digest("c_layer")]

    def check_listed(self, response: httpx.Response, names: tuple[str, ...]) -> None:
        """Exactly ``names`` are listed, each with its one annotation."""
        entries = {entry["digest"]: entry for entry in response.json()["manifests"]}
        assert set(entries) == {self.digest(name) for name in names}
        for name in names:
            expected = json.loads(self.manifests[name])["annotations"]
            assert entries[self.digest(name)]["annotations"] == expected

    def teardown(self, api: httpx.Client, repo: str, legacy: Legacy, manifest: bytes) -> None:
        """The workflow's teardown, then the references teardown, which deletes some manifests again (404)."""
        subject = digest_of(legacy.manifests[4])
        artifacts = [self.digest(name) for name in ("a_config", "a_layer", "b_config", "b_layer")]
        manifests = [self.digest("index"), digest_of(manifest), subject, *artifacts, self.digest("c_layer")]
        teardown(api, repo, manifests, [digest_of(legacy.configs[2]), digest_of(legacy.layer)], gone_ok=True)
        blobs = [digest_of(data) for data in (legacy.configs[4], self.ref_a, self.ref_b, b"{}")]
        teardown(api, repo, [self.digest("index"), *artifacts[:2], subject, *artifacts[2:]], blobs, gone_ok=True)


def test_v111_content_management(api: httpx.Client, repo: str, legacy: Legacy) -> None:
    config, manifest = legacy.configs[3], legacy.manifests[3]
    populate(api, repo, config, legacy.layer)
    populate_manifest(api, repo, "tagtest0", manifest)
    count = len(tag_list(api, repo))

    deleted = expect(api.delete(f"/v2/{repo}/manifests/tagtest0"), 202, 400, 405)
    if deleted.status_code == 400:
        assert error_codes(deleted)[0] == "UNSUPPORTED"
    expect(api.delete(f"/v2/{repo}/manifests/{digest_of(manifest)}"), 202, 404)
    expect(api.get(f"/v2/{repo}/manifests/{digest_of(manifest)}"), 404)
    listed = expect(api.get(f"/v2/{repo}/tags/list"), 200, 404)
    remaining = len(listed.json()["tags"] or []) if listed.status_code == 200 else 0
    assert remaining == count - 1

    for digest in (digest_of(config), digest_of(legacy.layer)):
        expect(api.delete(f"/v2/{repo}/blobs/{digest}"), 202, 404, 405)
    expect(api.get(f"/v2/{repo}/blobs/{digest_of(config)}"), 404)
