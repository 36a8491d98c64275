"""The compose stacks: valid for Debian's docker-compose, no default password, pinned
multi-arch images, mounts that match what the generated files expect, and the exporter
Dockerfile's install step run for real in a fresh virtual environment.

No Docker engine runs in the root namespace here and no image registry is reachable: the
images are neither pulled nor built. What can run, runs: `docker-compose config` parses and
interpolates both files, and the Dockerfile's `pip install` runs as written.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from drivers.monitoring.targets import COMPOSE_SERVICES
from drivers.render.provisioning import DASHBOARDS_MOUNT, PROMETHEUS_URL
from exporters.mesh.peers import Mesh, Peer
from exporters.mesh.peers import write as write_peers
from tests.support.daemons import free_port, require_binary, running

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "compose"
CONTROL = COMPOSE / "docker-compose.yml"
EXPORTERS = COMPOSE / "docker-compose.exporters.yml"
# A pinned tag: a version number, never latest or a bare major.
_PINNED = re.compile(r"^[\w./-]+:v?\d+\.\d+\.\d+$")


def _config(
    compose_file: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GF_", "LOCUST"))}
    environment |= env or {}
    return subprocess.run(
        [require_binary("docker-compose"), "-f", str(compose_file), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environment,
    )


def _resolved(compose_file: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = _config(compose_file, env)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = yaml.safe_load(result.stdout)
    return document


def test_control_stack_refuses_to_start_without_a_grafana_password() -> None:
    """No default admin password: without GF_ADMIN_PASSWORD compose stops with our message."""
    result = _config(CONTROL)
    assert result.returncode != 0
    assert "set GF_ADMIN_PASSWORD in compose/.env" in result.stderr


def test_control_stack_reads_the_password_from_compose_env(tmp_path: Path) -> None:
    """compose/.env (the file the user creates) is where compose finds the password."""
    copy = tmp_path / "compose"
    shutil.copytree(COMPOSE, copy)
    (copy / ".env").write_text("GF_ADMIN_PASSWORD=from-the-env-file\n")
    grafana = _resolved(copy / "docker-compose.yml")["services"]["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "from-the-env-file"


def test_control_stack_services_mounts_and_ports() -> None:
    """Every service; the repo's folders mounted read-only where the generated files expect
    them; the ports the file_sd targets and the Grafana datasource address."""
    services = _resolved(CONTROL, {"GF_ADMIN_PASSWORD": "x"})["services"]
    assert set(services) == {"prometheus", "alertmanager", "pushgateway", "grafana", "locust"}
    mounts = {name: service.get("volumes", []) for name, service in services.items()}
    assert f"{REPO}/prometheus:/etc/prometheus:ro" in mounts["prometheus"]
    assert f"{REPO}/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts["grafana"]
    assert f"{REPO}/grafana/dashboards:{DASHBOARDS_MOUNT}:ro" in mounts["grafana"]
    assert f"{REPO}:/srv/swarmscope:ro" in mounts["locust"]
    for name, address in {**COMPOSE_SERVICES, "prometheus": PROMETHEUS_URL}.items():
        service, port = address.removeprefix("http://").split(":")
        published = {p["target"] for p in services[service]["ports"]}
        assert int(port) in published, (name, address)
    locust = services["locust"]
    assert locust["entrypoint"][-1] == "drivers.load.run_locust"
    assert locust["command"][0] == "messages"
    assert (REPO / "drivers/load/locustfiles/messages.py").is_file()


@pytest.mark.parametrize("compose_file", [CONTROL, EXPORTERS], ids=lambda p: p.name)
def test_images_are_pinned(compose_file: Path) -> None:
    """Each image has an exact version tag (the upstream images are multi-arch)."""
    services = _resolved(compose_file, {"GF_ADMIN_PASSWORD": "x"})["services"]
    for name, service in services.items():
        assert _PINNED.match(service["image"]), (name, service["image"])


def test_exporter_stack_uses_the_host_as_node_exporter_prescribes() -> None:
    """Host network and PID namespace, the host's /proc and /sys read-only, the exporter
    built from compose/Dockerfile.exporter, listening on the inventory's default ports."""
    services = _resolved(EXPORTERS)["services"]
    assert set(services) == {"swarmlet-exporter", "node-exporter"}
    for service in services.values():
        assert service["network_mode"] == "host"
        assert service["pid"] == "host"
        assert {"/proc:/host/proc:ro", "/sys:/host/sys:ro"} <= set(service["volumes"])
    exporter = services["swarmlet-exporter"]
    assert exporter["build"]["dockerfile"] == "compose/Dockerfile.exporter"
    assert "--listen=:9877" in exporter["command"]
    assert "--path.procfs=/host/proc" in services["node-exporter"]["command"]


