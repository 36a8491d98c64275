"""`swarmscope render`: write (or with --check, verify) the files generated from thresholds.yaml."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from drivers.config import Section, load_yaml
from drivers.render.generate import drift, generated_files, write
from drivers.thresholds import DEFAULT_PATH, REPO_ROOT, load_thresholds

PROMETHEUS_CONFIG = REPO_ROOT / "prometheus" / "prometheus.yml"


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "render",
        help="generate alert rules, promtool tests and Grafana dashboards from thresholds.yaml",
        description="Write prometheus/rules/*.yml, prometheus/tests/*.test.yml, "
        "grafana/provisioning and grafana/dashboards from thresholds.yaml. With --check, "
        "write nothing and exit 1 listing every file that differs from what would be written.",
        epilog="example: swarmscope render --check   (what `make test` runs)",
    )
    parser.add_argument(
        "--check", action="store_true", help="fail if a committed generated file drifted"
    )
    parser.add_argument(
        "--thresholds", type=Path, default=DEFAULT_PATH, help="thresholds file (%(default)s)"
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=REPO_ROOT,
        help="repository root the files are written under (default: this checkout)",
    )
    parser.set_defaults(func=run)


def scrape_interval(config: Path = PROMETHEUS_CONFIG) -> str:
    top = Section.of(load_yaml(config), "", str(config))
    return top.section("global").get("scrape_interval", str)


def run(args: argparse.Namespace) -> int:
    files = generated_files(load_thresholds(args.thresholds), scrape_interval())
    if args.check:
        drifted = drift(files, args.root)
        if drifted:
            for item in drifted:
                print(f"{item.path}: {item.problem}", file=sys.stderr)
            print(
                f"swarmscope: {len(drifted)} generated file(s) do not match {args.thresholds.name}"
                "; run `swarmscope render` (or `make render`) and commit the result",
                file=sys.stderr,
            )
            return 1
        print(f"{len(files)} generated files match {args.thresholds.name}")
        return 0
    written = write(files, args.root)
    for path in written:
        print(f"wrote {path.relative_to(args.root)}")
    print(f"{len(files)} files generated, {len(written)} changed")
    return 0
