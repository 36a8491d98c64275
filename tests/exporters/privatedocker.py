"""A private dockerd in a network namespace of its own, for tests that need a real engine.

Follows the lab recipe in DESIGN.md: ``nsenter --net`` (not ``ip netns exec``, which hides the
cgroup mounts), its own daemon.json, data root, exec root, pid file and socket, no default
bridge, containers under a cgroup parent of its own. A tiny image is imported from Debian's
busybox-static (no registry is reachable). Everything is torn down by PID and by the unique
name -- container, dockerd, its containerd, mounts, cgroups, namespace, files -- even when
the test that used it failed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.daemons import stop

IMAGE = "swx-busybox:1"
BUSYBOX_APPLETS = ("sh", "sleep", "head", "cat", "echo", "ping", "true", "seq")


@dataclass
class PrivateDocker:
    name: str
    state: Path
    process: subprocess.Popen[bytes]

    @property
    def socket(self) -> Path:
        return self.state / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def cli(self, *args: str, timeout: float = 60, check: bool = True) -> str:
        """Run the docker CLI against this engine; its stdout."""
        result = subprocess.run(
            ["docker", "-H", self.host, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout.strip()

    def inspect(self, container: str) -> dict[str, object]:
        answer: list[dict[str, object]] = json.loads(self.cli("inspect", container))
        return answer[0]


def skip_unless_possible() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: a network namespace and a dockerd of its own")
    for tool in ("dockerd", "containerd", "docker", "nsenter", "ip"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (make setup installs docker.io)")
    if not Path("/bin/busybox").exists():
        pytest.skip("busybox-static is not installed (make setup installs it)")


@contextlib.contextmanager
def private_dockerd() -> Iterator[PrivateDocker]:
    skip_unless_possible()
    name = f"swx-{os.getpid()}"
    # Short: containerd's sockets under the exec root must fit in 108 bytes.
    state = Path("/tmp") / name
    process: subprocess.Popen[bytes] | None = None
    try:
        state.mkdir(mode=0o700)
        (state / "daemon.json").write_text(
            json.dumps({"iptables": False, "ip-forward": False, "ip-masq": False})
        )
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
        with open(state / "dockerd.log", "wb") as log:
            process = subprocess.Popen(
                [
                    "nsenter", f"--net=/var/run/netns/{name}", "dockerd",
                    "--config-file", str(state / "daemon.json"),
                    "--data-root", str(state / "data"),
                    "--exec-root", str(state / "exec"),
                    "--pidfile", str(state / "docker.pid"),
                    "-H", f"unix://{state / 'docker.sock'}",
                    "--bridge", "none",
                    "--cgroup-parent", f"/{name}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        docker = PrivateDocker(name, state, process)
        _wait_until_up(docker)
        _import_busybox(docker)
        yield docker
    finally:
        _tear_down(name, state, process)


def _wait_until_up(docker: PrivateDocker) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if docker.process.poll() is not None:
            tail = (docker.state / "dockerd.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"dockerd exited with {docker.process.returncode}: {tail}")
        if docker.socket.exists():
            probe = subprocess.run(
                ["docker", "-H", docker.host, "version", "--format", "{{.Server.Version}}"],
                capture_output=True, timeout=5, check=False,
            )  # fmt: skip
            if probe.returncode == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("dockerd did not answer within 30 s")


def _import_busybox(docker: PrivateDocker) -> None:
    """An image holding /bin/busybox and the applets the tests use, from Debian's package."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        tar.add("/bin/busybox", arcname="bin/busybox")
        for applet in BUSYBOX_APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        for directory in ("tmp", "proc", "sys", "dev", "etc"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
    subprocess.run(
        ["docker", "-H", docker.host, "import", "-c", "ENV PATH=/bin", "-", IMAGE],
        input=archive.getvalue(),
        capture_output=True,
        check=True,
        timeout=60,
    )


def _tear_down(name: str, state: Path, process: subprocess.Popen[bytes] | None) -> None:
    """Undo everything private_dockerd made, each step on its own so one failure stops none."""
    socket = state / "docker.sock"
    if process is not None and process.poll() is None and socket.exists():
        with contextlib.suppress(Exception):
            ids = subprocess.run(
                ["docker", "-H", f"unix://{socket}", "ps", "-aq"],
                capture_output=True, text=True, timeout=30, check=False,
            ).stdout.split()  # fmt: skip
            if ids:
                subprocess.run(
                    ["docker", "-H", f"unix://{socket}", "rm", "-f", *ids],
                    capture_output=True, timeout=60, check=False,
                )  # fmt: skip
    if process is not None:
        stop(process, timeout=20)
    # Its containerd and shims: found by our unique state path in their command lines.
    for pid in _processes_mentioning(str(state)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for mountpoint in sorted(_mounts_under(str(state)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mountpoint], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        top = hierarchy / name
        if top.is_dir():
            for directory in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if directory.is_dir():
                    with contextlib.suppress(OSError):
                        directory.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()
    shutil.rmtree(state, ignore_errors=True)


def _processes_mentioning(text: str) -> list[int]:
    found = []
    needle = text.encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if needle in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def _mounts_under(prefix: str) -> list[str]:
    mounts = []
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        for line in mountinfo:
            mountpoint = line.split()[4]
            if mountpoint.startswith(prefix):
                mounts.append(mountpoint)
    return mounts
