"""`swarmscope load ui|run LOCUSTFILE`: Locust's distributed mode on the cluster.

The master runs here (the control node) and one worker per node is started over SSH; in
the lab, SSH lands in each node's namespace. ``ui`` serves Locust's web UI (and ``/metrics``
for Prometheus) until Ctrl-C; ``run`` is headless for ``--run-time``. Either way every
worker is stopped by its PID at the end, and the exit code comes from thresholds.yaml.

Where the workers go: ``messages`` on every node, ``bandwidth`` on the GPU node(s),
``scheduling`` on this machine (it needs the orchestrator's API); ``--nodes`` overrides.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

from drivers.errors import ConfigError, SwarmscopeError
from drivers.inventory import Inventory, Node, load_inventory, resolve_inventory_path
from drivers.load.options import add_cli_arguments, forwarded_arguments
from drivers.monitoring.targets import TARGET_FILES, target_groups, write_target_file
from drivers.units import parse_duration

LOCUSTFILES = ("messages", "bandwidth", "scheduling")
DEFAULT_SCHEDULING_USERS = 5


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "load",
        help="drive message, bandwidth or scheduling load with Locust (web UI or headless)",
        description="Run Locust in distributed mode: the master here, one worker per node.",
    )
    modes = parser.add_subparsers(dest="mode", metavar="MODE", required=True)
    ui = modes.add_parser(
        "ui",
        help="Locust's web UI: start, watch and stop the load interactively",
        description="Serve Locust's web UI (with /metrics for Prometheus) until Ctrl-C.",
    )
    _common(ui)
    ui.add_argument(
        "--web-host",
        default=None,
        help="web UI address (default 127.0.0.1; on the lab, the lab's host address, where the "
        "lab's Prometheus scrapes /metrics while the UI runs)",
    )
    ui.add_argument("--web-port", type=int, default=8089, help="web UI port (default %(default)s)")
    ui.add_argument(
        "--max-duration",
        default="4h",
        help="stop everything after this long even if nobody presses Ctrl-C (default 4h)",
    )
    ui.set_defaults(func=run_ui)
    headless = modes.add_parser(
        "run",
        help="headless run for a fixed time; prints the stats",
        description="Run Locust headless for --run-time and print its statistics.",
    )
    _common(headless)
    headless.add_argument("--run-time", default="60s", help="how long (default %(default)s)")
    headless.set_defaults(func=run_headless)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("locustfile", choices=LOCUSTFILES, help="which load")
    parser.add_argument("--inventory", type=Path, default=None, help="cluster inventory")
    parser.add_argument(
        "--nodes", default=None, help="comma-separated nodes for the workers (see above)"
    )
    parser.add_argument(
        "--user-class",
        action="append",
        default=[],
        metavar="CLASS",
        help="run only this user class, e.g. MessageStreamUser (repeatable; default: all, "
        "or pick them in the web UI)",
    )
    parser.add_argument("--users", type=int, default=None, help="users (default: one per node)")
    parser.add_argument("--spawn-rate", type=float, default=None, help="users started per second")
    parser.add_argument(
        "--stages",
        default=None,
        help="load shape DURATION:USERS:SPAWN_RATE,... e.g. 30s:5:1,60s:20:2",
    )
    parser.add_argument("--master-port", type=int, default=0, help="(default: a free port)")
    parser.add_argument(
        "--node-python",
        default=None,
        help="Python with swarmscope on the nodes (default: this one in the lab, else python3)",
    )
    parser.add_argument(
        "--logs", type=Path, default=None, help="where Locust's logs and summary go"
    )
    add_cli_arguments(parser)


def _plan(args: argparse.Namespace, headless: bool) -> tuple[Any, Path, Inventory]:
    from drivers.load import launcher  # noqa: PLC0415
    from drivers.load.shapes import parse_stages  # noqa: PLC0415
    from drivers.monitoring.peers import mesh_of  # noqa: PLC0415

    inventory = load_inventory(resolve_inventory_path(args.inventory))
    workers, local = _placement(args, inventory)
    if args.stages:
        try:
            parse_stages(args.stages)
        except ValueError as exc:
            raise ConfigError(f"--stages: {exc}") from None
    extra = forwarded_arguments(args)
    if args.stages:
        extra += ["--stages", args.stages]
    run_time = None
    if headless:
        try:
            run_time = parse_duration(args.run_time)
        except ValueError as exc:
            raise ConfigError(f"--run-time: {exc}") from None
    users = args.users or (DEFAULT_SCHEDULING_USERS if local else len(workers))
    host = launcher.address_towards(workers[0].address) if workers else "127.0.0.1"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    logs = args.logs or Path("results") / f"load-{args.locustfile}-{stamp}"
    plan = launcher.LocustPlan(
        locustfile=args.locustfile + (",stages" if args.stages else ""),
        worker_nodes=workers,
        local_workers=local,
        user_classes=tuple(args.user_class),
        users=None if args.stages else users,
        spawn_rate=None if args.stages else (args.spawn_rate or users),
        run_time=run_time,
        headless=headless,
        master_host=host,
        master_port=args.master_port or launcher.free_port(host),
        web_host=getattr(args, "web_host", None) or (host if inventory.is_lab else "127.0.0.1"),
        web_port=getattr(args, "web_port", launcher.DEFAULT_WEB_PORT),
        mesh=mesh_of(inventory),
        extra_args=tuple(extra),
        node_python=args.node_python or launcher.default_node_python(inventory),
        inventory_path=inventory.path,
        summary_file=logs / "summary.json",
        max_seconds=None if headless else _max_duration(args),
    )
    return plan, logs, inventory


def _max_duration(args: argparse.Namespace) -> float:
    try:
        return parse_duration(args.max_duration)
    except ValueError as exc:
        raise ConfigError(f"--max-duration: {exc}") from None


def _placement(args: argparse.Namespace, inventory: Inventory) -> tuple[tuple[Node, ...], int]:
    """Worker nodes (over SSH) and the number of workers on this machine."""
    if args.nodes:
        names = [n.strip() for n in args.nodes.split(",") if n.strip()]
        return tuple(inventory.node(name) for name in names), 0
    if args.locustfile == "scheduling":
        return (), 1
    if args.locustfile == "bandwidth":
        gpus = tuple(n for n in inventory.nodes if n.type == "gpu")
        if not gpus:
            raise ConfigError(f"{inventory.path}: no node of type gpu to stream from (--nodes)")
        return gpus, 0
    return inventory.nodes, 0


def run_ui(args: argparse.Namespace) -> int:
    from drivers.load.launcher import LocustRun  # noqa: PLC0415
    from drivers.remote import SshPool  # noqa: PLC0415

    plan, logs, inventory = _plan(args, headless=False)
    registered: Path | None = None
    with SshPool() as ssh:
        run = LocustRun(plan, ssh, logs)
        try:
            run.start()
            url = run.wait_for_web()
            registered = _register_with_lab_prometheus(inventory, plan.web_host, plan.web_port)
            print(f"waiting for {plan.worker_count} Locust worker(s) to connect", file=sys.stderr)
            connected = run.wait_for_workers()
            if connected < plan.worker_count:
                print(
                    f"only {connected} of {plan.worker_count} worker(s) connected within 60s "
                    f"(their logs will be in {logs}); the UI runs with those",
                    file=sys.stderr,
                )
            print(
                f"Locust web UI: {url} ({plan.worker_count} worker(s): "
                f"{_where(plan)}); Prometheus metrics: {url}metrics\n"
                f"Ctrl-C stops Locust and every worker; logs in {logs}",
                file=sys.stderr,
            )
            code = _wait_bounded(run, plan.max_seconds)
        except KeyboardInterrupt:
            print("stopping Locust and its workers", file=sys.stderr)
            code = None
        finally:
            run.stop()
            if registered is not None:
                write_target_file(registered, [])
    if run.master is not None and code is None:
        code = run.master.returncode
    return _report(plan.summary_file, code or 0)


def _register_with_lab_prometheus(inventory: Inventory, host: str, port: int) -> Path | None:
    """On the lab, point its Prometheus at this master's /metrics until the UI stops, so the
    Locust dashboard fills without a hand-written target. Elsewhere: `swarmscope targets
    --locust HOST:PORT`. Returns the target file written, or None."""
    if inventory.lab_state_dir is None or host.startswith("127."):
        return None
    path = inventory.lab_state_dir / "prometheus" / "targets" / TARGET_FILES["locust"]
    if not path.parent.is_dir():
        return None
    write_target_file(path, target_groups(inventory, locust=f"{host}:{port}")["locust"])
    return path


def run_headless(args: argparse.Namespace) -> int:
    from drivers.load.launcher import LocustRun  # noqa: PLC0415
    from drivers.remote import SshPool  # noqa: PLC0415

    plan, logs, _ = _plan(args, headless=True)
    print(
        f"Locust {args.locustfile}: {plan.worker_count} worker(s) on {_where(plan)} for "
        f"{args.run_time}; logs in {logs}",
        file=sys.stderr,
    )
    with SshPool() as ssh:
        run = LocustRun(plan, ssh, logs)
        try:
            run.start()
            code = run.wait()
        finally:
            run.stop()
    return _report(plan.summary_file, code)


def _where(plan: Any) -> str:
    names = [n.name for n in plan.worker_nodes] + ["this machine"] * min(plan.local_workers, 1)
    return ", ".join(names)


def _wait_bounded(run: Any, seconds: float | None) -> int | None:
    deadline = None if seconds is None else time.monotonic() + seconds
    while run.master.poll() is None:
        if deadline is not None and time.monotonic() > deadline:
            print(f"--max-duration reached after {seconds:g}s; stopping", file=sys.stderr)
            return None
        time.sleep(0.5)
    return int(run.master.returncode)


def _rate(entry: dict[str, Any]) -> float | None:
    """Bulk streams: bytes over the time spent streaming (one Pi at a time); anything else:
    bytes over the span from the first to the last request."""
    if entry["request_type"] == "bulk":
        rate: float | None = entry["bytes_per_busy_second"]
        return rate
    first = float(entry.get("first_request_at") or 0.0)
    last = float(entry.get("last_request_at") or 0.0)
    if not entry["bytes"] or not first or last <= first:
        return None
    return float(entry["bytes"]) / (last - first)


def _report(summary_file: Path | None, code: int) -> int:
    """Print the run's table from its summary; Locust's exit code (thresholds) is ours."""
    import json  # noqa: PLC0415

    if summary_file is None or not summary_file.exists():
        raise SwarmscopeError(f"Locust left no summary (exit code {code}); see its logs")
    summary = json.loads(summary_file.read_text())
    print(f"{'type':<9} {'name':<32} {'requests':>9} {'fails':>6} {'mean':>10} {'MB/s':>9}")
    for entry in summary["stats"]:
        mean = entry["mean_seconds"]
        busy = _rate(entry)
        print(
            f"{entry['request_type']:<9} {entry['name']:<32} {entry['requests']:>9} "
            f"{entry['failures']:>6} "
            f"{(f'{mean * 1e3:.2f} ms' if mean is not None else '-'):>10} "
            f"{(f'{busy / 1e6:.1f}' if busy else '-'):>9}"
        )
    for judged in summary.get("thresholds", []):
        print(f"threshold {judged['key']}: {judged['verdict'] or 'not measured'}")
    return code
