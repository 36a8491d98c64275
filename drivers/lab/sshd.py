"""One OpenSSH server per lab node: the lab's own keys, host keys recorded, root by key only.

sshd listens on the node's address inside its namespace and UTS namespace, so a command
over SSH runs "on the node": its interfaces, its iptables, its hostname. The client key and
``known_hosts`` live in ``STATE/ssh/``; the inventory points at both, and drivers.remote
verifies every host key against that file (RejectPolicy), as it does for real Pis.
"""

from __future__ import annotations

from pathlib import Path

from drivers.lab import cgroups
from drivers.lab.processes import spawn
from drivers.lab.spec import LabSpec, NodeSpec
from drivers.lab.state import LabState
from drivers.lab.system import run, which

PRIVSEP_DIR = Path("/run/sshd")  # sshd refuses to start without it (Debian creates it at boot)


def ssh_dir(spec: LabSpec) -> Path:
    return spec.state_dir / "ssh"


def client_key(spec: LabSpec) -> Path:
    return ssh_dir(spec) / "id_ed25519"


def known_hosts(spec: LabSpec) -> Path:
    return ssh_dir(spec) / "known_hosts"


def _keygen(path: Path, comment: str) -> None:
    if not path.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def prepare_keys(spec: LabSpec) -> None:
    """The lab's client key, each node's host key, authorized_keys and known_hosts."""
    directory = ssh_dir(spec)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    _keygen(client_key(spec), f"swarmscope-lab-{spec.name}")
    authorized = directory / "authorized_keys"
    authorized.write_text(client_key(spec).with_suffix(".pub").read_text(encoding="utf-8"))
    authorized.chmod(0o600)
    lines = []
    for node in spec.nodes:
        host_key = spec.node_dir(node.name) / "ssh_host_ed25519_key"
        host_key.parent.mkdir(parents=True, exist_ok=True)
        _keygen(host_key, f"{node.name}.{spec.name}")
        key_type, key = host_key.with_suffix(".pub").read_text(encoding="utf-8").split()[:2]
        lines.append(f"{node.address},{node.name} {key_type} {key}\n")
    known_hosts(spec).write_text("".join(lines), encoding="utf-8")


def _config(spec: LabSpec, node: NodeSpec) -> Path:
    directory = spec.node_dir(node.name)
    config = directory / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"ListenAddress {node.address}",
                "Port 22",
                f"HostKey {directory / 'ssh_host_ed25519_key'}",
                f"AuthorizedKeysFile {ssh_dir(spec) / 'authorized_keys'}",
                f"PidFile {directory / 'sshd.pid'}",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "UseDNS no",
                "PrintMotd no",
                "AcceptEnv LANG LC_*",
                "Subsystem sftp internal-sftp",
                "LogLevel ERROR",
                "",
            ]
        ),
        encoding="utf-8",
    )
    return config


def start(state: LabState, node: NodeSpec) -> None:
    spec = state.spec
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    directory = spec.node_dir(node.name)
    spawn(
        state,
        f"sshd@{node.name}",
        [which("sshd") or "/usr/sbin/sshd", "-D", "-e", "-f", str(_config(spec, node))],
        log=directory / "sshd.log",
        netns=spec.node_netns(node.name),
        uts=directory / "uts",
        cgroup_procs=cgroups.procs_files(cgroups.daemons_path(spec.cgroup, node.name)),
        node=node.name,
    )
