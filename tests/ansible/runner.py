"""Run the real ansible-playbook on swarmscope's playbook, and read its PLAY RECAP.

Every run gets its own Ansible home, temp and SSH control directories under the test's
directory, so nothing is shared with other runs or users; ``stop_ssh_masters`` ends the
SSH connection masters a run left behind (ControlPersist), by their PIDs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drivers.thresholds import REPO_ROOT

ANSIBLE_DIR = REPO_ROOT / "ansible"
VENV_BIN = Path(REPO_ROOT / ".venv" / "bin")
_RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


def ansible_playbook() -> str:
    path = VENV_BIN / "ansible-playbook"
    if not path.exists():
        pytest.skip("ansible-playbook is not in .venv (make setup installs it)")
    return str(path)


@dataclass(frozen=True)
class Recap:
    ok: int
    changed: int
    unreachable: int
    failed: int


@dataclass(frozen=True)
class PlaybookRun:
    returncode: int
    output: str
    recap: dict[str, Recap]

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-lines:])

    def changed_tasks(self) -> list[str]:
        """The names of the tasks that reported a change (from the default output)."""
        tasks, current = [], ""
        for line in self.output.splitlines():
            if line.startswith("TASK ["):
                current = line.split("[", 1)[1].rsplit("]", 1)[0]
            elif line.startswith("changed:") and current not in tasks:
                tasks.append(current)
        return tasks


def parse_recap(output: str) -> dict[str, Recap]:
    recap: dict[str, Recap] = {}
    in_recap = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        match = _RECAP.match(line.strip()) if in_recap else None
        if match:
            ok, changed, unreachable, failed = (int(g) for g in match.groups()[1:])
            recap[match.group(1)] = Recap(ok, changed, unreachable, failed)
    return recap


def ansible_env(work: Path) -> dict[str, str]:
    """Ansible's settings from ansible/ansible.cfg, with per-test private directories."""
    work.mkdir(parents=True, exist_ok=True)
    control = work / "cp"
    control.mkdir(exist_ok=True)
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
        "ANSIBLE_HOME": str(work / "home"),
        "ANSIBLE_LOCAL_TEMP": str(work / "tmp"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
    }


def run_playbook(
    playbook: Path,
    inventory: Path | str,
    work: Path,
    *,
    extra_vars: Mapping[str, Any] | None = None,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> PlaybookRun:
    argv = [ansible_playbook(), "-i", str(inventory), str(playbook), *args]
    if extra_vars:
        argv += ["-e", json.dumps(dict(extra_vars))]
    result = subprocess.run(
        argv,
        cwd=work,
        env={**ansible_env(work), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = result.stdout + result.stderr
    return PlaybookRun(result.returncode, output, parse_recap(result.stdout))


def stop_ssh_masters(work: Path) -> None:
    """End the ssh ControlMaster processes whose control sockets live under ``work``."""
    marker = str(work / "cp")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if cmdline.startswith("ssh") and marker in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGTERM)


def processes_mentioning(directory: Path) -> list[int]:
    """PIDs whose command line names ``directory``: a test's own directory, so only
    processes that test started (a service its script lost track of, an SSH master)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if str(directory).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
