"""The generated alert rules load in Prometheus and pass their generated promtool tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from drivers.render.stack_rules import STACK_RULES
from drivers.render.threshold_rules import CRITICAL, WARNING, alert_name, all_threshold_rules
from drivers.thresholds import load_thresholds
from tests.support.daemons import require_binary

PROMETHEUS = Path(__file__).resolve().parents[2] / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS / "tests").glob("*.test.yml"))


def _promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("promtool"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_rule_files_pass_promtool_check() -> None:
    """promtool accepts every rule file (syntax, PromQL, templates)."""
    assert RULE_FILES
    result = _promtool("check", "rules", *RULE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_pass_their_promtool_unit_tests() -> None:
    """Below target nothing, between a warning, past acceptable a critical, exactly at a bound
    no alert for that bound, no series no alert: promtool checks it for every alert."""
    assert TEST_FILES
    result = _promtool("test", "rules", *TEST_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


def _tested(test_file: Path) -> dict[str, set[str]]:
    """alertname -> severities some test case expects to fire."""
    fired: dict[str, set[str]] = {}
    for group in _load(test_file)["tests"]:
        for check in group.get("alert_rule_test", []):
            severities = fired.setdefault(check["alertname"], set())
            severities |= {alert["exp_labels"].get("severity") for alert in check["exp_alerts"]}
    return fired


def test_every_generated_alert_is_unit_tested_firing_and_quiet() -> None:
    """Each alert of each severity fires in some case, and each alert has a no-alert case."""
    tested = _tested(PROMETHEUS / "tests/thresholds.test.yml")
    tested |= _tested(PROMETHEUS / "tests/stack.test.yml")
    rules = all_threshold_rules(load_thresholds()) + STACK_RULES
    for rule in rules:
        assert rule.labels["severity"] in tested.get(rule.alert, set()), rule.alert
    quiet = set()
    for test_file in TEST_FILES:
        for group in _load(test_file)["tests"]:
            quiet |= {c["alertname"] for c in group["alert_rule_test"] if not c["exp_alerts"]}
    assert {rule.alert for rule in rules} <= quiet


def test_each_threshold_has_every_situation() -> None:
    """Per threshold: meets target, exactly at target, (between, exactly at acceptable,) past
    acceptable, no series; values follow thresholds.yaml."""
    names = [g["name"] for g in _load(PROMETHEUS / "tests/thresholds.test.yml")["tests"]]
    for threshold in load_thresholds().values():
        mine = [n for n in names if n.startswith(f"{threshold.key}: ")]
        wanted = ["meets the target", "exactly at the target", "misses acceptable", "no series"]
        if threshold.target != threshold.acceptable:
            wanted += ["between target and acceptable", "exactly at acceptable"]
        for situation in wanted:
            assert any(situation in n for n in mine), (threshold.key, situation, mine)
        assert any(f"exactly at the target {threshold.target_text[1:]}" in n for n in mine)


def test_warning_and_critical_share_a_name_and_follow_the_numbers() -> None:
    """One name per threshold; warning at the target, critical at acceptable, strictly past
    them; only the critical rule when the plan gives a single number."""
    for threshold in load_thresholds().values():
        rules = [r for r in all_threshold_rules({threshold.key: threshold})]
        assert {r.alert for r in rules} == {alert_name(threshold)}
        by_severity = {r.labels["severity"]: r for r in rules}
        assert by_severity[CRITICAL].expr.endswith(f" > {threshold.acceptable!r}")
        if threshold.target == threshold.acceptable:
            assert WARNING not in by_severity
        else:
            assert by_severity[WARNING].expr.endswith(f" > {threshold.target!r}")
        assert {r.for_seconds for r in rules} == {threshold.for_seconds}


def test_the_unit_tests_catch_an_inclusive_comparison(tmp_path: Path) -> None:
    """The generated tests are not vacuous: rules that alert AT a bound (>=) fail them."""
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS / "rules", copy / "rules")
    shutil.copytree(PROMETHEUS / "tests", copy / "tests")
    rules = copy / "rules/thresholds.yml"
    text = rules.read_text(encoding="utf-8")
    assert ")) > " in text
    rules.write_text(text.replace(")) > ", ")) >= "), encoding="utf-8")
    result = _promtool("test", "rules", copy / "tests/thresholds.test.yml")
    assert result.returncode != 0
    assert "exactly at the target" in result.stdout + result.stderr or "FAILED" in result.stdout


@pytest.mark.parametrize("rule", STACK_RULES, ids=lambda r: r.alert)
def test_stack_rules_carry_severity_and_runbook(rule: Any) -> None:
    """Every stack alert is routable (severity) and points into the README runbook."""
    assert rule.labels["severity"] in (WARNING, CRITICAL)
    assert rule.annotations["runbook_url"] == f"README.md#{rule.alert.lower()}"
