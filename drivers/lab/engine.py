"""One dockerd per lab node, the swarm they form, node labels and the lab's base image.

Facts that shape this module (DESIGN.md, "The lab"): each dockerd gets its own config file
(or all would read /etc/docker/daemon.json), data/exec roots, pidfile, socket and trust key
under the node's state directory; ``--bridge none`` and no default route, so nothing leaves
the lab; ``DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1`` so swarm tasks use the local image instead
of waiting for a registry. The generic resource ``gpu=GPU-0`` on gpu-primary makes
``--generic-resource gpu=1`` land only there.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path
from typing import Any

import docker
import docker.errors

from drivers.lab import cgroups
from drivers.lab.processes import spawn
from drivers.lab.spec import LAB_IMAGE, LabSpec, NodeSpec
from drivers.lab.state import LabState
from drivers.lab.system import LabError, run, tail, which

SWARM_PORT = 2377
SHUTDOWN_TIMEOUT_SECONDS = 2  # containers get this long to stop when a node's engine stops


def socket_path(spec: LabSpec, node: str) -> Path:
    return spec.node_dir(node) / "docker.sock"


def docker_host(spec: LabSpec, node: str) -> str:
    return f"unix://{socket_path(spec, node)}"


def client(spec: LabSpec, node: str, timeout: float = 30.0) -> docker.DockerClient:
    return docker.DockerClient(base_url=docker_host(spec, node), timeout=int(timeout))


def daemon_config(spec: LabSpec, node: NodeSpec) -> dict[str, Any]:
    directory = spec.node_dir(node.name)
    config: dict[str, Any] = {
        # Without this, every engine creates and shares /etc/docker/key.json on the host.
        "deprecated-key-path": str(directory / "key.json"),
        "shutdown-timeout": SHUTDOWN_TIMEOUT_SECONDS,
        "exec-opts": ["native.cgroupdriver=cgroupfs"],
        "log-driver": "json-file",
        "log-opts": {"max-size": "1m", "max-file": "2"},
        "labels": [f"swarmscope.lab={spec.name}", f"type={node.type}", f"hardware={node.hardware}"],
    }
    if node.gpus:
        config["node-generic-resources"] = [f"gpu=GPU-{i}" for i in range(node.gpus)]
    return config


def start(state: LabState, node: NodeSpec) -> None:
    spec = state.spec
    directory = spec.node_dir(node.name)
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "daemon.json"
    config.write_text(json.dumps(daemon_config(spec, node), indent=2) + "\n", encoding="utf-8")
    argv = [
        which("dockerd") or "dockerd",
        "--config-file",
        str(config),
        "--data-root",
        str(directory / "data"),
        "--exec-root",
        str(directory / "exec"),
        "--pidfile",
        str(directory / "docker.pid"),
        "-H",
        docker_host(spec, node.name),
        "--bridge",
        "none",
        "--cgroup-parent",
        cgroups.containers_path(spec.cgroup, node.name),
    ]
    spawn(
        state,
        f"dockerd@{node.name}",
        argv,
        log=directory / "dockerd.log",
        netns=spec.node_netns(node.name),
        uts=directory / "uts",
        cgroup_procs=cgroups.procs_files(cgroups.daemons_path(spec.cgroup, node.name)),
        env={"DOCKER_SERVICE_PREFER_OFFLINE_IMAGE": "1"},
        node=node.name,
    )


def wait_ready(state: LabState, node: NodeSpec, timeout: float = 60.0) -> docker.DockerClient:
    """The node's engine answering on its socket, or a LabError with its log's last lines."""
    spec = state.spec
    record = state.processes[f"dockerd@{node.name}"]
    deadline = time.monotonic() + timeout
    while True:
        if socket_path(spec, node.name).exists():
            # The socket appears before dockerd listens on it; creating the client already
            # talks to the engine (API version negotiation), so it belongs inside the try.
            try:
                engine = client(spec, node.name)
            except (docker.errors.DockerException, OSError):
                engine = None
            if engine is not None:
                try:
                    engine.ping()
                    return engine
                except (docker.errors.DockerException, OSError):
                    engine.close()
        if not record.is_same_process():
            log = spec.node_dir(node.name) / "dockerd.log"
            raise LabError(f"node {node.name}: dockerd exited: {tail(log)}")
        if time.monotonic() > deadline:
            raise LabError(f"node {node.name}: dockerd did not answer within {timeout:.0f}s")
        time.sleep(0.05)


def base_image_tar(directory: Path) -> Path:
    """A root filesystem with Debian's static busybox and its applets, as a tarball."""
    tarball = directory / "busybox-rootfs.tar"
    if tarball.exists():
        return tarball
    busybox = which("busybox")
    if busybox is None:
        raise LabError("busybox is missing: install Debian package busybox-static")
    applets = run([busybox, "--list"]).stdout.split()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name in ("bin", "tmp", "etc"):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if name == "tmp" else 0o755
            archive.addfile(info)
        archive.add(busybox, arcname="bin/busybox")
        for applet in applets:
            if applet == "busybox":
                continue
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            archive.addfile(link)
    tmp = tarball.with_suffix(".tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(tarball)
    return tarball


def import_base_image(engine: docker.DockerClient, tarball: Path, node: str) -> None:
    repository, tag = LAB_IMAGE.rsplit(":", 1)
    try:
        engine.api.import_image_from_data(
            tarball.read_bytes(), repository=repository, tag=tag, changes=["ENV PATH=/bin"]
        )
    except docker.errors.DockerException as exc:
        raise LabError(f"node {node}: importing {LAB_IMAGE} failed: {exc}") from None


def init_swarm(engine: docker.DockerClient, node: NodeSpec) -> str:
    """Make the node the swarm's manager; return the worker join token."""
    try:
        engine.swarm.init(advertise_addr=node.address, listen_addr=f"{node.address}:{SWARM_PORT}")
        engine.swarm.reload()
        return str(engine.swarm.attrs["JoinTokens"]["Worker"])
    except docker.errors.DockerException as exc:
        raise LabError(f"node {node.name}: swarm init failed: {exc}") from None


def join_swarm(engine: docker.DockerClient, node: NodeSpec, manager: NodeSpec, token: str) -> None:
    try:
        engine.swarm.join(
            remote_addrs=[f"{manager.address}:{SWARM_PORT}"],
            join_token=token,
            advertise_addr=node.address,
            listen_addr=f"{node.address}:{SWARM_PORT}",
        )
    except docker.errors.DockerException as exc:
        raise LabError(f"node {node.name}: swarm join failed: {exc}") from None


def swarm_nodes(manager: docker.DockerClient) -> dict[str, dict[str, Any]]:
    """hostname -> the manager's view of the node (status, availability, labels, resources)."""
    nodes: dict[str, dict[str, Any]] = {}
    for entry in manager.api.nodes():
        hostname = entry.get("Description", {}).get("Hostname", "")
        nodes[hostname] = entry
    return nodes


def label_nodes(manager: docker.DockerClient, spec: LabSpec) -> None:
    """``type`` and ``hardware`` labels on every swarm node, for placement constraints."""
    for hostname, entry in swarm_nodes(manager).items():
        node = spec.node(hostname)
        node_spec = dict(entry["Spec"])
        node_spec["Labels"] = {
            **node_spec.get("Labels", {}),
            "type": node.type,
            "hardware": node.hardware,
        }
        manager.api.update_node(entry["ID"], entry["Version"]["Index"], node_spec)


def wait_all_ready(
    manager: docker.DockerClient, spec: LabSpec, timeout: float = 60.0
) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        nodes = swarm_nodes(manager)
        ready = {h for h, e in nodes.items() if e.get("Status", {}).get("State") == "ready"}
        missing = [n.name for n in spec.nodes if n.name not in ready]
        if not missing:
            return nodes
        if time.monotonic() > deadline:
            raise LabError(f"swarm nodes not Ready after {timeout:.0f}s: {', '.join(missing)}")
        time.sleep(0.1)
