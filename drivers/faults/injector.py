"""Apply, list and revert faults on the inventory's nodes.

``FaultInjector.apply`` sends one script per fault (``protocol.apply_script``): from the
moment it returns, the fault is undone by the target itself after its duration. ``list``
and ``revert``/``revert_all`` read the state the targets keep, so they work from a new
controller process after a crash. Every apply and revert is reported to an optional
``FaultObserver`` (the run directory's faults.json and the Pushgateway, see ``recorder``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import psutil

from drivers.errors import SwarmscopeError
from drivers.faults.kinds import FaultRequest, LabHooks, PlanContext
from drivers.faults.model import (
    FaultError,
    FaultRecord,
    check_duration,
    new_fault_id,
    parse_fault_id,
)
from drivers.faults.protocol import (
    REAL_STATE_DIR,
    applied_script,
    apply_script,
    list_script,
    parse_apply_output,
    parse_errors,
    parse_list_output,
    parse_revert_log,
    revert_all_script,
    revert_one_script,
    reverted_script,
)
from drivers.faults.transport import NodeShell
from drivers.inventory import Inventory, Node
from drivers.remote import CommandResult, SshPool
from drivers.secrets import scrub

log = logging.getLogger(__name__)
APPLY_TIMEOUT = 60.0
# A lab power-on restarts an engine and waits until it answers.
REVERT_TIMEOUT = 180.0
LIST_TIMEOUT = 20.0
DEFERRED_WAIT = 30.0
# Faults that act on the network or the engine of their target: never the control host's.
_NOT_ON_CONTROL_HOST = ("partition", "netem", "bandwidth", "poweroff", "engine-stop")


class FaultObserver(Protocol):
    def applied(self, record: FaultRecord) -> None: ...

    def reverted(self, record: FaultRecord) -> None: ...


@dataclass
class Listing:
    faults: list[FaultRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # nodes that did not answer, bad records


@dataclass(frozen=True)
class Reverted:
    fault_id: str
    was_active: bool
    at: float | None
    by: str | None


def local_addresses() -> set[str]:
    """Every address of this process's own network namespace."""
    found = set()
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            found.add(address.address.split("%")[0])
    return found


def _last_line(result: CommandResult) -> str:
    lines = (result.stderr or result.stdout).strip().splitlines()
    return scrub(lines[-1]) if lines else f"exit status {result.exit_status}"


