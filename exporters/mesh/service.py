"""The mesh as the exporter runs it: responder, prober and the streams process, started together.

``MeshService(MeshSettings(...)).start()`` binds the UDP responder on the node's mesh port
(from its own entry in the peers file unless given), starts the TCP streams endpoint as a
child process on the same port number, and probes every other node of the peers file,
re-reading the file when it changes. ``stop()`` undoes all of it, the child included.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from exporters.mesh import streams
from exporters.mesh.peers import DEFAULT_PORT, Mesh, Peer, PeersFileError, PeersWatcher
from exporters.mesh.prober import Prober
from exporters.mesh.responder import Responder, bind_udp
from exporters.quietlog import QuietLog

log = logging.getLogger("swarmlet_exporter.mesh")
_STREAMS_START_SECONDS = 10.0
# How long another thread may hold the GIL while the prober or responder waits for it
# (Python's default is 5 ms). Measured here with a CPU-bound thread beside the responder:
# median RTT 30 ms at the default, 0.7 ms at 0.5 ms. The exporter's collectors run only
# when scraped and hardly notice the more frequent hand-over.
SWITCH_INTERVAL_SECONDS = 0.0005


class MeshError(Exception):
    """The mesh cannot start: a bad peers file (exit code 2) or a port in use (1)."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class MeshSettings:
    peers_file: Path
    node_name: str
    listen_host: str = "0.0.0.0"
    port: int | None = None  # None: this node's port in the peers file, else 9878
    interval: float = 1.0
    timeout: float = 3.0
    streams: bool = True  # the TCP endpoint for Locust's message and bandwidth load
    reload_interval: float = 5.0  # how often the peers file is checked for changes


class MeshService:
    def __init__(self, settings: MeshSettings) -> None:
        self.settings = settings
        try:
            self._watcher = PeersWatcher(settings.peers_file)
        except PeersFileError as exc:
            raise MeshError(str(exc), exit_code=2) from None
        mesh = self._watcher.mesh
        own = mesh.node(settings.node_name)
        if own is None:
            log.info(
                "mesh: node %r is not in %s; probing all %d nodes listed",
                settings.node_name,
                settings.peers_file,
                len(mesh.nodes),
            )
        self.port = settings.port or (own.port if own else DEFAULT_PORT)
        self.reload_errors = 0
        self._reload_log = QuietLog(log, f"mesh peers file {settings.peers_file}")
        self.responder: Responder | None = None
        self.prober: Prober | None = None
        self.streams: StreamsProcess | None = None

    @property
    def source(self) -> str:
        return self.settings.node_name

    def peers(self, mesh: Mesh | None = None) -> Sequence[Peer]:
        return (mesh or self._watcher.mesh).peers_of(self.settings.node_name)

    def start(self) -> MeshService:
        host = self.settings.listen_host
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_SECONDS))
        try:
            # The streams process first: forked before any thread or socket of the mesh
            # exists, it shares the exporter's memory and inherits nothing it must not hold.
            if self.settings.streams:
                self.streams = self._start_streams(host)
            try:
                sock = bind_udp(host, self.port)
            except OSError as exc:
                raise MeshError(
                    f"cannot listen on UDP {host}:{self.port}: {exc.strerror}"
                ) from None
            self.responder = Responder(sock).start()
            self.prober = Prober(
                self.source,
                self.peers(),
                interval=self.settings.interval,
                timeout=self.settings.timeout,
                peers_source=self._reload,
                reload_interval=self.settings.reload_interval,
            ).start()
        except BaseException:
            self.stop()
            raise
        log.info(
            "mesh: answering on UDP/TCP %s:%d, probing %d peers every %gs",
            host,
            self.port,
            len(self.peers()),
            self.settings.interval,
        )
        return self

    def stop(self) -> None:
        if self.prober is not None:
            self.prober.stop()
        if self.responder is not None:
            self.responder.stop()
        if self.streams is not None:
            self.streams.stop()

    def _reload(self) -> Sequence[Peer] | None:
        try:
            mesh = self._watcher.poll()
        except PeersFileError as exc:
            self.reload_errors += 1
            self._reload_log.problem(f"{exc}; keeping the previous peers")
            return None
        if mesh is None:
            return None
        self._reload_log.resolved()
        peers = self.peers(mesh)
        log.info("mesh: peers file changed; now probing %d peers", len(peers))
        return peers

    def _start_streams(self, host: str) -> StreamsProcess:
        process = StreamsProcess.start(host, self.port)
        status = process.wait_ready(_STREAMS_START_SECONDS)
        if not status.startswith("ready"):
            process.stop()
            raise MeshError(status.removeprefix("error: ") or "the mesh streams did not start")
        return process


class StreamsProcess:
    """The TCP streams endpoint's process: forked while the exporter has one thread (so the
    child shares the exporter's memory pages), else started as a fresh interpreter."""

    def __init__(self, pid: int, status_fd: int) -> None:
        self.pid = pid
        self._status_fd = status_fd
        self.returncode: int | None = None

    @classmethod
    def start(cls, host: str, port: int) -> StreamsProcess:
        read_fd, write_fd = os.pipe()
        parent = os.getpid()
        if threading.active_count() == 1:
            pid = os.fork()
            if pid == 0:  # the child: never return into the exporter's code
                code = 1
                try:
                    os.close(read_fd)
                    code = streams.serve(host, port, parent, _reporter(write_fd))
                finally:
                    os._exit(code)
        else:
            listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            command = [sys.executable, "-m", "exporters.mesh.streams", "--listen", listen]
            command += ["--parent", str(parent), "--ready-fd", str(write_fd)]
            pid = subprocess.Popen(command, pass_fds=(write_fd,)).pid
        os.close(write_fd)
        return cls(pid, read_fd)

    def wait_ready(self, timeout: float) -> str:
        """The child's status line ("ready ..." or "error: ..."); empty if it said nothing."""
        try:
            ready, _, _ = select.select([self._status_fd], [], [], timeout)
            return os.read(self._status_fd, 4096).decode(errors="replace").strip() if ready else ""
        finally:
            os.close(self._status_fd)

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; always reaps the child."""
        if self.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.returncode = -signal.SIGKILL


def _reporter(fd: int) -> Callable[[str], None]:
    def report(line: str) -> None:
        os.write(fd, (line + "\n").encode())
        os.close(fd)

    return report
