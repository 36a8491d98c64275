"""The prober and responder over real UDP sockets on loopback: RTT, loss, dwell, reload."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from exporters.mesh import wire
from exporters.mesh.peers import Peer
from exporters.mesh.prober import RTT_BUCKETS, PeerSnapshot, Prober
from exporters.mesh.responder import Responder, bind_udp
from exporters.mesh.service import MeshService, MeshSettings
from tests.support.daemons import free_port


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def _only(prober: Prober) -> PeerSnapshot:
    (snapshot,) = prober.snapshot()
    return snapshot


@pytest.fixture
def responder() -> Iterator[Responder]:
    running = Responder(bind_udp("127.0.0.1", 0)).start()
    yield running
    running.stop()


def test_probes_are_answered_and_timed(responder: Responder) -> None:
    """Every probe to a live responder is answered; RTTs are positive, small and bucketed."""
    host, port = responder.address
    samples: list[float | None] = []
    prober = Prober(
        "a",
        [Peer("b", host, port)],
        interval=0.01,
        first_probe_within=0,
        max_probes=30,
        on_sample=lambda peer, rtt, at: samples.append(rtt),
    ).start()
    try:
        assert prober.wait(10)
    finally:
        prober.stop()
    peer = _only(prober)
    assert (peer.probes, peer.replies, peer.lost) == (30, 30, 0)
    assert len(samples) == 30
    assert all(s is not None and 0 < s < 0.05 for s in samples)
    assert peer.rtt_sum == pytest.approx(sum(s for s in samples if s is not None))
    cumulative = peer.cumulative_buckets()
    assert [bound for bound, _ in cumulative] == [*RTT_BUCKETS, float("inf")]
    assert cumulative[-1][1] == 30
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(cumulative))
    assert prober.kernel_timestamps  # Linux gives send and receive stamps
    assert responder.answered == 30


def test_probes_to_a_silent_peer_are_counted_lost() -> None:
    """No responder on the port: every probe times out and counts as lost, none as a reply."""
    port = _free_udp_port()
    lost: list[str] = []
    prober = Prober(
        "a",
        [Peer("down", "127.0.0.1", port)],
        interval=0.02,
        timeout=0.2,
        first_probe_within=0,
        max_probes=5,
        on_sample=lambda peer, rtt, at: lost.append(peer) if rtt is None else None,
    ).start()
    try:
        assert prober.wait(5)
    finally:
        prober.stop()
    peer = _only(prober)
    assert (peer.probes, peer.replies, peer.lost) == (5, 0, 5)
    assert lost == ["down"] * 5
    assert peer.seconds_since_reply is None


class _SlowResponder:
    """Holds each probe ``hold`` seconds; reports that time as dwell only if ``honest``."""

    def __init__(self, hold: float, honest: bool) -> None:
        self.sock = bind_udp("127.0.0.1", 0)
        self.sock.settimeout(0.2)
        self.hold, self.honest = hold, honest
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                data, sender = self.sock.recvfrom(64)
            except TimeoutError:
                continue
            received = time.time_ns()
            time.sleep(self.hold)
            dwell = time.time_ns() - received if self.honest else 0
            reply = wire.reply_to(data, dwell)
            assert reply is not None
            self.sock.sendto(reply, sender)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.mark.parametrize("honest", [True, False])
def test_responder_holding_time_is_subtracted(honest: bool) -> None:
    """A responder busy for 50 ms does not make the link read 50 ms when it says so."""
    slow = _SlowResponder(hold=0.05, honest=honest)
    try:
        prober = Prober(
            "a",
            [Peer("slow", "127.0.0.1", slow.sock.getsockname()[1])],
            interval=0.1,  # longer than the hold: no probe waits behind another
            first_probe_within=0,
            max_probes=5,
        ).start()
        assert prober.wait(5)
        prober.stop()
    finally:
        slow.close()
    peer = _only(prober)
    mean = peer.rtt_sum / peer.replies
    assert peer.replies == 5
    if honest:
        assert mean < 0.01
    else:
        assert mean >= 0.05


def test_responder_ignores_anything_but_probes(responder: Responder) -> None:
    """Garbage, replies and short datagrams get no answer: never an amplifier."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        for datagram in (b"hello", wire.probe(1, 1)[:-1], wire.reply_to(wire.probe(1, 1), 0)):
            assert datagram is not None
            sock.sendto(datagram, responder.address)
            with pytest.raises(TimeoutError):
                sock.recvfrom(64)
        sock.sendto(wire.probe(7, 9), responder.address)
        parsed = wire.parse_reply(sock.recvfrom(64)[0])
        assert parsed is not None
        assert parsed[:2] == (7, 9)


def test_replies_from_another_session_are_ignored() -> None:
    """A reply carrying a different session (a stale prober's) is not counted."""
    sock = bind_udp("127.0.0.1", 0)
    sock.settimeout(0.2)

    def forge() -> None:
        data, sender = sock.recvfrom(64)
        _, _, session, seq, _ = wire.PROBE.unpack(data)
        forged = wire.PROBE.pack(wire.PROBE_MAGIC, wire.KIND_REPLY, session ^ 1, seq, 0)
        sock.sendto(forged, sender)

    thread = threading.Thread(target=forge)
    thread.start()
    prober = Prober(
        "a",
        [Peer("b", "127.0.0.1", sock.getsockname()[1])],
        timeout=0.3,
        first_probe_within=0,
        max_probes=1,
    ).start()
    try:
        assert prober.wait(5)
    finally:
        prober.stop()
        thread.join()
        sock.close()
    assert (_only(prober).replies, _only(prober).lost) == (0, 1)


def _write(path: Path, nodes: list[dict[str, object]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"version": 1, "nodes": nodes}))
    tmp.replace(path)  # a new inode: the change shows even within one mtime tick


def test_service_follows_the_peers_file(tmp_path: Path) -> None:
    """Adding a node to the file makes a running node probe it; a broken file changes nothing."""
    peers = tmp_path / "mesh-peers.json"
    ports = [_free_udp_port(), _free_udp_port()]
    node = {"name": "a", "address": "127.0.0.1", "port": free_port()}
    b = {"name": "b", "address": "127.0.0.1", "port": ports[0]}
    c = {"name": "c", "address": "127.0.0.1", "port": ports[1]}
    _write(peers, [node, b])
    service = MeshService(
        MeshSettings(peers, "a", "127.0.0.1", interval=0.05, streams=False, reload_interval=0.1)
    ).start()
    try:
        assert service.prober is not None
        prober = service.prober
        _until(lambda: [p.name for p in prober.snapshot()] == ["b"])
        _write(peers, [node, b, c])
        _until(lambda: sorted(p.name for p in prober.snapshot()) == ["b", "c"])
        (tmp_path / "broken").write_text("{")
        (tmp_path / "broken").replace(peers)
        _until(lambda: service.reload_errors == 1)
        assert sorted(p.name for p in prober.snapshot()) == ["b", "c"]
    finally:
        service.stop()
