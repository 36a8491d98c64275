"""`swarmlet-exporter`: the per-node exporter's command line -- flags, wiring, and serving.

Bad flags or files are one line on stderr (``swarmlet-exporter: error: ...``) and exit code
2; a port that cannot be bound is exit code 1. Nothing here prints a traceback.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import NoReturn

from exporters import __version__
from exporters.collectors.agent import AgentCollector
from exporters.collectors.join import JoinCollector
from exporters.collectors.thermal import ThermalCollector
from exporters.collectors.vcgencmd import VCGENCMD_DIRS, VcgencmdCollector
from exporters.commands import SubprocessRunner, find_executable
from exporters.dockerapi import DockerClient
from exporters.exposition import Collector
from exporters.joinlog import JoinPatterns
from exporters.locate import ContainerLocator, Locator, ProcessLocator
from exporters.logsources import DockerLogSource, FileLogSource, LogSource
from exporters.mesh.flags import add_mesh_arguments, mesh_collector, mesh_from_args
from exporters.mesh.service import MeshError, MeshService
from exporters.registry import Registry
from exporters.server import MetricsServer, tls_context

log = logging.getLogger("swarmlet_exporter")

PROG = "swarmlet-exporter"
DEFAULT_LISTEN = "0.0.0.0:9877"  # drivers/inventory.py's DEFAULT_EXPORTER_PORT
COLLECTORS = ("agent", "join", "thermal", "vcgencmd")


class UsageError(Exception):
    """Bad flags or input files: one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description=(
            "Prometheus exporter for a swarmlet node: the agent's memory, CPU, network and "
            "restarts, its join phases from its log, temperatures and CPU clocks, and on a "
            "Raspberry Pi the firmware's throttling flags, ARM clock, core voltage and power."
        ),
        epilog="Example: swarmlet-exporter --listen :9877 --no-collector.vcgencmd. "
        "See the README section 'The exporter (swarmlet-exporter)'.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="ADDR:PORT",
        help="where to serve /metrics: 0.0.0.0:9877, :9877, 127.0.0.1:9877, [::]:9877 "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--node", metavar="NAME", help="this node's name in swarmscope (default: the hostname)"
    )
    parser.add_argument("--sysfs", default="/sys", metavar="DIR", help="sysfs root (default /sys)")
    parser.add_argument("--procfs", default="/proc", metavar="DIR", help="procfs root (/proc)")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )

    chosen = parser.add_argument_group("collectors")
    chosen.add_argument(
        "--collectors",
        metavar="LIST",
        help=f"comma-separated collectors to run (default: all of {','.join(COLLECTORS)})",
    )
    for name in COLLECTORS:
        chosen.add_argument(
            f"--no-collector.{name}",
            dest=f"no_collector_{name}",
            action="store_true",
            help=f"do not run the {name} collector",
        )

    agent = parser.add_argument_group("the swarmlet agent (default: container 'swarmlet')")
    which = agent.add_mutually_exclusive_group()
    which.add_argument(
        "--agent-container",
        metavar="NAME",
        help="the agent is this Docker container (default swarmlet)",
    )
    which.add_argument(
        "--agent-process", metavar="NAME", help="the agent is a plain process with this name"
    )
    which.add_argument(
        "--agent-pidfile", metavar="FILE", help="the agent is the process whose PID is in FILE"
    )
    agent.add_argument(
        "--agent-log",
        metavar="FILE",
        help="read join phases from this log file (default: the agent container's logs)",
    )
    agent.add_argument(
        "--join-patterns",
        metavar="FILE",
        help='JSON object overriding the join line patterns, e.g. {"joined": "Joined .*"}; '
        "keys: start, hardware_profile, network_latency, joined",
    )
    agent.add_argument(
        "--docker-host",
        default="unix:///var/run/docker.sock",
        metavar="URL",
        help="Docker engine API: unix:///path or tcp://HOST:PORT (default %(default)s)",
    )
    agent.add_argument(
        "--vcgencmd",
        metavar="PATH",
        help="vcgencmd to run (default: found on PATH, /usr/bin or /opt/vc/bin)",
    )

    security = parser.add_argument_group("TLS and authentication (off by default)")
    security.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate")
    security.add_argument("--tls-key", metavar="FILE", help="the certificate's private key")
    security.add_argument(
        "--basic-auth-file",
        metavar="FILE",
        help="require HTTP basic auth; FILE holds USER:HASH lines (see --hash-password)",
    )
    security.add_argument(
        "--hash-password",
        action="store_true",
        help="read a password from stdin, print its hash for --basic-auth-file, and exit",
    )
    add_mesh_arguments(parser)
    return parser


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` -> (host, port); an empty ADDR means every IPv4 interface."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--listen {text!r}: expected ADDR:PORT, e.g. 0.0.0.0:9877 or [::]:9877")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise UsageError(f"--listen {text!r}: write IPv6 addresses in brackets, e.g. [::1]:9877")
    return host or "0.0.0.0", int(port)


def selected_collectors(args: argparse.Namespace) -> list[str]:
    names = (
        COLLECTORS
        if args.collectors is None
        else tuple(name.strip() for name in args.collectors.split(",") if name.strip())
    )
    unknown = sorted(set(names) - set(COLLECTORS))
    if unknown:
        expected = ", ".join(COLLECTORS)
        raise UsageError(
            f"--collectors: unknown {', '.join(unknown)} (expected some of: {expected})"
        )
    return [n for n in COLLECTORS if n in names and not getattr(args, f"no_collector_{n}")]


def build_collectors(args: argparse.Namespace) -> list[Collector]:
    """The collectors ``args`` ask for, each wired to its real outside world."""
    names = selected_collectors(args)
    sys_root, proc_root = Path(args.sysfs), Path(args.procfs)
    for flag, root in (("--sysfs", sys_root), ("--procfs", proc_root)):
        if not root.is_dir():
            raise UsageError(f"{flag} {root}: not a directory")
    locator = _agent_locator(args, proc_root)
    collectors: list[Collector] = []
    if "agent" in names:
        collectors.append(AgentCollector(locator, sys_root=sys_root, proc_root=proc_root))
    if "join" in names:
        join = _join_collector(args, locator)
        if join is not None:
            collectors.append(join)
    if "thermal" in names:
        collectors.append(ThermalCollector(sys_root))
    if "vcgencmd" in names:
        collectors.append(VcgencmdCollector(_vcgencmd_path(args), SubprocessRunner()))
    return collectors


def _agent_locator(args: argparse.Namespace, proc_root: Path) -> Locator:
    if args.agent_process or args.agent_pidfile:
        pidfile = Path(args.agent_pidfile) if args.agent_pidfile else None
        return ProcessLocator(proc_root, name=args.agent_process, pidfile=pidfile)
    try:
        client = DockerClient(args.docker_host)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return ContainerLocator(client, args.agent_container or "swarmlet", proc_root)


def _join_collector(args: argparse.Namespace, locator: Locator) -> JoinCollector | None:
    try:
        patterns = (
            JoinPatterns.load(Path(args.join_patterns))
            if args.join_patterns
            else JoinPatterns.default()
        )
    except ValueError as exc:
        raise UsageError(f"--join-patterns {exc}") from None
    source: LogSource
    if args.agent_log:
        if not Path(args.agent_log).exists():
            log.warning("agent log %s does not exist (yet)", args.agent_log)
        source = FileLogSource(Path(args.agent_log))
    elif isinstance(locator, ContainerLocator):
        source = DockerLogSource(locator.client, locator.container_run)
    elif args.collectors is not None:
        raise UsageError("the join collector needs --agent-log FILE for a process agent")
    else:
        log.info("join collector off: the agent is a process; give --agent-log FILE")
        return None
    return JoinCollector(source, patterns)


def _vcgencmd_path(args: argparse.Namespace) -> Path | None:
    if not args.vcgencmd:
        return find_executable("vcgencmd", VCGENCMD_DIRS)
    path = Path(args.vcgencmd)
    if not path.is_file():
        raise UsageError(f"--vcgencmd {path}: no such file")
    return path


def _hash_password() -> int:
    from exporters.auth import hash_password  # noqa: PLC0415

    if sys.stdin.isatty():
        import getpass  # noqa: PLC0415

        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print(f"{PROG}: error: the passwords differ", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print(f"{PROG}: error: empty password", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


class _Stop(Exception):
    """SIGTERM arrived: leave serve_forever and close the listener."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.hash_password:
        return _hash_password()
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    node = args.node or socket.gethostname()
    mesh: MeshService | None = None
    try:
        mesh = mesh_from_args(args, node)  # None without --mesh-peers
        server = build_server(args, node, mesh)
    except MeshError as exc:
        print(f"{PROG}: error: mesh: {exc}", file=sys.stderr)
        return exc.exit_code
    except UsageError as exc:
        _stop_mesh(mesh)
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        _stop_mesh(mesh)
        print(f"{PROG}: error: cannot listen on {args.listen}: {exc.strerror}", file=sys.stderr)
        return 1
    host = str(server.server_address[0])
    log.info(
        "%s %s listening on %s://%s:%d/metrics (node %s; collectors: %s)",
        PROG,
        __version__,
        "https" if server.tls else "http",
        f"[{host}]" if ":" in host else host,
        server.port,
        node,
        ", ".join(server.registry.collector_names) or "none",
    )
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except (_Stop, KeyboardInterrupt):
        log.info("stopping")
    finally:
        server.server_close()
        _stop_mesh(mesh)
    return 0


def _stop_mesh(mesh: MeshService | None) -> None:
    if mesh is not None:
        mesh.stop()


def build_server(
    args: argparse.Namespace, node: str, mesh: MeshService | None = None
) -> MetricsServer:
    """Check every flag and file, build the collectors, and bind the listener."""
    address = parse_listen(args.listen)
    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    tls = None
    if args.tls_cert:
        try:
            tls = tls_context(Path(args.tls_cert), Path(args.tls_key))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    auth = None
    if args.basic_auth_file:
        from exporters.auth import BasicAuth  # noqa: PLC0415 -- hashlib only when auth is on

        try:
            auth = BasicAuth.load(Path(args.basic_auth_file))
        except ValueError as exc:
            raise UsageError(f"--basic-auth-file {exc}") from None
    collectors = build_collectors(args)
    if mesh is not None:
        collectors.append(mesh_collector(mesh))
    registry = Registry(collectors, info={"node": node, "version": __version__})
    return MetricsServer(address, registry, tls=tls, auth=auth)


if __name__ == "__main__":
    sys.exit(main())
