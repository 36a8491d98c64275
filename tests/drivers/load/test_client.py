"""The message client fires one Locust request event per exchange, against the real endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from drivers.load.client import BATCH, BULK, FAILURE_BACKOFF_SECONDS, RTT, MessageClient
from exporters.mesh.peers import Peer
from exporters.mesh.streams import StreamServer
from tests.support.daemons import free_port
from tests.support.mesh import streams_server


class Recorder:
    """Stands in for ``environment.events.request``: keeps what was fired."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def fire(self, **kwargs: Any) -> None:
        self.events.append(kwargs)


@pytest.fixture
def server() -> Iterator[StreamServer]:
    with streams_server() as running:
        yield running


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def test_round_trip_is_one_rtt_event(server: StreamServer, recorder: Recorder) -> None:
    """A message round trip reports its time in ms and its bytes, named source->destination."""
    client = MessageClient("rpi-1", recorder)
    peer = Peer("rpi-2", "127.0.0.1", server.port)
    seconds = client.round_trip(peer, 1024)
    client.close()
    assert seconds is not None
    (event,) = recorder.events
    assert event["request_type"] == RTT
    assert event["name"] == "rpi-1->rpi-2"
    assert event["exception"] is None
    assert event["response_length"] == 1028  # the message and its length prefix
    assert event["response_time"] == pytest.approx(seconds * 1000)


def test_pipelined_batches_fire_one_event_per_batch(
    server: StreamServer, recorder: Recorder
) -> None:
    """Ten batches with three in flight: ten events, each acknowledged, none lost or doubled."""
    client = MessageClient("rpi-1", recorder)
    peer = Peer("rpi-2", "127.0.0.1", server.port)
    for _ in range(10):
        assert client.send_batch(peer, count=100, size=1024, window=3)
    assert len(recorder.events) == 7  # three still in flight
    client.drain()
    client.close()
    assert len(recorder.events) == 10
    assert {e["request_type"] for e in recorder.events} == {BATCH}
    assert all(e["response_length"] == 100 * 1028 for e in recorder.events)
    assert all(e["exception"] is None and e["response_time"] > 0 for e in recorder.events)


def test_bulk_stream_reports_all_its_bytes(server: StreamServer, recorder: Recorder) -> None:
    """A bulk stream is one event carrying every byte, acknowledged only once all were read."""
    client = MessageClient("gpu-primary", recorder)
    rate = client.bulk(Peer("rpi-1", "127.0.0.1", server.port), 5_000_000, chunk_bytes=1 << 20)
    client.close()
    (event,) = recorder.events
    assert (event["request_type"], event["response_length"]) == (BULK, 5_000_000)
    assert rate is not None
    assert rate == pytest.approx(5_000_000 / (event["response_time"] / 1000), rel=1e-6)


def test_bulk_stream_can_be_bounded_in_time(server: StreamServer, recorder: Recorder) -> None:
    """With seconds, a stream ends on time however fast the link: slow Pis get equal time."""
    client = MessageClient("gpu-primary", recorder)
    client.bulk(Peer("rpi-1", "127.0.0.1", server.port), 10**12, seconds=0.3)
    client.close()
    (event,) = recorder.events
    assert 300 <= event["response_time"] < 3000
    assert 0 < event["response_length"] < 10**12


def test_a_peer_that_is_down_is_a_failure_naming_it(recorder: Recorder) -> None:
    """Nobody listening: one failure event naming the peer and address, then a back-off."""
    slept: list[float] = []
    port = free_port()
    client = MessageClient("rpi-1", recorder, sleep=slept.append)
    assert client.round_trip(Peer("rpi-9", "127.0.0.1", port), 1024) is None
    assert not client.send_batch(Peer("rpi-9", "127.0.0.1", port), count=1, size=1, window=1)
    assert [e["request_type"] for e in recorder.events] == [RTT, BATCH]
    for event in recorder.events:
        assert f"rpi-9 (127.0.0.1:{port})" in str(event["exception"])
    assert slept == [FAILURE_BACKOFF_SECONDS] * 2
