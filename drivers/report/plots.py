"""PNG plots of a run, drawn with matplotlib's Agg backend (no display needed).

Each function takes plain data, writes one PNG and returns its path, or None when there is
nothing to draw (the report then says which plot is missing and why).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.thresholds import Threshold

TARGET_STYLE = {"color": "#e69f00", "linestyle": "--", "linewidth": 1.2}
ACCEPTABLE_STYLE = {"color": "#d55e00", "linestyle": ":", "linewidth": 1.4}
FAULT_COLOUR = "#cc79a7"
PHASE_COLOURS = ("#0072b2", "#009e73", "#56b4e9")


@dataclass(frozen=True)
class TimeSeries:
    label: str
    points: Sequence[tuple[float, float]]


@dataclass(frozen=True)
class FaultWindow:
    kind: str
    target: str
    start: float
    end: float


def _pyplot() -> Any:
    import matplotlib  # noqa: PLC0415 - heavy; only the report needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _threshold_lines(axis: Any, threshold: Threshold | None, scale: float = 1.0) -> None:
    if threshold is None:
        return
    axis.axhline(threshold.target * scale, label=f"target {threshold.target_text}", **TARGET_STYLE)
    if threshold.acceptable != threshold.target:
        axis.axhline(
            threshold.acceptable * scale,
            label=f"acceptable {threshold.acceptable_text}",
            **ACCEPTABLE_STYLE,
        )


def join_phases(
    path: Path,
    phases: Mapping[str, Mapping[str, float]],
    totals: Mapping[str, float],
    total_threshold: Threshold | None,
) -> Path | None:
    """Stacked bars of the join phases per node, the total as a marker.

    The axis follows the data: when every join is far below the target (the lab joins in
    a tenth of a second against a 30 s target), threshold lines would flatten the bars to
    nothing, so the thresholds go into the title instead and the unit becomes ms.
    """
    nodes = sorted(set(totals) | {n for values in phases.values() for n in values})
    if not nodes:
        return None
    stacked = [sum(values.get(node, 0.0) for values in phases.values()) for node in nodes]
    highest = max([*stacked, *totals.values(), 0.0])
    scale, unit = (1e3, "ms") if 0 < highest < 1.0 else (1.0, "seconds")
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(max(6.0, 1.1 * len(nodes) + 3), 4.5))
    bottoms = [0.0] * len(nodes)
    colours = (*PHASE_COLOURS, "#cc79a7", "#999999")
    for colour, (phase, values) in zip(colours, phases.items(), strict=False):
        heights = [values.get(node, 0.0) * scale for node in nodes]
        axis.bar(nodes, heights, bottom=bottoms, color=colour, label=phase.replace("_", " "))
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    if totals:
        axis.scatter(
            nodes,
            [totals.get(n, float("nan")) * scale for n in nodes],
            marker="_",
            s=900,
            color="black",
            label="total join",
            zorder=3,
        )
    title = "Swarmlet join time breakdown per node"
    if total_threshold is not None and total_threshold.target > 3 * highest:
        title += (
            f"\nevery node far below the target {total_threshold.target_text} "
            f"(acceptable {total_threshold.acceptable_text})"
        )
    else:
        _threshold_lines(axis, total_threshold, scale)
    axis.set_title(title, fontsize=10)
    axis.set_ylabel(unit)
    axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path


def over_time(
    path: Path,
    title: str,
    panels: Sequence[tuple[str, Sequence[TimeSeries], Threshold | None, float]],
    faults: Sequence[FaultWindow],
) -> Path | None:
    """Stacked time-series panels (one per quantity) with fault windows shaded.

    ``panels`` holds (y-axis label, series, threshold to draw or None, display scale).
    """
    panels = [p for p in panels if p[1]]
    if not panels:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(
        len(panels), 1, figsize=(11, 2.9 * len(panels)), sharex=True, squeeze=False
    )
    for axis, (ylabel, series, threshold, scale) in zip(axes[:, 0], panels, strict=True):
        for one in series:
            xs = [dt.datetime.fromtimestamp(t, dt.UTC) for t, _ in one.points]
            axis.plot(xs, [v * scale for _, v in one.points], label=one.label, linewidth=1.2)
        _threshold_lines(axis, threshold, scale)
        for index, fault in enumerate(faults):
            axis.axvspan(
                dt.datetime.fromtimestamp(fault.start, dt.UTC),
                dt.datetime.fromtimestamp(fault.end, dt.UTC),
                color=FAULT_COLOUR,
                alpha=0.18,
                label="fault window" if index == 0 else None,
            )
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[0, 0].set_title(title)
    axes[-1, 0].set_xlabel("time (UTC)")
    figure.tight_layout()
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return path


def latency_heatmap(
    path: Path, matrix: Mapping[tuple[str, str], float], threshold: Threshold | None
) -> Path | None:
    """Source x destination mean RTT in milliseconds, each cell labelled."""
    if not matrix:
        return None
    sources = sorted({s for s, _ in matrix})
    destinations = sorted({d for _, d in matrix})
    values = [[matrix.get((s, d), float("nan")) * 1e3 for d in destinations] for s in sources]
    plt = _pyplot()
    size = max(4.5, 0.9 * len(destinations) + 2.5)
    figure, axis = plt.subplots(figsize=(size, size * 0.85))
    highest = max((v for row in values for v in row if not math.isnan(v)), default=1.0)
    # Colour against the acceptable bound when some pair comes near it; when every pair is
    # far below the target, colour against the data so the slow pairs still stand out.
    far_below = threshold is not None and highest * 3 < threshold.target * 1e3
    vmax = highest if far_below or threshold is None else max(threshold.acceptable * 1e3, highest)
    image = axis.imshow(values, cmap="viridis_r", vmin=0.0, vmax=vmax)
    axis.set_xticks(range(len(destinations)), destinations, rotation=45, ha="right")
    axis.set_yticks(range(len(sources)), sources)
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            if not math.isnan(value):
                axis.text(
                    j,
                    i,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="black" if value < vmax * 0.5 else "white",
                )
    colourbar = figure.colorbar(image, ax=axis)
    colourbar.set_label("mean round-trip time (ms)")
    title = "Mesh coordination latency (source → destination)"
    if threshold:
        title += f"\ntarget {threshold.target_text}, acceptable {threshold.acceptable_text}"
        if far_below:
            title += ": every pair far below the target"
    axis.set_title(title, fontsize=10)
    axis.set_xlabel("destination")
    axis.set_ylabel("source")
    figure.tight_layout()
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path


def latency_distribution(
    path: Path, title: str, groups: Mapping[str, Sequence[float]]
) -> Path | None:
    """Histogram and empirical CDF of latencies (seconds), one colour per group."""
    groups = {k: v for k, v in groups.items() if v}
    if not groups:
        return None
    plt = _pyplot()
    figure, (hist, cdf) = plt.subplots(1, 2, figsize=(11, 4))
    everything = [v for values in groups.values() for v in values]
    count = min(40, max(5, len(everything) // 4))
    low, high = min(everything), max(everything)
    width = (high - low) / count or 1.0
    bins = [low + i * width for i in range(count + 1)]  # shared, so groups compare bar for bar
    for label, values in groups.items():
        ordered = sorted(values)
        hist.hist(ordered, bins=bins, alpha=0.6, label=f"{label} (n={len(ordered)})")
        cdf.step(
            ordered,
            [(i + 1) / len(ordered) for i in range(len(ordered))],
            where="post",
            label=label,
        )
        for q, style in ((0.5, ":"), (0.95, "--")):
            value = ordered[min(len(ordered) - 1, int(q * len(ordered)))]
            cdf.axvline(value, linestyle=style, linewidth=0.8, color="grey")
    hist.set_title(title)
    hist.set_xlabel("seconds")
    hist.set_ylabel("workloads")
    hist.legend(fontsize=8)
    cdf.set_title("cumulative (dotted p50, dashed p95)")
    cdf.set_xlabel("seconds")
    cdf.set_ylabel("share of workloads")
    cdf.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return path


def scale_fit(
    path: Path,
    *,
    title: str,
    ylabel: str,
    xs: Sequence[float],
    ys: Sequence[float],
    slope: float,
    intercept: float,
    r2: float,
) -> Path | None:
    """Points against node count with the fitted line and its equation."""
    if len(xs) < 2:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    axis.scatter(xs, ys, color="#0072b2", zorder=3, label="measured")
    line_x = [min(xs), max(xs)]
    sign = "-" if intercept < 0 else "+"
    axis.plot(
        line_x,
        [slope * x + intercept for x in line_x],
        color="#d55e00",
        label=f"fit: {slope:.3g}·n {sign} {abs(intercept):.3g} (R²={r2:.2f})",
    )
    axis.set_title(title)
    axis.set_xlabel("nodes")
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path
