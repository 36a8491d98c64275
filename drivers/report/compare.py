"""Compare two runs figure by figure and flag regressions."""

from __future__ import annotations

from dataclasses import dataclass

from drivers.report.table import numeric_leaves
from drivers.results import RunDirectory
from drivers.thresholds import Threshold, Verdict

# Figures whose name says "more is better"; every other figure (times, bytes, ratios of
# overhead or loss) is better lower.
HIGHER_IS_BETTER_WORDS = (
    "throughput",
    "bandwidth",
    "utilisation",
    "utilization",
    "per_second",
    "messages_per",
    "available",
    "success",
)


@dataclass(frozen=True)
class Change:
    scenario: str
    figure: str
    before: float | None
    after: float | None
    regression: bool
    note: str

    @property
    def relative(self) -> float | None:
        if self.before in (None, 0) or self.after is None:
            return None
        return (self.after - self.before) / abs(self.before)


def _higher_is_better(figure: str, thresholds: dict[str, Threshold]) -> bool:
    key = figure.split(".", maxsplit=1)[0]
    if key in thresholds:
        return not thresholds[key].lower_is_better
    return any(word in figure for word in HIGHER_IS_BETTER_WORDS)


def _leaves(run: RunDirectory) -> dict[tuple[str, str], float]:
    return {
        (name, path): value
        for name, record in run.scenarios().items()
        for path, value in numeric_leaves(record.figures)
    }


def compare_runs(
    before: RunDirectory,
    after: RunDirectory,
    thresholds: dict[str, Threshold],
    tolerance: float = 0.10,
) -> list[Change]:
    """Every figure present in either run; a regression is a change for the worse beyond
    ``tolerance`` (relative), or a threshold figure whose verdict got worse."""
    a, b = _leaves(before), _leaves(after)
    changes = []
    for scenario, figure in sorted(set(a) | set(b)):
        old, new = a.get((scenario, figure)), b.get((scenario, figure))
        if old is None or new is None:
            changes.append(
                Change(
                    scenario,
                    figure,
                    old,
                    new,
                    False,
                    "only in " + ("the second run" if old is None else "the first run"),
                )
            )
            continue
        higher = _higher_is_better(figure, thresholds)
        worse = new < old if higher else new > old
        relative = abs(new - old) / abs(old) if old else (0.0 if new == old else float("inf"))
        regression = worse and relative > tolerance
        note = ""
        threshold = thresholds.get(figure.split(".")[0])
        if threshold is not None:
            verdict_before, verdict_after = threshold.judge(old), threshold.judge(new)
            if verdict_after > verdict_before:
                regression = True
                note = f"{verdict_before.label} → {verdict_after.label}"
            elif verdict_after < verdict_before:
                note = f"{verdict_before.label} → {verdict_after.label}"
            elif verdict_after is Verdict.MET and not note:
                note = "still meets target"
        changes.append(Change(scenario, figure, old, new, regression, note))
    return changes
