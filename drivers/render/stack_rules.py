"""Stack-health alerts (targets down, failing collectors, Pi throttling, faults left applied).

These do not come from thresholds.yaml but live beside the threshold alerts, generated the
same way and with their promtool cases written next to each rule, so a rule and the
situations it must (and must not) fire in are read and changed together.
"""

from __future__ import annotations

from drivers.render.humanize import prometheus_duration
from drivers.render.rule_model import AlertRule, Check, RuleCase, Series
from drivers.render.threshold_rules import CRITICAL, WARNING, runbook_url

GROUP = "swarmscope-stack"
EVALUATION_INTERVAL = 60.0
# The jobs whose targets must answer; Locust's master only runs while load is applied.
WATCHED_JOBS = ("swarmlet", "node", "pushgateway")
# A fault's revert runs on its target at its expected end; after this grace it is overdue.
FAULT_GRACE_SECONDS = 30.0
TARGET_DOWN_FOR = 60.0
COLLECTOR_FAILING_FOR = 120.0
THROTTLED_FOR = 60.0
THROTTLING_CONDITIONS = ("arm_frequency_capped", "throttled", "soft_temp_limit")


def _rule(
    alert: str, expr: str, for_seconds: float, severity: str, *, summary: str, description: str
) -> AlertRule:
    return AlertRule(
        alert=alert,
        expr=expr,
        for_seconds=for_seconds,
        labels={"severity": severity},
        annotations={
            "summary": summary,
            "description": description,
            "runbook_url": runbook_url(alert),
        },
    )


TARGET_DOWN = _rule(
    "SwarmscopeTargetDown",
    f'up{{job=~"{"|".join(WATCHED_JOBS)}"}} == 0',
    TARGET_DOWN_FOR,
    WARNING,
    summary="{{ $labels.job }} target {{ $labels.instance }} is down",
    description="Prometheus has not scraped the {{ $labels.job }} target {{ $labels.instance }} "
    f"(node {{{{ $labels.node }}}}) for {prometheus_duration(TARGET_DOWN_FOR)}: the node, its "
    "exporter or the network to it is down. Expected for the node a failure scenario "
    "takes down.",
)
COLLECTOR_FAILING = _rule(
    "SwarmletExporterCollectorFailing",
    "swarmlet_exporter_collector_success == 0",
    COLLECTOR_FAILING_FOR,
    WARNING,
    summary="swarmlet-exporter collector {{ $labels.collector }} fails on {{ $labels.node }}",
    description="The {{ $labels.collector }} collector of swarmlet-exporter on "
    "{{ $labels.node }} has "
    f"failed every scrape for {prometheus_duration(COLLECTOR_FAILING_FOR)}; its metrics are "
    "missing while the rest are served. The exporter's log says why.",
)
UNDER_VOLTAGE = _rule(
    "SwarmletRpiUnderVoltage",
    # The firmware's "now" bit flickers; a flag seen at any scrape of the last minute counts.
    'max_over_time(swarmlet_rpi_throttled{condition="under_voltage"}[1m]) == 1',
    0.0,
    CRITICAL,
    summary="{{ $labels.node }} is under-voltage now",
    description="The Raspberry Pi firmware reports under-voltage on {{ $labels.node }}: "
    "the power supply "
    "cannot hold 5 V, the Pi throttles, and every figure measured on it now is suspect.",
)
THROTTLED = _rule(
    "SwarmletRpiThrottled",
    f'swarmlet_rpi_throttled{{condition=~"{"|".join(THROTTLING_CONDITIONS)}"}} == 1',
    THROTTLED_FOR,
    WARNING,
    summary="{{ $labels.node }}: {{ $labels.condition }} now",
    description="The Raspberry Pi firmware reports {{ $labels.condition }} on "
    "{{ $labels.node }} for "
    f"{prometheus_duration(THROTTLED_FOR)}: the CPU runs below its clock, so latencies and "
    "CPU figures from this node are inflated. Check cooling and the temperature panel.",
)
FAULT_OVERRAN = _rule(
    "SwarmscopeFaultOverran",
    "swarmscope_fault_active == 1 and on (fault, target) "
    f"(swarmscope_fault_expected_end_timestamp_seconds + {FAULT_GRACE_SECONDS:g} < time())",
    0.0,
    CRITICAL,
    summary="Fault {{ $labels.fault }} on {{ $labels.target }} is still applied after its end",
    description="The {{ $labels.fault }} fault on {{ $labels.target }} should have been "
    "reverted on the "
    f"target more than {FAULT_GRACE_SECONDS:g}s ago but is still reported active. Check with "
    "`swarmscope fault list` and undo it with `swarmscope fault revert --all`.",
)

STACK_RULES = [TARGET_DOWN, COLLECTOR_FAILING, UNDER_VOLTAGE, THROTTLED, FAULT_OVERRAN]


