"""The UDP echo every node runs: answers each probe at once with how long it held it.

It runs in a thread of its own and does nothing but receive and send, so it answers within
microseconds; the time it still needs (from reading the probe to just before ``sendto``)
travels back in the reply and the prober subtracts it.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from exporters.mesh import wire

log = logging.getLogger("swarmlet_exporter.mesh")


def bind_udp(host: str, port: int) -> socket.socket:
    """A UDP socket bound to host:port (IPv6 when host is an IPv6 address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # No SO_REUSEADDR: for UDP it would let a second exporter share the port silently.
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host, port))
    return sock


class Responder:
    """Answers probes on a bound UDP socket until ``stop()``."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        # A short timeout lets stop() end the thread without closing the socket under it.
        sock.settimeout(0.5)
        self.answered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="mesh-responder", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> Responder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self.sock.close()

    def _serve(self) -> None:
        recvfrom, sendto, time_ns = self.sock.recvfrom, self.sock.sendto, time.time_ns
        while not self._stop.is_set():
            try:
                datagram, sender = recvfrom(wire.PROBE.size + 1)
            except TimeoutError:
                continue
            except OSError as exc:
                if self._stop.is_set():
                    return
                log.warning("mesh responder: receive failed: %s", exc)
                time.sleep(0.1)
                continue
            received = time_ns()
            reply = wire.reply_to(datagram, max(0, time_ns() - received))
            if reply is None:
                continue
            try:
                sendto(reply, sender)
            except OSError:
                continue  # the prober is gone or unreachable: it counts the probe as lost
            self.answered += 1
