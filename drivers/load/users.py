"""The abstract Locust user of the mesh: knows its node and peers and owns a MessageClient.

Locustfiles subclass it and only declare tasks. Importing this module installs the
swarmscope hooks (``plugins``) in the Locust process.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from typing import Any, ClassVar

from locust import User
from locust.exception import StopUser

from drivers.load import plugins
from drivers.load.client import MessageClient
from drivers.load.options import DONE_MESSAGE, LoadOptionError, load_mesh, local_node
from exporters.mesh.peers import Mesh, Peer

plugins.install()
log = logging.getLogger("swarmscope.load")


class MeshUser(User):
    """One node's sender: ``self.client`` talks to the peers' mesh endpoints."""

    abstract = True
    # request_type -> thresholds.yaml key judged on it when Locust quits (see exit_code).
    judged_by: ClassVar[dict[str, str]] = {}

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.node = local_node()
        self.client = MessageClient(self.node, environment.events.request)
        self.mesh = Mesh(cluster="", nodes=())
        self.peers: tuple[Peer, ...] = ()
        self._turns: Iterator[Peer] = iter(())

    @property
    def options(self) -> Any:
        return self.environment.parsed_options

    def on_start(self) -> None:
        try:
            self.mesh = load_mesh(self.options)
        except LoadOptionError as exc:
            log.error("node %s: %s", self.node, exc)
            raise StopUser() from None
        if self.mesh.node(self.node) is None:
            log.warning("node %s is not in the mesh peers; sending to every node", self.node)
        self.peers = self.mesh.peers_of(self.node)
        if not self.peers:
            log.error("node %s: the mesh has no peers to send to", self.node)
            raise StopUser()
        self.set_targets(self.peers)

    def set_targets(self, peers: tuple[Peer, ...]) -> None:
        self.peers = peers
        self._turns = itertools.cycle(peers)

    def next_peer(self) -> Peer:
        """Peers in turn: every peer gets the same share."""
        return next(self._turns)

    def on_stop(self) -> None:
        self.client.drain()
        self.client.close()

    def report_done(self, report: dict[str, Any]) -> None:
        """Tell the master this node finished its fixed amount of work, then stop this user."""
        report = {"node": self.node, "reported_at": time.time(), **report}
        self.environment.runner.send_message(DONE_MESSAGE, report)
        raise StopUser()
