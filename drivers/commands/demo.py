"""`swarmscope demo`: lab up, every benchmark, the report, lab down — what `make demo` runs."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from drivers.commands.run import run_scenarios
from drivers.scenarios import SCENARIO_MODULES

DEMO_LAB = "demo"
# Scenario options the demo sets so the whole run stays well under 15 minutes on 2 cores;
# every other option keeps the scenario's own default.
DEMO_OPTIONS: dict[str, Any] = {"edge_phase_duration": "10s"}


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="build the lab, run every benchmark, write the report, remove the lab",
        description="The whole job on the built-in lab (needs root): `lab up`, `run all`, "
        "`report`, `lab down`; prints the Target / Acceptable / Current table and where the "
        "report is. The lab is removed even when a step fails or you press Ctrl-C.",
    )
    parser.add_argument(
        "--nodes",
        type=int,
        default=6,
        help="nodes in the lab: gpu-primary + NODES-1 Pis (default: %(default)s)",
    )
    parser.add_argument(
        "--link", default="gigabit", help="link profile of the Pi nodes (default: %(default)s)"
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=Path("results"),
        help="where the run directory goes (default: %(default)s)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="SCENARIO",
        choices=list(SCENARIO_MODULES),
        help="leave a scenario out",
    )
    parser.add_argument(
        "--keep-lab",
        action="store_true",
        help="leave the lab running afterwards (remove it with "
        f"`swarmscope lab down --name {DEMO_LAB}`)",
    )
    parser.set_defaults(func=run_demo)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_demo(args: argparse.Namespace) -> int:
    # The lab and the report pull in docker and matplotlib: import them only here.
    from drivers.lab import build, teardown  # noqa: PLC0415
    from drivers.report.build import build_report  # noqa: PLC0415
    from drivers.report.document import table_text, verdict_line, write_documents  # noqa: PLC0415

    started = time.monotonic()
    _say(f"[demo] building the lab: gpu-primary + {args.nodes - 1} Pis, {args.link} links")
    lab = build.up(build.UpOptions(name=DEMO_LAB, nodes=args.nodes, link=args.link), say=_say)
    try:
        names = [n for n in SCENARIO_MODULES if n not in args.skip]
        options = argparse.Namespace(results=args.results, run_id=None, **DEMO_OPTIONS)
        run, statuses = run_scenarios(lab.inventory, names, options)
        _say("[demo] writing the report")
        report = build_report(run.path, lab.inventory.prometheus_url)
        md_path, html_path = write_documents(report)
    finally:
        if args.keep_lab:
            _say(f"[demo] the lab is still up: swarmscope lab down --name {DEMO_LAB}")
        else:
            _say("[demo] removing the lab")
            teardown.down(DEMO_LAB, say=_say)
    print(table_text(report.rows))
    print()
    print(f"verdict: {verdict_line(report)}")
    failed = [name for name, status in statuses.items() if status != "ok"]
    if failed:
        print(f"scenarios that did not finish: {', '.join(failed)} (see report)")
    print(f"report: {md_path}\n        {html_path}")
    print(f"demo took {time.monotonic() - started:.0f}s")
    return 1 if failed else 0
