"""Grafana dashboard JSON built from Python: panels, queries, layout and threshold colours.

Only the fields swarmscope uses are modelled; the JSON follows Grafana 10/11's dashboard
schema. Panel thresholds of a swarmscope threshold come from ``Threshold`` (value, unit,
direction), never from a number typed here: a panel and its alert rule cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drivers.render.output import header
from drivers.render.provisioning import DATASOURCE_NAME, DATASOURCE_UID
from drivers.thresholds import Threshold

SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24
# thresholds.yaml units -> Grafana's unit ids
UNITS = {"seconds": "s", "bytes": "decbytes", "ratio": "percentunit"}
GREEN, ORANGE, RED = "green", "orange", "red"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False
    format: str = "time_series"  # "table" or "heatmap" for those panels
    # Why an empty answer is fine (e.g. "no alert fires"); None: it must return data.
    may_be_empty: str | None = None


def threshold_steps(threshold: Threshold) -> list[dict[str, Any]]:
    """Green where the target is met, orange where only acceptable, red past acceptable.

    Grafana colours a value from a step's value upwards, so a value exactly at the target
    already shows orange, though it meets the target: the closest Grafana can draw.
    """
    if threshold.lower_is_better:
        steps: list[dict[str, Any]] = [{"color": GREEN, "value": None}]
        if threshold.target != threshold.acceptable:
            steps.append({"color": ORANGE, "value": threshold.target})
        steps.append({"color": RED, "value": threshold.acceptable})
        return steps
    steps = [{"color": RED, "value": None}]
    if threshold.target != threshold.acceptable:
        steps.append({"color": ORANGE, "value": threshold.acceptable})
    steps.append({"color": GREEN, "value": threshold.target})
    return steps


def alarm_steps(at: float = 1) -> list[dict[str, Any]]:
    """For counts of bad things: green at zero, red from ``at``."""
    return [{"color": GREEN, "value": None}, {"color": RED, "value": at}]


_PLAIN_STEPS: list[dict[str, Any]] = [{"color": GREEN, "value": None}]


@dataclass
class Panel:
    kind: str
    title: str
    queries: list[Query]
    description: str = ""
    unit: str = ""
    width: int = 12
    height: int = 8
    steps: list[dict[str, Any]] | None = None  # None: no thresholds drawn
    options: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    transformations: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        defaults: dict[str, Any] = {
            "unit": self.unit,
            "thresholds": {"mode": "absolute", "steps": self.steps or _PLAIN_STEPS},
            "custom": self.custom,
            **self.defaults,
        }
        return {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "datasource": DATASOURCE,
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "targets": [
                {
                    "refId": chr(ord("A") + index),
                    "datasource": DATASOURCE,
                    "editorMode": "code",
                    "expr": query.expr,
                    "legendFormat": query.legend or "__auto",
                    "format": query.format,
                    "instant": query.instant,
                    "range": not query.instant,
                }
                for index, query in enumerate(self.queries)
            ],
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": self.options,
            "transformations": self.transformations,
        }


_REDUCE_LAST = {"calcs": ["lastNotNull"], "fields": "", "values": False}


def timeseries(
    title: str, queries: list[Query], unit: str = "", *, steps: list[dict[str, Any]] | None = None,
    description: str = "", width: int = 12, stacked: bool = False, step_line: bool = False,
) -> Panel:  # fmt: skip
    custom: dict[str, Any] = {
        "drawStyle": "line",
        "lineInterpolation": "stepAfter" if step_line else "linear",
        "lineWidth": 1,
        "fillOpacity": 10,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stacked else "none", "group": "A"},
        # Dashed lines at the target and acceptable values, shaded between.
        "thresholdsStyle": {"mode": "line+area" if steps else "off"},
    }
    return Panel(
        "timeseries",
        title,
        queries,
        description,
        unit,
        width,
        steps=steps,
        custom=custom,
        defaults={"color": {"mode": "palette-classic"}, "min": 0},
        options={
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    )


def stat(
    title: str, queries: list[Query], unit: str = "", *, steps: list[dict[str, Any]] | None = None,
    description: str = "", width: int = 6, height: int = 4,
) -> Panel:  # fmt: skip
    return Panel(
        "stat",
        title,
        queries,
        description,
        unit,
        width,
        height,
        steps=steps,
        defaults={"color": {"mode": "thresholds"}},
        options={
            "reduceOptions": _REDUCE_LAST,
            "colorMode": "value",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "value_and_name",
        },
    )


def bargauge(
    title: str, queries: list[Query], unit: str = "", *, steps: list[dict[str, Any]] | None = None,
    description: str = "", width: int = 12, height: int = 8, vertical: bool = False,
) -> Panel:  # fmt: skip
    return Panel(
        "bargauge",
        title,
        queries,
        description,
        unit,
        width,
        height,
        steps=steps,
        defaults={"color": {"mode": "thresholds"}, "min": 0},
        options={
            "reduceOptions": _REDUCE_LAST,
            "orientation": "vertical" if vertical else "horizontal",
            "displayMode": "gradient",
            "valueMode": "color",
            "showUnfilled": True,
            "namePlacement": "auto",
            "sizing": "auto",
        },
    )


def heatmap(
    title: str, query: Query, unit: str, *, description: str = "", width: int = 12
) -> Panel:
    """Bucket counts over time from a Prometheus histogram (query format ``heatmap``)."""
    return Panel(
        "heatmap",
        title,
        [query],
        description,
        "",
        width,
        options={
            "calculate": False,
            "cellGap": 1,
            "color": {
                "mode": "scheme",
                "scheme": "Oranges",
                "scale": "exponential",
                "exponent": 0.5,
                "steps": 64,
                "reverse": False,
            },
            "yAxis": {"axisPlacement": "left", "unit": unit},
            "rowsFrame": {"layout": "auto"},
            "filterValues": {"le": 1e-9},
            "tooltip": {"mode": "single", "yHistogram": True},
            "legend": {"show": True},
            "exemplars": {"color": "rgba(255,0,255,0.7)"},
        },
    )


def matrix_table(
    title: str, query: Query, rows: str, columns: str, unit: str = "", *,
    steps: list[dict[str, Any]] | None = None, description: str = "", width: int = 12,
) -> Panel:  # fmt: skip
    """One row per ``rows`` label value, one column per ``columns`` label value."""
    return Panel(
        "table",
        title,
        [query],
        description,
        unit,
        width,
        steps=steps,
        custom={
            "align": "auto",
            "cellOptions": {"type": "color-background" if steps else "auto"},
            "inspect": False,
        },
        defaults={"color": {"mode": "thresholds"}},
        options={"showHeader": True, "cellHeight": "sm", "footer": {"show": False}},
        transformations=[
            {
                "id": "groupingToMatrix",
                "options": {"rowField": rows, "columnField": columns, "valueField": "Value"},
            }
        ],
    )


def label_table(
    title: str, query: Query, *, description: str = "", width: int = 24, value: bool = False
) -> Panel:
    """The label sets of an instant query, one row each (time hidden, value if asked)."""
    return Panel(
        "table",
        title,
        [query],
        description,
        width=width,
        custom={"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False},
        options={"showHeader": True, "cellHeight": "sm", "footer": {"show": False}},
        transformations=[
            {
                "id": "organize",
                "options": {"excludeByName": {"Time": True, "Value": not value, "__name__": True}},
            }
        ],
    )


def state_timeline(
    title: str, queries: list[Query], states: dict[int, tuple[str, str]], *,
    description: str = "", width: int = 24, height: int = 8,
) -> Panel:  # fmt: skip
    """``states`` maps a value to (text, colour), e.g. {0: ("down", "red"), 1: ("up", "green")}."""
    mapping = {
        str(value): {"text": text, "color": colour, "index": index}
        for index, (value, (text, colour)) in enumerate(sorted(states.items()))
    }
    return Panel(
        "state-timeline",
        title,
        queries,
        description,
        width=width,
        height=height,
        custom={"lineWidth": 0, "fillOpacity": 70},
        defaults={
            "color": {"mode": "thresholds"},
            "mappings": [{"type": "value", "options": mapping}],
        },
        options={
            "mergeValues": True,
            "showValue": "auto",
            "alignValue": "left",
            "rowHeight": 0.9,
            "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom"},
            "tooltip": {"mode": "single", "sort": "none"},
        },
    )


def threshold_panel(threshold: Threshold, kind: str = "timeseries", width: int = 12) -> Panel:
    """The threshold's own ``expr`` against its target and acceptable, in its unit."""
    title = (
        f"{threshold.title} (target {threshold.target_text}, "
        f"acceptable {threshold.acceptable_text})"
    )
    description = f"{threshold.description} Threshold `{threshold.key}` of thresholds.yaml."
    legend = " → ".join("{{" + label + "}}" for label in _by_labels(threshold))
    unit = UNITS[threshold.unit]
    steps = threshold_steps(threshold)
    if kind == "bargauge":
        query = Query(threshold.expr, legend, instant=True)
        return bargauge(title, [query], unit, steps=steps, description=description, width=width)
    query = Query(threshold.expr, legend)
    return timeseries(title, [query], unit, steps=steps, description=description, width=width)


