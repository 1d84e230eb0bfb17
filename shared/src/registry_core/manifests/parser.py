"""Parse and validate a manifest as the media type it claims: a pure function of the bytes and ``Content-Type``.

Rules (the OCI distribution and image specs, and what the Go registry accepts):

- at most :data:`MAX_MANIFEST_SIZE` bytes, else ``MANIFEST_INVALID`` with status 413 (the spec's "413 Payload
  Too Large"; the code is ``MANIFEST_INVALID`` because ``SIZE_INVALID`` means a length *mismatch*);
- a JSON object with ``schemaVersion`` 2; Docker schema 1 is refused;
- the media type: the body's ``mediaType`` must agree with a manifest ``Content-Type``; a body without one takes
  an OCI ``Content-Type``; with neither, the OCI type is inferred (``manifests`` makes an index) — the same rule
  :func:`stored_media_type` applies when serving, so the type a manifest is served with is the type it was put as;
- an image manifest has a ``config`` descriptor and no ``manifests``; an index has ``manifests`` and no
  ``config``/``layers``; every descriptor has a valid digest and a non-negative integer size.

Every failure is a :class:`~registry_core.errors.RegistryError` with ``MANIFEST_INVALID``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from registry_core.digest import Digest
from registry_core.errors import ErrorCode, RegistryError
from registry_core.manifests import mediatypes as mt

MAX_MANIFEST_SIZE = 4 * 1024 * 1024
"""The largest manifest accepted (4 MiB, as the Go registry; the spec asks registries to take at least 4 MB)."""

DETAIL_LIMIT = 200
"""Characters of a client-supplied value echoed in an error detail."""


@dataclass(frozen=True, slots=True)
class ContentDescriptor:
    """A descriptor as a manifest states it: what it points at, and the fields the registry acts on."""

    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()
    artifact_type: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_external(self) -> bool:
        """A foreign / non-distributable layer with ``urls``: clients fetch it elsewhere; the registry need not
        hold it (the Go registry skips its presence check)."""
        return self.media_type in mt.FOREIGN_LAYERS and bool(self.urls)


@dataclass(frozen=True, slots=True)
class Manifest:
    """A validated manifest. ``config``/``layers`` are set for image manifests, ``manifests`` for indexes."""

    media_type: str
    config: ContentDescriptor | None = None
    layers: tuple[ContentDescriptor, ...] = ()
    manifests: tuple[ContentDescriptor, ...] = ()
    subject: ContentDescriptor | None = None
    artifact_type: str | None = None
    """What the referrers API reports: ``artifactType``, else (image manifests only) the config's media type."""
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEXES

    @property
    def blobs(self) -> tuple[ContentDescriptor, ...]:
        """The blobs that must be present in the repository: the config and every layer not fetched elsewhere."""
        refs = (self.config, *self.layers) if self.config is not None else self.layers
        return tuple(d for d in refs if not d.is_external)


def invalid(message: str, detail: dict[str, Any] | None = None) -> RegistryError:
    """``MANIFEST_INVALID``; values from the client in ``detail`` are clipped to short JSON-safe values."""
    shown = None if detail is None else {key: _clip(value) for key, value in detail.items()}
    return RegistryError(ErrorCode.MANIFEST_INVALID, shown, message=message)


def _clip(value: Any) -> Any:
    if value is None or isinstance(value, bool) or (isinstance(value, int) and abs(value) < 2**63):
        return value
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= DETAIL_LIMIT else text[:DETAIL_LIMIT] + "…"


def parse_manifest(payload: bytes, content_type: str | None) -> Manifest:
    """Validate ``payload`` as the manifest ``content_type`` claims; raise ``MANIFEST_INVALID`` if it is not."""
    if len(payload) > MAX_MANIFEST_SIZE:
        raise too_large()
    claimed = mt.normalize(content_type)
    if claimed in mt.SCHEMA1:
        raise invalid("Docker schema 1 manifests are not supported", {"mediaType": claimed})
    doc = _load_object(payload)
    version = doc.get("schemaVersion")
    if version == 1 and not isinstance(version, bool):
        raise invalid("Docker schema 1 manifests are not supported", {"schemaVersion": 1})
    if type(version) is not int or version != 2:
        raise invalid("schemaVersion must be 2", {"schemaVersion": version})
    media_type = _media_type(claimed, _optional_str(doc, "mediaType", "manifest"), doc)
    annotations = _annotations(doc.get("annotations"), "annotations")
    subject = _optional_descriptor(doc.get("subject"), "subject")
    artifact_type = _optional_str(doc, "artifactType", "manifest")
    if media_type in mt.INDEXES:
        return _index(doc, media_type, subject, artifact_type, annotations)
    return _image(doc, media_type, subject, artifact_type, annotations)


def too_large() -> RegistryError:
    return RegistryError(
        ErrorCode.MANIFEST_INVALID,
        {"limit": MAX_MANIFEST_SIZE},
        message=f"manifest is larger than {MAX_MANIFEST_SIZE} bytes",
        status=413,
    )


