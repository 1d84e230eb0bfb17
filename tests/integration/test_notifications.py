"""Notifications from a real ``registry serve all`` to real HTTP listeners: every action's Go-shaped event (with the
request's id, the caller's name under htpasswd), per-endpoint filters, a listener failing for a while or down then
started receiving every event in order, and the metrics."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from notifying import BLOB_TYPE, OCI_MANIFEST, Pusher, endpoint, eventually, metric, notifying_config
from registry_process import RunningRegistry, serving_config

from registry_core.notify.events import EVENTS_MEDIA_TYPE
from registry_core.testing.listener import EventListener, listening
from registry_core.testing.servers import free_port
from registry_core.testing.token_files import write_htpasswd

pytestmark = pytest.mark.integration

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


@contextmanager
def notifying_registry(
    directory: Path, endpoints: list[dict[str, Any]], **sections: Any
) -> Iterator[tuple[RunningRegistry, httpx.Client]]:
    """``registry serve all`` sending to ``endpoints``; and a client for it."""
    port = free_port()
    config = notifying_config(directory / "data", port, endpoints, **sections)
    ready = 401 if "auth" in sections else 200
    with (
        serving_config(directory, config, port, ready_status=ready) as running,
        httpx.Client(base_url=running.url, timeout=30) as client,
    ):
        yield running, client


def summary(event: dict[str, Any]) -> tuple[Any, ...]:
    target = event["target"]
    fields = ("repository", "mediaType", "digest", "tag", "fromRepository")
    return (event["action"], *(target.get(key) for key in fields))


def test_every_action_produces_the_go_shaped_event(tmp_path: Path) -> None:
    with listening() as listener, notifying_registry(tmp_path, [endpoint("all", listener)]) as (registry, client):
        api = Pusher(client)
        layer = api.chunked_blob("app", b"layer")
        config = api.blob("app", b"{}")
        digest, payload = api.manifest("app", "v1", config)
        api.manifest("app", digest, config, tag=["a", "b"])
        api.call("GET", "/v2/app/manifests/v1", 200)
        api.call("GET", f"/v2/app/manifests/{digest}", 200)
        api.call("HEAD", "/v2/app/manifests/v1", 200)
        api.call("GET", f"/v2/app/blobs/{layer}", 200)
        api.call("POST", "/v2/copy/blobs/uploads/", 201, params={"mount": layer, "from": "app"})
        api.call("DELETE", "/v2/app/manifests/a", 202)
        api.call("DELETE", f"/v2/app/manifests/{digest}", 202)
        api.call("DELETE", f"/v2/app/blobs/{layer}", 202)
        events = listener.wait_for_events(15)

    assert [summary(e) for e in events[:12]] == [
        ("push", "app", BLOB_TYPE, layer, None, None),
        ("push", "app", BLOB_TYPE, config, None, None),
        ("push", "app", OCI_MANIFEST, digest, "v1", None),
        ("push", "app", OCI_MANIFEST, digest, "a", None),
        ("push", "app", OCI_MANIFEST, digest, "b", None),
        ("pull", "app", OCI_MANIFEST, digest, "v1", None),
        ("pull", "app", OCI_MANIFEST, digest, None, None),
        ("pull", "app", OCI_MANIFEST, digest, "v1", None),
        ("pull", "app", BLOB_TYPE, layer, None, None),
        ("mount", "copy", BLOB_TYPE, layer, None, "app"),
        ("delete", "app", None, None, "a", None),
        ("delete", "app", None, digest, None, None),
    ]
    # the tags the manifest's delete removed, after it, as Go sends them (in the order the tag store lists them)
    assert sorted(summary(e) for e in events[12:14]) == [("delete", "app", None, None, t, None) for t in ("b", "v1")]
    assert summary(events[14]) == ("delete", "app", None, layer, None, None)
    ids = api.request_ids  # a put with two tags makes two events, a manifest delete with two tags three
    assert [e["request"]["id"] for e in events] == [*ids[:4], *ids[3:11], ids[10], ids[10], ids[11]]

    push = events[2]
    assert list(push) == ["id", "timestamp", "action", "target", "request", "actor", "source"]
    assert UUID.fullmatch(push["id"]) and TIMESTAMP.fullmatch(push["timestamp"])
    assert push["target"] == {
        "mediaType": OCI_MANIFEST,
        "size": len(payload),
        "digest": digest,
        "length": len(payload),
        "repository": "app",
        "url": f"{registry.url}/v2/app/manifests/{digest}",
        "tag": "v1",
    }
    assert push["target"]["url"].startswith("http://127.0.0.1:")
    assert events[0]["target"]["url"] == f"{registry.url}/v2/app/blobs/{layer}"
    assert push["request"] == {
        "id": ids[2],
        "addr": push["request"]["addr"],
        "host": registry.host,
        "method": "PUT",
        "useragent": f"python-httpx/{httpx.__version__}",
    }
    assert re.fullmatch(r"127\.0\.0\.1:\d+", push["request"]["addr"])
    assert push["actor"] == {}
    assert push["source"]["addr"].endswith(f":{registry.host.rsplit(':', 1)[1]}")
    assert len({e["source"]["instanceID"] for e in events}) == 1
    assert len({e["id"] for e in events}) == len(events)
    assert events[-1]["target"] == {"repository": "app", "digest": layer}
    assert {r.headers["content-type"] for r in listener.received} == {EVENTS_MEDIA_TYPE}


def test_the_actor_is_the_htpasswd_user(tmp_path: Path) -> None:
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {"alice": "alice-pw"})
    auth = {"htpasswd": {"realm": "r", "path": str(htpasswd)}}
    with listening() as listener, notifying_registry(tmp_path, [endpoint("e", listener)], auth=auth) as (_, client):
        client.auth = ("alice", "alice-pw")
        Pusher(client).blob("app", b"by alice")
        (event,) = listener.wait_for_events(1)
    assert event["actor"] == {"name": "alice"}


def test_each_endpoint_has_its_own_filters(tmp_path: Path) -> None:
    with listening() as no_pulls, listening() as no_blobs:
        endpoints = [
            endpoint("no-pulls", no_pulls, ignore={"actions": ["pull"]}),
            endpoint("no-blobs", no_blobs, ignoredmediatypes=[BLOB_TYPE]),
        ]
        with notifying_registry(tmp_path, endpoints) as (registry, client):
            api = Pusher(client)
            config = api.blob("app", b"{}")
            digest, _ = api.manifest("app", "v1", config)
            api.call("GET", f"/v2/app/blobs/{config}", 200)
            api.call("GET", "/v2/app/manifests/v1", 200)
            api.call("DELETE", "/v2/app/manifests/v1", 202)  # both take it: once it arrived, nothing more will
            first = no_pulls.wait_for_events(3)
            second = no_blobs.wait_for_events(3)
            eventually(lambda: metric(registry, "registry_notifications_delivered_total", "no-pulls") == 3)
    assert [(e["action"], e["target"].get("tag")) for e in first] == [("push", None), ("push", "v1"), ("delete", "v1")]
    assert [e["action"] for e in second] == ["push", "pull", "delete"]
    assert second[0]["target"]["digest"] == digest and second[1]["target"]["tag"] == "v1"
    assert len(no_pulls.events) == len(no_blobs.events) == 3


def test_a_listener_failing_for_a_while_then_gets_every_event_in_order(tmp_path: Path) -> None:
    with listening() as listener, notifying_registry(tmp_path, [endpoint("flaky", listener)]) as (registry, client):
        listener.fail_next(8)
        api = Pusher(client)
        digests = [api.blob("app", f"blob {n}".encode()) for n in range(10)]
        events = listener.wait_for_events(10)
        eventually(lambda: metric(registry, "registry_notifications_pending", "flaky") == 0)
        assert metric(registry, "registry_notifications_failed_total", "flaky") >= 8
        assert metric(registry, "registry_notifications_delivered_total", "flaky") == 10
        assert metric(registry, "registry_notifications_delivery_seconds_count", "flaky") == 10
    assert [e["target"]["digest"] for e in events] == digests
    assert [e["request"]["id"] for e in events] == api.request_ids
    assert sum(r.status == 500 for r in listener.received) == 8


def test_a_listener_down_then_started_gets_every_event_in_order(tmp_path: Path) -> None:
    listener = EventListener()  # its port is chosen, nothing listens on it yet
    with notifying_registry(tmp_path, [endpoint("late", listener)]) as (registry, client):
        api = Pusher(client)
        digests = [api.blob("app", f"blob {n}".encode()) for n in range(5)]
        eventually(lambda: metric(registry, "registry_notifications_failed_total", "late") > 0)  # refused, retried
        digests += [api.blob("app", f"more {n}".encode()) for n in range(3)]
        listener.start()
        try:
            events = listener.wait_for_events(8)
        finally:
            listener.stop()
    assert [e["target"]["digest"] for e in events] == digests
    assert len(listener.events) == 8


def test_webhook_urls_and_header_values_never_reach_the_log(tmp_path: Path) -> None:
    """A webhook URL may carry a token (path, query or user part), and headers credentials: neither is logged, at
    info (httpx writes every request's URL there) nor when deliveries fail (warnings)."""
    secret_url = "u53r:pa55w0rd@"
    with listening() as listener:
        url = listener.url_at("/hooks/t0k3n-in-path").replace("://", f"://{secret_url}") + "?token=qu3ry-s3cr3t"
        hook = endpoint("hook", listener, url=url, headers={"Authorization": ["Bearer h3ad3r-s3cr3t"]})
        with notifying_registry(tmp_path, [hook], log={"level": "debug"}) as (registry, client):
            listener.fail_next(2)
            Pusher(client).blob("app", b"secret test")
            listener.wait_for_events(1)
            eventually(lambda: metric(registry, "registry_notifications_delivered_total", "hook") == 1)
            assert registry.process is not None
            output = registry.process.output()
    assert "not delivered" in output  # the failures were logged...
    for secret in ("t0k3n-in-path", "qu3ry-s3cr3t", "pa55w0rd", "h3ad3r-s3cr3t"):
        assert secret not in output  # ...without what the URL and the headers hold
