"""The two Docker Engine API calls the exporter needs, over the engine's socket, no SDK.

"Inspect a container by name" and "read its logs" are one HTTP GET each. The Docker SDK
(and requests, urllib3, http.client under it) would add several MB of resident memory on a
Pi for that, so this speaks HTTP/1.0 over a plain socket: the engine then answers without
chunked encoding and closes the connection when the body ends.
"""

from __future__ import annotations

import json
import socket
from typing import Any, Protocol
from urllib.parse import quote

from exporters.registry import CollectorError

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
# Largest API answer read into memory; log reads beyond it are cut (and say so).
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


class DockerError(CollectorError):
    """The Docker engine could not be reached or refused a request."""


class DockerApi(Protocol):
    """What the collectors need from a Docker engine (DockerClient, or a recording in tests)."""

    host: str

    def inspect_container(self, name: str) -> dict[str, Any] | None: ...

    def container_logs(self, container: str, *, since: float | None) -> tuple[bytes, bool]: ...


class DockerClient:
    """A Docker Engine API client for ``unix:///path`` and ``tcp://host:port`` hosts."""

    def __init__(self, host: str = DEFAULT_DOCKER_HOST, *, timeout: float = 3.0) -> None:
        self.host = host
        self.timeout = timeout
        if host.startswith("unix://"):
            path = host[len("unix://") :]
            if not path.startswith("/"):
                raise ValueError(f"--docker-host {host!r}: expected unix:///absolute/path")
            self._address: str | tuple[str, int] = path
            self._family = socket.AF_UNIX
        elif host.startswith(("tcp://", "http://")):
            hostport = host.split("://", 1)[1].rstrip("/")
            name, _, port = hostport.rpartition(":")
            if not name or not port.isdigit():
                raise ValueError(f"--docker-host {host!r}: expected tcp://HOST:PORT")
            self._address = (name.strip("[]"), int(port))
            self._family = socket.AF_INET6 if ":" in name else socket.AF_INET
        else:
            raise ValueError(
                f"--docker-host {host!r}: expected unix:///path/to/docker.sock or tcp://HOST:PORT"
            )

    def inspect_container(self, name: str) -> dict[str, Any] | None:
        """``docker inspect NAME`` as a dict, or None when no such container exists."""
        status, body, _ = self._get(f"/containers/{quote(name, safe='')}/json")
        if status == 404:
            return None
        self._raise_for_status(status, body, f"inspect container {name!r}")
        try:
            answer = json.loads(body)
        except ValueError:
            raise DockerError(f"Docker at {self.host} sent invalid JSON for {name!r}") from None
        if not isinstance(answer, dict):
            raise DockerError(f"Docker at {self.host} sent an unexpected answer for {name!r}")
        return answer

    def container_logs(self, container: str, *, since: float | None) -> tuple[bytes, bool]:
        """Raw stdout+stderr logs with RFC3339Nano timestamps, and whether they were cut.

        The body is multiplexed (8-byte frame headers) unless the container has a TTY; see
        ``exporters.logsources.demultiplex``.
        """
        query = "stdout=1&stderr=1&timestamps=1"
        if since is not None:
            query += f"&since={since:.9f}"
        status, body, cut = self._get(f"/containers/{quote(container, safe='')}/logs?{query}")
        self._raise_for_status(status, body, f"read the logs of {container[:12]}")
        return body, cut

    def _raise_for_status(self, status: int, body: bytes, what: str) -> None:
        if status == 200:
            return
        try:
            message = str(json.loads(body).get("message", ""))
        except (ValueError, AttributeError):
            message = body[:200].decode(errors="replace")
        raise DockerError(f"Docker at {self.host} could not {what}: HTTP {status} {message}")

    def _get(self, path: str) -> tuple[int, bytes, bool]:
        """Status, body, and whether the body was cut at MAX_RESPONSE_BYTES."""
        request = f"GET {path} HTTP/1.0\r\nHost: docker\r\nUser-Agent: swarmlet-exporter\r\n\r\n"
        chunks: list[bytes] = []
        size = 0
        cut = False
        try:
            with socket.socket(self._family, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(self._address)
                sock.sendall(request.encode("ascii"))
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_RESPONSE_BYTES:
                        cut = True
                        break
        except TimeoutError:
            raise DockerError(
                f"Docker at {self.host} did not answer within {self.timeout:g}s"
            ) from None
        except OSError as exc:
            reason = exc.strerror or exc
            raise DockerError(f"cannot reach Docker at {self.host}: {reason}") from None
        status, body = _parse_response(b"".join(chunks), self.host)
        return status, body, cut


def _parse_response(raw: bytes, host: str) -> tuple[int, bytes]:
    head, sep, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    parts = status_line.split(None, 2)
    if not sep or len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise DockerError(f"{host} did not answer like a Docker engine: {status_line[:60]!r}")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = _dechunk(body)
    elif headers.get(b"content-length", b"").isdigit():
        body = body[: int(headers[b"content-length"])]
    return int(parts[1]), body


def _dechunk(body: bytes) -> bytes:
    """Decode chunked transfer encoding (engines answer HTTP/1.0 without it, proxies may not)."""
    out = bytearray()
    position = 0
    while position < len(body):
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            break
        try:
            length = int(body[position:line_end].split(b";")[0], 16)
        except ValueError:
            break
        if length == 0:
            break
        start = line_end + 2
        out += body[start : start + length]
        position = start + length + 2
    return bytes(out)
