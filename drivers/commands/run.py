"""`swarmscope run SCENARIO|all`: run benchmark scenarios into one run directory."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from drivers.errors import SwarmscopeError
from drivers.inventory import Inventory, load_inventory, resolve_inventory_path
from drivers.push import Pusher
from drivers.remote import SshPool
from drivers.results import RunDirectory
from drivers.scenarios import SCENARIO_MODULES
from drivers.scenarios import scale as scale_module
from drivers.scenarios.base import ScenarioContext, load_scenario, run_scenario

log = logging.getLogger(__name__)
DEFAULT_RESULTS = Path("results")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--inventory",
        type=Path,
        default=None,
        help="cluster inventory (default: $SWARMSCOPE_INVENTORY, else the lab's)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=DEFAULT_RESULTS,
        help="where run directories go (default: %(default)s)",
    )
    parser.add_argument(
        "--run-id",
        default=None,
        help="name of the run directory (default: timestamp + random suffix)",
    )


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="run benchmark scenarios against a cluster",
        description="Run benchmark scenarios; every figure goes to results/<run-id>/ as it is "
        "measured and to the Pushgateway for Grafana.",
    )
    scenarios = parser.add_subparsers(dest="scenario", metavar="SCENARIO", required=True)
    everything = scenarios.add_parser(
        "all",
        help="every scenario in order: " + ", ".join(SCENARIO_MODULES),
        description="Run every scenario in order into one run directory; a failing scenario "
        "is recorded and the others still run.",
    )
    _common(everything)
    everything.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="SCENARIO",
        choices=list(SCENARIO_MODULES),
        help="leave a scenario out",
    )
    everything.set_defaults(func=run_command, scenarios=list(SCENARIO_MODULES))
    scale = scenarios.add_parser(
        "scale",
        help="lab only: join, scheduling and mesh discovery against node count, fitted",
        description="Build a fresh lab for each size, run join, scheduling and mesh in it, "
        "remove it, and fit a line through each figure against the node count (the seed's "
        "'linear performance with 5+ nodes'). Needs root.",
        epilog="example: swarmscope run scale --nodes 5,10,20",
    )
    scale_module.add_arguments(scale)
    scale.set_defaults(func=scale_module.run_scale)
    for name in SCENARIO_MODULES:
        scenario = load_scenario(name)
        sub = scenarios.add_parser(name, help=scenario.help, description=scenario.help)
        _common(sub)
        scenario.add_arguments(sub)
        sub.set_defaults(func=run_command, scenarios=[name])


def run_command(args: argparse.Namespace) -> int:
    inventory = load_inventory(resolve_inventory_path(args.inventory))
    names = [n for n in args.scenarios if n not in getattr(args, "skip", [])]
    run, statuses = run_scenarios(inventory, names, args)
    failed = [n for n, s in statuses.items() if s != "ok"]
    if failed:
        raise SwarmscopeError(
            f"scenario(s) failed: {', '.join(failed)}; see {run.path / 'results.json'}"
        )
    return 0


def run_scenarios(
    inventory: Inventory, names: list[str], args: argparse.Namespace
) -> tuple[RunDirectory, dict[str, str]]:
    """Run ``names`` in order into a new run directory; a failed scenario does not stop the
    others. ``args`` carries --results, --run-id and the scenarios' own options."""
    run = RunDirectory.create(args.results, inventory, args.run_id)
    print(
        f"run {run.run_id}: {', '.join(names)} on {inventory.name} ({inventory.backend}, "
        f"{len(inventory.nodes)} nodes) -> {run.path}",
        file=sys.stderr,
    )
    statuses: dict[str, str] = {}
    context = ScenarioContext(
        inventory=inventory,
        run=run,
        options=args,
        ssh=SshPool(),
        pusher=Pusher(inventory.pushgateway_url, run.run_id, inventory.name),
    )
    try:
        for name in names:
            scenario = load_scenario(name)
            fill_defaults(scenario, args)
            statuses[name] = run_scenario(scenario, context)
            print(f"[{name}] {statuses[name]}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"interrupted; partial results are in {run.path}", file=sys.stderr)
        raise
    finally:
        context.close()
    print(f"results: {run.path}", file=sys.stderr)
    return run, statuses


def fill_defaults(scenario: Any, args: argparse.Namespace) -> None:
    """`run all` has no per-scenario flags: give each scenario its own defaults (options
    already present, e.g. from the scenario's own subcommand, are kept)."""
    parser = argparse.ArgumentParser(add_help=False)
    scenario.add_arguments(parser)
    for key, value in vars(parser.parse_args([])).items():
        if not hasattr(args, key):
            setattr(args, key, value)
