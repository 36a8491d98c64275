"""Start Locust in distributed mode: the master here, one worker per node over SSH, all bounded.

The master runs on the control node as a child process (never inside ``swarmscope``: Locust
monkey-patches the interpreter). Each worker is started over SSH on its node (in the lab,
SSH lands in the node's network namespace) as its own session under ``timeout``, so it ends
by itself even if this process dies; its PID is kept and the whole session is stopped by
that PID at the end, its log fetched into ``log_dir`` and removed from the node. A worker
meant for the control node itself (the scheduling load needs the backend) runs locally.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from drivers.errors import SwarmscopeError
from drivers.inventory import Inventory, Node
from drivers.load.options import INVENTORY_ENV, NODE_ENV
from drivers.remote import RemoteError, SshPool
from exporters.mesh.peers import Mesh, dumps

log = logging.getLogger(__name__)
DEFAULT_MASTER_PORT = 5557
DEFAULT_WEB_PORT = 8089
# Beyond the run time: workers connecting, users stopping, the last stats arriving.
_MARGIN_SECONDS = 60
_STOP_GRACE_SECONDS = 10.0


class LoadError(SwarmscopeError):
    """Locust could not be started, or a worker did not come up."""


@dataclass(frozen=True)
class LocustPlan:
    """What to run: the locustfile, where the workers go, and Locust's arguments."""

    locustfile: str  # a name run_locust knows: messages, bandwidth, scheduling[,stages]
    worker_nodes: tuple[Node, ...]  # one worker per node, started over SSH
    local_workers: int = 0  # workers on the control node itself
    user_classes: tuple[str, ...] = ()
    users: int | None = None
    spawn_rate: float | None = None
    run_time: float | None = None  # headless only; None: until stopped
    headless: bool = True
    master_host: str = "127.0.0.1"  # where workers reach the master
    master_port: int = DEFAULT_MASTER_PORT
    web_host: str = "127.0.0.1"
    web_port: int = DEFAULT_WEB_PORT
    mesh: Mesh | None = None
    extra_args: tuple[str, ...] = ()
    node_python: str = "python3"
    inventory_path: Path | None = None
    summary_file: Path | None = None
    max_seconds: float | None = None  # without a run time: stop everything after this long

    @property
    def worker_count(self) -> int:
        return len(self.worker_nodes) + self.local_workers

    @property
    def deadline_seconds(self) -> float | None:
        """How long the run may last in all; None means until stopped (never on nodes)."""
        limit = self.run_time if self.run_time is not None else self.max_seconds
        return None if limit is None else limit + _MARGIN_SECONDS


def locust_module_command(python: str, locustfile: str) -> list[str]:
    return [python, "-m", "drivers.load.run_locust", locustfile]


def master_command(plan: LocustPlan) -> list[str]:
    command = locust_module_command(sys.executable, plan.locustfile)
    command += [
        "--master",
        "--master-bind-host",
        plan.master_host,
        "--master-bind-port",
        str(plan.master_port),
        "--expect-workers",
        str(plan.worker_count),
    ]
    if plan.headless:
        command += ["--headless", "--expect-workers-max-wait", "60", "--only-summary"]
        if plan.run_time is not None:
            command += ["--run-time", f"{plan.run_time:g}s"]
    else:
        command += ["--web-host", plan.web_host, "--web-port", str(plan.web_port)]
        if not plan.user_classes:
            command.append("--class-picker")
    if plan.users is not None:
        command += ["--users", str(plan.users)]
    if plan.spawn_rate is not None:
        command += ["--spawn-rate", f"{plan.spawn_rate:g}"]
    if plan.mesh is not None:
        # Sent to every worker with the test: the peers file need not exist on the nodes.
        command += ["--mesh-peers-document", dumps(plan.mesh)]
    if plan.summary_file is not None:
        command += ["--summary-file", str(plan.summary_file)]
    command += [*plan.extra_args, *plan.user_classes]
    return command


