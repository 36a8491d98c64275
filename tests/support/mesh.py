"""A real mesh streams endpoint (the exporter's TCP server) on loopback, and a peers file for it."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path

from exporters.mesh.streams import StreamServer


@contextlib.contextmanager
def streams_server() -> Iterator[StreamServer]:
    """The exporter's own TCP endpoint in a thread, stopped (and its socket closed) at the end."""
    server = StreamServer("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def write_peers(path: Path, nodes: dict[str, int], types: dict[str, str] | None = None) -> Path:
    """A peers file with every node on 127.0.0.1: name -> port."""
    types = types or {}
    document = {
        "version": 1,
        "cluster": "test",
        "nodes": [
            {"name": name, "address": "127.0.0.1", "port": port, "type": types.get(name, "rpi")}
            for name, port in nodes.items()
        ],
    }
    path.write_text(json.dumps(document))
    return path


def locust_processes() -> set[int]:
    """PIDs of the Locust processes swarmscope starts (masters and workers, any namespace)."""
    found = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"drivers.load.run_locust" in text:
            found.add(int(cmdline.parent.name))
    return found
