"""JUnit XML for CI systems: one test case per threshold row of a run."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from drivers.report.table import Row, RowState
from drivers.results import write_text_atomic
from drivers.thresholds import Verdict


def junit_xml(run_id: str, rows: list[Row]) -> str:
    """Failed or unmeasured rows are failures, acceptable ones pass with a warning in
    system-out (CI reads the exit code 1 for them), rows whose scenario did not run are
    skipped."""
    suite = ET.Element("testsuite", name=f"swarmscope.{run_id}", tests=str(len(rows)))
    failures = skipped = 0
    for row in rows:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"swarmscope.{row.threshold.scenario}",
            name=row.threshold.key,
        )
        message = (
            f"{row.threshold.title}: {row.current_text} (target "
            f"{row.threshold.target_text}, acceptable {row.threshold.acceptable_text})"
        )
        if row.state is RowState.NOT_RUN:
            skipped += 1
            ET.SubElement(case, "skipped", message=f"scenario {row.threshold.scenario} not run")
        elif row.effective_verdict is Verdict.FAILED:
            failures += 1
            failure = ET.SubElement(case, "failure", message=message, type=row.verdict_text)
            failure.text = row.note or message
        elif row.effective_verdict is Verdict.ACCEPTABLE:
            ET.SubElement(case, "system-out").text = f"only acceptable: {message}"
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("errors", "0")
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(path: Path, run_id: str, rows: list[Row]) -> None:
    write_text_atomic(path, junit_xml(run_id, rows))