def stored_media_type(payload: bytes) -> str:
    """The media type of stored manifest bytes, read as the Go registry reads it: the ``mediaType`` field, else an
    OCI index if there is a ``manifests`` list, else an OCI image manifest (schema 1 data from an old Go root is
    recognised by its ``schemaVersion``)."""
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):
        return mt.OCI_MANIFEST
    if not isinstance(doc, dict):
        return mt.OCI_MANIFEST
    declared = doc.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if doc.get("schemaVersion") == 1:
        return mt.DOCKER_SCHEMA1_SIGNED if "signatures" in doc else mt.DOCKER_SCHEMA1
    return mt.OCI_INDEX if isinstance(doc.get("manifests"), list) else mt.OCI_MANIFEST


# -- the two shapes ----------------------------------------------------------------------------------------------
def _image(
    doc: dict[str, Any],
    media_type: str,
    subject: ContentDescriptor | None,
    artifact_type: str | None,
    annotations: Mapping[str, str],
) -> Manifest:
    if "manifests" in doc:
        raise invalid("an image manifest must not have manifests", {"mediaType": media_type})
    if "config" not in doc:
        raise invalid("an image manifest must have a config", {"mediaType": media_type})
    config = _descriptor(doc["config"], "config")
    layers = _descriptors(doc.get("layers"), "layers")
    return Manifest(
        media_type=media_type,
        config=config,
        layers=layers,
        subject=subject,
        artifact_type=artifact_type or config.media_type or None,
        annotations=annotations,
    )


def _index(
    doc: dict[str, Any],
    media_type: str,
    subject: ContentDescriptor | None,
    artifact_type: str | None,
    annotations: Mapping[str, str],
) -> Manifest:
    if "config" in doc or "layers" in doc:
        raise invalid("an index must not have a config or layers", {"mediaType": media_type})
    if not isinstance(doc.get("manifests"), list):
        raise invalid("an index must have a manifests list", {"mediaType": media_type})
    return Manifest(
        media_type=media_type,
        manifests=_descriptors(doc["manifests"], "manifests"),
        subject=subject,
        artifact_type=artifact_type,
        annotations=annotations,
    )


def _media_type(claimed: str | None, declared: str | None, doc: dict[str, Any]) -> str:
    if declared is not None:
        if claimed in mt.MANIFESTS and claimed != declared:
            raise invalid(
                "the manifest's mediaType does not match its Content-Type",
                {"mediaType": declared, "contentType": claimed},
            )
        media_type = declared
    elif claimed in (mt.OCI_MANIFEST, mt.OCI_INDEX):
        media_type = claimed
    elif claimed in mt.MANIFESTS:
        raise invalid("a Docker manifest must declare its mediaType", {"contentType": claimed})
    else:
        media_type = mt.OCI_INDEX if "manifests" in doc else mt.OCI_MANIFEST
    if media_type in mt.SCHEMA1:
        raise invalid("Docker schema 1 manifests are not supported", {"mediaType": media_type})
    if media_type not in mt.MANIFESTS:
        raise invalid("unsupported manifest media type", {"mediaType": media_type})
    return media_type


# -- fields --------------------------------------------------------------------------------------------------------
def _load_object(payload: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise invalid("manifest is not valid JSON", {"reason": str(exc)}) from None
    if not isinstance(doc, dict):
        raise invalid("manifest must be a JSON object")
    return doc


def _optional_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise invalid(f"{where}: {key} must be a string", {"field": key})
    return value


def _annotations(value: object, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise invalid(f"{where} must map strings to strings", {"field": where})
    return value


def _descriptors(value: object, where: str) -> tuple[ContentDescriptor, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise invalid(f"{where} must be a list", {"field": where})
    return tuple(_descriptor(item, f"{where}[{i}]") for i, item in enumerate(value))


def _optional_descriptor(value: object, where: str) -> ContentDescriptor | None:
    return None if value is None else _descriptor(value, where)


def _descriptor(value: object, where: str) -> ContentDescriptor:
    if not isinstance(value, dict):
        raise invalid(f"{where} must be a descriptor object", {"field": where})
    raw = value.get("digest")
    if not isinstance(raw, str):
        raise invalid(f"{where}.digest must be a string", {"field": where})
    try:
        digest = Digest.parse(raw)
    except RegistryError as exc:
        raise invalid(f"{where}.digest: {exc.message}", {"field": where, "digest": raw}) from None
    size = value.get("size")
    if type(size) is not int or size < 0:
        raise invalid(f"{where}.size must be a non-negative integer", {"field": where, "size": size})
    urls = value.get("urls")
    if urls is not None and (not isinstance(urls, list) or not all(isinstance(u, str) for u in urls)):
        raise invalid(f"{where}.urls must be a list of strings", {"field": where})
    return ContentDescriptor(
        media_type=_optional_str(value, "mediaType", where) or "",
        digest=digest,
        size=size,
        urls=tuple(urls or ()),
        artifact_type=_optional_str(value, "artifactType", where),
        annotations=_annotations(value.get("annotations"), f"{where}.annotations"),
    )
