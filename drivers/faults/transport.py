"""How fault scripts reach a node: SSH (with sudo for a non-root user), or the lab's console.

Over SSH a script runs as ``sh -c SCRIPT`` (``sudo -n sh -c SCRIPT`` when the inventory's
SSH user is not root: faults need root for iptables and tc, and never ask for a password).
A lab node whose link a fault cut (a lab "poweroff") cannot be reached over SSH; the lab's
console, ``nsenter`` into the node's namespaces on this machine, plays the part of the
serial console or smart plug a real rack would need, and is only used when SSH fails.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path
from typing import Protocol

from drivers.errors import SwarmscopeError
from drivers.faults.model import FaultError
from drivers.inventory import Inventory, Node
from drivers.remote import CommandResult, RemoteError, SshPool
from drivers.secrets import scrub


class Runner(Protocol):
    """Runs one shell script as root on one node."""

    node: str
    via: str  # "ssh" or "console", for messages

    def run(self, script: str, timeout: float) -> CommandResult: ...


class SshRunner:
    via = "ssh"

    def __init__(self, pool: SshPool, node: Node) -> None:
        self.node = node.name
        self._pool = pool
        self._target = node

    def run(self, script: str, timeout: float) -> CommandResult:
        command = ["sh", "-c", script]
        if self._target.ssh.user != "root":
            command = ["sudo", "-n", *command]
        text = shlex.join(command)
        try:
            result = self._pool[self._target].run(text, timeout=timeout)
        except RemoteError as exc:
            # The message quotes the command: a whole fault script is no error line.
            raise RemoteError(str(exc).replace(f"`{scrub(text)}`", "a fault script")) from None
        if result.exit_status != 0 and "sudo:" in result.stderr and "password" in result.stderr:
            raise FaultError(
                f"node {self.node}: sudo asks user {self._target.ssh.user} for a password; "
                "faults need passwordless sudo (NOPASSWD) for sh, iptables and tc"
            )
        return result


class ConsoleRunner:
    """A lab node's console: the script runs on this machine inside the node's namespaces."""

    via = "console"

    def __init__(self, node: str, netns: str, uts: Path | None) -> None:
        self.node = node
        self.netns = netns
        self.uts = uts

    def run(self, script: str, timeout: float) -> CommandResult:
        argv = ["nsenter", f"--net=/run/netns/{self.netns}"]
        if self.uts is not None and self.uts.exists():
            argv.append(f"--uts={self.uts}")
        argv += ["--", "sh", "-c", script]
        started = time.monotonic()
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise RemoteError(
                f"node {self.node} (lab console): script did not finish within {timeout:g}s"
            ) from None
        except OSError as exc:
            raise RemoteError(f"node {self.node} (lab console): {exc.strerror}") from None
        return CommandResult(
            self.node,
            "sh -c <fault script>",
            done.returncode,
            done.stdout,
            done.stderr,
            time.monotonic() - started,
        )


def lab_console(inventory: Inventory, node: str) -> ConsoleRunner | None:
    """The console of a lab node, or None for real hardware (or a lab whose state is gone)."""
    if inventory.lab_state_dir is None:
        return None
    from drivers.lab.state import LabState  # noqa: PLC0415 - only labs need it

    try:
        state = LabState.load(inventory.lab_state_dir)
    except (OSError, ValueError, KeyError):
        return None
    spec = state.spec
    netns = spec.node_netns(node)
    if not Path(f"/run/netns/{netns}").exists():
        return None
    return ConsoleRunner(node, netns, spec.node_dir(node) / "uts")


class NodeShell:
    """A node's runners in order of preference: SSH, then (lab only) the console."""

    def __init__(self, inventory: Inventory, pool: SshPool, node: Node) -> None:
        self.node = node
        self._ssh = SshRunner(pool, node)
        self._inventory = inventory
        self._console: ConsoleRunner | None = None
        self._console_checked = False

    def console(self) -> ConsoleRunner | None:
        if not self._console_checked:
            self._console = lab_console(self._inventory, self.node.name)
            self._console_checked = True
        return self._console

    def run(
        self,
        script: str,
        timeout: float,
        *,
        allow_console: bool = True,
        prefer_console: bool = False,
    ) -> CommandResult:
        """Run over SSH; on a lab node that does not answer, through its console.

        ``prefer_console`` goes straight to a lab node's console: for a node whose link is
        known to be cut, where SSH could only time out.
        """
        if prefer_console and (console := self.console()) is not None:
            return console.run(script, timeout)
        try:
            return self._ssh.run(script, timeout)
        except FaultError:
            raise
        except SwarmscopeError as exc:
            console = self.console() if allow_console else None
            if console is None:
                raise
            ssh_error = str(exc)
        try:
            return console.run(script, timeout)
        except SwarmscopeError as exc:
            raise RemoteError(f"{ssh_error}; the lab console failed too: {exc}") from None
