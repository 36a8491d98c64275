"""Start real daemons (sshd, pushgateway, ...) for a test and always stop them by PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest


def free_port(host: str = "127.0.0.1") -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def require_binary(path: str) -> str:
    found = shutil.which(path) or (path if os.path.exists(path) else None)
    if not found:
        pytest.skip(f"{path} is not installed (make setup installs it)")
    return found


def stop(process: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Send ``sig`` to a process this test started, and SIGKILL it if it has not ended
    within ``timeout`` seconds. Nothing is done when it already ended."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running(
    argv: Sequence[str], host: str, port: int, log: Path, timeout: float = 10.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` until the block ends; wait until it listens; stop it by PID always."""
    with open(log, "wb") as out:
        process = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT)
    try:
        try:
            wait_for_port(host, port, timeout)
        except TimeoutError:
            raise RuntimeError(f"{argv[0]} did not start: {log.read_text()[-2000:]}") from None
        yield process
    finally:
        stop(process)
