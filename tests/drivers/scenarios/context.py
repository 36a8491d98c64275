"""A ScenarioContext for tests: the scenario's own argument defaults, a fresh run directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from drivers.inventory import Inventory
from drivers.push import Pusher
from drivers.remote import SshPool
from drivers.results import RunDirectory
from drivers.scenarios.base import ScenarioContext, load_scenario, run_scenario


def scenario_context(
    name: str, inventory: Inventory, results: Path, argv: list[str]
) -> ScenarioContext:
    parser = argparse.ArgumentParser(prog=f"swarmscope run {name}")
    load_scenario(name).add_arguments(parser)
    run = RunDirectory.create(results, inventory)
    return ScenarioContext(
        inventory=inventory,
        run=run,
        options=parser.parse_args(argv),
        ssh=SshPool(),
        pusher=Pusher(inventory.pushgateway_url, run.run_id, inventory.name, timeout=2),
    )


def run_named(name: str, context: ScenarioContext) -> str:
    """Run one scenario with the runner's bookkeeping; always close the context."""
    try:
        return run_scenario(load_scenario(name), context)
    finally:
        context.close()