def worker_command(plan: LocustPlan, python: str) -> list[str]:
    command = locust_module_command(python, plan.locustfile)
    command += ["--worker", "--master-host", plan.master_host, "--master-port"]
    command.append(str(plan.master_port))
    return command


def remote_start_script(argv: Sequence[str], env: Mapping[str, str], seconds: int, log: str) -> str:
    """Shell text that starts ``argv`` in its own session under ``timeout`` and prints its PID.

    ``setsid`` makes the PID a process-group id, so one ``kill -- -PID`` reaches the worker
    and its children; ``timeout -k`` ends it by itself after ``seconds`` whatever happens.
    """
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
    inner = f"timeout -k 5 {seconds} {shlex.join(argv)}"
    return (f"{assignments} setsid {inner} >{shlex.quote(log)} 2>&1 </dev/null & echo $!").strip()


def remote_stop_script(pid: int, log: str, grace: float = _STOP_GRACE_SECONDS) -> str:
    """Stop the session ``pid`` leads (TERM, KILL after ``grace``); print and remove its log."""
    steps = max(1, int(grace / 0.2))
    return (
        f"kill -TERM -- -{pid} 2>/dev/null; i=0; "
        f"while kill -0 -- -{pid} 2>/dev/null && [ $i -lt {steps} ]; "
        "do sleep 0.2; i=$((i+1)); done; "
        f"kill -KILL -- -{pid} 2>/dev/null; cat {shlex.quote(log)} 2>/dev/null; "
        f"rm -f {shlex.quote(log)}; true"
    )


@dataclass
class _RemoteWorker:
    node: Node
    pid: int
    log: str


