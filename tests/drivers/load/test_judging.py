"""Thresholds judge Locust's figures as the alert rules do; load shapes are plain data."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from drivers.load.exit_code import Judged, exit_code, judge, judged_request_types
from drivers.load.shapes import Stage, parse_stages, stage_at
from drivers.thresholds import Verdict, load_thresholds


@dataclass
class Entry:
    avg_response_time: float  # ms, as Locust keeps it
    num_requests: int = 10


THRESHOLDS = load_thresholds()
LATENCY = THRESHOLDS["coordination_latency"]


def test_the_worst_pair_decides() -> None:
    """Mean per pair, worst pair judged: the same reading as the threshold's PromQL."""
    slow_ms = (LATENCY.target + LATENCY.acceptable) / 2 * 1000  # between target and acceptable
    entries = {
        ("a->b", "rtt"): Entry(0.3),
        ("a->c", "rtt"): Entry(slow_ms),
        ("a->d", "rtt"): Entry(10_000, num_requests=0),  # nothing completed: not a pair yet
        ("a->b", "batch"): Entry(99_999),  # another request type: not judged
    }
    (result,) = judge(entries, {"rtt": "coordination_latency"}, THRESHOLDS)
    assert (result.value, result.worst_at) == (pytest.approx(slow_ms / 1000), "a->c")
    assert result.verdict is Verdict.ACCEPTABLE


def test_nothing_measured_is_said_so() -> None:
    """No completed request of the judged type is 'not measured', not a pass in disguise."""
    (result,) = judge({}, {"rtt": "coordination_latency"}, THRESHOLDS)
    assert result.verdict is None
    assert "not measured" in result.describe(LATENCY)


def test_exit_codes_follow_the_worst_verdict_and_failures() -> None:
    """0 met, 1 acceptable or failed requests, 2 failed: the codes of `swarmscope verdict`."""

    def judged(verdict: Verdict | None) -> Judged:
        return Judged("coordination_latency", "rtt", 0.001, "a->b", verdict)

    assert exit_code([judged(Verdict.MET)], had_failures=False) == 0
    assert exit_code([judged(Verdict.MET)], had_failures=True) == 1
    assert exit_code([judged(Verdict.ACCEPTABLE), judged(Verdict.MET)], had_failures=False) == 1
    assert exit_code([judged(Verdict.FAILED)], had_failures=True) == 2
    assert exit_code([judged(None)], had_failures=False) == 0


def test_user_classes_declare_what_is_judged() -> None:
    """The message round-trip user is judged on coordination latency; the stream user is not."""

    class Judgeless:
        pass

    class RoundTrip:
        judged_by = {"rtt": "coordination_latency"}

    assert judged_request_types([Judgeless, RoundTrip]) == {"rtt": "coordination_latency"}


def test_judging_an_unknown_or_non_time_threshold_is_a_bug() -> None:
    """A user class naming a missing or byte-valued threshold fails loudly."""
    with pytest.raises(KeyError, match="nope"):
        judge({}, {"rtt": "nope"}, THRESHOLDS)
    with pytest.raises(ValueError, match="memory_footprint"):
        judge({}, {"rtt": "memory_footprint"}, THRESHOLDS)


def test_stages_parse_into_cumulative_end_times() -> None:
    """'30s:5:1,1m:20:2' is 5 users until 30 s, 20 users until 90 s, then the end."""
    stages = parse_stages("30s:5:1, 1m:20:2")
    assert stages == (Stage(30.0, 5, 1.0), Stage(90.0, 20, 2.0))
    assert stage_at(stages, 0) == stages[0]
    assert stage_at(stages, 30) == stages[1]
    assert stage_at(stages, 90) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("30s:5", r"stage 1 '30s:5': expected DURATION:USERS:SPAWN_RATE"),
        ("30s:5:1,x:1:1", r"stage 2 'x:1:1': 'x' is not a quantity"),
        ("30s:-1:1", r"stage 1 '30s:-1:1': duration and spawn rate must be positive"),
    ],
)
def test_bad_stages_name_the_stage(text: str, message: str) -> None:
    """A typo in --stages points at the stage it is in."""
    with pytest.raises(ValueError, match=message):
        parse_stages(text)
