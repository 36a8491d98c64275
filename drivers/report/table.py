"""The seed's Target / Acceptable / Current table, judged from a run's figures.

Scenarios record a threshold's figure under the threshold's key (``join_total``,
``failure_detection``, ...) as a number, or as a mapping from node / node pair to a number
(nested mappings are fine: every numeric leaf counts). The current value of a row is the
WORST leaf — the slowest node's join, the worst pair's latency — because a cluster meets a
target only when every node does.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from drivers.results import ScenarioRecord
from drivers.thresholds import Threshold, Verdict


class RowState(enum.StrEnum):
    JUDGED = "judged"
    NOT_MEASURED = "not measured"  # its scenario ran but produced no figure: counts as failed
    NOT_RUN = "not run"  # its scenario was not part of this run: left out of the verdict


@dataclass(frozen=True)
class Row:
    threshold: Threshold
    state: RowState
    current: float | None = None
    worst_at: str = ""  # node or pair with the worst value
    samples: int = 0
    verdict: Verdict | None = None
    note: str = ""

    @property
    def effective_verdict(self) -> Verdict | None:
        """What the row contributes to the run's verdict (None: nothing)."""
        if self.state is RowState.NOT_MEASURED:
            return Verdict.FAILED
        return self.verdict

    @property
    def current_text(self) -> str:
        if self.current is None:
            return self.state.value
        where = f" ({self.worst_at})" if self.worst_at else ""
        return f"{self.threshold.show(self.current)}{where}"

    @property
    def verdict_text(self) -> str:
        verdict = self.effective_verdict
        if self.state is RowState.NOT_RUN:
            return "not run"
        if self.state is RowState.NOT_MEASURED:
            return "failed (not measured)"
        return verdict.label if verdict is not None else ""


def numeric_leaves(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """Every number inside a figure, with the dotted path of keys that leads to it."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        if math.isfinite(value):
            yield path, float(value)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from numeric_leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from numeric_leaves(item, f"{path}[{index}]")


def build_rows(
    thresholds: Mapping[str, Threshold], scenarios: Mapping[str, ScenarioRecord]
) -> list[Row]:
    rows = []
    for key, threshold in thresholds.items():
        record = scenarios.get(threshold.scenario)
        if record is None:
            rows.append(Row(threshold, RowState.NOT_RUN))
            continue
        leaves = list(numeric_leaves(record.figures.get(key)))
        if not leaves:
            note = f"scenario {threshold.scenario} ended '{record.status}'"
            if record.error:
                note += f": {record.error}"
            rows.append(Row(threshold, RowState.NOT_MEASURED, note=note))
            continue
        pick = max if threshold.lower_is_better else min
        where, current = pick(leaves, key=lambda leaf: leaf[1])
        rows.append(
            Row(
                threshold,
                RowState.JUDGED,
                current=current,
                worst_at=where,
                samples=len(leaves),
                verdict=threshold.judge(current),
            )
        )
    return rows


def overall_verdict(rows: list[Row]) -> Verdict | None:
    """The worst verdict of the judged rows; None when nothing could be judged."""
    verdicts = [v for v in (row.effective_verdict for row in rows) if v is not None]
    return max(verdicts) if verdicts else None
