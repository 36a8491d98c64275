"""Run commands on cluster nodes over SSH (paramiko), verifying host keys, never blindly.

Every failure is a ``RemoteError`` naming the node: it does not answer, its host key is
unknown or wrong, authentication failed, or a command timed out.
"""

from __future__ import annotations

import logging
import shlex
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko

from drivers.errors import SwarmscopeError
from drivers.inventory import Node
from drivers.secrets import scrub

log = logging.getLogger(__name__)
DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts").expanduser()


class RemoteError(SwarmscopeError):
    """A node could not be reached or a command on it failed."""


@dataclass(frozen=True)
class CommandResult:
    node: str
    command: str
    exit_status: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def check(self) -> CommandResult:
        if not self.ok:
            detail = (self.stderr or self.stdout).strip().splitlines()
            last = detail[-1] if detail else "no output"
            raise RemoteError(
                f"node {self.node}: `{scrub(self.command)}` exited "
                f"{self.exit_status}: {scrub(last)}"
            )
        return self


class SshNode:
    """One SSH connection to a node, opened lazily and reopened if it drops."""

    def __init__(self, node: Node, connect_timeout: float = 10.0) -> None:
        self.node = node
        self.connect_timeout = connect_timeout
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()

    def _where(self) -> str:
        return f"node {self.node.name} ({self.node.address}:{self.node.ssh.port})"

    def _connect(self) -> paramiko.SSHClient:
        ssh = self.node.ssh
        client = paramiko.SSHClient()
        known_hosts = ssh.known_hosts or DEFAULT_KNOWN_HOSTS
        try:
            client.load_host_keys(str(known_hosts))
        except FileNotFoundError:
            raise RemoteError(
                f"{self._where()}: known_hosts file {known_hosts} does not exist; "
                "swarmscope verifies host keys and will not accept them blindly",
                exit_code=2,
            ) from None
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        key_file = str(ssh.key_file) if ssh.key_file else None
        try:
            client.connect(
                self.node.address,
                port=ssh.port,
                username=ssh.user,
                key_filename=key_file,
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                allow_agent=key_file is None,
                look_for_keys=key_file is None,
            )
        except paramiko.BadHostKeyException:
            raise RemoteError(
                f"{self._where()}: host key does not match {known_hosts} "
                "(a different machine, or a reinstalled one?)"
            ) from None
        except paramiko.AuthenticationException:
            raise RemoteError(
                f"{self._where()}: SSH authentication failed for user {ssh.user}"
            ) from None
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                raise RemoteError(
                    f"{self._where()}: host key is not in {known_hosts}; add it "
                    f"(ssh-keyscan -p {ssh.port} {self.node.address} >> "
                    f"{known_hosts}) after checking it"
                ) from None
            raise RemoteError(f"{self._where()}: SSH failed: {exc}") from None
        except (TimeoutError, OSError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise RemoteError(f"{self._where()}: does not answer ({reason})") from None
        return client

    def client(self) -> paramiko.SSHClient:
        with self._lock:
            transport = self._client.get_transport() if self._client else None
            if self._client is None or transport is None or not transport.is_active():
                self._client = self._connect()
            return self._client

    def run(
        self, command: str | list[str], timeout: float = 60.0, check: bool = False
    ) -> CommandResult:
        """Run a command (a list is quoted for the remote shell) and wait for it, bounded."""
        text = command if isinstance(command, str) else shlex.join(command)
        client = self.client()
        started = time.monotonic()
        try:
            _, stdout, stderr = client.exec_command(text, timeout=timeout)
            channel = stdout.channel
            out = stdout.read().decode("utf-8", "replace")
            err = stderr.read().decode("utf-8", "replace")
            status = channel.recv_exit_status()
        except TimeoutError:
            raise RemoteError(
                f"{self._where()}: `{scrub(text)}` did not finish within {timeout:g}s"
            ) from None
        except (paramiko.SSHException, OSError) as exc:
            with self._lock:
                self._client = None
            raise RemoteError(
                f"{self._where()}: connection lost running `{scrub(text)}`: {exc}"
            ) from None
        result = CommandResult(self.node.name, text, status, out, err, time.monotonic() - started)
        log.debug("%s: %s -> %d in %.2fs", self.node.name, scrub(text), status, result.seconds)
        return result.check() if check else result

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


class SshPool:
    """Connections to many nodes, reused across a run; close() at the end."""

    def __init__(self, connect_timeout: float = 10.0) -> None:
        self.connect_timeout = connect_timeout
        self._nodes: dict[str, SshNode] = {}
        self._lock = threading.Lock()

    def __getitem__(self, node: Node) -> SshNode:
        with self._lock:
            if node.name not in self._nodes:
                self._nodes[node.name] = SshNode(node, self.connect_timeout)
            return self._nodes[node.name]

    def close(self) -> None:
        with self._lock:
            for connection in self._nodes.values():
                connection.close()
            self._nodes.clear()

    def __enter__(self) -> SshPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
