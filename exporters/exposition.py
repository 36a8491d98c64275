"""Metric families and the Prometheus text exposition format (version 0.0.4), without imports.

Why not prometheus_client here: importing it pulls in its HTTP server, push gateway client,
urllib, ssl, email and wsgiref (it imports them all from its package ``__init__``), which
costs about 11 MB of resident memory before a single metric exists -- more than half of what
node_exporter uses in total. The exporter only needs families of gauges, counters and
histograms and the text format, which this module provides in a few dozen lines. The tests
parse every output with prometheus_client's own parser, so the format stays checked against
the reference implementation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Final, Literal, Protocol

MetricType = Literal["gauge", "counter", "histogram"]

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class Sample:
    """One line of output: ``name{labels} value``."""

    __slots__ = ("labels", "name", "value")

    def __init__(self, name: str, labels: tuple[tuple[str, str], ...], value: float) -> None:
        self.name = name
        self.labels = labels
        self.value = value

    def __repr__(self) -> str:
        return f"Sample({self.name!r}, {self.labels!r}, {self.value!r})"


class MetricFamily:
    """A metric name with its help text, type, label names and this scrape's samples.

    >>> family = MetricFamily("swarmlet_cpu_frequency_hertz", "Current clock.", "gauge", ["cpu"])
    >>> family.add(["0"], 1.5e9)
    >>> print(render([family]).decode(), end="")
    # HELP swarmlet_cpu_frequency_hertz Current clock.
    # TYPE swarmlet_cpu_frequency_hertz gauge
    swarmlet_cpu_frequency_hertz{cpu="0"} 1500000000.0
    """

    __slots__ = ("documentation", "labelnames", "name", "samples", "type")

    def __init__(
        self,
        name: str,
        documentation: str,
        metric_type: MetricType,
        labelnames: Sequence[str] = (),
    ) -> None:
        if not _METRIC_NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        if metric_type == "counter" and not name.endswith("_total"):
            raise ValueError(f"counter {name!r} must end in _total")
        for label in labelnames:
            if not _LABEL_NAME.match(label) or label.startswith("__") or label == "le":
                raise ValueError(f"invalid label name {label!r} for {name}")
        self.name = name
        self.documentation = documentation
        self.type: MetricType = metric_type
        self.labelnames = tuple(labelnames)
        self.samples: list[Sample] = []

    def add(self, labelvalues: Sequence[str], value: float) -> None:
        """Add the sample for one label combination of a gauge or counter."""
        if self.type == "histogram":
            raise TypeError(f"{self.name} is a histogram: use add_histogram")
        self.samples.append(Sample(self.name, self._labels(labelvalues), float(value)))

    def add_histogram(
        self,
        labelvalues: Sequence[str],
        buckets: Sequence[tuple[float, float]],
        sum_value: float,
    ) -> None:
        """Add one histogram: cumulative ``(upper_bound, count)`` pairs ending with +Inf."""
        if self.type != "histogram":
            raise TypeError(f"{self.name} is a {self.type}: use add")
        if not buckets or not math.isinf(buckets[-1][0]):
            raise ValueError(f"{self.name}: the last bucket must be +Inf")
        labels = self._labels(labelvalues)
        for bound, count in buckets:
            le = (("le", _format_value(bound)),)
            self.samples.append(Sample(self.name + "_bucket", labels + le, float(count)))
        self.samples.append(Sample(self.name + "_count", labels, float(buckets[-1][1])))
        self.samples.append(Sample(self.name + "_sum", labels, float(sum_value)))

    def _labels(self, labelvalues: Sequence[str]) -> tuple[tuple[str, str], ...]:
        if len(labelvalues) != len(self.labelnames):
            raise ValueError(
                f"{self.name}: expected labels {self.labelnames}, got values {tuple(labelvalues)}"
            )
        return tuple(zip(self.labelnames, labelvalues, strict=True))


class Collector(Protocol):
    """A source of metrics: ``collect()`` builds fresh families on every scrape."""

    name: str

    def collect(self) -> Iterable[MetricFamily]: ...


def render(families: Iterable[MetricFamily]) -> bytes:
    """The text exposition of ``families`` (families without samples still show HELP/TYPE)."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.documentation)}")
        lines.append(f"# TYPE {family.name} {family.type}")
        for sample in family.samples:
            if sample.labels:
                labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sample.labels)
                lines.append(f"{sample.name}{{{labels}}} {_format_value(sample.value)}")
            else:
                lines.append(f"{sample.name} {_format_value(sample.value)}")
    lines.append("")
    return "\n".join(lines).encode("utf-8")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _format_value(value: float) -> str:
    """Go's float syntax, which Prometheus parses: +Inf, -Inf, NaN, otherwise repr()."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def gauge(name: str, documentation: str, labelnames: Sequence[str] = ()) -> MetricFamily:
    """A gauge family: a value that can go up and down."""
    return MetricFamily(name, documentation, "gauge", labelnames)


def counter(name: str, documentation: str, labelnames: Sequence[str] = ()) -> MetricFamily:
    """A counter family: a total that only grows (it may reset when its source restarts)."""
    return MetricFamily(name, documentation, "counter", labelnames)
