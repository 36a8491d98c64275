"""The Docker API client's answers to hosts that are wrong, silent or not Docker at all.

Its happy path runs against a real dockerd in test_agent_docker.py; an engine cannot be made
to send garbage or hang, so these cases use a unix socket that does exactly that.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporters.dockerapi import DockerClient, DockerError, _dechunk


@pytest.fixture
def answering(tmp_path: Path) -> Iterator[tuple[str, list[bytes]]]:
    """A unix socket answering each connection with the next canned reply (None: stay silent)."""
    path = tmp_path / "d.sock"
    replies: list[bytes] = []
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    server.settimeout(0.05)  # so the loop notices the end of the test at once
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(5)
            with connection:
                connection.recv(65536)
                reply = replies.pop(0) if replies else b""
                if reply == b"SILENT":
                    stop.wait(2)
                    continue
                connection.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"unix://{path}", replies
    finally:
        stop.set()
        server.close()
        thread.join(timeout=5)


def test_answers_that_are_not_from_docker(answering: tuple[str, list[bytes]]) -> None:
    """Garbage, an error status and invalid JSON each give a one-line DockerError."""
    host, replies = answering
    client = DockerClient(host, timeout=1)
    replies.append(b"SSH-2.0-OpenSSH_9.2\r\n")
    with pytest.raises(DockerError, match="did not answer like a Docker engine"):
        client.inspect_container("swarmlet")
    replies.append(
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n\r\n"
        b'{"message":"containerd is not running"}'
    )
    with pytest.raises(DockerError, match="HTTP 500 containerd is not running"):
        client.inspect_container("swarmlet")
    replies.append(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n{nope")
    with pytest.raises(DockerError, match="invalid JSON"):
        client.inspect_container("swarmlet")
    replies.append(b'HTTP/1.0 404 Not Found\r\n\r\n{"message":"No such container: swarmlet"}')
    assert client.inspect_container("swarmlet") is None


def test_a_silent_engine_times_out(answering: tuple[str, list[bytes]]) -> None:
    """An engine that accepts but never answers cannot hang a scrape."""
    host, replies = answering
    replies.append(b"SILENT")
    with pytest.raises(DockerError, match=r"did not answer within 0.3s"):
        DockerClient(host, timeout=0.3).inspect_container("swarmlet")


def test_chunked_bodies_are_decoded(answering: tuple[str, list[bytes]]) -> None:
    """A proxy in front of the engine may answer chunked even to HTTP/1.0."""
    host, replies = answering
    replies.append(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'7\r\n{"Id": \r\n5\r\n"abc"\r\n1\r\n}\r\n0\r\n\r\n'
    )
    assert DockerClient(host).inspect_container("swarmlet") == {"Id": "abc"}
    assert _dechunk(b"zz\r\n") == b""


@pytest.mark.parametrize(
    "host", ["ssh://pi@rpi-1", "unix://relative.sock", "tcp://no-port", "tcp://:2375", "npipe:x"]
)
def test_unsupported_hosts_are_refused_up_front(host: str) -> None:
    with pytest.raises(ValueError, match="--docker-host"):
        DockerClient(host)


def test_tcp_hosts_are_accepted() -> None:
    assert DockerClient("tcp://192.168.1.101:2375").host == "tcp://192.168.1.101:2375"
    assert DockerClient("tcp://[fd00::1]:2375").host == "tcp://[fd00::1]:2375"
