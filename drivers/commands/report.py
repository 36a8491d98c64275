"""`swarmscope report`, `verdict` and `compare`: judge runs against thresholds.yaml."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from drivers.errors import ConfigError, SwarmscopeError
from drivers.inventory import load_inventory
from drivers.results import RESULTS_FILE, RunDirectory
from drivers.thresholds import DEFAULT_PATH, load_thresholds

DEFAULT_RESULTS = Path("results")


def latest_run(root: Path = DEFAULT_RESULTS) -> Path:
    runs = sorted(p for p in root.glob("*") if (p / RESULTS_FILE).exists())
    if not runs:
        raise SwarmscopeError(
            f"no run directory under {root}/; pass RUN_DIR or run `swarmscope run all` first",
            exit_code=2,
        )
    return runs[-1]


def _run_dir(value: Path | None) -> Path:
    return value if value is not None else latest_run()


def register(subparsers: Any) -> None:
    report = subparsers.add_parser(
        "report",
        help="write results.json, plots, report.md and report.html for a run",
        description="Judge a run against thresholds.yaml, fetch its time series from "
        "Prometheus, draw the plots and write report.md and a self-contained report.html.",
        epilog="example: swarmscope report results/20261129-101500-ab12",
    )
    report.add_argument(
        "run_dir",
        nargs="?",
        type=Path,
        metavar="RUN_DIR",
        help="run directory (default: the newest under results/)",
    )
    report.add_argument(
        "--prometheus",
        metavar="URL",
        help="Prometheus to read time series from (default: the run's inventory)",
    )
    report.add_argument("--thresholds", type=Path, default=DEFAULT_PATH, help=argparse.SUPPRESS)
    report.set_defaults(func=run_report)

    verdict = subparsers.add_parser(
        "verdict",
        help="exit 0 if every target is met, 1 if some are only acceptable, 2 if any fails",
        description="Exit 0 when every measured threshold meets its target, 1 when some are only "
        "acceptable, 2 when any fails or a scenario that ran produced no figure.",
    )
    verdict.add_argument(
        "run_dir",
        nargs="?",
        type=Path,
        metavar="RUN_DIR",
        help="run directory (default: the newest under results/)",
    )
    verdict.add_argument("--junit", type=Path, metavar="FILE", help="also write JUnit XML")
    verdict.add_argument("--thresholds", type=Path, default=DEFAULT_PATH, help=argparse.SUPPRESS)
    verdict.set_defaults(func=run_verdict)

    compare = subparsers.add_parser(
        "compare",
        help="compare two runs figure by figure and flag regressions",
        description="Compare two runs figure by figure; exit 1 when the second run regressed.",
        epilog="example: swarmscope compare results/RUN_A results/RUN_B --tolerance 5%%",
    )
    compare.add_argument("before", type=Path, metavar="RUN_A")
    compare.add_argument("after", type=Path, metavar="RUN_B")
    compare.add_argument(
        "--tolerance",
        default="10%",
        help="relative change allowed before a worse figure counts as a "
        "regression (default: %(default)s)",
    )
    compare.set_defaults(func=run_compare)


def _prometheus_of(run: RunDirectory) -> str | None:
    inventory_path = run.provenance.get("inventory")
    if not inventory_path:
        return None
    try:
        return load_inventory(Path(inventory_path)).prometheus_url
    except ConfigError:
        return None


def run_report(args: argparse.Namespace) -> int:
    from drivers.report.build import build_report  # noqa: PLC0415 - matplotlib is heavy
    from drivers.report.document import table_text, verdict_line, write_documents  # noqa: PLC0415

    run_dir = _run_dir(args.run_dir)
    prometheus = args.prometheus or _prometheus_of(RunDirectory.open(run_dir))
    report = build_report(run_dir, prometheus, args.thresholds)
    md_path, html_path = write_documents(report)
    print(table_text(report.rows))
    print()
    print(f"verdict: {verdict_line(report)}")
    for line in report.missing:
        print(f"missing: {line}", file=sys.stderr)
    print(f"report: {md_path}\n        {html_path}")
    return 0


def run_verdict(args: argparse.Namespace) -> int:
    from drivers.report.junit import write_junit  # noqa: PLC0415
    from drivers.report.table import build_rows, overall_verdict  # noqa: PLC0415

    run = RunDirectory.open(_run_dir(args.run_dir))
    rows = build_rows(load_thresholds(args.thresholds), run.scenarios())
    if args.junit:
        write_junit(args.junit, run.run_id, rows)
    verdict = overall_verdict(rows)
    for row in rows:
        print(f"{row.verdict_text:<22} {row.threshold.title}: {row.current_text}")
    if verdict is None:
        raise SwarmscopeError(
            f"{run.path}: no threshold could be judged (no scenario with a threshold ran)",
            exit_code=2,
        )
    print(f"verdict: {verdict.label}")
    return int(verdict)


def run_compare(args: argparse.Namespace) -> int:
    from drivers.report.compare import compare_runs  # noqa: PLC0415
    from drivers.units import parse_quantity  # noqa: PLC0415

    try:
        tolerance = parse_quantity(args.tolerance, "ratio")
    except ValueError as exc:
        raise SwarmscopeError(f"--tolerance: {exc}", exit_code=2) from None
    before, after = RunDirectory.open(args.before), RunDirectory.open(args.after)
    changes = compare_runs(before, after, load_thresholds(), tolerance)
    print(f"{'scenario':<11} {'figure':<44} {'before':>12} {'after':>12} {'change':>8}")
    for change in changes:
        relative = f"{change.relative:+.0%}" if change.relative is not None else ""
        flag = "REGRESSION " if change.regression else ""
        print(
            f"{change.scenario:<11} {change.figure[:44]:<44} "
            f"{_num(change.before):>12} {_num(change.after):>12} {relative:>8}  "
            f"{flag}{change.note}".rstrip()
        )
    regressions = [c for c in changes if c.regression]
    print(
        f"{len(regressions)} regression(s) in {len(changes)} figures "
        f"({before.run_id} → {after.run_id})"
    )
    return 1 if regressions else 0


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
