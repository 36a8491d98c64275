"""The StratoSwarm backend: the ``stratoswarm`` CLI, called exactly as the seed calls it.

Commands used (the seed's own): ``cluster create-join-token``, ``node ls``, ``cluster nodes
--format=table``, ``run [--gpu] [--cpu N] [--memory 128M] [--constraint C] IMAGE CMD...``,
``deploy FILE``, ``ps``, ``migrate ID --to NODE``, ``cluster mesh-status``; plus ``rm ID``
and ``--version``, which the seed does not show. Nodes join the seed's way: over SSH,
``docker run ... stratoswarm/swarmlet:latest join --token T --cluster PRIMARY_IP`` and wait
for "Successfully joined cluster" in its log.

The real CLI was not available while this was written: tables are read by their header
names (any column order, extra columns ignored), and output that does not parse is an error
naming the command, never a guess. Tested against a scripted stand-in.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from drivers.cluster.base import (
    JoinResult,
    NodeEvent,
    NodeState,
    NodeStatus,
    Task,
    TaskState,
    WorkloadSpec,
)
from drivers.cluster.clitable import Table, TableError, parse_table
from drivers.cluster.constraints import parse_constraint
from drivers.cluster.nodeprobe import CommandRunner
from drivers.cluster.timestamps import parse_rfc3339
from drivers.cluster.workloads import format_memory, load_workload_file, parse_memory
from drivers.errors import SwarmscopeError
from drivers.inventory import Inventory, Node
from drivers.remote import SshPool
from drivers.secrets import register_secret, scrub
from exporters.joinlog import JoinPatterns, JoinTracker

AGENT_IMAGE = "stratoswarm/swarmlet:latest"
JOINED_MARKER = "Successfully joined cluster"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{2,}$")
_NODE_STATES = {
    "ready": NodeState.READY,
    "down": NodeState.DOWN,
    "disconnected": NodeState.DISCONNECTED,
    "unreachable": NodeState.DISCONNECTED,
    "unknown": NodeState.UNKNOWN,
}
_TASK_STATES = {
    "running": TaskState.RUNNING,
    "pending": TaskState.PENDING,
    "new": TaskState.PENDING,
    "assigned": TaskState.PENDING,
    "accepted": TaskState.PENDING,
    "preparing": TaskState.PENDING,
    "starting": TaskState.PENDING,
    "complete": TaskState.COMPLETE,
    "completed": TaskState.COMPLETE,
    "exited": TaskState.COMPLETE,
    "failed": TaskState.FAILED,
    "rejected": TaskState.FAILED,
    "shutdown": TaskState.SHUTDOWN,
    "stopped": TaskState.SHUTDOWN,
    "removed": TaskState.SHUTDOWN,
}
_NOT_FOUND = re.compile(r"not found|no such", re.IGNORECASE)


class BackendError(SwarmscopeError):
    """The CLI failed or printed something unreadable; the message names the command."""


class StratoSwarmBackend:
    name = "stratoswarm"
    # The swarmlet's control ports are not documented: network overhead is not measured.
    control_ports: tuple[str, ...] = ()
    agent_processes = ("swarmlet",)

    def __init__(
        self,
        inventory: Inventory,
        *,
        cli: str = "stratoswarm",
        runner_for: Callable[[Node], CommandRunner] | None = None,
        timeout: float = 60.0,
        poll_interval: float = 0.5,
        join_timeout: float = 120.0,
    ) -> None:
        self.inventory = inventory
        self.cli = cli
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.join_timeout = join_timeout
        self._ssh = SshPool()
        self._runner_for = runner_for or (lambda node: self._ssh[node])
        self._lock = threading.Lock()
        # What this process created: the CLI takes no labels, so we remember them.
        self._created: dict[str, tuple[str, dict[str, str]]] = {}
        # First time each (task, state) was seen, for a `ps` without time columns.
        self._first_seen: dict[tuple[str, TaskState], float] = {}

    @classmethod
    def from_inventory(cls, inventory: Inventory) -> StratoSwarmBackend:
        return cls(inventory)

    # -- the CLI ------------------------------------------------------------------------------
    def _command_text(self, args: tuple[str, ...]) -> str:
        return scrub(shlex.join([self.cli, *args]))

    def _cli(self, *args: str, timeout: float | None = None) -> str:
        try:
            result = subprocess.run(
                [self.cli, *args],
                capture_output=True,
                text=True,
                timeout=timeout or self.timeout,
                check=False,
            )
        except FileNotFoundError:
            raise BackendError(
                f"the {self.cli} CLI is not on PATH (install StratoSwarm on the control node, "
                "or use backend: dockerswarm)"
            ) from None
        except subprocess.TimeoutExpired:
            raise BackendError(
                f"`{self._command_text(args)}` did not finish within {timeout or self.timeout:g}s"
            ) from None
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise BackendError(
                f"`{self._command_text(args)}` exited {result.returncode}: "
                f"{scrub(detail[-1]) if detail else 'no output'}"
            )
        return result.stdout

    def _garbled(self, args: tuple[str, ...], problem: str) -> BackendError:
        return BackendError(f"`{self._command_text(args)}` printed unreadable output: {problem}")

    def _table(self, *args: str, columns: tuple[str, ...]) -> Table:
        output = self._cli(*args)
        try:
            table = parse_table(output)
            table.require(*columns)
        except TableError as exc:
            raise self._garbled(args, str(exc)) from None
        return table

    # -- cluster ------------------------------------------------------------------------------
    def version(self) -> str:
        # `--version` is not among the seed's commands: a CLI without it is still usable.
        try:
            lines = self._cli("--version").strip().splitlines()
        except BackendError as exc:
            return f"{self.cli} (version unknown: {exc})"
        return lines[0] if lines else f"{self.cli} (version unknown)"

    def join_token(self) -> str:
        args = ("cluster", "create-join-token")
        lines = [line.strip() for line in self._cli(*args).splitlines() if line.strip()]
        if len(lines) != 1 or len(lines[0].split()) != 1 or len(lines[0]) < 8:
            # Register whatever came back before describing it: it may be the token.
            for line in lines:
                register_secret(line)
            raise self._garbled(args, f"expected one token on one line, got {len(lines)} line(s)")
        register_secret(lines[0])
        return lines[0]

    def nodes(self) -> list[NodeStatus]:
        listing = self._table("node", "ls", columns=("NAME", "STATUS"))
        capacity_args = ("cluster", "nodes", "--format=table")
        capacity = {row["NAME"]: row for row in self._table(*capacity_args, columns=("NAME",)).rows}
        result = []
        for row in listing.rows:
            state = _NODE_STATES.get(row["STATUS"].split(" ")[0].lower())
            if state is None or not row["NAME"]:
                raise self._garbled(("node", "ls"), f"unknown node status {row['STATUS']!r}")
            extra = capacity.get(row["NAME"], {})
            try:
                result.append(
                    NodeStatus(
                        name=row["NAME"],
                        state=state,
                        role=(row.get("ROLE") or extra.get("ROLE") or "worker").lower(),
                        labels={"type": extra["TYPE"]} if extra.get("TYPE") else {},
                        cpus=float(extra.get("CPUS") or 0),
                        memory_bytes=parse_memory(extra["MEMORY"]) if extra.get("MEMORY") else 0,
                        generic_resources={"gpu": int(extra["GPUS"])} if extra.get("GPUS") else {},
                    )
                )
            except ValueError as exc:
                raise self._garbled(capacity_args, f"node {row['NAME']}: {exc}") from None
        return result

    # -- join and leave -----------------------------------------------------------------------
    def join(self, node: Node) -> JoinResult:
        token = self.join_token()
        manager = self.inventory.manager
        polls = int(self.join_timeout / 0.1)
        run = shlex.join(
            [
                "docker", "run", "-d", "--name", "swarmlet", "--network", "host", "--privileged",
                "-v", "/var/run/docker.sock:/var/run/docker.sock", AGENT_IMAGE,
                "join", "--token", token, "--cluster", manager.address,
            ]
        )  # fmt: skip
        script = f"""docker rm -f swarmlet >/dev/null 2>&1
