"""`swarmscope thresholds`: show (and so validate) the thresholds every verdict uses."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from drivers.thresholds import DEFAULT_PATH, load_thresholds


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "thresholds",
        help="validate thresholds.yaml and print its table",
        description="Validate thresholds.yaml strictly and print the Target / Acceptable table.",
    )
    parser.add_argument(
        "--file", type=Path, default=DEFAULT_PATH, help="thresholds file (default: %(default)s)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    thresholds = load_thresholds(args.file)
    width = max(len(t.title) for t in thresholds.values())
    print(f"{'Metric':<{width}}  {'Target':>10}  {'Acceptable':>10}  scenario")
    for threshold in thresholds.values():
        print(
            f"{threshold.title:<{width}}  {threshold.target_text:>10}  "
            f"{threshold.acceptable_text:>10}  {threshold.scenario}"
        )
    return 0