class FaultInjector:
    def __init__(
        self,
        inventory: Inventory,
        ssh: SshPool,
        *,
        observer: FaultObserver | None = None,
        run_id: str | None = None,
        scenario: str | None = None,
        python: str = sys.executable,
    ) -> None:
        self.inventory = inventory
        self.ssh = ssh
        self.observer = observer
        self.run_id = run_id
        self.scenario = scenario
        self.lab = LabHooks(python, inventory.lab_state_dir) if inventory.lab_state_dir else None
        self._shells: dict[str, NodeShell] = {}
        self._applied: dict[str, FaultRecord] = {}
        self._lock = threading.Lock()

    # -- where things are ---------------------------------------------------------------------
    def state_dir(self, node: str) -> str:
        """The fault state directory on ``node``. Lab nodes share this machine's files, so
        each gets its own directory inside the lab's state."""
        if self.inventory.lab_state_dir is not None:
            return str(self.inventory.lab_state_dir / "faults" / node)
        return REAL_STATE_DIR

    def shell(self, node: Node) -> NodeShell:
        with self._lock:
            if node.name not in self._shells:
                self._shells[node.name] = NodeShell(self.inventory, self.ssh, node)
            return self._shells[node.name]

    def _reference_address(self, node: Node) -> str:
        """An address whose route on ``node`` goes out of its cluster interface."""
        if node.name != self.inventory.manager_name:
            return self.inventory.manager.address
        others = [n for n in self.inventory.nodes if n.name != node.name]
        if not others:
            raise FaultError(
                f"node {node.name} is the only node: name its interface with --device",
                exit_code=2,
            )
        return others[0].address

    def applied(self) -> list[FaultRecord]:
        with self._lock:
            return list(self._applied.values())

    # -- apply --------------------------------------------------------------------------------
    def apply(self, request: FaultRequest, node_name: str, duration: float) -> FaultRecord:
        """Apply one fault; its revert is armed on the target before the fault takes effect."""
        check_duration(duration)
        node = self.inventory.node(node_name)
        if request.kind in _NOT_ON_CONTROL_HOST and node.address in local_addresses():
            raise FaultError(
                f"node {node.name} ({node.address}) is this control host: swarmscope never "
                f"applies a {request.kind} fault to the machine it runs on; target the other "
                "side instead",
                exit_code=2,
            )
        fault = parse_fault_id(new_fault_id(request.kind, node.name))
        context = PlanContext(
            fault=fault,
            state_dir=self.state_dir(node.name),
            node=node.name,
            reference_address=self._reference_address(node),
            duration=duration,
            lab=self.lab,
        )
        plan = request.plan(context)
        record = FaultRecord(
            id=fault.text,
            kind=request.kind,
            node=node.name,
            duration=duration,
            armed_at=time.time(),
            params=request.params(),
            mechanism=plan.mechanism,
            revert=plan.revert_note,
            run_id=self.run_id,
            scenario=self.scenario,
        )
        script = apply_script(plan, record, context.state_dir)
        try:
            result = self.shell(node).run(script, APPLY_TIMEOUT, allow_console=False)
        except KeyboardInterrupt:
            # Ctrl-C while the script was on its way: it may have armed and applied the
            # fault already. Undo it now rather than when its timer fires.
            with contextlib.suppress(Exception):
                self.shell(node).run(
                    revert_one_script(context.state_dir, fault.text), REVERT_TIMEOUT
                )
            raise
        except FaultError:
            raise
        except SwarmscopeError as exc:
            raise FaultError(
                f"{exc}; if the {request.kind} fault {fault.text} got applied, the node "
                f"reverts it by itself after {duration:g}s"
            ) from None
        if not result.ok:
            raise FaultError(
                f"node {node.name}: {request.kind} fault not applied: {_last_line(result)}"
            )
        outcome = parse_apply_output(result.stdout)
        applied_at = outcome.applied_at
        if outcome.deferred:
            applied_at = self._wait_applied(node, record)
        record = record.with_(
            applied_at=applied_at or time.time(),
            mechanism=outcome.mechanism or plan.mechanism,
            timer_alive=True if plan.arm_timer else None,
        )
        with self._lock:
            self._applied[record.id] = record
        log.debug(
            "fault %s applied (%s, %gs, reverted by %s)",
            record.id,
            record.mechanism,
            duration,
            record.revert,
        )
        if self.observer is not None:
            self.observer.applied(record)
        return record

    def _wait_applied(self, node: Node, record: FaultRecord) -> float:
        """When a deferred fault took effect on the node (its own clock). It cut the node's
        link, so this asks through the lab's console."""
        script = applied_script(self.state_dir(node.name), record.id)
        deadline = time.monotonic() + DEFERRED_WAIT
        while time.monotonic() < deadline:
            result = self.shell(node).run(script, LIST_TIMEOUT, prefer_console=True)
            for line in result.stdout.splitlines():
                if line.startswith("applied "):
                    return float(line.split()[1])
                if line.strip() == "gone":
                    raise FaultError(
                        f"node {node.name}: {record.kind} fault {record.id} failed on the node "
                        "and was undone"
                    )
            time.sleep(0.1)
        raise FaultError(
            f"node {node.name}: {record.kind} fault {record.id} not in effect after "
            f"{DEFERRED_WAIT:g}s; it reverts by itself after {record.duration:g}s"
        )

    # -- list ---------------------------------------------------------------------------------
    def _nodes(self, names: Iterable[str] | None) -> list[Node]:
        if names is None:
            return list(self.inventory.nodes)
        return [self.inventory.node(n) for n in names]

    def _run_everywhere(
        self, nodes: list[Node], scripts: dict[str, str], timeout: float
    ) -> dict[str, CommandResult | SwarmscopeError]:
        """Run one script per node in parallel; a node that fails yields its error."""

        def one(node: Node) -> CommandResult | SwarmscopeError:
            try:
                return self.shell(node).run(scripts[node.name], timeout)
            except SwarmscopeError as exc:
                return exc

        with concurrent.futures.ThreadPoolExecutor(max(1, min(8, len(nodes)))) as pool:
            results = list(pool.map(one, nodes))
        return {node.name: result for node, result in zip(nodes, results, strict=True)}

    def active(self, nodes: Iterable[str] | None = None) -> Listing:
        """Every active fault on the nodes (all by default), read from the nodes themselves."""
        targets = self._nodes(nodes)
        scripts = {n.name: list_script(self.state_dir(n.name)) for n in targets}
        listing = Listing()
        for name, result in self._run_everywhere(targets, scripts, LIST_TIMEOUT).items():
            if isinstance(result, SwarmscopeError):
                listing.problems.append(str(result))
                continue
            if not result.ok:
                listing.problems.append(f"node {name}: listing faults failed: {_last_line(result)}")
                continue
            found, problems = parse_list_output(result.stdout, name)
            listing.faults += [item.record for item in found]
            listing.problems += problems
        listing.faults.sort(key=lambda r: (r.node, r.armed_at))
        return listing

    # -- revert -------------------------------------------------------------------------------
    def _prefer_console(self, kind: str) -> bool:
        """A lab poweroff cut the node's link: SSH could only time out."""
        return kind == "poweroff" and self.lab is not None

    def revert(self, fault_id: str) -> Reverted:
        """Revert one fault now (cancelling its timer); reverting an inactive one is fine."""
        fault = parse_fault_id(fault_id)
        node = self.inventory.node(fault.node)
        result = self.shell(node).run(
            revert_one_script(self.state_dir(node.name), fault.text),
            REVERT_TIMEOUT,
            prefer_console=self._prefer_console(fault.kind),
        )
        if not result.ok:
            raise FaultError(
                f"node {node.name}: reverting {fault.text} failed: {_last_line(result)}"
            )
        entry = parse_revert_log(result.stdout)
        outcome = Reverted(
            fault.text,
            was_active=f"reverted {fault.text}" in result.stdout,
            at=entry.at if entry else None,
            by=entry.by if entry else None,
        )
        self._reverted(outcome)
        errors = parse_errors(result.stdout).get(fault.text)
        if errors:
            raise FaultError(f"node {node.name}: reverting {fault.text}: {errors[-1]}")
        return outcome

    def revert_all(self, nodes: Iterable[str] | None = None) -> tuple[list[str], list[str]]:
        """Revert every active fault on the nodes (all by default); returns (ids, problems)."""
        targets = self._nodes(nodes)
        scripts = {n.name: revert_all_script(self.state_dir(n.name)) for n in targets}
        reverted: list[str] = []
        problems: list[str] = []
        for name, result in self._run_everywhere(targets, scripts, REVERT_TIMEOUT).items():
            if isinstance(result, SwarmscopeError):
                problems.append(str(result))
                continue
            ids = [
                line.split(" ", 1)[1]
                for line in result.stdout.splitlines()
                if line.startswith("reverted ")
            ]
            reverted += ids
            if not result.ok:
                problems.append(f"node {name}: reverting faults failed: {_last_line(result)}")
            for fault_id, errors in parse_errors(result.stdout).items():
                if fault_id in ids:
                    problems.append(f"node {name}: reverting {fault_id}: {errors[-1]}")
            for fault_id in ids:
                self._reverted(Reverted(fault_id, True, time.time(), "hand"))
        return reverted, problems

    def revert_applied(self) -> list[str]:
        """Revert what this injector applied and is not known to be over (a scenario's
        cleanup); returns the problems, one line each."""
        problems = []
        for record in self.applied():
            if record.reverted_at is not None or not record.self_reverting:
                continue
            try:
                self.revert(record.id)
            except SwarmscopeError as exc:
                problems.append(str(exc))
        return problems

    def wait_reverted(self, record: FaultRecord, timeout: float) -> FaultRecord:
        """Wait until the target reverted the fault (its timer, normally); the record then
        carries the target's revert time."""
        node = self.inventory.node(record.node)
        script = reverted_script(self.state_dir(node.name), record.id)
        deadline = time.monotonic() + timeout
        while True:
            result = self.shell(node).run(
                script, LIST_TIMEOUT, prefer_console=self._prefer_console(record.kind)
            )
            entry = parse_revert_log(result.stdout) if result.ok else None
            if entry is not None:
                self._reverted(Reverted(record.id, True, entry.at, entry.by))
                errors = parse_errors(result.stdout).get(record.id)
                if errors:
                    raise FaultError(f"node {node.name}: reverting {record.id}: {errors[-1]}")
                return record.with_(reverted_at=entry.at, reverted_by=entry.by, timer_alive=False)
            if time.monotonic() > deadline:
                raise FaultError(
                    f"node {node.name}: fault {record.id} still active {timeout:g}s later"
                )
            time.sleep(0.5)

    def _reverted(self, outcome: Reverted) -> None:
        with self._lock:
            known = self._applied.get(outcome.fault_id)
            if known is None or known.reverted_at is not None:
                return
            record = known.with_(
                reverted_at=outcome.at or time.time(), reverted_by=outcome.by, timer_alive=False
            )
            self._applied[outcome.fault_id] = record
        if self.observer is not None:
            self.observer.reverted(record)
