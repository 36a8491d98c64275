"""The orchestrator's failure-detection clock: Docker Swarm's dispatcher heartbeat period.

A Swarm manager declares a worker down after missing its heartbeats for about three
periods (swarmkit: period x 3, with up to +/-0.5 s of jitter); the default period is 5 s,
so about 15 s. ``docker swarm update --dispatcher-heartbeat 1s`` makes detection about
five times faster. Agents learn a new period with their next heartbeat, so a caller waits
one old period after changing it before measuring.
"""

from __future__ import annotations

import contextlib
from typing import Any

from drivers.errors import SwarmscopeError
from drivers.inventory import Inventory

NANOSECONDS = 1_000_000_000


def _manager(inventory: Inventory) -> Any:
    import docker  # noqa: PLC0415 - heavy, only Swarm clusters need it

    try:
        return docker.DockerClient(base_url=inventory.manager.engine_url, timeout=30)
    except docker.errors.DockerException as exc:
        raise SwarmscopeError(
            f"node {inventory.manager_name}: Docker engine at {inventory.manager.engine_url} "
            f"does not answer ({exc})"
        ) from None


def supported(inventory: Inventory) -> bool:
    return inventory.backend == "dockerswarm"


def heartbeat_period(inventory: Inventory) -> float:
    """The swarm's current dispatcher heartbeat period, in seconds."""
    client = _manager(inventory)
    try:
        spec = client.api.inspect_swarm()["Spec"]
    except Exception as exc:  # noqa: BLE001 - any SDK/HTTP failure is one line here
        raise SwarmscopeError(f"node {inventory.manager_name}: reading the swarm: {exc}") from None
    finally:
        with contextlib.suppress(Exception):
            client.close()
    return int(spec.get("Dispatcher", {}).get("HeartbeatPeriod", 5 * NANOSECONDS)) / NANOSECONDS


def set_heartbeat_period(inventory: Inventory, seconds: float) -> float:
    """Set the dispatcher heartbeat period; return the previous one (seconds)."""
    if not supported(inventory):
        raise SwarmscopeError(
            f"--heartbeat: the {inventory.backend} backend has no dispatcher heartbeat to set",
            exit_code=2,
        )
    if not 0.1 <= seconds <= 3600:
        raise SwarmscopeError(f"--heartbeat {seconds:g}s: choose 0.1s to 1h", exit_code=2)
    client = _manager(inventory)
    try:
        swarm = client.api.inspect_swarm()
        spec = dict(swarm["Spec"])
        dispatcher = dict(spec.get("Dispatcher") or {})
        previous = int(dispatcher.get("HeartbeatPeriod", 5 * NANOSECONDS))
        dispatcher["HeartbeatPeriod"] = int(seconds * NANOSECONDS)
        spec["Dispatcher"] = dispatcher
        client.api.update_swarm(version=swarm["Version"]["Index"], swarm_spec=spec)
    except SwarmscopeError:
        raise
    except Exception as exc:  # noqa: BLE001 - any SDK/HTTP failure is one line here
        raise SwarmscopeError(
            f"node {inventory.manager_name}: setting the dispatcher heartbeat: {exc}"
        ) from None
    finally:
        with contextlib.suppress(Exception):
            client.close()
    return previous / NANOSECONDS
