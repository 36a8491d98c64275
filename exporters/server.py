"""The exporter's HTTP listener: ``/metrics`` and a landing page, optionally TLS and basic auth.

A deliberately small HTTP/1.1 server on ``socketserver`` rather than ``http.server``, whose
imports (email parsing, http.client, mimetypes, html) cost about 5 MB of resident memory
on their own. It speaks enough HTTP for Prometheus and curl: GET and HEAD, keep-alive,
bounded request heads, and clear status codes (400, 401, 404, 405).
"""

from __future__ import annotations

import logging
import socket
import socketserver
from pathlib import Path
from typing import TYPE_CHECKING

from exporters import __version__
from exporters.exposition import CONTENT_TYPE
from exporters.registry import Registry

if TYPE_CHECKING:
    import ssl

    from exporters.auth import BasicAuth

log = logging.getLogger("swarmlet_exporter")

MAX_REQUEST_LINE = 8192
MAX_HEADERS = 64
IDLE_TIMEOUT_SECONDS = 30.0

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
}
_LANDING = (
    b"<html><head><title>swarmlet-exporter</title></head><body>"
    b'<h1>swarmlet-exporter</h1><p><a href="/metrics">Metrics</a></p></body></html>\n'
)


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context (TLS 1.2 or later); ValueError names the files when they do not load."""
    import ssl  # noqa: PLC0415 -- loads OpenSSL: only when TLS is on

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load TLS certificate {cert} with key {key}: {exc}") from None
    return context


class MetricsServer(socketserver.ThreadingTCPServer):
    """Serves ``registry`` on ``(host, port)``; one thread per connection."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        registry: Registry,
        *,
        tls: ssl.SSLContext | None = None,
        auth: BasicAuth | None = None,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.registry = registry
        self.tls = tls
        self.auth = auth
        super().__init__(address, _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _Handler(socketserver.StreamRequestHandler):
    server: MetricsServer
    timeout = IDLE_TIMEOUT_SECONDS

    def setup(self) -> None:
        self._handshake_failed = False
        if self.server.tls is not None:
            self.request.settimeout(IDLE_TIMEOUT_SECONDS)
            try:
                self.request = self.server.tls.wrap_socket(self.request, server_side=True)
            except OSError as exc:  # ssl.SSLError is an OSError: a plain-HTTP client, say
                log.debug("TLS handshake with %s failed: %s", self.client_address[0], exc)
                self._handshake_failed = True
        super().setup()

    def handle(self) -> None:
        if self._handshake_failed:
            return
        try:
            while self._handle_one():
                pass
        except (TimeoutError, ConnectionError):
            pass  # the client went away or idled out
        except OSError as exc:  # TLS handshake failures are ssl.SSLError, an OSError
            log.debug("connection from %s ended: %s", self.client_address[0], exc)

    def _handle_one(self) -> bool:
        """Answer one request; whether the connection stays open for another."""
        line = self.rfile.readline(MAX_REQUEST_LINE + 1)
        if not line:
            return False
        request = self._parse_request(line)
        if isinstance(request, bytes):
            self._send(400, request, close=True)
            return False
        method, target, keep_alive, headers = request
        auth = self.server.auth
        if auth is not None and not auth.check(headers.get("authorization")):
            challenge = {"WWW-Authenticate": 'Basic realm="swarmlet-exporter"'}
            self._send(401, b"unauthorized\n", extra=challenge, close=not keep_alive)
            return keep_alive
        if method not in ("GET", "HEAD"):
            self._send(405, b"only GET and HEAD\n", extra={"Allow": "GET, HEAD"}, close=True)
            return False
        status, content_type, body = self._route(target.split("?", 1)[0])
        self._send(
            status, body, content_type=content_type, head=method == "HEAD", close=not keep_alive
        )
        return keep_alive and status != 500

    def _parse_request(self, line: bytes) -> tuple[str, str, bool, dict[str, str]] | bytes:
        """(method, target, keep-alive, headers), or the body of a 400 answer."""
        parts = line.decode("latin-1").split()
        if len(line) > MAX_REQUEST_LINE or len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return b"bad request line\n"
        method, target, version = parts
        headers = self._read_headers()
        if headers is None:
            return b"bad or too many headers\n"
        if method in ("GET", "HEAD") and (
            headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
        ):
            return b"GET and HEAD requests cannot have a body\n"
        connection = headers.get("connection", "").lower()
        keep_alive = (version == "HTTP/1.1" and connection != "close") or connection == "keep-alive"
        # Other methods may carry a body this server does not read: close after answering.
        return method, target, keep_alive and method in ("GET", "HEAD"), headers

    def _route(self, path: str) -> tuple[int, str, bytes]:
        if path == "/metrics":
            try:
                return 200, CONTENT_TYPE, self.server.registry.render()
            except Exception:  # the registry isolates collectors; this is a bug in rendering
                log.exception("rendering /metrics failed")
                return 500, "text/plain; charset=utf-8", b"internal error, see the log\n"
        if path == "/":
            return 200, "text/html; charset=utf-8", _LANDING
        return 404, "text/plain; charset=utf-8", b"not found: try /metrics\n"

    def _read_headers(self) -> dict[str, str] | None:
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            raw = self.rfile.readline(MAX_REQUEST_LINE + 1)
            if raw in (b"\r\n", b"\n", b""):
                return headers
            name, sep, value = raw.decode("latin-1").partition(":")
            if not sep or len(raw) > MAX_REQUEST_LINE:
                return None
            headers[name.strip().lower()] = value.strip()
        return None

    def _send(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "text/plain; charset=utf-8",
        extra: dict[str, str] | None = None,
        head: bool = False,
        close: bool = False,
    ) -> None:
        lines = [
            f"HTTP/1.1 {status} {_REASONS[status]}",
            f"Server: swarmlet-exporter/{__version__}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
        ]
        lines += [f"{name}: {value}" for name, value in (extra or {}).items()]
        if close:
            lines.append("Connection: close")
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(payload if head else payload + body)
        self.wfile.flush()
