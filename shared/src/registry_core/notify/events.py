"""The Go registry's (2.8) notification events, field for field, built from plain values and encoded once.

Shapes (``notifications/event.go`` of distribution 2.8): every ``target`` field is ``omitempty`` (so a delete's
target is only ``repository`` and ``digest`` or ``tag``, and a size of 0 is left out, as Go leaves it out);
``request.id``, ``method`` and ``useragent`` are always present; ``actor`` is ``{}`` for an anonymous caller.
Blob descriptors have the media type ``application/octet-stream``, as Go's blob store gives them. Timestamps
are UTC, RFC 3339 with microseconds and ``Z``.

This module knows nothing of HTTP requests: :mod:`registry_core.web.events` turns a request into the records.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any, Literal

from registry_core.descriptor import DEFAULT_MEDIA_TYPE

EVENTS_MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"
"""The envelope's ``Content-Type`` (Go 2.8's ``EventsMediaType``)."""

Action = Literal["push", "pull", "mount", "delete"]
ACTIONS: frozenset[str] = frozenset(("push", "pull", "mount", "delete"))
Json = dict[str, Any]

INSTANCE_ID = str(uuid.uuid4())
"""``source.instanceID``: one per process, new at each start (as Go's)."""

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)
"""One encoder for nested values (references): ``json.dumps`` with options builds a new encoder per call."""
_quote: Callable[[str], str] = encode_basestring
"""A JSON string literal, as ``_ENCODER`` writes it (``ensure_ascii=False``), from the C accelerator."""


_REFERENCE_KEYS = ("mediaType", "size", "digest", "urls", "annotations", "platform")
"""Go 2.8's ``distribution.Descriptor``, in its field order."""


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """``request``: the request that caused the event."""

    id: str
    addr: str
    host: str
    method: str
    useragent: str

    def as_json(self) -> Json:
        return _omit_empty(
            {"id": self.id, "addr": self.addr, "host": self.host, "method": self.method, "useragent": self.useragent},
            keep=("id", "method", "useragent"),
        )


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """``source``: the registry process that generated the event."""

    addr: str
    instance_id: str = INSTANCE_ID

    @classmethod
    def of_this_process(cls, http_addr: str) -> SourceRecord:
        """``<hostname>:<port of http.addr>``, as Go builds it (``http.addr`` itself if there is no hostname)."""
        try:
            hostname = socket.gethostname() or os.uname().nodename
        except OSError:
            return cls(http_addr)
        _, sep, port = http_addr.rpartition(":")
        return cls(f"{hostname}:{port}" if sep and port else http_addr)

    def as_json(self) -> Json:
        return _omit_empty({"addr": self.addr, "instanceID": self.instance_id})

    @property
    def json(self) -> str:
        """:meth:`as_json` encoded (the same for every event of the process: encoded once)."""
        encoded = _SOURCES.get(self)
        if encoded is None:
            encoded = _SOURCES[self] = encode_object(self.as_json())
        return encoded


_SOURCES: dict[SourceRecord, str] = {}


def blob_target(repository: str, digest: str, size: int, url: str, from_repository: str | None = None) -> Json:
    """A blob push, pull or mount (``fromRepository``: the mount's source)."""
    return _omit_empty(
        {
            "mediaType": DEFAULT_MEDIA_TYPE,
            "size": size,
            "digest": digest,
            "length": size,
            "repository": repository,
            "fromRepository": from_repository,
            "url": url,
        }
    )


def manifest_target(
    repository: str,
    media_type: str,
    digest: str,
    size: int,
    url: str,
    tag: str | None = None,
    references: Sequence[Json] = (),
) -> Json:
    """A manifest push or pull (``tag``: when named by tag; ``references``: with ``includereferences``)."""
    return _omit_empty(
        {
            "mediaType": media_type,
            "size": size,
            "digest": digest,
            "length": size,
            "repository": repository,
            "url": url,
            "tag": tag,
            "references": list(references),
        }
    )


def delete_target(repository: str, *, digest: str | None = None, tag: str | None = None) -> Json:
    """A delete: of a manifest or blob (``digest``), or of a tag (``tag``)."""
    return _omit_empty({"repository": repository, "digest": digest, "tag": tag})


def references(payload: bytes) -> list[Json]:
    """A manifest's references as Go's ``Manifest.References()`` lists them: an image manifest's config then
    layers, an index's manifests; each as a Go 2.8 descriptor (``mediaType``, ``size``, ``digest``, and
    ``urls``, ``annotations``, ``platform`` when present). Only called with ``includereferences``."""
    doc = json.loads(payload)
    if isinstance(doc.get("manifests"), list):
        found: Iterable[Any] = doc["manifests"]
    else:
        found = [doc["config"], *(doc.get("layers") or [])] if isinstance(doc.get("config"), dict) else []
    return [_omit_empty({key: d.get(key) for key in _REFERENCE_KEYS}) for d in found if isinstance(d, dict)]


