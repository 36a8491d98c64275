"""Run a few short external commands at once, with a timeout, for collectors that need them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int | None  # None: it did not finish in time (and was killed)
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class CommandRunner(Protocol):
    def run_all(self, commands: Sequence[Sequence[str]]) -> list[CommandResult]:
        """Run every command; return their results in the same order."""
        ...


class SubprocessRunner:
    """Starts all commands before waiting for any: four ``vcgencmd`` calls then cost about
    as long as one, which keeps the scrape short on a Pi."""

    def __init__(self, timeout: float = 2.0) -> None:
        self.timeout = timeout

    def run_all(self, commands: Sequence[Sequence[str]]) -> list[CommandResult]:
        import subprocess  # noqa: PLC0415 -- only machines with vcgencmd pay for this import

        processes: list[subprocess.Popen[str]] = []
        try:
            for argv in commands:
                processes.append(
                    subprocess.Popen(
                        list(argv),
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        stdin=subprocess.DEVNULL,
                        text=True,
                        errors="replace",
                    )
                )
        except OSError:
            for started in processes:
                started.kill()
                started.communicate()
            raise
        results = []
        for argv, process in zip(commands, processes, strict=True):
            try:
                stdout, stderr = process.communicate(timeout=self.timeout)
                results.append(CommandResult(tuple(argv), process.returncode, stdout, stderr))
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                message = f"timed out after {self.timeout:g}s"
                results.append(CommandResult(tuple(argv), None, "", message))
        return results


def find_executable(name: str, extra_dirs: Sequence[str] = ()) -> Path | None:
    """``name`` on PATH or in ``extra_dirs``, like ``shutil.which`` without importing shutil."""
    for directory in [*os.environ.get("PATH", os.defpath).split(os.pathsep), *extra_dirs]:
        candidate = Path(directory or ".", name)
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None
