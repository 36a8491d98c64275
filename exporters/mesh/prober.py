"""The prober: one thread that probes every peer on a jittered schedule and times the replies.

Each peer is probed once per ``interval`` (each gap drawn from interval x [0.9, 1.1], and the
first probe at a random point of the first interval, so nodes never probe in lock-step). A
probe is lost when no reply came within ``timeout``. The round-trip time is::

    time the reply was read - kernel send stamp of the probe - responder dwell

with ``time.time_ns()`` standing in where the kernel gives no send stamp, and the monotonic
clock guarding against a wall-clock step between the two. Why the receive side is not a
kernel stamp: see ``timestamps``. Everything runs in this one thread, which only sends,
receives and counts, and the exporter keeps other work out of its process's steady state
(collectors run only when scraped); readers take a ``snapshot()``.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import os
import random
import select
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from exporters.mesh import wire
from exporters.mesh.peers import Peer
from exporters.mesh.timestamps import enable_prober_timestamps, read_send_times

log = logging.getLogger("swarmlet_exporter.mesh")

# Upper bounds in seconds: from a LAN round trip between namespaces (0.1-0.3 ms) through Pi
# Ethernet and Wi-Fi up to 3G links; 10 ms and 50 ms are the coordination-latency target and
# acceptable values, so a bucket boundary sits exactly on each.
RTT_BUCKETS: tuple[float, ...] = (
    0.0001, 0.0002, 0.0003, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075,
    0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0,
)  # fmt: skip
# An RTT on the wall clock larger than on the monotonic one by more than this means the wall
# clock stepped between the two readings.
_CLOCK_SLACK_NS = 1_000_000

SampleCallback = Callable[[str, float | None, int], None]
PeersSource = Callable[[], Sequence[Peer] | None]


@dataclass(frozen=True)
class PeerSnapshot:
    """One peer's counters at one moment; ``buckets`` are per-bucket (not cumulative) counts."""

    name: str
    address: str
    port: int
    probes: int
    lost: int
    replies: int
    rtt_sum: float
    buckets: tuple[int, ...]  # len(RTT_BUCKETS) + 1, the last one is +Inf
    last_rtt: float | None
    seconds_since_reply: float | None

    def cumulative_buckets(self) -> list[tuple[float, int]]:
        """``(upper_bound, count)`` pairs as Prometheus wants them, ending with +Inf."""
        total, pairs = 0, []
        for bound, count in zip((*RTT_BUCKETS, float("inf")), self.buckets, strict=True):
            total += count
            pairs.append((bound, total))
        return pairs


class _PeerState:
    __slots__ = (
        "address",
        "buckets",
        "last_reply",
        "last_rtt",
        "lost",
        "peer",
        "probes",
        "replies",
        "rtt_sum",
        "sent_all",
    )

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.address = (peer.address, peer.port)
        self.probes = 0
        self.lost = 0
        self.replies = 0
        self.rtt_sum = 0.0
        self.buckets = [0] * (len(RTT_BUCKETS) + 1)
        self.last_rtt: float | None = None
        self.last_reply: float | None = None
        self.sent_all = False


@dataclass
class _Outstanding:
    peer: str
    sent_ns: int  # kernel send stamp, or time.time_ns() just before sendto
    sent_monotonic_ns: int
    deadline: float