def _dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _context(dockerignore: Path, destination: Path) -> Path:
    """The build context Docker would send: the repo filtered by an allow-list ignore file."""
    patterns = [line for line in dockerignore.read_text().splitlines() if line and line[0] != "#"]
    assert patterns[0] == "*", "the ignore file is an allow-list"
    destination.mkdir()
    for pattern in patterns[1:]:
        if not pattern.startswith("!"):
            continue
        source = REPO / pattern[1:].rstrip("/")
        target = destination / pattern[1:].rstrip("/")
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    return destination


def test_exporter_dockerfile_installs_only_the_exporter(tmp_path: Path) -> None:
    """The Dockerfile's COPY and `pip install .` run for real (fresh venv, the filtered build
    context): the result has swarmlet-exporter and its two dependencies, no `drivers`, and
    the exporter then serves /metrics with the command line the compose file gives it."""
    steps = _dockerfile(COMPOSE / "Dockerfile.exporter")
    assert steps[0] == ("FROM", "python:3.11-slim-bookworm")
    context = _context(COMPOSE / "Dockerfile.exporter.dockerignore", tmp_path / "context")
    workdir = tmp_path / "src"
    workdir.mkdir()
    for instruction, arguments in steps:
        if instruction == "COPY":
            *sources, _ = arguments.split()
            for source in sources:
                path = context / source
                target = workdir / Path(source).name
                if path.is_dir():
                    shutil.copytree(path, target)
                else:
                    shutil.copy2(path, target)
    run = next(arguments for instruction, arguments in steps if instruction == "RUN")
    install = run.split("&&")[0].strip()
    assert install.startswith("pip install ")
    assert install.endswith(" .")
    # The one change: pip's cache stays on, so repeated test runs do not download again.
    install = install.replace(" --no-cache-dir", "")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / "bin"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "VIRTUAL_ENV": str(venv)}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        install,
        shell=True,
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0 and "Could not find a version" in result.stderr + result.stdout:
        pytest.skip("the package index is not reachable from this machine")
    assert result.returncode == 0, result.stdout + result.stderr
    installed = subprocess.run(
        [str(bin_dir / "pip"), "list", "--format=freeze"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    names = {line.split("==")[0].lower().replace("_", "-") for line in installed.splitlines()}
    assert names - {"pip", "setuptools", "wheel"} == {"swarmscope", "prometheus-client", "psutil"}
    probe = "import importlib.util as u; print(u.find_spec('drivers'))"
    packages = subprocess.run(
        [str(bin_dir / "python"), "-c", probe],
        capture_output=True, text=True, check=True, timeout=60, cwd=tmp_path,
    ).stdout.strip()  # fmt: skip
    assert packages == "None"
    _serve_like_compose(bin_dir / "swarmlet-exporter", tmp_path)


def _serve_like_compose(binary: Path, directory: Path) -> None:
    """Start the installed exporter with the compose command line (host paths swapped for
    this machine's own) and scrape it once."""
    command = _resolved(EXPORTERS)["services"]["swarmlet-exporter"]["command"]
    port = free_port()
    argv = [str(binary)]
    # One loopback peer, this exporter itself: the mesh runs, no probe leaves the machine.
    peers = directory / "mesh-peers.json"
    mesh = Mesh("loopback", (Peer("compose-test", "127.0.0.1", free_port()),))
    write_peers(mesh, peers)
    swaps = {
        "/host/proc": "/proc",
        "/host/sys": "/sys",
        "--listen=:9877": f"--listen=127.0.0.1:{port}",
        "/etc/swarmscope/mesh-peers.json": str(peers),
    }
    for argument in command:
        for old, new in swaps.items():
            argument = argument.replace(old, new)  # noqa: PLW2901 - rewritten on purpose
        argv.append(argument)
    argv += ["--node=compose-test", "--mesh-listen=127.0.0.1"]
    with (
        running(argv, "127.0.0.1", port, directory / "exporter.log"),
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer,
    ):
        text = answer.read().decode()
    assert "swarmlet_exporter_collector_success" in text
    assert 'swarmlet_mesh_peers_configured{source="compose-test"}' in text
