"""Mesh messages: N-byte messages (default 1 KB) from every node to its peers.

- ``MessageStreamUser``: pipelined batches to each peer in turn (``--broadcast``: to every
  peer), one Locust event per batch; with ``--messages-total`` every node sends its share
  and reports, which is the seed's stress test (10,000 x 1 KB broadcast from all nodes).
- ``MessageRoundTripUser``: one message, one acknowledgement, to each peer in turn: the
  message round trip, judged against ``coordination_latency`` for the exit code.
"""

from __future__ import annotations

import time
from typing import ClassVar

from locust import constant, constant_pacing, task

from drivers.load.client import RTT
from drivers.load.options import MessageSettings
from drivers.load.users import MeshUser


class MessageStreamUser(MeshUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        super().on_start()
        self.settings = MessageSettings.of(self.options)
        # The seed splits the total over the nodes: 10,000 // 6 messages from each.
        senders = max(1, len(self.mesh.nodes))
        total = self.settings.messages_total
        self.quota = total // senders if total else None
        self.sent = 0
        self.deliveries = 0
        self.started_at = time.time()
        self.started = time.perf_counter()

    @task
    def stream(self) -> None:
        settings = self.settings
        if self.quota is not None and self.sent >= self.quota:
            self.finish()
        count = (
            settings.batch if self.quota is None else min(settings.batch, self.quota - self.sent)
        )
        targets = self.peers if settings.broadcast else (self.next_peer(),)
        for peer in targets:
            if self.client.send_batch(
                peer, count=count, size=settings.size, window=settings.window
            ):
                self.deliveries += count
        self.sent += count

    def finish(self) -> None:
        self.client.drain()
        seconds = time.perf_counter() - self.started
        self.report_done(
            {
                "messages": self.sent,
                "deliveries": self.deliveries,
                "message_bytes": self.settings.size,
                "peers": len(self.peers),
                "broadcast": self.settings.broadcast,
                "started_at": self.started_at,
                "ended_at": time.time(),
                "seconds": seconds,
            }
        )


class MessageRoundTripUser(MeshUser):
    wait_time = constant_pacing(0.1)
    judged_by: ClassVar[dict[str, str]] = {RTT: "coordination_latency"}

    def on_start(self) -> None:
        super().on_start()
        self.settings = MessageSettings.of(self.options)

    @task
    def round_trip(self) -> None:
        self.client.round_trip(self.next_peer(), self.settings.size)
