"""The report judges a run's figures against thresholds.yaml, draws plots and writes md/html."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from drivers.cli import main
from drivers.inventory import load_inventory
from drivers.report.build import build_report
from drivers.report.document import markdown, write_documents
from drivers.report.table import RowState
from drivers.results import RunDirectory
from drivers.thresholds import REPO_ROOT, Verdict

EXAMPLE = REPO_ROOT / "benchmarks" / "configs" / "cluster.example.yaml"


def _run(tmp_path: Path, run_id: str, *, detection: float, join: float = 4.0) -> RunDirectory:
    run = RunDirectory.create(tmp_path, load_inventory(EXAMPLE), run_id=run_id)
    run.start_scenario("join")
    run.add_figures(
        "join",
        {
            "join_total": {"rpi-1": join, "rpi-2": join - 1},
            "join_hardware_profiling": {"rpi-1": 0.4, "rpi-2": 0.3},
            "join_network_discovery": {"rpi-1": 0.1, "rpi-2": 0.1},
            "join_certificate_exchange": {"rpi-1": 0.7, "rpi-2": 0.6},
            "join_network_traffic": {"rpi-1": 2.1e6, "rpi-2": 1.9e6},
            "network_overhead": {"rpi-1": 0.02},
        },
    )
    run.finish_scenario("join", "ok")
    run.start_scenario("failure")
    run.add_figures(
        "failure",
        {"failure_detection": {"rpi-3": detection}, "recovery": {"rpi-3": detection + 1.5}},
    )
    run.finish_scenario("failure", "ok")
    run.start_scenario("mesh")
    run.add_figures(
        "mesh",
        {
            "coordination_latency": {
                "gpu-primary->rpi-1": 0.0004,
                "rpi-1->gpu-primary": 0.0005,
                "rpi-1->rpi-2": 0.012,
            }
        },
    )
    run.finish_scenario("mesh", "ok")
    run.start_scenario("scheduling")
    run.finish_scenario("scheduling", "ok")
    run.write_samples_csv(
        "scheduling",
        ["workload", "type", "latency_seconds"],
        [[f"w{i}", "gpu" if i % 10 == 0 else "cpu", 1 + i / 50] for i in range(50)],
    )
    return run


def test_rows_take_the_worst_node_and_follow_the_thresholds(tmp_path: Path) -> None:
    """Current = worst node/pair; met, acceptable, failed and 'not run' rows as the file says."""
    _run(tmp_path, "r1", detection=15.2)
    report = build_report(tmp_path / "r1")
    rows = {row.threshold.key: row for row in report.rows}
    assert rows["join_total"].current == 4.0
    assert rows["join_total"].worst_at == "rpi-1"
    assert rows["join_total"].verdict is Verdict.MET
    assert rows["failure_detection"].verdict is Verdict.ACCEPTABLE  # 15.2 s: >10, <30
    assert rows["coordination_latency"].verdict is Verdict.ACCEPTABLE  # 12 ms
    assert rows["coordination_latency"].worst_at == "rpi-1->rpi-2"
    assert rows["memory_footprint"].state is RowState.NOT_RUN  # edge did not run
    assert report.verdict is Verdict.ACCEPTABLE
    assert any("dispatcher-heartbeat" in line for line in report.advice)


def test_report_files_are_written_and_self_contained(tmp_path: Path) -> None:
    """report.md has the seed's table and plots; report.html embeds the PNGs."""
    _run(tmp_path, "r2", detection=3.0)
    report = build_report(tmp_path / "r2")
    md_path, html_path = write_documents(report)
    text = md_path.read_text()
    assert "| Metric | Target | Acceptable | Current | Verdict |" in text
    assert "| Failure detection | <10s | <30s | 3s (rpi-3) | ✅ target met |" in text
    for title in ("Join time breakdown", "Mesh latency heatmap", "Scheduling latency distribution"):
        relative = report.plots[title]
        assert (tmp_path / "r2" / relative).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = html_path.read_text()
    assert html.count("data:image/png;base64,") == len(report.plots)
    assert "src='plots/" not in html
    stored = json.loads((tmp_path / "r2" / "results.json").read_text())["report"]
    assert stored["verdict"] == "acceptable"  # 12 ms pair latency
    assert {row["key"] for row in stored["rows"]} >= {"join_total", "failure_detection"}


def test_partial_run_says_what_is_missing(tmp_path: Path) -> None:
    """A run killed mid-scenario still reports, names the unfinished scenario, and fails it."""
    run = RunDirectory.create(tmp_path, load_inventory(EXAMPLE), run_id="r3")
    run.start_scenario("failure")
    report = build_report(tmp_path / "r3")
    rows = {row.threshold.key: row for row in report.rows}
    assert rows["failure_detection"].state is RowState.NOT_MEASURED
    assert rows["failure_detection"].effective_verdict is Verdict.FAILED
    assert report.verdict is Verdict.FAILED
    assert any("scenario 'failure' ended 'running'" in line for line in report.missing)
    assert "Missing from this run" in markdown(report)


def test_verdict_exit_codes_and_junit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """verdict exits 0 / 1 / 2 for met / acceptable / failed, and writes JUnit XML."""
    _run(tmp_path, "met", detection=3.0, join=4.0)
    run = RunDirectory.open(tmp_path / "met")
    run.add_figures("mesh", {"coordination_latency": {"rpi-1->rpi-2": 0.001}})
    _run(tmp_path, "ok", detection=15.0)
    _run(tmp_path, "bad", detection=45.0)
    junit = tmp_path / "junit.xml"
    assert main(["verdict", str(tmp_path / "met")]) == 0
    assert main(["verdict", str(tmp_path / "ok")]) == 1
    assert main(["verdict", str(tmp_path / "bad"), "--junit", str(junit)]) == 2
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "1"
    failed = [case.get("name") for case in suite if case.find("failure") is not None]
    assert failed == ["failure_detection"]
    assert int(suite.get("skipped") or 0) == 2  # memory_footprint, agent_cpu: edge not run
    assert "verdict: failed" in capsys.readouterr().out


def test_compare_flags_regressions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A figure that got worse beyond tolerance, or crossed a threshold, is a regression."""
    _run(tmp_path, "a", detection=3.0)
    _run(tmp_path, "b", detection=12.0)
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    out = capsys.readouterr().out
    line = next(text for text in out.splitlines() if "failure_detection.rpi-3" in text)
    assert "REGRESSION" in line
    assert "target met → acceptable" in line
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "a")]) == 0


def test_bad_arguments_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A directory that is not a run, or a bad tolerance, exits 2 with one line."""
    assert main(["report", str(tmp_path)]) == 2
    _run(tmp_path, "a", detection=3.0)
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "a"), "--tolerance", "ten"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("swarmscope: error: ")
    assert "not a run directory" in err[0]
    assert err[1].startswith("swarmscope: error: --tolerance")
