"""The mesh's TCP endpoint for message and bulk load, run as a process of its own.

Locust's message and bandwidth users connect here (see ``wire`` for the framing). It runs
in a separate process because pushing a gigabit through Python, even mostly inside system
calls, would take the GIL from the prober and responder in the exporter process: their
timing must not depend on load the mesh is carrying. It exits when its parent (the
exporter) goes away, so it never outlives the exporter.

The exporter forks it (sharing the exporter's memory pages, so it costs little) or, where
threads already run, starts ``python -m exporters.mesh.streams --listen HOST:PORT --parent
PID``; it reports ``ready HOST:PORT`` once it listens, or ``error: WHY`` and exits 2.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import socketserver
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType

from exporters.mesh import wire

log = logging.getLogger("swarmlet_exporter.mesh.streams")
_BUFFER_BYTES = 256 * 1024


def _read_exact(sock: socket.socket, view: memoryview) -> bool:
    """Fill ``view``; False on a clean end of stream before the first byte."""
    got = 0
    while got < len(view):
        n = sock.recv_into(view[got:])
        if n == 0:
            if got == 0:
                return False
            raise ConnectionError("connection closed inside a batch header")
        got += n
    return True


class _BatchHandler(socketserver.BaseRequestHandler):
    """Reads batches until the client closes; acknowledges those that ask for it."""

    request: socket.socket

    def handle(self) -> None:
        sock = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        header = bytearray(wire.BATCH.size)
        buffer = memoryview(bytearray(_BUFFER_BYTES))
        try:
            while _read_exact(sock, memoryview(header)):
                count, size, token, wants_ack = wire.parse_batch_header(bytes(header))
                body = remaining = wire.batch_body_length(count, size)
                while remaining:
                    n = sock.recv_into(buffer[: min(remaining, _BUFFER_BYTES)])
                    if n == 0:
                        raise ConnectionError(f"connection closed with {remaining} bytes unread")
                    remaining -= n
                if wants_ack:
                    sock.sendall(wire.ACK.pack(token, body))
        except wire.WireError as exc:
            log.warning("mesh streams: %s sent a bad batch (%s); closing", self.client_address, exc)
        except OSError as exc:
            log.debug("mesh streams: %s: %s", self.client_address, exc)


class StreamServer(socketserver.ThreadingTCPServer):
    """One thread per connection: a node has at most a few dozen peers sending to it."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, host: str, port: int) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _BatchHandler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def parse_listen(text: str, default_port: int) -> tuple[str, int]:
    """``HOST:PORT``, ``HOST``, ``:PORT`` or ``[V6]:PORT`` -> (host, port); ValueError if bad."""
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    port = int(port_text) if port_text else default_port
    if not 0 <= port <= 65535:
        raise ValueError(f"{port} is not a port")
    return host or "0.0.0.0", port


def _watch_parent(parent: int, server: StreamServer) -> None:
    """End when the parent exporter is gone (we were re-parented), however it died."""
    stop = threading.Event()
    while not stop.wait(1.0):
        if os.getppid() != parent:
            log.info("mesh streams: the exporter (pid %d) is gone; exiting", parent)
            server.shutdown()
            return


def serve(host: str, port: int, parent: int | None, report: Callable[[str], None]) -> int:
    """Listen and serve until SIGTERM or the parent is gone; ``report`` gets one status line."""
    try:
        server = StreamServer(host, port)
    except OSError as exc:
        report(f"error: cannot listen on TCP {host}:{port}: {exc.strerror}")
        return 2

    def on_term(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    if parent is not None:
        threading.Thread(target=_watch_parent, args=(parent, server), daemon=True).start()
    report(f"ready {host}:{server.port}")
    with server, contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.5)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exporters.mesh.streams")
    parser.add_argument("--listen", default="0.0.0.0:9878", help="HOST:PORT (default %(default)s)")
    parser.add_argument("--parent", type=int, default=None, help="exit when this PID is gone")
    parser.add_argument(
        "--ready-fd", type=int, default=None, help="write the status line here (default stdout)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)

    def report(line: str) -> None:
        if args.ready_fd is None:
            print(line, flush=True)
        else:
            os.write(args.ready_fd, (line + "\n").encode())
            os.close(args.ready_fd)

    try:
        host, port = parse_listen(args.listen, 9878)
    except ValueError as exc:
        report(f"error: cannot listen on TCP {args.listen}: {exc}")
        return 2
    return serve(host, port, args.parent, report)


if __name__ == "__main__":
    sys.exit(main())
