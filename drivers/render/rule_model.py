"""Alert rules and their promtool unit-test cases as data, and both as Prometheus YAML.

One model for the threshold alerts and the stack-health alerts: a rule knows its expected
annotations for any labels and value (through ``drivers.render.template``), so a test case
only states the situation (input series, when to look, which alerts with which labels) and
the exact text Prometheus must produce follows from the rule itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drivers.render import template
from drivers.render.humanize import prometheus_duration


@dataclass(frozen=True)
class AlertRule:
    alert: str
    expr: str
    for_seconds: float
    labels: dict[str, str]
    annotations: dict[str, str]

    def as_yaml(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.alert, "expr": self.expr}
        if self.for_seconds > 0:
            rule["for"] = prometheus_duration(self.for_seconds)
        rule["labels"] = dict(self.labels)
        rule["annotations"] = dict(self.annotations)
        return rule

    def expected(self, series_labels: dict[str, str], value: float) -> ExpectedAlert:
        """The alert Prometheus fires for a result series with these labels and this value."""
        labels = {**series_labels, **self.labels}
        annotations = {
            name: template.render(text, labels, value) for name, text in self.annotations.items()
        }
        return ExpectedAlert(self.alert, labels, annotations)


@dataclass(frozen=True)
class ExpectedAlert:
    alert: str
    labels: dict[str, str]
    annotations: dict[str, str]


@dataclass(frozen=True)
class Series:
    """One promtool input series: ``'metric{a="b"}'`` and promtool's expanding notation."""

    selector: str
    values: str

    @classmethod
    def of(cls, metric: str, labels: dict[str, str], values: str) -> Series:
        inner = ", ".join(f'{name}="{value}"' for name, value in sorted(labels.items()))
        return cls(f"{metric}{{{inner}}}", values)


@dataclass(frozen=True)
class ExpectedSample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Check:
    """At ``at_seconds``: exactly these alerts of ``alert`` fire (none when empty)."""

    at_seconds: float
    alert: str
    alerts: tuple[ExpectedAlert, ...] = ()


@dataclass(frozen=True)
class ExprCheck:
    """At ``at_seconds``, ``expr`` evaluates to exactly these samples (float equality)."""

    at_seconds: float
    expr: str
    samples: tuple[ExpectedSample, ...]


@dataclass(frozen=True)
class RuleCase:
    name: str
    interval_seconds: float
    series: tuple[Series, ...]
    checks: tuple[Check, ...]
    expr_checks: tuple[ExprCheck, ...] = field(default=())


def rules_document(group: str, rules: list[AlertRule]) -> dict[str, Any]:
    return {"groups": [{"name": group, "rules": [rule.as_yaml() for rule in rules]}]}


def _labels_text(labels: dict[str, str]) -> str:
    inner = ", ".join(f'{name}="{value}"' for name, value in sorted(labels.items()))
    return "{" + inner + "}"


def tests_document(
    rule_file: str, evaluation_interval_seconds: float, cases: list[RuleCase]
) -> dict[str, Any]:
    """A promtool test file; ``rule_file`` is relative to the test file's directory."""
    return {
        "rule_files": [rule_file],
        "evaluation_interval": prometheus_duration(evaluation_interval_seconds),
        "tests": [_case_yaml(case) for case in cases],
    }


def _case_yaml(case: RuleCase) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": case.name,
        "interval": prometheus_duration(case.interval_seconds),
        "input_series": [{"series": s.selector, "values": s.values} for s in case.series],
    }
    if case.expr_checks:
        document["promql_expr_test"] = [
            {
                "expr": check.expr,
                "eval_time": prometheus_duration(check.at_seconds),
                "exp_samples": [
                    {"labels": _labels_text(sample.labels), "value": sample.value}
                    for sample in check.samples
                ],
            }
            for check in case.expr_checks
        ]
    document["alert_rule_test"] = [
        {
            "eval_time": prometheus_duration(check.at_seconds),
            "alertname": check.alert,
            "exp_alerts": [
                {
                    "exp_labels": dict(sorted(alert.labels.items())),
                    "exp_annotations": alert.annotations,
                }
                for alert in check.alerts
            ],
        }
        for check in case.checks
    ]
    return document