@dataclass
class LocustRun:
    """A started Locust run; ``stop()`` always ends every process it started."""

    plan: LocustPlan
    ssh: SshPool
    log_dir: Path
    tag: str = field(default_factory=lambda: f"{os.getpid()}-{int(time.time())}")
    master: subprocess.Popen[bytes] | None = None
    local: list[subprocess.Popen[bytes]] = field(default_factory=list)
    remote: list[_RemoteWorker] = field(default_factory=list)

    @property
    def master_log(self) -> Path:
        return self.log_dir / "locust-master.log"

    def start(self) -> LocustRun:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_master()
            for index in range(self.plan.local_workers):
                self._start_local_worker(index)
            for node in self.plan.worker_nodes:
                self._start_remote_worker(node)
        except BaseException:
            self.stop()
            raise
        return self

    def wait(self) -> int:
        """Wait for the master to end (bounded by the plan's deadline); its exit code."""
        assert self.master is not None
        deadline = self.plan.deadline_seconds
        try:
            return self.master.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            raise LoadError(
                f"Locust did not finish within {deadline:g}s; stopped it (see {self.master_log})"
            ) from None

    def wait_for_web(self, timeout: float = 30.0) -> str:
        url = f"http://{self.plan.web_host}:{self.plan.web_port}/"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.master is not None and self.master.poll() is not None:
                raise LoadError(f"the Locust master exited: {self._tail(self.master_log)}")
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1):
                return url
            time.sleep(0.2)
        raise LoadError(f"the Locust web UI did not answer at {url} within {timeout:g}s")

    def connected_workers(self) -> int:
        """Workers connected to the master, from its /metrics route (0 while it does not answer)."""
        url = f"http://{self.plan.web_host}:{self.plan.web_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=2) as page:
                text = page.read().decode()
        except OSError:
            return 0
        found = re.search(r"^locust_workers (\S+)$", text, re.MULTILINE)
        return int(float(found.group(1))) if found else 0

    def wait_for_workers(self, timeout: float = 60.0) -> int:
        """Until every planned worker has connected (Locust refuses to start a distributed
        swarm before), at most ``timeout`` seconds. Returns how many connected."""
        deadline = time.monotonic() + timeout
        connected = self.connected_workers()
        while connected < self.plan.worker_count and time.monotonic() < deadline:
            if self.master is not None and self.master.poll() is not None:
                raise LoadError(f"the Locust master exited: {self._tail(self.master_log)}")
            time.sleep(0.5)
            connected = self.connected_workers()
        return connected

    def stop(self) -> None:
        """Stop workers and master by the PIDs this run started; fetch the workers' logs."""
        for worker in self.remote:
            try:
                result = self.ssh[worker.node].run(
                    remote_stop_script(worker.pid, worker.log), timeout=_STOP_GRACE_SECONDS + 20
                )
                (self.log_dir / f"locust-worker-{worker.node.name}.log").write_text(result.stdout)
            except RemoteError as exc:
                log.warning(
                    "could not stop the Locust worker on %s (pid %d; it ends by itself "
                    "under `timeout`): %s",
                    worker.node.name,
                    worker.pid,
                    exc,
                )
        self.remote.clear()
        for process in [*self.local, *([self.master] if self.master else [])]:
            _stop_local(process)
        self.local.clear()

    # -- internals ------------------------------------------------------------------------
    def _start_master(self) -> None:
        command = master_command(self.plan)
        log.debug("locust master: %s", shlex.join(command))
        with open(self.master_log, "wb") as out:
            self.master = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own group: our Ctrl-C is ours to pass on
                env=self._local_env(node_name=None),
            )
        time.sleep(0.5)
        if self.master.poll() is not None:
            raise LoadError(f"the Locust master exited at once: {self._tail(self.master_log)}")

    def _start_local_worker(self, index: int) -> None:
        command = worker_command(self.plan, sys.executable)
        path = self.log_dir / f"locust-worker-local-{index}.log"
        with open(path, "wb") as out:
            process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=self._local_env(node_name=None),
            )
        self.local.append(process)

    def _start_remote_worker(self, node: Node) -> None:
        env = {NODE_ENV: node.name}
        remote_log = f"/tmp/swarmscope-locust-{self.tag}-{node.name}.log"  # noqa: S108
        seconds = int(self.plan.deadline_seconds or 24 * 3600)
        script = remote_start_script(
            worker_command(self.plan, self.plan.node_python), env, seconds, remote_log
        )
        result = self.ssh[node].run(script, timeout=30, check=True)
        try:
            pid = int(result.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise LoadError(
                f"node {node.name}: starting the Locust worker printed no PID: {result.stdout!r}"
            ) from None
        self.remote.append(_RemoteWorker(node, pid, remote_log))
        log.debug("locust worker on %s: pid %d", node.name, pid)

    def _local_env(self, node_name: str | None) -> dict[str, str]:
        env = dict(os.environ)
        if node_name:
            env[NODE_ENV] = node_name
        if self.plan.inventory_path is not None:
            env[INVENTORY_ENV] = str(self.plan.inventory_path)
        return env

    @staticmethod
    def _tail(path: Path, lines: int = 5) -> str:
        try:
            text = path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(text[-lines:]) or "(empty log)"


def _stop_local(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # SIGTERM first: Locust then runs its quitting hooks (exit code, summary file).
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=_STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def free_port(host: str) -> int:
    """A TCP port free on ``host`` right now (for the master's bind port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def address_towards(address: str) -> str:
    """This machine's address on the route to ``address``: where a node reaches the master.

    Asks the kernel's routing (a UDP connect sends nothing), so it is right for a lab behind
    a veth as for a control node on a Pi's LAN.
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((address, 9))
        except OSError as exc:
            raise LoadError(f"no route from this machine to {address}: {exc.strerror}") from None
        return str(probe.getsockname()[0])


def default_node_python(inventory: Inventory) -> str:
    """Lab nodes share this machine's filesystem, so they use this very interpreter."""
    return sys.executable if inventory.is_lab else "python3"
