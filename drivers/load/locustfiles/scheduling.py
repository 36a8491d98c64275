"""Scheduling load: workloads submitted through the cluster backend as Locust tasks.

Each task submits one workload (nine CPU workloads for every GPU one, as the seed's 50-run
loop), waits until the orchestrator runs it and reports the scheduling latency from the
orchestrator's own timestamps (task created -> running), then removes it. Runs where the
backend is reachable: a worker on the control node (``SWARMSCOPE_INVENTORY`` names the
inventory). Every workload a user created is removed when it stops.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from pathlib import Path

from locust import User, between, task
from locust.exception import StopUser

from drivers.cluster.base import Requirements, Task, TaskState, WorkloadSpec
from drivers.errors import SwarmscopeError
from drivers.load import plugins
from drivers.load.options import INVENTORY_ENV

plugins.install()
log = logging.getLogger("swarmscope.load")
SCHEDULE = "schedule"
_POLL_SECONDS = 0.1
_DONE_STATES = (TaskState.RUNNING, TaskState.COMPLETE, TaskState.FAILED)
# The seed's `stratoswarm run --cpu 0.5 --memory 128M alpine sleep 60`, and `run --gpu`.
CPU_REQUIREMENTS = Requirements(cpus=0.5, memory_bytes=128 * 2**20)
GPU_REQUIREMENTS = Requirements(gpus=1)


class SchedulingUser(User):
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        from drivers.cluster import open_backend  # noqa: PLC0415 - the docker SDK is heavy
        from drivers.cluster.workloads import default_image  # noqa: PLC0415
        from drivers.inventory import load_inventory, resolve_inventory_path  # noqa: PLC0415

        try:
            given = os.environ.get(INVENTORY_ENV)
            inventory = load_inventory(resolve_inventory_path(Path(given) if given else None))
            self.backend = open_backend(inventory)
        except SwarmscopeError as exc:
            log.error("scheduling load: %s", exc)
            raise StopUser() from None
        given = str(self.environment.parsed_options.workload_image or "")
        self.image = given or default_image(inventory)
        self.timeout = float(self.environment.parsed_options.schedule_timeout)
        self.created: set[str] = set()

    def on_stop(self) -> None:
        backend = getattr(self, "backend", None)
        if backend is None:
            return
        for workload_id in list(self.created):
            self._remove(workload_id)
        backend.close()

    @task(9)
    def cpu_workload(self) -> None:
        self._schedule("cpu", CPU_REQUIREMENTS)

    @task(1)
    def gpu_workload(self) -> None:
        self._schedule("gpu", GPU_REQUIREMENTS)

    def _schedule(self, kind: str, requirements: Requirements) -> None:
        spec = WorkloadSpec(
            name=f"swarmscope-load-{kind}-{uuid.uuid4().hex[:8]}",
            image=self.image,
            command=("sleep", "600"),
            requirements=requirements,
            labels={"swarmscope.load": "scheduling"},
        )
        started = time.perf_counter()
        exception: Exception | None = None
        latency = 0.0
        workload_id: str | None = None
        try:
            workload_id = self.backend.run(spec)
            self.created.add(workload_id)
            running = self._wait_running(workload_id)
            latency = running.updated_at - running.created_at
            if running.state is not TaskState.RUNNING:
                exception = RuntimeError(f"{spec.name}: {running.state.value}: {running.message}")
        except (SwarmscopeError, TimeoutError) as exc:
            exception = exc
            latency = time.perf_counter() - started
        finally:
            if workload_id is not None:
                self._remove(workload_id)
        self.environment.events.request.fire(
            request_type=SCHEDULE,
            name=kind,
            response_time=max(latency, 0.0) * 1000.0,
            response_length=0,
            exception=exception,
            context={"workload": spec.name},
        )

    def _wait_running(self, workload_id: str) -> Task:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            tasks = self.backend.tasks(workload_id)
            done = [t for t in tasks if t.state in _DONE_STATES]
            if done:
                return min(done, key=lambda t: t.created_at)
            time.sleep(_POLL_SECONDS)
        raise TimeoutError(f"workload {workload_id} not running after {self.timeout:g}s")

    def _remove(self, workload_id: str) -> None:
        try:
            self.backend.remove(workload_id)
        except SwarmscopeError as exc:
            log.warning("scheduling load: could not remove %s: %s", workload_id, exc)
        self.created.discard(workload_id)
