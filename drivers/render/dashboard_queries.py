"""Run every query of the Grafana dashboards against a real Prometheus and report what fails.

Grafana itself cannot run everywhere (it does not here), but every panel is a PromQL query
over HTTP: this takes each panel target, annotation and template variable from the
dashboard JSON, substitutes Grafana's variables as Grafana would (a multi-value variable
with "All" selected becomes the regex of its current values), runs it (a range query over
the recent window, or an instant query where the panel asks for one) and reports it as
``ok``, ``empty``, ``empty (allowed: reason)`` or ``invalid`` with Prometheus' own error.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from drivers.monitoring.prometheus_api import PrometheusAPI, PrometheusError
from drivers.render.promql import PromQLError, selectors

OK, EMPTY, ALLOWED, INVALID = "ok", "empty", "empty (allowed)", "invalid"
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?P<selector>.+?)\s*,\s*(?P<label>\w+)\s*\)\s*$")
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    where: str  # "panel 'Title' A", "annotation 'Fault windows'"
    expr: str
    instant: bool


@dataclass(frozen=True)
class QueryResult:
    query: PanelQuery
    resolved: str
    status: str
    detail: str

    @property
    def failed(self) -> bool:
        return self.status in (EMPTY, INVALID)

    def line(self) -> str:
        return f"{self.status:<16} {self.query.dashboard}: {self.query.where}: {self.detail}"


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # panels inside a collapsed row


def panel_queries(dashboard: dict[str, Any]) -> list[PanelQuery]:
    """Every PromQL query of a dashboard: panel targets and annotations."""
    name = str(dashboard.get("uid") or dashboard.get("title"))
    found = []
    for panel in _panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if target.get("hide") or not target.get("expr"):
                continue
            where = f"panel {panel.get('title', '?')!r} {target.get('refId', '')}".rstrip()
            found.append(PanelQuery(name, where, target["expr"], bool(target.get("instant"))))
    for annotation in dashboard.get("annotations", {}).get("list", []):
        expr = annotation.get("expr") or annotation.get("target", {}).get("expr")
        if expr:
            where = f"annotation {annotation.get('name', '?')!r}"
            found.append(PanelQuery(name, where, expr, instant=False))
    return found


def query_variables(dashboard: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """name -> (selector, label) of every ``label_values(selector, label)`` variable."""
    variables = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        match = _LABEL_VALUES.match(text or str(variable.get("definition", "")))
        if match:
            variables[variable["name"]] = (match.group("selector"), match.group("label"))
    return variables


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Grafana's ``$name``, ``${name}``, ``${name:fmt}`` and ``[[name]]``, from ``values``."""

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        return values.get(name, match.group(0))

    return _VARIABLE.sub(replace, expr)


_REGEX_META = re.compile(r"[$^*{}\[\]'+?.()|]")


def _regex_escape(value: str) -> str:
    """A label value inside a PromQL regex string, escaped as Grafana's Prometheus source
    does: metacharacters get a backslash, doubled because the regex sits in a string."""
    value = value.replace("\\", "\\\\\\\\")
    return _REGEX_META.sub(lambda match: "\\\\" + match.group(), value)


class DashboardQueryChecker:
    def __init__(
        self,
        api: PrometheusAPI,
        *,
        window_seconds: float = 900.0,
        step_seconds: float = 15.0,
        rate_interval: str = "1m",
        allowed_empty: Mapping[str, str] | None = None,
        now: float | None = None,
    ) -> None:
        self.api = api
        self.window = window_seconds
        self.step = step_seconds
        self.end = time.time() if now is None else now
        self.allowed_empty = dict(allowed_empty or {})
        # Grafana's built-in interval variables, at the values this check uses.
        self.builtins = {
            "__rate_interval": rate_interval,
            "__interval": f"{step_seconds:g}s",
            "__range": f"{window_seconds:g}s",
        }

    def check(self, dashboard: dict[str, Any]) -> list[QueryResult]:
        values = dict(self.builtins)
        results = []
        name = str(dashboard.get("uid") or dashboard.get("title"))
        for variable, (selector, label) in sorted(query_variables(dashboard).items()):
            options = self._label_values(selector, label)
            text = f"label_values({selector}, {label})"
            query = PanelQuery(name, f"variable {variable!r}", text, instant=True)
            if options is None:
                results.append(QueryResult(query, selector, INVALID, "selector refused"))
                continue
            status = OK if options else EMPTY
            results.append(QueryResult(query, selector, status, f"{len(options)} values"))
            # "All": Grafana joins the current values into one regex alternation.
            values[variable] = (
                "(" + "|".join(_regex_escape(o) for o in options) + ")" if options else ""
            )
        for query in panel_queries(dashboard):
            results.append(self._run(query, substitute(query.expr, values)))
        return results

    def _label_values(self, selector: str, label: str) -> list[str] | None:
        try:
            samples = self.api.query(f"group by ({label}) ({selector})", at=self.end)
        except PrometheusError:
            return None
        return sorted({s.labels[label] for s in samples if label in s.labels})

    def _run(self, query: PanelQuery, resolved: str) -> QueryResult:
        try:
            if query.instant:
                count = len(self.api.query(resolved, at=self.end))
            else:
                series = self.api.query_range(resolved, self.end - self.window, self.end, self.step)
                count = sum(1 for s in series if s.points)
        except PrometheusError as exc:
            return QueryResult(query, resolved, INVALID, str(exc))
        if count:
            return QueryResult(query, resolved, OK, f"{count} series")
        reason = self.allowed_empty.get(query.expr)
        if reason:
            return QueryResult(query, resolved, ALLOWED, reason)
        return QueryResult(query, resolved, EMPTY, f"no data in the last {self.window:g}s")


def metric_names(dashboards: list[dict[str, Any]]) -> set[str]:
    """Every metric name the dashboards' queries and variables read."""
    names: set[str] = set()
    for dashboard in dashboards:
        exprs = [query.expr for query in panel_queries(dashboard)]
        exprs += [selector for selector, _ in query_variables(dashboard).values()]
        for expr in exprs:
            try:
                names |= {s.metric for s in selectors(substitute(expr, {}))}
            except PromQLError:
                continue  # an unreadable query is reported by the checker, not here
    return names
