"""Bandwidth: one bulk TCP stream at a time from the sending node to each Pi in turn.

Run with workers only on the GPU node(s): the seed's "GPU -> each Pi" in MB/s. Each stream
is one Locust event (``--bulk-bytes``, or ``--bulk-seconds`` long so slow and fast links get
the same time), so a name's bytes over its time is the bandwidth to that Pi (``summary``:
``bytes_per_busy_second``).
"""

from __future__ import annotations

from locust import constant, task

from drivers.load.users import MeshUser


class BulkStreamUser(MeshUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        super().on_start()
        if getattr(self.options, "bulk_targets", "rpi") == "rpi":
            pis = tuple(p for p in self.peers if p.type == "rpi")
            self.set_targets(pis or self.peers)
        self.bulk_bytes = int(self.options.bulk_bytes)
        self.bulk_seconds = float(self.options.bulk_seconds) or None

    @task
    def stream(self) -> None:
        self.client.bulk(self.next_peer(), self.bulk_bytes, seconds=self.bulk_seconds)
