"""Notifications with the event log in Redis (issue 14), real processes only: redis-server, ``registry serve all``
subprocesses, a real HTTP listener. What a registry recorded is never lost when it is killed (SIGKILL) and
restarted; an envelope in flight at the kill comes again with the same event ids, never as new events; two
processes writing to one Redis deliver each event once per endpoint, each process's events in its order; a failing
listener holds events (the pending gauge shows them) and then gets them all in order; Redis stopped fails no push,
and what was recorded meanwhile is delivered once Redis is back.

Every wait has an upper bound only (a restarted process may wait for the killed one's lease to expire, 10 s):
nothing here asserts how fast anything is.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from notifying import BLOB_TYPE, OCI_MANIFEST, Pusher, endpoint, eventually, metric, notifying_config
from registry_process import wait_until_ready

from registry_core.notify.redis_stream import FIELD
from registry_core.testing.listener import EventListener, listening
from registry_core.testing.servers import Process, RedisServer, free_port, start_redis, start_registry, stop

pytestmark = [pytest.mark.integration, pytest.mark.redis]

LONG = 60.0
"""Seconds a test waits at most for what follows a restart (start-up, the killed process's lease to expire, the
retries): a bound for a failing test on a loaded machine, not a timing expectation."""
STREAM = "registry::events"
"""The stream of :class:`~registry_core.notify.redis_stream.RedisEventLog` (its default name)."""
PENDING = "registry_notifications_pending"
DELIVERED = "registry_notifications_delivered_total"
FAILED = "registry_notifications_failed_total"


class Servers:
    """The processes of one test (Redis, registries), all stopped at its end, even a failing one's. The registries'
    logs are printed then: pytest shows them with a failure."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.redis_servers: list[RedisServer] = []
        self.registries: list[Process] = []

    def redis(self, port: int | None = None) -> RedisServer:
        """A redis-server (on ``port``: a new, empty one where a stopped one was)."""
        server = start_redis(self.directory, port)
        self.redis_servers.append(server)
        return server

    def registry(self, config: str, port: int, run: str) -> Process:
        """``registry serve all`` with ``config`` on ``port``, ready to answer; its config and log in the folder
        ``run`` (one per start: a restart keeps the killed process's log)."""
        directory = self.directory / run
        directory.mkdir()
        path = directory / "config.yml"
        path.write_text(config)
        process = start_registry("all", path, directory, port=port)
        self.registries.append(process)
        wait_until_ready(process.url, process)
        return process

    def stop(self) -> None:
        for process in self.registries:
            stop(process.proc)
            print(f"--- {process.log} ---\n{process.output()[-3000:]}")
        for server in self.redis_servers:
            stop(server.proc)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    running = Servers(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def kill(process: Process) -> None:
    """SIGKILL: no lifespan shutdown, no lease released, no acknowledgement sent."""
    process.proc.kill()
    process.proc.wait()


def recorded(server: RedisServer) -> list[dict[str, Any]]:
    """The events in the stream, oldest first (what the registries recorded and no group acknowledged yet)."""
    client = redis.Redis.from_url(server.url)
    try:
        return [json.loads(fields[FIELD.encode()]) for _, fields in client.xrange(STREAM)]
    finally:
        client.close()


def pushed(events: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(action, repository, media type, digest) of each event."""
    return [(e["action"], e["target"]["repository"], e["target"]["mediaType"], e["target"]["digest"]) for e in events]


def request_ids(events: list[dict[str, Any]]) -> list[str]:
    return [event["request"]["id"] for event in events]


def test_what_a_killed_registry_recorded_is_delivered_after_its_restart(tmp_path: Path, servers: Servers) -> None:
    """The listener is down (nothing can be delivered), a blob and a manifest are pushed, the registry is SIGKILLed
    right after the responses: the events are in Redis already (recorded before each response), and the restarted
    registry delivers exactly them, same ids, same payloads, with the request ids the client got."""
    store = servers.redis()
    listener = EventListener()  # its port is chosen; nothing listens on it yet
    port = free_port()
    config = notifying_config(tmp_path / "data", port, [endpoint("hook", listener)], redis=store.addr)
    registry = servers.registry(config, port, "first")
    with httpx.Client(base_url=registry.url, timeout=30) as client:
        api = Pusher(client)
        blob = api.blob("app", b"{}")
        manifest, _ = api.manifest("app", "v1", blob)
    kill(registry)

    logged = recorded(store)
    assert pushed(logged) == [("push", "app", BLOB_TYPE, blob), ("push", "app", OCI_MANIFEST, manifest)]
    listener.start()
    try:
        servers.registry(config, port, "restarted")
        events = listener.wait_for_events(2, LONG)
    finally:
        listener.stop()
    assert events == logged  # the same events (ids, timestamps, everything), in order
    assert request_ids(events) == api.request_ids
    assert events[1]["target"]["tag"] == "v1"
    assert len(listener.events) == 2


def test_an_envelope_in_flight_at_a_crash_comes_again_with_the_same_ids(tmp_path: Path, servers: Servers) -> None:
    """The listener accepts a first batch, then holds its answer to the next envelope (accepted on its side, not
    yet acknowledged on the registry's) while the registry is SIGKILLed. After the restart every event arrives at
    least once; an event received twice has the same id and the same payload both times (a re-delivery, never a
    new event); without duplicates the events are in the order recorded. Whether a duplicate occurs is not
    asserted: only this invariant."""
    store = servers.redis()
    port = free_port()
    with listening() as listener:
        # a timeout longer than any wait here: the held envelope is still in flight when the kill comes
        hook = endpoint("hook", listener, timeout="120s")
        config = notifying_config(tmp_path / "data", port, [hook], redis=store.addr)
        registry = servers.registry(config, port, "first")
        with httpx.Client(base_url=registry.url, timeout=30) as client:
            first = Pusher(client)
            digests = [first.blob("app", f"before {n}".encode()) for n in range(5)]
            listener.wait_for_events(5)
            listener.hold()
            digests += [first.blob("app", f"in flight {n}".encode()) for n in range(5)]
            listener.wait_until(lambda held: held.holding > 0)
        kill(registry)
        listener.release()  # its answer goes nowhere: the registry is gone

        registry = servers.registry(config, port, "restarted")
        with httpx.Client(base_url=registry.url, timeout=30) as client:
            second = Pusher(client)
            digests += [second.blob("app", f"after {n}".encode()) for n in range(5)]
        expected = first.request_ids + second.request_ids
        listener.wait_until(lambda got: set(request_ids(got.events)) >= set(expected), LONG)
        eventually(lambda: metric(registry, PENDING, "hook") == 0, LONG)
        events = listener.events

    copies: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        copies[event["id"]].append(event)
    assert all(same == [same[0]] * len(same) for same in copies.values()), "an id received with different payloads"
    distinct = [same[0] for same in copies.values()]  # in order of first arrival
    assert len(distinct) == len(expected), "one event per push: a re-delivery never makes a new event id"
    assert request_ids(distinct) == expected
    assert [e["target"]["digest"] for e in distinct] == digests


def test_two_processes_on_one_redis_deliver_each_event_once_per_endpoint(tmp_path: Path, servers: Servers) -> None:
    """Two ``registry serve all`` on one filesystem root and one Redis, each with the endpoints A and B (two paths
    of one listener), take 40 blob pushes, 20 each, concurrently: each endpoint receives each push event exactly
    once (whichever process delivers it), and the events each process recorded in the order it recorded them."""
    store = servers.redis()
    with listening() as listener:
        hooks = [endpoint(name, listener, url=listener.url_at(f"/{name}")) for name in ("a", "b")]
        ports = [free_port(), free_port()]
        configs = [notifying_config(tmp_path / "data", port, hooks, redis=store.addr) for port in ports]
        with ThreadPoolExecutor(2) as pool:
            registries = list(pool.map(servers.registry, configs, ports, ["one", "two"]))

        def push(writer: int) -> tuple[list[str], list[str]]:
            with httpx.Client(base_url=registries[writer].url, timeout=30) as client:
                api = Pusher(client)
                digests = [api.blob("app", f"writer {writer} blob {n}".encode()) for n in range(20)]
                return digests, api.request_ids

        with ThreadPoolExecutor(2) as pool:
            (digests_one, ids_one), (digests_two, ids_two) = pool.map(push, [0, 1])

        def delivered(name: str) -> float:
            return sum(metric(registry, DELIVERED, name) for registry in registries)

        for name in ("a", "b"):
            listener.wait_until(lambda got, path=f"/{name}": len(got.events_at(path)) >= 40, LONG)
            # counted once acknowledged, by whichever process sent them: once 40 are, nothing more can come
            eventually(lambda name=name: delivered(name) >= 40, LONG)
        per_endpoint = {name: listener.events_at(f"/{name}") for name in ("a", "b")}
        sent = {name: delivered(name) for name in ("a", "b")}

    assert sent == {"a": 40, "b": 40}, "an event was delivered twice"
    for name, events in per_endpoint.items():
        assert len(events) == 40, f"endpoint {name}"
        assert len({e["id"] for e in events}) == 40, f"endpoint {name}: an event received twice"
        assert sorted(e["target"]["digest"] for e in events) == sorted(digests_one + digests_two)
        received = request_ids(events)
        for ids in (ids_one, ids_two):
            assert [i for i in received if i in ids] == ids, f"endpoint {name}: one process's events out of order"


def test_a_failing_listener_holds_events_in_redis_then_gets_them_in_order(tmp_path: Path, servers: Servers) -> None:
    """The listener answers 500 until told otherwise: the events wait, ``registry_notifications_pending`` counts
    them all; then it accepts: every event arrives once, in order, and the gauge goes back to 0."""
    store = servers.redis()
    port = free_port()
    with listening() as listener:
        listener.fail_next(1_000_000)
        config = notifying_config(tmp_path / "data", port, [endpoint("flaky", listener)], redis=store.addr)
        registry = servers.registry(config, port, "only")
        with httpx.Client(base_url=registry.url, timeout=30) as client:
            api = Pusher(client)
            digests = [api.blob("app", f"blob {n}".encode()) for n in range(10)]
        eventually(lambda: metric(registry, FAILED, "flaky") > 0, LONG)
        eventually(lambda: metric(registry, PENDING, "flaky") == 10, LONG)
        assert listener.events == []
        listener.fail_next(0)
        events = listener.wait_for_events(10, LONG)
        eventually(lambda: metric(registry, PENDING, "flaky") == 0, LONG)
        assert metric(registry, DELIVERED, "flaky") == 10
    assert [e["target"]["digest"] for e in events] == digests
    assert request_ids(events) == api.request_ids
    assert len(listener.events) == 10


UNRECORDED = "registry_notifications_unrecorded"


def test_redis_stopped_fails_no_push_and_what_was_recorded_meanwhile_is_delivered(
    tmp_path: Path, servers: Servers
) -> None:
    """Redis is stopped while the registry serves: pushes still answer 201 (their events wait in the process's
    backlog); a new, empty redis-server on the same port: the backlog is re-appended and delivered, after what was
    delivered before the outage, in order."""
    store = servers.redis()
    port = free_port()
    with listening() as listener:
        config = notifying_config(tmp_path / "data", port, [endpoint("hook", listener)], redis=store.addr)
        registry = servers.registry(config, port, "only")
        with httpx.Client(base_url=registry.url, timeout=30) as client:
            api = Pusher(client)
            digests = [api.blob("app", f"before {n}".encode()) for n in range(3)]
            listener.wait_for_events(3)
            stop(store.proc)
            digests += [api.blob("app", f"during {n}".encode()) for n in range(5)]  # each asserted 201
            assert metric(registry, UNRECORDED, None) == 5  # held in the process, in /metrics
            servers.redis(store.port)  # empty: the events can only come from the registry's backlog
            listener.wait_for_events(8, LONG)
            digests += [api.blob("app", f"after {n}".encode()) for n in range(2)]
            events = listener.wait_for_events(10, LONG)
        eventually(lambda: metric(registry, PENDING, "hook") == 0, LONG)
        assert metric(registry, UNRECORDED, None) == 0
        assert len(listener.events) == 10
    assert [e["target"]["digest"] for e in events] == digests
    assert request_ids(events) == api.request_ids