class Prober:
    """Probes ``peers`` from ``source`` until ``stop()`` (or ``max_probes`` each, then ends)."""

    def __init__(
        self,
        source: str,
        peers: Sequence[Peer],
        *,
        interval: float = 1.0,
        timeout: float = 3.0,
        jitter: float = 0.1,
        first_probe_within: float | None = None,
        max_probes: int | None = None,
        on_sample: SampleCallback | None = None,
        peers_source: PeersSource | None = None,
        reload_interval: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        if interval <= 0 or timeout <= 0:
            raise ValueError("interval and timeout must be positive")
        self.source = source
        self.interval = interval
        self.timeout = timeout
        self.jitter = jitter
        self.first_probe_within = interval if first_probe_within is None else first_probe_within
        self.max_probes = max_probes
        self.on_sample = on_sample
        self.peers_source = peers_source
        self.reload_interval = reload_interval
        self.started_ns: int | None = None
        self._rng = rng or random.Random()
        self._session = int.from_bytes(os.urandom(8), "big")
        self._seq = 0
        self._lock = threading.Lock()
        self._states: dict[str, _PeerState] = {}
        self._schedule: list[tuple[float, int, str]] = []
        self._outstanding: OrderedDict[int, _Outstanding] = OrderedDict()
        self._sockets: dict[int, socket.socket] = {}
        self._kernel_stamps: dict[int, bool] = {}
        self._poll = select.poll()
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mesh-prober", daemon=True)
        self._pending_peers: Sequence[Peer] | None = None
        self._apply_peers(peers, time.monotonic())

    # -- control --------------------------------------------------------------------------
    def start(self) -> Prober:
        self.started_ns = time.time_ns()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for sock in self._sockets.values():
            sock.close()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every peer got ``max_probes`` and each was answered or timed out."""
        return self._finished.wait(timeout)

    def set_peers(self, peers: Sequence[Peer]) -> None:
        """Replace the peer set; the prober thread applies it on its next turn."""
        with self._lock:
            self._pending_peers = tuple(peers)

    @property
    def kernel_timestamps(self) -> bool:
        """True when every socket in use gets kernel send stamps."""
        return all(self._kernel_stamps.values()) if self._kernel_stamps else False

    def snapshot(self) -> list[PeerSnapshot]:
        now = time.monotonic()
        with self._lock:
            return [
                PeerSnapshot(
                    name=name,
                    address=s.peer.address,
                    port=s.peer.port,
                    probes=s.probes,
                    lost=s.lost,
                    replies=s.replies,
                    rtt_sum=s.rtt_sum,
                    buckets=tuple(s.buckets),
                    last_rtt=s.last_rtt,
                    seconds_since_reply=None if s.last_reply is None else now - s.last_reply,
                )
                for name, s in self._states.items()
            ]

    # -- the thread -----------------------------------------------------------------------
    def _run(self) -> None:
        next_reload = time.monotonic() + self.reload_interval
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                with self._lock:
                    pending, self._pending_peers = self._pending_peers, None
                if pending is not None:
                    self._apply_peers(pending, now)
                if self.peers_source is not None and now >= next_reload:
                    next_reload = now + self.reload_interval
                    reloaded = self.peers_source()
                    if reloaded is not None:
                        self._apply_peers(reloaded, now)
                self._send_due(now)
                self._expire(time.monotonic())
                if self._done():
                    self._finished.set()
                    return
                self._wait_for_replies(self._next_wakeup(time.monotonic()))
        except Exception:  # a bug must be loud, not a silently frozen mesh
            log.exception("mesh prober stopped")
            raise
        finally:
            self._finished.set()

    def _apply_peers(self, peers: Sequence[Peer], now: float) -> None:
        wanted = {p.name: p for p in peers}
        with self._lock:
            for name in list(self._states):
                if name not in wanted or wanted[name] != self._states[name].peer:
                    del self._states[name]
            for name, peer in wanted.items():
                if name not in self._states:
                    self._states[name] = _PeerState(peer)
                    first = now + self._rng.uniform(0, self.first_probe_within)
                    heapq.heappush(self._schedule, (first, self._next_seq(), name))
        # Entries of removed peers stay in the heap and are dropped when they come up.

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _socket_for(self, address: str) -> socket.socket:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = self._sockets.get(family)
        if sock is None:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            self._kernel_stamps[family] = enable_prober_timestamps(sock)
            self._sockets[family] = sock
            self._poll.register(sock.fileno(), select.POLLIN | select.POLLERR)
        return sock

    def _send_due(self, now: float) -> None:
        while self._schedule and self._schedule[0][0] <= now:
            due, _, name = heapq.heappop(self._schedule)
            state = self._states.get(name)
            if state is None or state.sent_all:
                continue
            self._send(state, now)
            if self.max_probes is not None and state.probes >= self.max_probes:
                state.sent_all = True
                continue
            gap = self.interval * self._rng.uniform(1 - self.jitter, 1 + self.jitter)
            # Catch up from the due time, not from now, but never schedule into the past.
            heapq.heappush(self._schedule, (max(due + gap, now), self._next_seq(), name))

    def _send(self, state: _PeerState, now: float) -> None:
        sock = self._socket_for(state.peer.address)
        seq = self._next_seq()
        datagram = wire.probe(self._session, seq)
        before = time.time_ns()
        before_monotonic = time.monotonic_ns()
        try:
            sock.sendto(datagram, state.address)
        except OSError as exc:
            # No route, interface down: the peer is unreachable, which is a lost probe.
            log.debug("mesh probe to %s failed: %s", state.peer.name, exc)
            with self._lock:
                state.probes += 1
                state.lost += 1
            self._report(state.peer.name, None)
            return
        after = time.time_ns()
        sent = before
        if self._kernel_stamps.get(sock.family):
            for stamp in read_send_times(sock):
                if before <= stamp <= after:
                    sent = stamp
        self._outstanding[seq] = _Outstanding(
            state.peer.name, sent, before_monotonic, now + self.timeout
        )
        with self._lock:
            state.probes += 1

    def _expire(self, now: float) -> None:
        while self._outstanding:
            seq, probe = next(iter(self._outstanding.items()))
            if probe.deadline > now:
                return
            del self._outstanding[seq]
            state = self._states.get(probe.peer)
            if state is not None:
                with self._lock:
                    state.lost += 1
                self._report(probe.peer, None)

    def _next_wakeup(self, now: float) -> float:
        candidates = [now + 0.5]
        if self._schedule:
            candidates.append(self._schedule[0][0])
        if self._outstanding:
            candidates.append(next(iter(self._outstanding.values())).deadline)
        if self.peers_source is not None:
            candidates.append(now + self.reload_interval)
        return max(0.0, min(candidates) - now)

    def _wait_for_replies(self, seconds: float) -> None:
        if not self._sockets:
            self._stop.wait(seconds)
            return
        events = self._poll.poll(seconds * 1000)
        for fd, mask in events:
            sock = next(s for s in self._sockets.values() if s.fileno() == fd)
            if mask & select.POLLERR:
                read_send_times(sock)  # stale stamps (e.g. after ARP): drop them
            if mask & select.POLLIN:
                self._receive(sock)

    def _receive(self, sock: socket.socket) -> None:
        while True:
            try:
                datagram = sock.recv(wire.PROBE.size + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ECONNREFUSED queued by an ICMP error
                log.debug("mesh prober receive: %s", exc)
                return
            received = time.time_ns()
            received_monotonic = time.monotonic_ns()
            parsed = wire.parse_reply(datagram)
            if parsed is None:
                continue
            session, seq, dwell_ns = parsed
            if session != self._session:
                continue
            probe = self._outstanding.pop(seq, None)
            if probe is None:
                continue  # answered after its timeout: already counted as lost
            state = self._states.get(probe.peer)
            if state is None:
                continue
            rtt_ns = received - probe.sent_ns
            monotonic_ns = received_monotonic - probe.sent_monotonic_ns
            if rtt_ns <= 0 or rtt_ns > monotonic_ns + _CLOCK_SLACK_NS:
                rtt_ns = monotonic_ns  # the wall clock stepped between the two stamps
            rtt = max(rtt_ns - max(dwell_ns, 0), 1) / 1e9
            with self._lock:
                state.replies += 1
                state.rtt_sum += rtt
                state.buckets[bisect.bisect_left(RTT_BUCKETS, rtt)] += 1
                state.last_rtt = rtt
                state.last_reply = time.monotonic()
            self._report(probe.peer, rtt)

    def _report(self, peer: str, rtt: float | None) -> None:
        if self.on_sample is not None:
            self.on_sample(peer, rtt, time.time_ns())

    def _done(self) -> bool:
        if self.max_probes is None:
            return False
        with self._lock:
            states = list(self._states.values())
        return all(s.sent_all for s in states) and not self._outstanding
