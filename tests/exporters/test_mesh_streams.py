"""The mesh's TCP endpoint reads whole batches, acknowledges them, and drops malformed clients."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from exporters.mesh import wire
from exporters.mesh.streams import StreamServer, parse_listen
from tests.support.mesh import streams_server


@pytest.fixture
def server() -> Iterator[StreamServer]:
    with streams_server() as running:
        yield running


def _connect(server: StreamServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def test_batches_are_acknowledged_with_token_and_size(server: StreamServer) -> None:
    """Each batch asking for it gets (token, body bytes) once fully read; others get nothing."""
    with _connect(server) as sock:
        sock.sendall(wire.batch(3, 1024, token=5, ack=False) + wire.batch(100, 1024, token=6))
        assert wire.ACK.unpack(_recv_exact(sock, wire.ACK.size)) == (6, 100 * 1028)
        sock.sendall(wire.batch(1, 0, token=7))
        assert wire.ACK.unpack(_recv_exact(sock, wire.ACK.size)) == (7, 4)


def test_malformed_or_oversized_batches_end_the_connection(server: StreamServer) -> None:
    """A bad magic or a batch above the limit closes the connection without reading on."""
    with _connect(server) as sock:
        sock.sendall(b"XXXX" + wire.batch_header(1, 1, 1)[4:])
        assert _recv_exact(sock, 1) == b""
    with _connect(server) as sock:
        sock.sendall(wire.batch_header(2**31, 1024, 1))
        assert _recv_exact(sock, 1) == b""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.0.0.0:9878", ("0.0.0.0", 9878)),
        (":9000", ("0.0.0.0", 9000)),
        ("10.0.0.1", ("10.0.0.1", 1)),
        ("[::1]:9878", ("::1", 9878)),
    ],
)
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    """HOST:PORT, :PORT, a bare HOST (default port) and bracketed IPv6 all parse."""
    assert parse_listen(text, 1) == expected
