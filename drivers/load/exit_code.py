"""Locust's exit code from thresholds.yaml: the run passes only if its figures meet them.

A user class declares which of its request types a threshold judges, e.g.
``judged_by = {"rtt": "coordination_latency"}``. When Locust quits, the value of such a
threshold is the worst pair's mean response time of that request type (the same reading as
the threshold's PromQL: mean per pair, max over pairs), judged with ``Threshold.judge``.

Exit code: 0 every judged threshold met its target, 1 acceptable only, 2 failed (the codes
of `swarmscope verdict`); requests that failed make it at least 1, as Locust's own default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from drivers.thresholds import Threshold, Verdict


@dataclass(frozen=True)
class Judged:
    key: str
    request_type: str
    value: float | None  # None: no request of that type completed
    worst_at: str
    verdict: Verdict | None

    def describe(self, threshold: Threshold) -> str:
        if self.value is None or self.verdict is None:
            return f"{self.key}: not measured (no '{self.request_type}' requests completed)"
        return (
            f"{self.key}: {threshold.show(self.value)} ({self.worst_at}), target "
            f"{threshold.target_text}, acceptable {threshold.acceptable_text}: "
            f"{self.verdict.label}"
        )


def judged_request_types(user_classes: Iterable[type]) -> dict[str, str]:
    """request_type -> threshold key, from every user class's ``judged_by``."""
    mapping: dict[str, str] = {}
    for user_class in user_classes:
        mapping.update(getattr(user_class, "judged_by", {}) or {})
    return mapping


def judge(
    stats_entries: Mapping[tuple[str, str], Any],
    mapping: Mapping[str, str],
    thresholds: Mapping[str, Threshold],
) -> list[Judged]:
    """Judge each mapped threshold on the worst pair's mean response time (seconds)."""
    results = []
    for request_type, key in sorted(mapping.items()):
        threshold = thresholds.get(key)
        if threshold is None:
            raise KeyError(f"user class judges unknown threshold {key!r}")
        if threshold.unit != "seconds":
            raise ValueError(f"threshold {key!r} is in {threshold.unit}, not a response time")
        means = [
            (entry.avg_response_time / 1000.0, str(name))
            for (name, method), entry in stats_entries.items()
            if method == request_type and entry.num_requests > 0
        ]
        if not means:
            results.append(Judged(key, request_type, None, "", None))
            continue
        # The worst pair: highest mean when lower is better, lowest otherwise.
        value, where = max(means) if threshold.lower_is_better else min(means)
        results.append(Judged(key, request_type, value, where, threshold.judge(value)))
    return results


def exit_code(results: Iterable[Judged], had_failures: bool) -> int:
    worst = max((r.verdict for r in results if r.verdict is not None), default=Verdict.MET)
    code = int(worst)
    if had_failures:
        code = max(code, 1)
    return code