def _minutes(count: float) -> float:
    return count * 60.0


def _target_down_cases() -> list[RuleCase]:
    exporter = {"job": "swarmlet", "instance": "10.0.0.11:9877", "node": "rpi-1"}
    node_exporter = {"job": "node", "instance": "10.0.0.11:9100", "node": "rpi-1"}
    locust = {"job": "locust", "instance": "locust:8089"}
    return [
        RuleCase(
            "target down: fires once down for its `for`, not before",
            60.0,
            (Series.of("up", exporter, "1 1 0 0 0 0"), Series.of("up", node_exporter, "1x5")),
            (
                Check(_minutes(2), TARGET_DOWN.alert),
                Check(_minutes(3), TARGET_DOWN.alert, (TARGET_DOWN.expected(exporter, 0.0),)),
            ),
        ),
        RuleCase(
            "target down: Locust's master comes and goes with the load, no alert",
            60.0,
            (Series.of("up", locust, "0x5"),),
            (Check(_minutes(4), TARGET_DOWN.alert),),
        ),
    ]


def _collector_cases() -> list[RuleCase]:
    failing = {"collector": "thermal", "node": "rpi-2", "job": "swarmlet"}
    working = {"collector": "agent", "node": "rpi-2", "job": "swarmlet"}
    metric = "swarmlet_exporter_collector_success"
    return [
        RuleCase(
            "collector failing: only the failing collector, after its `for`",
            60.0,
            (Series.of(metric, failing, "0x5"), Series.of(metric, working, "1x5")),
            (
                Check(_minutes(1), COLLECTOR_FAILING.alert),
                Check(
                    _minutes(3), COLLECTOR_FAILING.alert, (COLLECTOR_FAILING.expected(failing, 0),)
                ),
            ),
        )
    ]


def _throttling_cases() -> list[RuleCase]:
    metric = "swarmlet_rpi_throttled"

    def flags(condition: str, node: str = "rpi-3") -> dict[str, str]:
        return {"condition": condition, "node": node, "job": "swarmlet"}

    return [
        RuleCase(
            "under-voltage: fires when the flag is seen, resolves when it is gone",
            60.0,
            (
                Series.of(metric, flags("under_voltage"), "0 0 1 0 0 0 0"),
                Series.of(metric, flags("under_voltage", "rpi-4"), "0x6"),
            ),
            (
                Check(_minutes(1), UNDER_VOLTAGE.alert),
                Check(
                    _minutes(2),
                    UNDER_VOLTAGE.alert,
                    (UNDER_VOLTAGE.expected(flags("under_voltage"), 1),),
                ),
                Check(_minutes(5), UNDER_VOLTAGE.alert),
            ),
        ),
        RuleCase(
            "throttled: each throttling condition on its own, under-voltage is not one",
            60.0,
            (
                Series.of(metric, flags("soft_temp_limit"), "1x5"),
                Series.of(metric, flags("throttled"), "0x5"),
                Series.of(metric, flags("under_voltage"), "1x5"),
            ),
            (
                Check(0, THROTTLED.alert),  # pending: a flag must hold for its `for`
                Check(
                    _minutes(3), THROTTLED.alert, (THROTTLED.expected(flags("soft_temp_limit"), 1),)
                ),
            ),
        ),
    ]


def _fault_cases() -> list[RuleCase]:
    active, end = "swarmscope_fault_active", "swarmscope_fault_expected_end_timestamp_seconds"
    overdue = {"fault": "partition", "target": "rpi-1", "job": "swarmscope"}
    running = {"fault": "bandwidth", "target": "rpi-2", "job": "swarmscope"}
    reverted = {"fault": "netem", "target": "rpi-3", "job": "swarmscope"}
    return [
        RuleCase(
            "fault overran: only an active fault past its end plus the grace",
            60.0,
            (
                # ends at 120 s: overdue once time() > 150 s
                Series.of(active, overdue, "1x6"),
                Series.of(end, overdue, "120x6"),
                Series.of(active, running, "1x6"),
                Series.of(end, running, "3600x6"),
                Series.of(active, reverted, "0x6"),
                Series.of(end, reverted, "60x6"),
            ),
            (
                Check(_minutes(2), FAULT_OVERRAN.alert),
                Check(_minutes(3), FAULT_OVERRAN.alert, (FAULT_OVERRAN.expected(overdue, 1),)),
            ),
        ),
        RuleCase(
            "fault overran: an active fault without a pushed end is not judged",
            60.0,
            (Series.of(active, overdue, "1x6"),),
            (Check(_minutes(5), FAULT_OVERRAN.alert),),
        ),
    ]


def stack_cases() -> list[RuleCase]:
    return _target_down_cases() + _collector_cases() + _throttling_cases() + _fault_cases()
