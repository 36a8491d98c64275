"""Cluster backends: one module per orchestrator behind the protocol in ``base``."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from drivers.cluster.base import Backend
    from drivers.inventory import Inventory

# inventory `backend:` value -> "module:factory"; the factory takes the Inventory.
BACKEND_FACTORIES = {
    "dockerswarm": "drivers.cluster.dockerswarm:DockerSwarmBackend.from_inventory",
    "stratoswarm": "drivers.cluster.stratoswarm:StratoSwarmBackend.from_inventory",
}


def open_backend(inventory: Inventory) -> Backend:
    """The backend the inventory names, connected to its manager."""
    module_name, _, attribute = BACKEND_FACTORIES[inventory.backend].partition(":")
    target: object = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    backend: Backend = target(inventory)  # type: ignore[operator]
    return backend