echo "swarmscope-begin $(date +%s.%N)"
{run} >/dev/null || exit 3
i=0
until docker logs swarmlet 2>&1 | grep -q {shlex.quote(JOINED_MARKER)}; do
  i=$((i+1))
  if [ "$i" -gt {polls} ]; then
    echo swarmscope-timeout; docker logs --tail 3 swarmlet 2>&1; exit 4
  fi
  sleep 0.1
done
echo "swarmscope-seen $(date +%s.%N)"
echo "swarmscope-started $(docker inspect -f '{{{{.State.StartedAt}}}}' swarmlet)"
echo swarmscope-log
docker logs --timestamps swarmlet 2>&1
"""
        started_at = time.time()
        result = self._runner_for(node).run(script, timeout=self.join_timeout + 30)
        if result.exit_status != 0:
            detail = (result.stdout + result.stderr).strip().splitlines()
            what = {3: "could not start the swarmlet", 4: "did not join in time"}.get(
                result.exit_status, f"join script exited {result.exit_status}"
            )
            raise BackendError(
                f"node {node.name}: {what}: {scrub(detail[-1]) if detail else 'no output'}"
            )
        return self._join_result(node, started_at, result.stdout)

    def _join_result(self, node: Node, started_at: float, output: str) -> JoinResult:
        head, _, log = output.partition("swarmscope-log\n")
        marks = dict(line.split(" ", 1) for line in head.splitlines() if " " in line)
        try:
            begin = float(marks["swarmscope-begin"])
            seen = float(marks["swarmscope-seen"])
            container_started = parse_rfc3339(marks["swarmscope-started"])
        except (KeyError, ValueError):
            raise BackendError(
                f"node {node.name}: unreadable output of the join script: {scrub(head)[:200]!r}"
            ) from None
        tracker = JoinTracker(JoinPatterns.default())
        tracker.begin_run(container_started)
        for line in log.splitlines():
            tracker.feed(line.encode("utf-8", "replace"))
        phases = dict(tracker.phases)
        if "total" not in phases:
            # The log had no timestamps we could read: the node's clock around the wait.
            phases["total"] = seen - begin
        details = {
            "wall_seconds": seen - begin,  # includes creating the container, 0.1 s polling
            "log_lines_skipped": sum(tracker.skipped.values()),
        }
        return JoinResult(node.name, started_at, phases, details=details)

    def leave(self, node: Node) -> None:
        self._runner_for(node).run("docker rm -f swarmlet", timeout=60)

    # -- workloads ----------------------------------------------------------------------------
    def run(self, spec: WorkloadSpec) -> str:
        args = ["run"]
        req = spec.requirements
        if spec.replicas != 1:
            raise BackendError(
                f"workload {spec.name}: `stratoswarm run` starts one replica; deploy a file "
                "for more"
            )
        if req.gpus > 1:
            raise BackendError(f"workload {spec.name}: `stratoswarm run --gpu` asks for one GPU")
        if req.gpus:
            args.append("--gpu")
        if req.cpus:
            args += ["--cpu", f"{req.cpus:g}"]
        if req.memory_bytes:
            args += ["--memory", format_memory(req.memory_bytes)]
        for text in spec.constraints:
            try:
                args += ["--constraint", str(parse_constraint(text))]
            except ValueError as exc:
                raise BackendError(f"workload {spec.name}: {exc}", exit_code=2) from None
        args += [spec.image, *spec.command]
        # The seed reads the id as the whole output: WORKLOAD_ID=$(stratoswarm run ...).
        lines = [line.strip() for line in self._cli(*args).splitlines() if line.strip()]
        if len(lines) != 1 or not _ID.match(lines[0]):
            raise self._garbled(tuple(args), "expected the workload id alone on one line")
        workload_id = lines[0]
        with self._lock:
            self._created[workload_id] = (spec.name, dict(spec.labels))
        return workload_id

    def deploy(self, path: Path, image: str | None = None) -> list[str]:
        """``stratoswarm deploy FILE``; the orchestrator picks images the file leaves out."""
        entries = load_workload_file(path)
        self._cli("deploy", str(path))
        by_name: dict[str, str] = {}
        for task in self.tasks():
            base = re.sub(r"[.-][0-9]+$", "", task.workload)
            for candidate in (task.workload, base):
                by_name.setdefault(candidate, task.workload_id)
        ids = []
        for entry in entries:
            if entry.spec.name not in by_name:
                raise BackendError(
                    f"`stratoswarm deploy {path}` succeeded but `stratoswarm ps` shows no "
                    f"workload named {entry.spec.name}"
                )
            workload_id = by_name[entry.spec.name]
            ids.append(workload_id)
            with self._lock:
                self._created[workload_id] = (entry.spec.name, dict(entry.spec.labels))
        return ids

    def workloads(self, labels: Mapping[str, str] | None = None) -> dict[str, str]:
        if labels:
            with self._lock:
                return {
                    wid: name
                    for wid, (name, have) in self._created.items()
                    if all(have.get(k) == v for k, v in labels.items())
                }
        return {task.workload_id: task.workload for task in self.tasks()}

    def tasks(self, workload_id: str | None = None) -> list[Task]:
        args = ("ps",)
        table = self._table(*args, columns=("ID", "NAME", "NODE", "STATUS"))
        now = time.time()
        tasks = []
        slots: dict[str, int] = {}
        for row in table.rows:
            wid = row["ID"]
            if not _ID.match(wid):
                raise self._garbled(args, f"unreadable workload id {wid!r}")
            slots[wid] = slots.get(wid, 0) + 1
            if workload_id is not None and wid != workload_id:
                continue
            state = _TASK_STATES.get(row["STATUS"].split(" ")[0].lower())
            if state is None:
                raise self._garbled(args, f"unknown status {row['STATUS']!r} of {wid}")
            task_id = f"{wid}/{slots[wid]}"
            with self._lock:
                seen = self._first_seen.setdefault((task_id, state), now)
                created = self._first_seen.setdefault((task_id, TaskState.PENDING), seen)
            try:
                created = parse_rfc3339(row["CREATED"]) if row.get("CREATED") else created
                updated = parse_rfc3339(row["UPDATED"]) if row.get("UPDATED") else seen
            except ValueError as exc:
                raise self._garbled(args, str(exc)) from None
            node = row["NODE"] if row["NODE"] not in ("", "-") else None
            tasks.append(
                Task(
                    task_id=task_id,
                    workload_id=wid,
                    workload=row["NAME"],
                    node=node,
                    state=state,
                    desired_state=row.get("DESIRED", ""),
                    created_at=created,
                    updated_at=updated,
                    message=row.get("MESSAGE", "") or row.get("ERROR", ""),
                )
            )
        return tasks

    def migrate(self, workload_id: str, node_name: str) -> None:
        self._cli("migrate", workload_id, "--to", node_name)

    def remove(self, workload_id: str) -> None:
        try:
            self._cli("rm", workload_id)
        except BackendError as exc:
            if not _NOT_FOUND.search(str(exc)):
                raise

    def mesh_status(self) -> str:
        """``stratoswarm cluster mesh-status`` as printed (the seed diffs two of them)."""
        return self._cli("cluster", "mesh-status")

    # -- events -------------------------------------------------------------------------------
    def node_events(self, since: float, until: float) -> Iterator[NodeEvent]:
        """The CLI has no event stream: poll ``node ls`` and report changes as seen, from
        now (not ``since``) until ``until``; timestamps are the controller's."""
        last = {n.name: n.state for n in self.nodes()}
        while time.time() < until:
            time.sleep(self.poll_interval)
            seen_at = time.time()
            for status in self.nodes():
                if last.get(status.name) is not status.state:
                    last[status.name] = status.state
                    if seen_at >= since:
                        yield NodeEvent(status.name, status.state, seen_at)

    def close(self) -> None:
        self._ssh.close()
