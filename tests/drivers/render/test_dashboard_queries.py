"""The dashboard query checker, against a real Prometheus scraping a real Pushgateway.

The full check (every panel returns data after a short lab run) needs the lab and the
scenarios; here the checker itself is shown to tell valid, invalid and empty queries apart,
to resolve Grafana variables, and every generated query is shown to be valid PromQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.exposition import push_to_gateway

from drivers.monitoring.prometheus_api import PrometheusAPI
from drivers.render import dashboards
from drivers.render.dashboard_queries import (
    ALLOWED,
    EMPTY,
    INVALID,
    OK,
    DashboardQueryChecker,
    panel_queries,
    substitute,
)
from drivers.thresholds import load_thresholds
from tests.prometheus.stack import Stack, monitoring_stack, wait_until_targets

PROBE = "swarmscope_checker_probe_seconds"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with monitoring_stack(tmp_path_factory.mktemp("stack")) as running:
        wait_until_targets(running.prometheus, {"pushgateway"})
        registry = CollectorRegistry()
        gauge = Gauge(PROBE, "A value to find.", ["node"], registry=registry)
        gauge.labels("rpi-1").set(1.5)
        gauge.labels("rpi-2").set(2.5)
        push_to_gateway(running.pushgateway, job="swarmscope", registry=registry)
        api = PrometheusAPI(running.prometheus)
        deadline = time.monotonic() + 15
        while not api.query(PROBE) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert api.query(PROBE), "Prometheus did not scrape the pushed sample"
        yield running


def _target(expr: str, ref: str = "A", instant: bool = False) -> dict[str, Any]:
    return {"refId": ref, "expr": expr, "instant": instant}


def _dashboard() -> dict[str, Any]:
    return {
        "uid": "checker-test",
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus"},
                {
                    "name": "node",
                    "type": "query",
                    "query": {"query": f"label_values({PROBE}, node)", "refId": "V"},
                },
            ]
        },
        "annotations": {"list": [{"name": "probe", "expr": f"{PROBE} > 2"}]},
        "panels": [
            {
                "title": "with data",
                "targets": [_target(f'max by (node) ({PROBE}{{node=~"$node"}})')],
            },
            {"title": "instant", "targets": [_target(f"sum({PROBE})", instant=True)]},
            {"title": "broken", "targets": [_target(f"sum(rate({PROBE}[5m])")]},
            {
                "type": "row",
                "title": "a collapsed row",
                "panels": [
                    {"title": "never pushed", "targets": [_target("swarmscope_never_seconds")]},
                    {"title": "fine empty", "targets": [_target("swarmscope_rare_total")]},
                ],
            },
            {"title": "hidden", "targets": [{"refId": "A", "expr": "sum(", "hide": True}]},
        ],
    }


def test_checker_tells_ok_invalid_and_empty_apart(stack: Stack) -> None:
    """Data → ok; a syntax error → invalid with Prometheus' reason; no data → empty unless a
    reason allows it; variables resolved to their values; hidden targets skipped."""
    checker = DashboardQueryChecker(
        PrometheusAPI(stack.prometheus),
        allowed_empty={"swarmscope_rare_total": "only after a rare event"},
    )
    results = {r.query.where: r for r in checker.check(_dashboard())}
    assert set(results) == {
        "variable 'node'",
        "panel 'with data' A",
        "panel 'instant' A",
        "panel 'broken' A",
        "panel 'never pushed' A",
        "panel 'fine empty' A",
        "annotation 'probe'",
    }
    assert results["variable 'node'"].status == OK
    assert results["variable 'node'"].detail == "2 values"
    with_data = results["panel 'with data' A"]
    assert with_data.status == OK
    assert with_data.resolved == f'max by (node) ({PROBE}{{node=~"(rpi-1|rpi-2)"}})'
    assert with_data.detail == "2 series"
    assert results["panel 'instant' A"].status == OK
    assert results["annotation 'probe'"].status == OK
    broken = results["panel 'broken' A"]
    assert broken.status == INVALID
    assert "bad_data" in broken.detail
    assert results["panel 'never pushed' A"].status == EMPTY
    assert results["panel 'fine empty' A"].status == ALLOWED
    assert {r.query.where for r in results.values() if r.failed} == {
        "panel 'broken' A",
        "panel 'never pushed' A",
    }


def test_every_generated_dashboard_query_is_valid_promql(stack: Stack) -> None:
    """Each panel, annotation and variable of the generated dashboards is accepted by a real
    Prometheus once Grafana's variables are substituted (data comes with the lab run)."""
    thresholds = load_thresholds()
    checker = DashboardQueryChecker(
        PrometheusAPI(stack.prometheus), allowed_empty=dashboards.empty_allowed(thresholds)
    )
    results = []
    for board in dashboards.all_dashboards(thresholds):
        results += checker.check(board)
    invalid = [r.line() for r in results if r.status == INVALID]
    assert invalid == []
    assert len(results) >= 60
    queries = sum(len(panel_queries(b)) for b in dashboards.all_dashboards(thresholds))
    print(f"{len(results)} checks ({queries} panel and annotation queries): all valid PromQL")


def test_substitute_handles_grafana_variable_forms() -> None:
    """$name, ${name}, ${name:regex} and [[name]] are replaced; unknown ones stay."""
    values = {"node": "(a|b)", "__rate_interval": "1m"}
    expr = (
        'rate(x{node=~"$node", n2=~"${node}", n3=~"${node:regex}", n4=~"[[node]]"}'
        "[$__rate_interval])"
    )
    assert substitute(expr, values) == (
        'rate(x{node=~"(a|b)", n2=~"(a|b)", n3=~"(a|b)", n4=~"(a|b)"}[1m])'
    )
    assert substitute('x{a=~"$other"}', values) == 'x{a=~"$other"}'


def test_unreachable_prometheus_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`swarmscope grafana check` against nothing exits 1 naming the URL, not a traceback."""
    from drivers.cli import main
    from tests.support.daemons import free_port

    url = f"http://127.0.0.1:{free_port()}"
    assert main(["grafana", "check", "--prometheus", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"swarmscope: error: Prometheus at {url} does not answer")
