"""The manifest parser: media types, shapes, descriptors, artifacts, and every refusal as MANIFEST_INVALID."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from registry_core.digest import Digest
from registry_core.errors import ErrorCode, RegistryError
from registry_core.manifests import mediatypes as mt
from registry_core.manifests.parser import MAX_MANIFEST_SIZE, parse_manifest, stored_media_type


def digest_of(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def desc(seed: str, media_type: str = "application/vnd.oci.image.layer.v1.tar+gzip", size: int = 10, **extra: Any):
    return {"mediaType": media_type, "digest": digest_of(seed), "size": size, **extra}


def image(media_type: str | None = mt.OCI_MANIFEST, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "config": desc("config", "application/vnd.oci.image.config.v1+json"),
        "layers": [desc("l1"), desc("l2")],
        **extra,
    }
    if media_type is not None:
        doc["mediaType"] = media_type
    return doc


def index(media_type: str | None = mt.OCI_INDEX, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"schemaVersion": 2, "manifests": [desc("m1", mt.OCI_MANIFEST)], **extra}
    if media_type is not None:
        doc["mediaType"] = media_type
    return doc


def raw(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def refused(payload: bytes, content_type: str | None = mt.OCI_MANIFEST) -> RegistryError:
    with pytest.raises(RegistryError) as info:
        parse_manifest(payload, content_type)
    assert info.value.code is ErrorCode.MANIFEST_INVALID, info.value
    return info.value


# -- media types ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("doc", "content_type", "expected"),
    [
        (image(mt.OCI_MANIFEST), mt.OCI_MANIFEST, mt.OCI_MANIFEST),
        (image(mt.DOCKER_MANIFEST), mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST),
        (index(mt.OCI_INDEX), mt.OCI_INDEX, mt.OCI_INDEX),
        (index(mt.DOCKER_MANIFEST_LIST), mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST_LIST),
        (image(None), mt.OCI_MANIFEST, mt.OCI_MANIFEST),  # OCI may omit mediaType: Content-Type decides
        (index(None), mt.OCI_INDEX, mt.OCI_INDEX),
        (image(mt.DOCKER_MANIFEST), None, mt.DOCKER_MANIFEST),  # no Content-Type: the body's
        (index(mt.OCI_INDEX), "application/json", mt.OCI_INDEX),  # unknown Content-Type: the body's
        (image(None), None, mt.OCI_MANIFEST),  # neither: inferred
        (index(None), "application/octet-stream", mt.OCI_INDEX),
        (image(mt.OCI_MANIFEST), f"{mt.OCI_MANIFEST}; charset=utf-8", mt.OCI_MANIFEST),  # parameters ignored
        (image(mt.OCI_MANIFEST), mt.OCI_MANIFEST.upper(), mt.OCI_MANIFEST),
    ],
)
def test_media_type(doc: dict[str, Any], content_type: str | None, expected: str) -> None:
    manifest = parse_manifest(raw(doc), content_type)
    assert manifest.media_type == expected
    assert manifest.is_index == (expected in mt.INDEXES)
    assert stored_media_type(raw(doc)) == expected  # what GET serves is what PUT accepted


@pytest.mark.parametrize(
    ("doc", "content_type"),
    [
        (image(mt.OCI_MANIFEST), mt.DOCKER_MANIFEST),  # body and header disagree
        (index(mt.OCI_INDEX), mt.OCI_MANIFEST),
        (image(None), mt.DOCKER_MANIFEST),  # Docker types must declare their mediaType
        (index(None), mt.DOCKER_MANIFEST_LIST),
        (image("application/vnd.example.unknown+json"), None),
        (image(None), mt.DOCKER_SCHEMA1_SIGNED),
        (image(mt.DOCKER_SCHEMA1), None),
        ({"schemaVersion": 1, "name": "x", "tag": "y", "fsLayers": []}, None),
        ({"schemaVersion": 1, "name": "x", "tag": "y", "fsLayers": []}, mt.DOCKER_SCHEMA1),
    ],
)
def test_refused_media_types(doc: dict[str, Any], content_type: str | None) -> None:
    refused(raw(doc), content_type)


# -- whole-document refusals -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"{",
        b"not json",
        b"[]",
        b'"manifest"',
        b"\xff\xfe\x00garbage",
        b"[" * 100_000 + b"]" * 100_000,  # deep nesting must not crash the parser
        raw({**image(), "schemaVersion": 3}),
        raw({**image(), "schemaVersion": "2"}),
        raw({**image(), "schemaVersion": True}),
        raw({k: v for k, v in image().items() if k != "schemaVersion"}),
        raw({**image(), "mediaType": 7}),
    ],
)
def test_malformed_documents(payload: bytes) -> None:
    refused(payload)


def test_size_limit_is_413_manifest_invalid() -> None:
    doc = image(annotations={"pad": ""})
    base = len(raw(doc))
    doc["annotations"]["pad"] = "A" * (MAX_MANIFEST_SIZE - base)
    at_limit = raw(doc)
    assert len(at_limit) == MAX_MANIFEST_SIZE
    assert parse_manifest(at_limit, mt.OCI_MANIFEST).annotations["pad"]
    error = refused(at_limit + b" ")
    assert error.status == 413


# -- shapes ----------------------------------------------------------------------------------------------------------
def test_image_manifest_references() -> None:
    manifest = parse_manifest(raw(image()), mt.OCI_MANIFEST)
    assert manifest.config is not None and manifest.config.digest == Digest.parse(digest_of("config"))
    assert [str(d.digest) for d in manifest.layers] == [digest_of("l1"), digest_of("l2")]
    assert [str(d.digest) for d in manifest.blobs] == [digest_of(s) for s in ("config", "l1", "l2")]
    assert manifest.manifests == ()
    assert manifest.subject is None


def test_index_children() -> None:
    doc = index(manifests=[desc("a", mt.OCI_MANIFEST, platform={"os": "linux"}), desc("b", mt.OCI_INDEX)])
    manifest = parse_manifest(raw(doc), mt.OCI_INDEX)
    assert [str(d.digest) for d in manifest.manifests] == [digest_of("a"), digest_of("b")]
    assert manifest.blobs == ()
    assert manifest.config is None


def test_empty_layers_and_empty_index_are_valid() -> None:
    assert parse_manifest(raw(image(layers=[])), mt.OCI_MANIFEST).layers == ()
    no_layers = {k: v for k, v in image().items() if k != "layers"}
    assert parse_manifest(raw(no_layers), mt.OCI_MANIFEST).layers == ()
    assert parse_manifest(raw(index(manifests=[])), mt.OCI_INDEX).manifests == ()


def test_unknown_fields_are_kept_out_of_the_way() -> None:
    manifest = parse_manifest(raw(image(**{"x-custom": {"nested": [1, 2]}})), mt.OCI_MANIFEST)
    assert len(manifest.layers) == 2


@pytest.mark.parametrize(
    ("doc", "content_type"),
    [
        (image(manifests=[]), mt.OCI_MANIFEST),  # an image with an index's field
        (index(config=desc("c")), mt.OCI_INDEX),  # an index with an image's field
        (index(layers=[]), mt.OCI_INDEX),
        ({k: v for k, v in image().items() if k != "config"}, mt.OCI_MANIFEST),
        ({k: v for k, v in index().items() if k != "manifests"}, mt.OCI_INDEX),
        (index(manifests={"a": 1}), mt.OCI_INDEX),
        (image(layers={"a": 1}), mt.OCI_MANIFEST),
        (image(config=[]), mt.OCI_MANIFEST),
        (image(layers=["sha256:abc"]), mt.OCI_MANIFEST),
        (image(annotations=["a"]), mt.OCI_MANIFEST),
        (image(annotations={"a": 1}), mt.OCI_MANIFEST),
        (image(artifactType=5), mt.OCI_MANIFEST),
        (image(subject="sha256:abc"), mt.OCI_MANIFEST),
    ],
)
def test_wrong_shapes(doc: dict[str, Any], content_type: str) -> None:
    refused(raw(doc), content_type)


@pytest.mark.parametrize(
    "bad",
    [
        {"digest": "sha256:short", "size": 1},
        {"digest": "md5:" + "0" * 32, "size": 1},
        {"digest": "sha256:" + "A" * 64, "size": 1},
        {"digest": 5, "size": 1},
        {"size": 1},
        {"digest": digest_of("x")},
        {"digest": digest_of("x"), "size": -1},
        {"digest": digest_of("x"), "size": 1.5},
        {"digest": digest_of("x"), "size": "1"},
        {"digest": digest_of("x"), "size": True},
        {"digest": digest_of("x"), "size": 1, "urls": "http://example.com"},
        {"digest": digest_of("x"), "size": 1, "urls": [1]},
        {"digest": digest_of("x"), "size": 1, "mediaType": 1},
        {"digest": digest_of("x"), "size": 1, "annotations": {"a": None}},
    ],
)
@pytest.mark.parametrize("where", ["config", "layer", "child", "subject"])
def test_bad_descriptors(bad: dict[str, Any], where: str) -> None:
    bad = {"mediaType": "application/octet-stream", **bad}
    if where == "config":
        doc, ct = image(config=bad), mt.OCI_MANIFEST
    elif where == "layer":
        doc, ct = image(layers=[desc("ok"), bad]), mt.OCI_MANIFEST
    elif where == "child":
        doc, ct = index(manifests=[bad]), mt.OCI_INDEX
    else:
        doc, ct = image(subject=bad), mt.OCI_MANIFEST
    error = refused(raw(doc), ct)
    assert error.detail and "field" in error.detail


def test_sha512_descriptors_are_valid() -> None:
    sha512 = "sha512:" + hashlib.sha512(b"x").hexdigest()
    manifest = parse_manifest(raw(image(layers=[{"mediaType": "x", "digest": sha512, "size": 1}])), mt.OCI_MANIFEST)
    assert manifest.layers[0].digest.algorithm == "sha512"


# -- foreign layers --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("media_type", "urls", "external"),
    [
        ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", ["https://example.com/l"], True),
        ("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", ["https://example.com/l"], True),
        ("application/vnd.oci.image.layer.nondistributable.v1.tar", ["https://example.com/l"], True),
        ("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", None, False),  # no urls: must be here
        ("application/vnd.oci.image.layer.v1.tar+gzip", ["https://example.com/l"], False),  # normal layer
    ],
)
def test_foreign_layers_are_not_required_blobs(media_type: str, urls: list[str] | None, external: bool) -> None:
    layer = desc("foreign", media_type, **({"urls": urls} if urls else {}))
    manifest = parse_manifest(raw(image(layers=[layer, desc("l2")])), mt.OCI_MANIFEST)
    assert manifest.layers[0].is_external is external
    required = {str(d.digest) for d in manifest.blobs}
    assert (digest_of("foreign") in required) is not external
    assert {digest_of("config"), digest_of("l2")} <= required


# -- artifacts: artifactType, subject, annotations -------------------------------------------------------------------
def test_artifact_type_from_field() -> None:
    doc = image(artifactType="application/vnd.example.sbom.v1", annotations={"a": "b"})
    manifest = parse_manifest(raw(doc), mt.OCI_MANIFEST)
    assert manifest.artifact_type == "application/vnd.example.sbom.v1"
    assert manifest.annotations == {"a": "b"}


def test_artifact_type_falls_back_to_config_media_type() -> None:
    doc = image(config=desc("cfg", "application/vnd.example.config.v1+json"))
    assert parse_manifest(raw(doc), mt.OCI_MANIFEST).artifact_type == "application/vnd.example.config.v1+json"
    empty = image(artifactType="", config=desc("cfg", "application/vnd.example.config.v1+json"))
    assert parse_manifest(raw(empty), mt.OCI_MANIFEST).artifact_type == "application/vnd.example.config.v1+json"


def test_index_artifact_type_is_only_its_field() -> None:
    assert parse_manifest(raw(index()), mt.OCI_INDEX).artifact_type is None
    doc = index(artifactType="application/vnd.example.list")
    assert parse_manifest(raw(doc), mt.OCI_INDEX).artifact_type == "application/vnd.example.list"


def test_subject() -> None:
    subject = desc("subject", mt.OCI_MANIFEST, size=123)
    manifest = parse_manifest(raw(image(subject=subject)), mt.OCI_MANIFEST)
    assert manifest.subject is not None
    assert str(manifest.subject.digest) == digest_of("subject")
    assert manifest.subject.size == 123
    indexed = parse_manifest(raw(index(subject=subject)), mt.OCI_INDEX)
    assert indexed.subject == manifest.subject


# -- stored media type -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (raw(image(mt.DOCKER_MANIFEST)), mt.DOCKER_MANIFEST),
        (raw(index(None)), mt.OCI_INDEX),
        (raw(image(None)), mt.OCI_MANIFEST),
        (raw({"schemaVersion": 1, "fsLayers": []}), mt.DOCKER_SCHEMA1),
        (raw({"schemaVersion": 1, "fsLayers": [], "signatures": []}), mt.DOCKER_SCHEMA1_SIGNED),
        (b"garbage", mt.OCI_MANIFEST),
        (b"[]", mt.OCI_MANIFEST),
    ],
)
def test_stored_media_type(payload: bytes, expected: str) -> None:
    assert stored_media_type(payload) == expected


@pytest.mark.parametrize(
    "payload",
    [
        b'{"schemaVersion": 2e400}',
        b'{"schemaVersion": NaN}',
        raw(image(config={"mediaType": "x", "digest": digest_of("c"), "size": 1e999})),
        b'{"schemaVersion": 2, "config": {"digest": "sha256:' + b"0" * 100_000 + b'", "size": 1}}',
        raw(image("application/" + "x" * 100_000)),
        b'{"schemaVersion": ' + b"9" * 4000 + b"}",
    ],
)
def test_error_details_are_short_and_json_safe(payload: bytes) -> None:
    body = refused(payload, None).body()
    assert len(json.dumps(body, allow_nan=False)) < 1000