def _by_labels(threshold: Threshold) -> tuple[str, ...]:
    from drivers.render.promql import outer_grouping  # noqa: PLC0415 - avoid a cycle at import

    return outer_grouping(threshold.expr) or ()


@dataclass(frozen=True)
class Row:
    title: str
    panels: list[Panel]


@dataclass(frozen=True)
class Variable:
    """A multi-value query variable over one label, "All" selected by default."""

    name: str
    label: str
    metric: str  # the series whose label values are offered

    @property
    def query(self) -> str:
        return f"label_values({self.metric}, {self.name})"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": "query",
            "datasource": DATASOURCE,
            "definition": self.query,
            "query": {"query": self.query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "refresh": 2,
            "multi": True,
            "includeAll": True,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "options": [],
            "regex": "",
            "sort": 1,
            "hide": 0,
        }


def _datasource_variable() -> dict[str, Any]:
    # A variable rather than a fixed uid: a dashboard pushed to another Grafana lets the user
    # pick that Grafana's Prometheus; the provisioned one defaults to ours.
    return {
        "name": "datasource",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "current": {"selected": False, "text": DATASOURCE_NAME, "value": DATASOURCE_UID},
        "options": [],
        "refresh": 1,
        "regex": "",
        "hide": 0,
    }


# max_over_time: a fault shorter than the step would fall between two evaluation points.
FAULT_ANNOTATION_EXPR = (
    "max by (fault, target) (max_over_time(swarmscope_fault_active[$__interval])) == 1"
)


