"""promtool unit tests for the threshold alerts, derived from thresholds.yaml.

For every threshold, one test group per situation: meeting the target, exactly at the
target, between target and acceptable, exactly at acceptable, past acceptable, and no
series at all. Values follow the threshold's own numbers, so editing thresholds.yaml moves
the tests with it.

The input series are derived from the threshold's ``expr``: a plain gauge, a counter read
through ``rate()``, or a histogram's mean (``rate(x_sum) / rate(x_count)``). Each group also
asks promtool to evaluate the expression itself and compare it with the intended value by
float equality, so "exactly at the target" really is exactly at it, and a wrong guess about
the expression's shape fails loudly instead of testing nothing. Counter inputs are whole
numbers in whole-number steps: every sum is exact and the only rounding is Prometheus' own
final division, which is reproduced here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from drivers.errors import ConfigError
from drivers.render.promql import PromQLError, Selector, outer_grouping, selectors
from drivers.render.rule_model import (
    AlertRule,
    Check,
    ExpectedSample,
    ExprCheck,
    RuleCase,
    Series,
)
from drivers.render.threshold_rules import CRITICAL, alert_name, threshold_rules
from drivers.thresholds import Threshold, Verdict
from drivers.units import parse_duration

EVALUATION_INTERVAL = 60.0
_RATE_FUNCTIONS = ("rate",)


@dataclass(frozen=True)
class Feed:
    """How to make ``expr`` produce a chosen value: which series, of which shape."""

    kind: str  # "gauge", "rate" (a counter) or "mean" (a histogram's _sum / _count)
    metric: str  # the gauge or counter; for "mean" the histogram's name without suffix
    matchers: dict[str, str]
    window: float  # seconds of the rate() range; 0 for a gauge
    by: tuple[str, ...]


def _error(threshold: Threshold, problem: str) -> ConfigError:
    return ConfigError(
        f"thresholds.yaml: thresholds.{threshold.key}.expr: cannot derive promtool test "
        f"input: {problem}"
    )


def _window_seconds(threshold: Threshold, selector: Selector) -> float:
    try:
        return parse_duration(selector.range or "")
    except ValueError:
        raise _error(threshold, f"unreadable range [{selector.range}]") from None


def feed_of(threshold: Threshold) -> Feed:
    try:
        found = selectors(threshold.expr)
    except PromQLError as exc:
        raise _error(threshold, str(exc)) from None
    by = outer_grouping(threshold.expr)
    if by is None or not found:
        raise _error(threshold, "expected an aggregation like `max by (node) (METRIC)`")
    rated = [s for s in found if s.function in _RATE_FUNCTIONS]
    if len(rated) == 2 and {s.metric for s in rated} == {
        rated[0].metric.removesuffix("_sum") + "_sum",
        rated[0].metric.removesuffix("_sum") + "_count",
    }:
        kind, chosen, metric = "mean", rated[0], rated[0].metric.removesuffix("_sum")
        if rated[0].range != rated[1].range:
            raise _error(threshold, "the _sum and _count rates use different ranges")
    elif len(rated) == 1:
        kind, chosen, metric = "rate", rated[0], rated[0].metric
    elif not rated and not any(s.range for s in found):
        kind, chosen, metric = "gauge", found[0], found[0].metric
    else:
        raise _error(threshold, "expected a gauge, rate(COUNTER[w]) or rate(H_sum) / rate(H_count)")
    matchers = {}
    for matcher in chosen.matchers:
        if matcher.op != "=":
            raise _error(threshold, f'only `label="value"` matchers are supported: {matcher}')
        matchers[matcher.label] = matcher.value
    window = _window_seconds(threshold, chosen) if kind != "gauge" else 0.0
    return Feed(kind, metric, matchers, window, by)


def _series_labels(feed: Feed, offset: int) -> dict[str, str]:
    """Result labels of one input: the offending series is offset 0, a healthy one offset 1."""
    return {label: f"rpi-{index + 1 + offset}" for index, label in enumerate(feed.by)}


@dataclass(frozen=True)
class _Built:
    series: tuple[Series, ...]
    value: float  # what Prometheus computes from them, exactly


def _intervals(feed: Feed) -> list[float]:
    """Sample intervals that put a sample on both ends of every evaluated window."""
    if feed.kind == "gauge":
        return [EVALUATION_INTERVAL]
    window = int(feed.window)
    if window != feed.window:
        raise ValueError("fractional rate windows are not supported")
    step = math.gcd(window, int(EVALUATION_INTERVAL))
    return [float(s) for s in range(step, 0, -1) if step % s == 0]


def _build(
    feed: Feed,
    labels: dict[str, str],
    wanted: float,
    *,
    interval: float,
    samples: int,
    accept: Callable[[float], bool],
) -> _Built | None:
    """Series making the expression return a value ``accept`` takes, closest to ``wanted``."""
    all_labels = {**feed.matchers, **labels}
    if feed.kind == "gauge":
        if not accept(wanted):
            return None
        return _Built((Series.of(feed.metric, all_labels, f"{wanted!r}x{samples}"),), wanted)
    steps = feed.window / interval  # whole samples per window
    # Prometheus' rate(): (last - first) * factor, factor = (extrapolated / sampled) / range;
    # with a sample on both ends of the range nothing is extrapolated: factor = 1 / range.
    factor = 1.0 / feed.window
    candidates: list[_Built] = []
    if feed.kind == "rate":
        for increment in _near(wanted * interval):
            value = (steps * increment) * factor
            series = Series.of(feed.metric, all_labels, f"0+{increment}x{samples}")
            candidates.append(_Built((series,), value))
    else:
        for count_step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000):
            for sum_step in _near(wanted * count_step):
                value = ((steps * sum_step) * factor) / ((steps * count_step) * factor)
                pair = (
                    Series.of(f"{feed.metric}_sum", all_labels, f"0+{sum_step}x{samples}"),
                    Series.of(f"{feed.metric}_count", all_labels, f"0+{count_step}x{samples}"),
                )
                candidates.append(_Built(pair, value))
    fitting = [c for c in candidates if accept(c.value)]
    return min(fitting, key=lambda c: abs(c.value - wanted)) if fitting else None


def _near(target: float) -> Iterator[int]:
    centre = round(target)
    for delta in (0, -1, 1, -2, 2):
        if centre + delta >= 1:
            yield centre + delta


@dataclass(frozen=True)
class _Situation:
    name: str
    value: float
    verdict: Verdict
    exact: bool  # the value must be hit exactly (a bound), not just judged the same


def _situations(threshold: Threshold) -> list[_Situation]:
    target, acceptable = threshold.target, threshold.acceptable
    lower = threshold.lower_is_better
    show = threshold.show
    better = target / 2 if lower else target * 2
    worse = acceptable * 2 if lower else acceptable / 2
    found = [
        _Situation(f"{show(better)} meets the target", better, Verdict.MET, False),
        _Situation(f"exactly at the target {show(target)}: no alert", target, Verdict.MET, True),
    ]
    if target != acceptable:
        between = (target + acceptable) / 2
        found += [
            _Situation(
                f"{show(between)} is between target and acceptable",
                between,
                Verdict.ACCEPTABLE,
                False,
            ),
            _Situation(
                f"exactly at acceptable {show(acceptable)}: warning only",
                acceptable,
                Verdict.ACCEPTABLE,
                True,
            ),
        ]
    found.append(_Situation(f"{show(worse)} misses acceptable", worse, Verdict.FAILED, False))
    return found


def _acceptor(threshold: Threshold, situation: _Situation) -> Callable[[float], bool]:
    if situation.exact:
        return lambda value: value == situation.value
    return lambda value: threshold.judge(value) == situation.verdict


def threshold_cases(threshold: Threshold) -> list[RuleCase]:
    feed = feed_of(threshold)
    rules = threshold_rules(threshold)
    name = alert_name(threshold)
    fire_at = _minutes_after(feed.window + threshold.for_seconds + EVALUATION_INTERVAL)
    pending_at = threshold.for_seconds - EVALUATION_INTERVAL
    cases = []
    healthy_situation = _situations(threshold)[0]
    for situation in _situations(threshold):
        built = _build_pair(threshold, feed, situation, healthy_situation, fire_at)
        interval, offending, healthy = built
        firing = _firing(rules, situation.verdict)
        checks = [
            Check(
                fire_at,
                name,
                tuple(r.expected(_series_labels(feed, 0), offending.value) for r in firing),
            ),
        ]
        if firing and pending_at >= 0:
            checks.insert(0, Check(pending_at, name))  # still pending: `for` holds it back
        expected = (
            ExpectedSample(_series_labels(feed, 0), offending.value),
            ExpectedSample(_series_labels(feed, 1), healthy.value),
        )
        cases.append(
            RuleCase(
                name=f"{threshold.key}: {situation.name}",
                interval_seconds=interval,
                series=offending.series + healthy.series,
                checks=tuple(checks),
                expr_checks=(ExprCheck(fire_at, threshold.expr, expected),),
            )
        )
    cases.append(
        RuleCase(
            name=f"{threshold.key}: no series, no alert",
            interval_seconds=EVALUATION_INTERVAL,
            series=(),
            checks=(Check(fire_at, name),),
            expr_checks=(ExprCheck(fire_at, threshold.expr, ()),),
        )
    )
    return cases


def _build_pair(
    threshold: Threshold, feed: Feed, situation: _Situation, healthy: _Situation, fire_at: float
) -> tuple[float, _Built, _Built]:
    """The offending and the healthy inputs, on one sample interval both can use."""
    for interval in _intervals(feed):
        samples = int((fire_at + EVALUATION_INTERVAL) / interval)
        offending = _build(
            feed,
            _series_labels(feed, 0),
            situation.value,
            interval=interval,
            samples=samples,
            accept=_acceptor(threshold, situation),
        )
        fine = _build(
            feed,
            _series_labels(feed, 1),
            healthy.value,
            interval=interval,
            samples=samples,
            accept=_acceptor(threshold, healthy),
        )
        if offending and fine:
            return interval, offending, fine
    raise _error(
        threshold,
        f"no whole-number {feed.kind} input gives exactly {threshold.show(situation.value)} "
        f"({situation.name})",
    )


def _firing(rules: list[AlertRule], verdict: Verdict) -> list[AlertRule]:
    if verdict is Verdict.MET:
        return []
    if verdict is Verdict.ACCEPTABLE:
        return [rule for rule in rules if rule.labels["severity"] != CRITICAL]
    return rules  # past acceptable: the critical alert, and the warning it inhibits


def _minutes_after(seconds: float) -> float:
    return math.ceil(seconds / EVALUATION_INTERVAL) * EVALUATION_INTERVAL


def all_threshold_cases(thresholds: dict[str, Threshold]) -> list[RuleCase]:
    return [case for threshold in thresholds.values() for case in threshold_cases(threshold)]
