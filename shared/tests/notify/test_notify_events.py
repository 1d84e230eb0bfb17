"""Events field for field as the Go registry (2.8) encodes them: its own format test, then every kind of target."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

from registry_core.notify.events import (
    RequestRecord,
    SourceRecord,
    blob_target,
    delete_target,
    encode,
    envelope,
    format_timestamp,
    manifest_target,
    new_event,
    parse_timestamp,
    references,
)

# distribution 2.8, notifications/event_test.go (TestEventEnvelopeJSONFormat): json.MarshalIndent(envelope, "", "   ")
GO_ENVELOPE = """
{
   "events": [
      {
         "id": "asdf-asdf-asdf-asdf-0",
         "timestamp": "2006-01-02T15:04:05Z",
         "action": "push",
         "target": {
            "mediaType": "application/vnd.docker.distribution.manifest.v1+prettyjws",
            "size": 1,
            "digest": "sha256:0123456789abcdef0",
            "length": 1,
            "repository": "library/test",
            "url": "http://example.com/v2/library/test/manifests/latest"
         },
         "request": {
            "id": "asdfasdf",
            "addr": "client.local",
            "host": "registrycluster.local",
            "method": "PUT",
            "useragent": "test/0.1"
         },
         "actor": {
            "name": "test-actor"
         },
         "source": {
            "addr": "hostname.local:port"
         }
      }
   ]
}
""".strip()

REQUEST = RequestRecord("asdfasdf", "client.local", "registrycluster.local", "PUT", "test/0.1")
SOURCE = SourceRecord("hostname.local:port", instance_id="")
DIGEST = "sha256:" + "ab" * 32
URL = f"http://r.example/v2/app/blobs/{DIGEST}"


def test_go_format_test_envelope_byte_for_byte() -> None:
    target = manifest_target(
        "library/test",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "sha256:0123456789abcdef0",
        1,
        "http://example.com/v2/library/test/manifests/latest",
    )
    event = new_event("push", target, REQUEST, "test-actor", SOURCE, event_id="asdf-asdf-asdf-asdf-0")
    event["timestamp"] = "2006-01-02T15:04:05Z"  # Go drops a zero fraction; ours always has microseconds
    decoded = json.loads(envelope([encode(event)]))
    assert json.dumps(decoded, indent=3) == GO_ENVELOPE


def test_blob_event_shape() -> None:
    event = new_event("pull", blob_target("app", DIGEST, 42, URL), REQUEST, None, SourceRecord("h:5000"))
    assert list(event) == ["id", "timestamp", "action", "target", "request", "actor", "source"]
    assert event["target"] == {
        "mediaType": "application/octet-stream",
        "size": 42,
        "digest": DIGEST,
        "length": 42,
        "repository": "app",
        "url": URL,
    }
    assert event["actor"] == {}  # anonymous: Go's empty ActorRecord
    assert list(event["source"]) == ["addr", "instanceID"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", event["id"])


def test_mount_names_its_source_repository() -> None:
    target = blob_target("app", DIGEST, 42, URL, from_repository="base")
    assert list(target) == ["mediaType", "size", "digest", "length", "repository", "fromRepository", "url"]
    assert target["fromRepository"] == "base"


def test_empty_values_are_omitted_as_go_omitempty() -> None:
    assert "size" not in blob_target("app", DIGEST, 0, URL) and "length" not in blob_target("app", DIGEST, 0, URL)
    record = RequestRecord("", "", "", "GET", "")
    assert record.as_json() == {"id": "", "method": "GET", "useragent": ""}  # never omitted in Go
    assert SourceRecord("", "").as_json() == {}


def test_deletes_name_only_the_repository_and_the_digest_or_tag() -> None:
    assert delete_target("app", digest=DIGEST) == {"repository": "app", "digest": DIGEST}
    assert delete_target("app", tag="v1") == {"repository": "app", "tag": "v1"}


def test_manifest_by_tag_with_references() -> None:
    refs = [{"mediaType": "application/vnd.oci.image.config.v1+json", "size": 7, "digest": DIGEST}]
    target = manifest_target("app", "application/vnd.oci.image.manifest.v1+json", DIGEST, 100, URL, "v1", refs)
    assert list(target) == ["mediaType", "size", "digest", "length", "repository", "url", "tag", "references"]
    assert "tag" not in manifest_target("app", "m", DIGEST, 100, URL)
    assert "references" not in manifest_target("app", "m", DIGEST, 100, URL, "v1")


def test_references_of_an_image_manifest_config_then_layers() -> None:
    config = {"mediaType": "c", "digest": DIGEST, "size": 7, "artifactType": "dropped"}
    layer = {"mediaType": "l", "digest": DIGEST, "size": 9, "urls": ["https://x/l"], "annotations": {"a": "b"}}
    payload = json.dumps({"schemaVersion": 2, "config": config, "layers": [layer, {**layer, "urls": []}]}).encode()
    assert references(payload) == [
        {"mediaType": "c", "size": 7, "digest": DIGEST},
        {"mediaType": "l", "size": 9, "digest": DIGEST, "urls": ["https://x/l"], "annotations": {"a": "b"}},
        {"mediaType": "l", "size": 9, "digest": DIGEST, "annotations": {"a": "b"}},
    ]


def test_references_of_an_index_keep_platforms() -> None:
    entry = {"mediaType": "m", "digest": DIGEST, "size": 5, "platform": {"architecture": "arm64", "os": "linux"}}
    payload = json.dumps({"schemaVersion": 2, "manifests": [entry]}).encode()
    assert references(payload) == [entry]


def test_timestamps_are_utc_rfc3339_with_fraction_and_z() -> None:
    moment = datetime(2024, 5, 1, 14, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    text = format_timestamp(moment)
    assert text == "2024-05-01T12:00:00.000005Z"
    assert parse_timestamp(text) == moment.astimezone(UTC)


def test_encoding_is_compact_json_and_the_envelope_wraps_events_unchanged() -> None:
    first, second = encode({"a": 1}), encode({"b": "é"})
    assert first == b'{"a":1}'
    assert json.loads(envelope([first, second])) == {"events": [{"a": 1}, {"b": "é"}]}
    assert json.loads(envelope([])) == {"events": []}


def test_records_are_written_as_the_json_encoder_writes_them() -> None:
    from registry_core.notify.events import encode_object

    fields = {"a": "plain", "b": 'quote " and \\ back', "c": "ünïcödé \u2028 \x01", "d": 42, "e": [{"x": 1}], "f": {}}
    assert encode_object(fields) == json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
    assert json.loads(encode_object(fields)) == fields
