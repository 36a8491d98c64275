"""The exporter's mesh flags: the mesh is on when ``--mesh-peers FILE`` is given.

``swarmlet-exporter --mesh-peers /etc/swarmscope/mesh-peers.json`` answers probes on this
node's mesh port (from its entry in the file, default 9878; ``--mesh-listen`` overrides)
and probes every other node listed there.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from exporters.collectors.mesh import MeshCollector
from exporters.mesh.service import MeshError, MeshService, MeshSettings
from exporters.mesh.streams import parse_listen


def add_mesh_arguments(parser: argparse.ArgumentParser) -> None:
    mesh = parser.add_argument_group("the mesh (off unless --mesh-peers is given)")
    mesh.add_argument(
        "--mesh-peers",
        metavar="FILE",
        help="probe every node of this peers file (JSON, written by swarmscope from the "
        "inventory) and answer their probes; the file is re-read when it changes",
    )
    mesh.add_argument(
        "--mesh-listen",
        metavar="ADDR[:PORT]",
        help="where to answer probes (UDP) and message load (TCP); default 0.0.0.0 and this "
        "node's port in the peers file (9878)",
    )
    mesh.add_argument(
        "--mesh-interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="probe each peer this often, jittered by 10%% (default %(default)s)",
    )
    mesh.add_argument(
        "--mesh-timeout",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="a probe without a reply this long is lost (default %(default)s)",
    )
    mesh.add_argument(
        "--no-mesh-streams",
        action="store_true",
        help="do not start the TCP endpoint for Locust's message and bandwidth load",
    )


def mesh_from_args(args: argparse.Namespace, node: str) -> MeshService | None:
    """The started mesh service, or None without ``--mesh-peers``; MeshError says why not."""
    if not args.mesh_peers:
        return None
    if args.mesh_interval <= 0 or args.mesh_timeout <= 0:
        raise MeshError("--mesh-interval and --mesh-timeout must be positive", exit_code=2)
    host, port = "0.0.0.0", None
    if args.mesh_listen:
        try:
            host, port = parse_listen(args.mesh_listen, 0)
        except ValueError as exc:
            raise MeshError(f"--mesh-listen {args.mesh_listen!r}: {exc}", exit_code=2) from None
    settings = MeshSettings(
        peers_file=Path(args.mesh_peers),
        node_name=node,
        listen_host=host,
        port=port or None,
        interval=args.mesh_interval,
        timeout=args.mesh_timeout,
        streams=not args.no_mesh_streams,
    )
    return MeshService(settings).start()


def mesh_collector(service: MeshService) -> MeshCollector:
    assert service.prober is not None, "start the mesh service first"
    return MeshCollector(
        service.source,
        service.prober.snapshot,
        seen_within=max(3.0, 3 * service.settings.interval),
        reload_errors=lambda: service.reload_errors,
    )
