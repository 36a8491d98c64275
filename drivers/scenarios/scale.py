"""`swarmscope run scale --nodes 5,10,20`: join, scheduling and mesh discovery against node count.

The seed's success criterion "linear performance with 5+ nodes" answered with a fitted line:
for each size a fresh lab is built, the join, scheduling and mesh scenarios run in it, the lab
is removed, and a least-squares line is fitted through each figure against the node count.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.errors import SwarmscopeError
from drivers.report.table import numeric_leaves
from drivers.results import RunDirectory, ScenarioRecord, new_run_id

SCENARIOS = ("join", "scheduling", "mesh")
# Options that keep each size's run short; the rest are the scenarios' defaults.
SIZE_OPTIONS: dict[str, Any] = {"mode": "concurrent"}


@dataclass(frozen=True)
class Metric:
    key: str
    title: str
    ylabel: str
    read: Callable[[dict[str, ScenarioRecord]], float | None]


def _figure(
    scenario: str, key: str, pick: Callable[[list[float]], float] = max
) -> Callable[[dict[str, ScenarioRecord]], float | None]:
    def read(records: dict[str, ScenarioRecord]) -> float | None:
        record = records.get(scenario)
        if record is None:
            return None
        values = [v for _, v in numeric_leaves(record.figures.get(key))]
        return pick(values) if values else None

    return read


def _p50(records: dict[str, ScenarioRecord]) -> float | None:
    record = records.get("scheduling")
    summary = record.figures.get("scheduling_latency") if record else None
    return float(summary["p50"]) if isinstance(summary, dict) and "p50" in summary else None


METRICS = (
    Metric(
        "join_all_at_once_seconds",
        "All workers joining at once",
        "seconds",
        _figure("join", "join_all_at_once_seconds"),
    ),
    Metric(
        "join_slowest_node_seconds", "Slowest node's join", "seconds", _figure("join", "join_total")
    ),
    Metric("scheduling_p50_seconds", "Scheduling latency p50 (created → running)", "seconds", _p50),
    Metric(
        "mesh_discovery_seconds",
        "Mesh discovery (every node sees every peer)",
        "seconds",
        _figure("mesh", "discovery_seconds"),
    ),
)


@dataclass(frozen=True)
class Fit:
    slope: float
    intercept: float
    r2: float


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> Fit:
    """Ordinary least squares; R² is 1.0 for a perfect line (and for a flat one)."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError("a line needs at least two points")
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if sxx == 0:
        raise ValueError("all points have the same node count")
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = mean_y - slope * mean_x
    total = sum((y - mean_y) ** 2 for y in ys)
    residual = sum((y - (slope * x + intercept)) ** 2 for x, y in zip(xs, ys, strict=True))
    return Fit(slope, intercept, 1.0 if total == 0 else 1.0 - residual / total)


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise SwarmscopeError(
            f"--nodes: {text!r} is not a comma-separated list of node counts", exit_code=2
        ) from None
    if len(sizes) < 2 or sizes[0] < 2:
        raise SwarmscopeError(
            "--nodes: give at least two sizes of 2 or more nodes, e.g. 5,10,20", exit_code=2
        )
    return sizes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--nodes",
        default="5,10,20",
        metavar="N,N,...",
        help="lab sizes, nodes in all (default: %(default)s)",
    )
    parser.add_argument("--link", default="gigabit", help="lab link profile (default: %(default)s)")
    parser.add_argument(
        "--results",
        type=Path,
        default=Path("results"),
        help="where run directories go (default: %(default)s)",
    )
    parser.add_argument("--run-id", default=None, help="name of the run directory")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_scale(args: argparse.Namespace) -> int:
    from drivers.commands.run import run_scenarios  # noqa: PLC0415 - avoids an import cycle
    from drivers.lab import build, teardown  # noqa: PLC0415 - docker SDK only when used
    from drivers.report import plots  # noqa: PLC0415 - matplotlib only when used

    sizes = parse_sizes(args.nodes)
    run_id = args.run_id or new_run_id()
    points: dict[int, dict[str, float]] = {}
    top: RunDirectory | None = None
    for size in sizes:
        name = f"scale{size}"
        _say(f"[scale] {size} nodes: building lab {name!r}")
        lab = build.up(build.UpOptions(name=name, nodes=size, link=args.link), say=_say)
        try:
            if top is None:
                top = RunDirectory.create(
                    args.results, lab.inventory, run_id, extra={"scale_sizes": sizes}
                )
                top.start_scenario("scale")
            options = argparse.Namespace(
                results=top.path / "sizes", run_id=f"n{size}", **SIZE_OPTIONS
            )
            size_run, _ = run_scenarios(lab.inventory, list(SCENARIOS), options)
            records = size_run.scenarios()
            points[size] = {m.key: v for m in METRICS if (v := m.read(records)) is not None}
            top.add_figures("scale", {m: {str(size): v} for m, v in points[size].items()})
        finally:
            _say(f"[scale] removing lab {name!r}")
            teardown.down(name, say=_say)
    assert top is not None
    fits: dict[str, dict[str, float]] = {}
    for metric in METRICS:
        xs = [float(s) for s in sizes if metric.key in points[s]]
        ys = [points[s][metric.key] for s in sizes if metric.key in points[s]]
        if len(xs) < 2:
            continue
        fit = fit_line(xs, ys)
        fits[metric.key] = {"slope_per_node": fit.slope, "intercept": fit.intercept, "r2": fit.r2}
        plots.scale_fit(
            top.path / "plots" / f"scale_{metric.key}.png",
            title=metric.title,
            ylabel=metric.ylabel,
            xs=xs,
            ys=ys,
            slope=fit.slope,
            intercept=fit.intercept,
            r2=fit.r2,
        )
    top.add_figures("scale", details={"fits": fits, "sizes": sizes})
    top.finish_scenario("scale", "ok")
    _print_table(sizes, points, fits)
    print(f"results: {top.path}")
    return 0


def _print_table(
    sizes: list[int], points: dict[int, dict[str, float]], fits: dict[str, dict[str, float]]
) -> None:
    print(f"{'figure':<28}" + "".join(f"{s:>9}" for s in sizes) + "   slope/node      R²")
    for metric in METRICS:
        cells = "".join(
            f"{points[s][metric.key]:>9.3f}" if metric.key in points[s] else f"{'-':>9}"
            for s in sizes
        )
        fit = fits.get(metric.key)
        tail = f"   {fit['slope_per_node']:>+10.4f}  {fit['r2']:>6.2f}" if fit else ""
        print(f"{metric.key:<28}{cells}{tail}")