def encode_events(
    action: Action,
    targets: Sequence[Json],
    request: RequestRecord,
    actor: str | None,
    source: SourceRecord,
    *,
    now: datetime | None = None,
    event_ids: Sequence[str] = (),
) -> list[bytes]:
    """The events of one request (one per target), encoded: each with a new id (a uuid4, unless ``event_ids``
    gives them) and the time of now (UTC, unless given).

    What the events of a request share (``request``, ``actor``, ``source``) is encoded once, and each event is
    one string format around its encoded target: on a hot path (every HEAD records a pull) building and encoding
    whole nested objects cost several times more."""
    shared = f'"request":{encode_object(request.as_json())},"actor":{_actor(actor)},"source":{source.json}}}'
    timestamp = format_timestamp(now) if now is not None else timestamp_now()
    ids = list(event_ids) or [new_event_id() for _ in targets]
    return [
        f'{{"id":{_quote(event_id)},"timestamp":"{timestamp}","action":"{action}",'
        f'"target":{encode_object(target)},{shared}'.encode()
        for event_id, target in zip(ids, targets, strict=True)
    ]


def new_event(
    action: Action,
    target: Json,
    request: RequestRecord,
    actor: str | None,
    source: SourceRecord,
    *,
    now: datetime | None = None,
    event_id: str | None = None,
) -> Json:
    """One event as :func:`encode_events` encodes it, decoded (what a listener reads)."""
    [encoded] = encode_events(
        action, [target], request, actor, source, now=now, event_ids=[event_id] if event_id else ()
    )
    decoded: Json = json.loads(encoded)
    return decoded


def _actor(name: str | None) -> str:
    return f'{{"name":{_quote(name)}}}' if name else "{}"


def new_event_id() -> str:
    """A random (version 4) UUID in its usual form. The bits come from :mod:`random` (seeded from the system's
    randomness at start): an event id must be unique, not secret, and ``os.urandom`` is a system call per event
    (measured at several microseconds per request under load, on a path every HEAD takes)."""
    h = f"{_random_bits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_random_bits = random.Random().getrandbits  # its own generator: nothing else's seeding or state affects it


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
"""RFC 4122's variant bits (``10xx``) over the first hex digit of the fourth group."""


class _SecondCache:
    """The ``YYYY-MM-DDTHH:MM:SS`` part of the last second formatted: events in one second share it."""

    second = -1
    text = ""


def timestamp_now() -> str:
    """Now, as :func:`format_timestamp` formats it, without building a ``datetime`` (``time.time`` and a prefix
    formatted once per second)."""
    now = time.time()
    second = int(now)
    if second != _SecondCache.second:
        _SecondCache.text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _SecondCache.second = second
    return f"{_SecondCache.text}.{int((now - second) * 1e6):06d}Z"


def format_timestamp(moment: datetime) -> str:
    """RFC 3339, UTC, microseconds, ``Z``: ``2024-05-01T12:00:00.123456Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


_TIMESTAMP = b'"timestamp":"'


def recorded_at(data: bytes) -> datetime | None:
    """The ``timestamp`` of an encoded event, read without decoding the whole event (the sender's latency
    measure, per event); None if it has none."""
    start = data.find(_TIMESTAMP)
    if start < 0:
        return None
    start += len(_TIMESTAMP)
    end = data.find(b'"', start)
    try:
        return parse_timestamp(data[start:end].decode())
    except ValueError:
        return None


def encode(event: Mapping[str, Any]) -> bytes:
    """The event's JSON, compact: what the log holds and the envelope carries."""
    return _ENCODER.encode(event).encode()


def envelope(events: Sequence[bytes]) -> bytes:
    """``{"events": [...]}`` from encoded events, without decoding them again."""
    return b'{"events":[' + b",".join(events) + b"]}"


def encode_object(fields: Mapping[str, Any]) -> str:
    """``fields`` as compact JSON, as ``_ENCODER`` writes it: string and integer values written here (the
    common case of every event's fields, several times cheaper than the encoder's Python layer), anything else
    by the encoder."""
    return "{" + ",".join([f"{_quote(key)}:{_value(value)}" for key, value in fields.items()]) + "}"


def _value(value: Any) -> str:
    kind = value.__class__
    return _quote(value) if kind is str else str(value) if kind is int else _ENCODER.encode(value)


def _omit_empty(fields: Mapping[str, Any], keep: Sequence[str] = ()) -> Json:
    """Go's ``omitempty``: drop ``None``, ``""``, ``0``, ``false``, empty lists and maps (exactly the values
    Python holds false), except the ``keep`` keys."""
    return {key: value for key, value in fields.items() if value or key in keep}