def _annotations() -> dict[str, Any]:
    return {
        "list": [
            {
                "builtIn": 1,
                "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": True,
                "hide": True,
                "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts",
                "type": "dashboard",
            },
            {
                # Consecutive points of one series become one region: a fault window.
                "name": "Fault windows",
                "datasource": DATASOURCE,
                "enable": True,
                "iconColor": "rgba(255, 96, 96, 1)",
                "expr": FAULT_ANNOTATION_EXPR,
                "step": "5s",
                "titleFormat": "{{fault}}",
                "textFormat": "{{fault}} on {{target}}",
                "tagKeys": "fault,target",
                "useValueForTime": False,
            },
        ]
    }


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: list[Row]
    variables: tuple[Variable, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return _dashboard_json(self)

    def empty_allowed(self) -> dict[str, str]:
        """Panel queries for which no data is a fine answer, with the reason."""
        return {
            query.expr: query.may_be_empty
            for row in self.rows
            for panel in row.panels
            for query in panel.queries
            if query.may_be_empty
        } | {FAULT_ANNOTATION_EXPR: "no fault was applied in the time range"}


def _dashboard_json(board: Dashboard) -> dict[str, Any]:
    rows, variables = board.rows, board.variables
    panels: list[dict[str, Any]] = []
    next_id = 1
    y = 0
    for row in rows:
        panels.append(
            {
                "id": next_id,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                "panels": [],
            }
        )
        next_id += 1
        y += 1
        x, line_height = 0, 0
        for panel in row.panels:
            if x + panel.width > GRID_WIDTH:
                x, y, line_height = 0, y + line_height, 0
            panels.append(panel.to_json(next_id, x, y))
            next_id += 1
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height
    return {
        "uid": board.uid,
        "title": board.title,
        "description": f"{board.description} ({header('thresholds.yaml')})",
        "tags": ["swarmscope"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,  # shared crosshair: a moment lines up across panels
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "links": [
            {
                "type": "dashboards",
                "tags": ["swarmscope"],
                "asDropdown": True,
                "title": "swarmscope",
                "includeVars": False,
                "keepTime": True,
            }
        ],
        "annotations": _annotations(),
        "templating": {
            "list": [_datasource_variable()] + [variable.to_json() for variable in variables]
        },
        "panels": panels,
    }
