"""The mesh message client: sends framed messages to a node's mesh endpoint and tells Locust.

A non-HTTP Locust client in Locust's own pattern: it times each exchange and fires the
``request`` event (``request_type``, ``name``, ``response_time`` in ms, ``response_length``,
``exception``). It never imports Locust itself; it is handed the event hook, so it works
under Locust's gevent and, in tests and benchmarks, with plain threads.

Three exchanges (the wire format is ``exporters.mesh.wire``), each named ``SOURCE->DEST``:
- ``rtt``: one message, one acknowledgement: the message round trip.
- ``batch``: ``count`` messages in one write, acknowledged together; up to ``window`` batches
  are in flight per peer, so the link never idles waiting for an acknowledgement. One event
  per batch: an event per message would cost Locust a core at ~18k messages/s.
- ``bulk``: one long stream of ``total`` bytes, acknowledged at the end: bandwidth.
"""

from __future__ import annotations

import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from exporters.mesh import wire
from exporters.mesh.peers import Peer

RTT = "rtt"
BATCH = "batch"
BULK = "bulk"
# After a failed exchange the client waits this long before the next one to the same peer,
# so a node that is down costs one failure a second, not a busy loop.
FAILURE_BACKOFF_SECONDS = 1.0


class RequestEvent(Protocol):
    def fire(self, **kwargs: Any) -> Any: ...


@dataclass
class _InFlight:
    token: int
    started: float
    body_bytes: int


@dataclass
class _Connection:
    peer: Peer
    sock: socket.socket
    next_token: int = 1
    in_flight: deque[_InFlight] = field(default_factory=deque)

    def read_ack(self) -> tuple[int, int]:
        data = bytearray()
        while len(data) < wire.ACK.size:
            chunk = self.sock.recv(wire.ACK.size - len(data))
            if not chunk:
                raise ConnectionError(f"{self.peer.name} closed the connection")
            data += chunk
        token, body = wire.ACK.unpack(bytes(data))
        return int(token), int(body)


def pair_name(source: str, destination: str) -> str:
    """How a source→destination pair is named in Locust's stats and the run's figures."""
    return f"{source}->{destination}"


