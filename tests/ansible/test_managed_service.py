"""Services without systemd: started once, kept, restarted on change, never confused by PID.

The managed_service role (used by node_exporter, swarmlet_exporter and locust_worker) runs
for real through ansible-playbook over a local connection, starting a real HTTP server.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ansible.runner import PlaybookRun, processes_mentioning, run_playbook
from tests.support.daemons import free_port

PLAYBOOKS = Path(__file__).parent / "playbooks"
PYTHON = "/usr/bin/python3"  # the interpreter Ansible uses on a node (ansible.cfg)
NAME = "pytest-web"


class Service:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.run_dir = root / "run"
        self.script = self.run_dir / f"{NAME}.sh"
        self.pidfile = self.run_dir / f"{NAME}.pid"

    def apply(self, argv: list[str], **extra: object) -> PlaybookRun:
        variables = {
            "managed_service_name": NAME,
            "managed_service_manager": "none",
            "managed_service_argv": argv,
            "managed_service_run_dir": str(self.run_dir),
            "managed_service_user": "root" if os.geteuid() == 0 else _user(),
            **extra,
        }
        return run_playbook(
            PLAYBOOKS / "managed_service.yml",
            "localhost,",
            self.root / "ansible",
            extra_vars=variables,
            args=["-c", "local"],
        )

    def pid(self) -> int:
        return int(self.pidfile.read_text())

    def control(self, action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.script), action], capture_output=True, text=True, check=False, timeout=30
        )


def _user() -> str:

    return pwd.getpwuid(os.geteuid()).pw_name


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _web(port: int, directory: Path) -> list[str]:
    return [PYTHON, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(directory)]


def _answers(port: int) -> bool:
    for _ in range(50):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            time.sleep(0.1)
    return False


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    if shutil.which("setsid") is None:
        pytest.skip("setsid (util-linux) is needed")
    managed = Service(tmp_path)
    try:
        yield managed
    finally:
        pid = int(managed.pidfile.read_text()) if managed.pidfile.exists() else 0
        if managed.script.exists():
            managed.control("stop")
        if pid and _alive(pid):  # the script failed to stop it: do not leave it running
            os.killpg(pid, signal.SIGKILL)
        for stray in processes_mentioning(tmp_path):  # even one the script lost track of
            os.kill(stray, signal.SIGKILL)


def test_started_once_kept_and_restarted_when_its_command_changes(
    service: Service, tmp_path: Path
) -> None:
    """Run 1 starts it; run 2 changes nothing (same PID); a new command line restarts it."""
    port = free_port()
    first = service.apply(_web(port, tmp_path), managed_service_environment={"PYTEST_MARK": "a b"})
    assert first.returncode == 0, first.tail()
    assert first.recap["localhost"].changed == 3  # run dir, script, start
    pid = service.pid()
    assert _answers(port)
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1] == [
        w.encode() for w in _web(port, tmp_path)
    ]
    assert b"PYTEST_MARK=a b\0" in Path(f"/proc/{pid}/environ").read_bytes()
    assert os.getsid(pid) == pid  # its own session: stop reaches its children too

    second = service.apply(_web(port, tmp_path), managed_service_environment={"PYTEST_MARK": "a b"})
    assert second.recap["localhost"].changed == 0, second.changed_tasks()
    assert service.pid() == pid
    assert service.control("status").stdout == f"running {pid}\n"

    new_port = free_port()
    third = service.apply(_web(new_port, tmp_path))
    assert third.returncode == 0, third.tail()
    assert service.pid() != pid
    assert not _alive(pid)
    assert _answers(new_port)

    restarted = service.pid()
    assert service.control("stop").stdout == f"stopped {restarted}\n"
    assert not _alive(restarted)
    assert service.control("status").returncode == 3


def test_a_reused_pid_is_never_taken_for_the_service(service: Service, tmp_path: Path) -> None:
    """A pid file naming some other process: status says stopped, stop leaves that process
    alone, and a run starts the real service."""
    port = free_port()
    assert service.apply(_web(port, tmp_path)).returncode == 0
    service.control("stop")
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        service.pidfile.write_text(f"{stranger.pid}\n")
        status = service.control("status")
        assert (status.returncode, status.stdout) == (3, "stopped\n")
        service.pidfile.write_text(f"{stranger.pid}\n")
        assert service.control("stop").returncode == 0
        assert stranger.poll() is None

        service.pidfile.write_text(f"{stranger.pid}\n")
        run = service.apply(_web(port, tmp_path))
        assert run.returncode == 0, run.tail()
        assert run.recap["localhost"].changed == 1
        assert service.pid() != stranger.pid
        assert _answers(port)
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_a_program_that_exits_at_once_fails_the_run_with_its_log(service: Service) -> None:
    """A service that dies on start fails the run, shows its last log lines, keeps no pid file."""
    argv = [PYTHON, "-c", "print('no config in /etc/x', flush=True); raise SystemExit(3)"]
    run = service.apply(argv)
    assert run.returncode != 0
    assert run.recap["localhost"].failed == 1
    assert "pytest-web did not start" in run.output or "exited after starting" in run.output
    assert "no config in /etc/x" in run.output
    assert not service.pidfile.exists()


@pytest.mark.root
def test_runs_as_the_configured_user(service: Service, tmp_path: Path) -> None:
    """Started by root for another user, the program runs with that user's uid and gid."""
    if os.geteuid() != 0:
        pytest.skip("switching users needs root")
    public = Path(tempfile.mkdtemp(prefix="pytest-nobody-"))  # tmp_path's parents are 0700
    public.chmod(0o755)
    port = free_port()
    try:
        run = service.apply(_web(port, public), managed_service_user="nobody")
        assert run.returncode == 0, run.tail()
        status = Path(f"/proc/{service.pid()}/status").read_text().splitlines()
        uid_line = next(line for line in status if line.startswith("Uid:"))
        assert uid_line.split()[1:] == ["65534"] * 4
        assert _answers(port)
    finally:
        shutil.rmtree(public)


def test_systemd_unit_quotes_every_word_for_systemd(tmp_path: Path) -> None:
    """Spaces, quotes, % and $ reach the program as written: systemd-analyze accepts the unit."""
    analyze = shutil.which("systemd-analyze")
    unit = tmp_path / "pytest-quoting.service"
    argv = [sys.executable, "-c", 'print("50% of $HOME")', "two words", "back\\slash"]
    run = run_playbook(
        PLAYBOOKS / "systemd_unit.yml",
        "localhost,",
        tmp_path / "ansible",
        extra_vars={
            "unit_path": str(unit),
            "managed_service_name": "pytest-quoting",
            "managed_service_description": "quoting test",
            "managed_service_user": "nobody",
            "managed_service_argv": argv,
            "managed_service_environment": {"GREETING": "hello $USER 100%"},
            "managed_service_systemd_restart": "always",
        },
        args=["-c", "local"],
    )
    assert run.returncode == 0, run.tail()
    lines = unit.read_text().splitlines()
    exec_start = (
        f'ExecStart="{sys.executable}" "-c" '
        '"print(\\"50%% of $$HOME\\")" "two words" "back\\\\slash"'
    )
    assert exec_start in lines
    assert 'Environment="GREETING=hello $USER 100%%"' in lines
    assert "User=nobody" in lines
    assert "Restart=always" in lines
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    verify = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, check=False
    )
    assert verify.returncode == 0, verify.stderr
