"""Alert rules from thresholds.yaml: warning above the target, critical above acceptable.

Both alerts of a threshold share one name and differ by their ``severity`` label, so a
value past acceptable fires both; Alertmanager's inhibit rule (prometheus/alertmanager.yml)
then silences the warning while the critical one fires. A value exactly at a bound fires
nothing (the comparison is strict), as ``Threshold.judge`` reads the plan's "<30s". When
target equals acceptable, missing it is a failure: only the critical alert exists.
"""

from __future__ import annotations

from drivers.render.promql import outer_grouping
from drivers.render.rule_model import AlertRule
from drivers.thresholds import Threshold

GROUP = "swarmscope-thresholds"
WARNING = "warning"
CRITICAL = "critical"
# Alerts point into the README's runbook; each alert name is a heading there.
RUNBOOK_BASE = "README.md"

_VALUE_FORMAT = {
    "seconds": "{{ $value | humanizeDuration }}",
    "bytes": "{{ $value | humanize }}B",
    "ratio": "{{ $value | humanizePercentage }}",
}


def alert_name(threshold: Threshold) -> str:
    camel = "".join(part.capitalize() for part in threshold.key.split("_"))
    return f"Swarmlet{camel}{'TooHigh' if threshold.lower_is_better else 'TooLow'}"


def runbook_url(alert: str) -> str:
    """The README heading of the alert (GitHub's anchor of a heading is its lower-cased text)."""
    return f"{RUNBOOK_BASE}#{alert.lower()}"


def _where(threshold: Threshold) -> str:
    labels = outer_grouping(threshold.expr) or ()
    return " ".join(f"{label}={{{{ $labels.{label} }}}}" for label in labels)


def _rule(threshold: Threshold, severity: str, bound: float) -> AlertRule:
    value = _VALUE_FORMAT[threshold.unit]
    where = _where(threshold)
    missed = "above" if threshold.lower_is_better else "below"
    bound_name = "target" if severity == WARNING else "acceptable limit"
    bound_text = threshold.target_text if severity == WARNING else threshold.acceptable_text
    name = alert_name(threshold)
    return AlertRule(
        alert=name,
        # Parenthesised so any expression (even one joined by `or`) is compared as a whole.
        expr=f"({threshold.expr}) {threshold.comparison} {bound!r}",
        for_seconds=threshold.for_seconds,
        labels={"severity": severity, "threshold": threshold.key, "scenario": threshold.scenario},
        annotations={
            "summary": f"{threshold.title}{' on ' + where if where else ''}: {value} "
            f"(target {threshold.target_text}, acceptable {threshold.acceptable_text})",
            "description": f"{threshold.description} Now {value}, {missed} the {bound_name} "
            f"({bound_text}). Threshold `{threshold.key}` in thresholds.yaml, measured by "
            f"`swarmscope run {threshold.scenario}`.",
            "runbook_url": runbook_url(name),
        },
    )


def threshold_rules(threshold: Threshold) -> list[AlertRule]:
    """The warning rule (unless target == acceptable), then the critical rule."""
    rules = []
    if threshold.target != threshold.acceptable:
        rules.append(_rule(threshold, WARNING, threshold.target))
    rules.append(_rule(threshold, CRITICAL, threshold.acceptable))
    return rules


def all_threshold_rules(thresholds: dict[str, Threshold]) -> list[AlertRule]:
    """In thresholds.yaml order, so the generated file reads like the source."""
    return [rule for threshold in thresholds.values() for rule in threshold_rules(threshold)]
