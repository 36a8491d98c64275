"""The README states the metric names the dashboards read and has a runbook heading per alert.

Other engineers produce the metrics from the README's list, and alert receivers follow each
alert's runbook_url: both must match what is generated.
"""

from __future__ import annotations

import re

from drivers.render import dashboards
from drivers.render.dashboard_queries import metric_names
from drivers.render.promql import metric_names as expr_metrics
from drivers.render.stack_rules import STACK_RULES
from drivers.render.threshold_rules import all_threshold_rules
from drivers.thresholds import REPO_ROOT, load_thresholds

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
_HISTOGRAM_PARTS = re.compile(r"_(bucket|sum|count)$")
_METRIC = re.compile(r"^((swarmlet|swarmscope|locust|node)_\w+|up|ALERTS)$")


def _family(name: str) -> str:
    return _HISTOGRAM_PARTS.sub("", name)


def test_readme_lists_exactly_the_metrics_dashboards_and_alerts_read() -> None:
    """The README's metric list (between its markers) names every metric family the
    dashboards and alert rules query, and nothing they do not."""
    listed_text = README.split("<!-- metrics:begin -->")[1].split("<!-- metrics:end -->")[0]
    listed = {
        _family(name.split("{")[0])
        for name in re.findall(r"`([A-Za-z_:][A-Za-z0-9_:]*(?:\{[^}]*\})?)`", listed_text)
        if _METRIC.match(name.split("{")[0])  # not the label names in backticks
    }
    thresholds = load_thresholds()
    used = metric_names(dashboards.all_dashboards(thresholds))
    for rule in all_threshold_rules(thresholds) + STACK_RULES:
        used |= expr_metrics(rule.expr)
    assert listed == {_family(name) for name in used}


def test_every_alert_has_a_runbook_heading() -> None:
    """runbook_url is README.md#<alert in lower case>: a `#### <Alert>` heading exists."""
    headings = {
        line[5:].strip().lower() for line in README.splitlines() if line.startswith("#### ")
    }
    rules = all_threshold_rules(load_thresholds()) + STACK_RULES
    for rule in rules:
        anchor = rule.annotations["runbook_url"].split("#", 1)[1]
        assert anchor in headings, rule.alert