class MessageClient:
    """Connections from ``source`` to peers' mesh endpoints; every exchange fires one event."""

    def __init__(
        self,
        source: str,
        request_event: RequestEvent,
        *,
        connect_timeout: float = 5.0,
        io_timeout: float = 30.0,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.source = source
        self._event = request_event
        self.connect_timeout = connect_timeout
        self.io_timeout = io_timeout
        self._clock = clock
        self._sleep = sleep
        self._connections: dict[str, _Connection] = {}
        self._bodies: dict[tuple[int, int], bytes] = {}

    # -- exchanges ------------------------------------------------------------------------
    def round_trip(self, peer: Peer, size: int) -> float | None:
        """Send one ``size``-byte message and wait for its acknowledgement; seconds or None."""
        started = self._clock()
        try:
            connection = self._connection(peer)
            token = self._token(connection)
            connection.sock.sendall(wire.batch_header(1, size, token) + self._body(1, size))
            self._expect(connection, token)
        except OSError as exc:
            self._failed(RTT, peer, started, exc)
            return None
        elapsed = self._clock() - started
        self._fire(RTT, peer, elapsed, wire.batch_body_length(1, size))
        return elapsed

    def send_batch(self, peer: Peer, *, count: int, size: int, window: int) -> bool:
        """Send one batch, first waiting for the oldest acknowledgement if ``window`` are out."""
        connection: _Connection | None = None
        try:
            connection = self._connection(peer)
            while len(connection.in_flight) >= window:
                self._complete_oldest(connection)
            token = self._token(connection)
            body = self._body(count, size)
            started = self._clock()
            connection.sock.sendall(wire.batch_header(count, size, token) + body)
            connection.in_flight.append(_InFlight(token, started, len(body)))
        except OSError as exc:
            oldest = (
                connection.in_flight[0].started if connection and connection.in_flight else None
            )
            self._failed(BATCH, peer, oldest or self._clock(), exc)
            return False
        return True

    def drain(self, peer: Peer | None = None) -> None:
        """Wait for every batch in flight (to one peer, or to all)."""
        for connection in list(self._connections.values()):
            if peer is not None and connection.peer != peer:
                continue
            try:
                while connection.in_flight:
                    self._complete_oldest(connection)
            except OSError as exc:
                self._failed(BATCH, connection.peer, self._clock(), exc)

    def bulk(
        self,
        peer: Peer,
        total_bytes: int,
        chunk_bytes: int = 1 << 20,
        seconds: float | None = None,
    ) -> float | None:
        """Stream to ``peer`` and wait until it has read everything; bytes/s or None.

        The stream ends after ``total_bytes``, or once ``seconds`` have passed (so a slow
        link gets as long as a fast one), whichever comes first.
        """
        chunk_bytes = max(1, min(chunk_bytes, total_bytes, wire.MAX_MESSAGE_SIZE))
        started = self._clock()
        sent = 0
        try:
            connection = self._connection(peer)
            token = self._token(connection)
            while True:
                size = min(chunk_bytes, total_bytes - sent)
                last = sent + size >= total_bytes or (
                    seconds is not None and self._clock() - started >= seconds
                )
                connection.sock.sendall(wire.batch_header(1, size, token, ack=last))
                connection.sock.sendall(self._body(1, size))
                sent += size
                if last:
                    break
            self._expect(connection, token)
        except OSError as exc:
            self._failed(BULK, peer, started, exc)
            return None
        elapsed = self._clock() - started
        self._fire(BULK, peer, elapsed, sent)
        return sent / elapsed if elapsed > 0 else None

    def close(self) -> None:
        for name in list(self._connections):
            self._drop(name)

    # -- internals ------------------------------------------------------------------------
    def _connection(self, peer: Peer) -> _Connection:
        connection = self._connections.get(peer.name)
        if connection is not None and connection.peer == peer:
            return connection
        if connection is not None:
            self._drop(peer.name)
        sock = socket.create_connection((peer.address, peer.port), timeout=self.connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.io_timeout)
        connection = _Connection(peer, sock)
        self._connections[peer.name] = connection
        return connection

    def _drop(self, name: str) -> None:
        connection = self._connections.pop(name, None)
        if connection is not None:
            connection.sock.close()

    @staticmethod
    def _token(connection: _Connection) -> int:
        token = connection.next_token
        connection.next_token += 1
        return token

    def _body(self, count: int, size: int) -> bytes:
        """A batch's messages, built once per shape: no Python loop per message when sending."""
        key = (count, size)
        body = self._bodies.get(key)
        if body is None:
            message = wire.MESSAGE_PREFIX.pack(size) + b"m" * size
            body = self._bodies[key] = message * count
        return body

    def _expect(self, connection: _Connection, token: int) -> None:
        got, _ = connection.read_ack()
        if got != token:
            raise ConnectionError(f"{connection.peer.name} acknowledged batch {got}, not {token}")

    def _complete_oldest(self, connection: _Connection) -> None:
        batch = connection.in_flight[0]
        self._expect(connection, batch.token)
        connection.in_flight.popleft()
        self._fire(BATCH, connection.peer, self._clock() - batch.started, batch.body_bytes)

    def _fire(self, kind: str, peer: Peer, seconds: float, length: int) -> None:
        self._event.fire(
            request_type=kind,
            name=pair_name(self.source, peer.name),
            response_time=seconds * 1000.0,
            response_length=length,
            exception=None,
            context={"source": self.source, "destination": peer.name},
        )

    def _failed(self, kind: str, peer: Peer, started: float, exc: BaseException) -> None:
        self._drop(peer.name)
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        self._event.fire(
            request_type=kind,
            name=pair_name(self.source, peer.name),
            response_time=(self._clock() - started) * 1000.0,
            response_length=0,
            exception=ConnectionError(f"{peer.name} ({peer.address}:{peer.port}): {reason}"),
            context={"source": self.source, "destination": peer.name},
        )
        self._sleep(FAILURE_BACKOFF_SECONDS)
