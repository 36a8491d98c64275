"""Every file `swarmscope render` writes, where it goes, and the drift check behind --check."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from drivers.render import dashboards, provisioning
from drivers.render.output import GENERATED_MARKER, GeneratedFile, json_document, yaml_document
from drivers.render.rule_model import rules_document, tests_document
from drivers.render.stack_rules import EVALUATION_INTERVAL as STACK_EVALUATION_INTERVAL
from drivers.render.stack_rules import GROUP as STACK_GROUP
from drivers.render.stack_rules import STACK_RULES, stack_cases
from drivers.render.threshold_rules import GROUP as THRESHOLD_GROUP
from drivers.render.threshold_rules import all_threshold_rules
from drivers.render.threshold_tests import EVALUATION_INTERVAL, all_threshold_cases
from drivers.thresholds import Threshold

RULES_DIR = PurePosixPath("prometheus/rules")
RULE_TESTS_DIR = PurePosixPath("prometheus/tests")
THRESHOLD_RULES = RULES_DIR / "thresholds.yml"
STACK_RULES_FILE = RULES_DIR / "stack.yml"
THRESHOLD_TESTS = RULE_TESTS_DIR / "thresholds.test.yml"
STACK_TESTS = RULE_TESTS_DIR / "stack.test.yml"
# Directories whose generated files are all ours: a generated file there that render no
# longer produces (a dashboard that was dropped) is stale and reported by --check.
OWNED_DIRS = (
    RULES_DIR,
    RULE_TESTS_DIR,
    dashboards.DASHBOARDS_DIR,
    provisioning.DATASOURCES_DIR,
    provisioning.PROVIDERS_DIR,
)
_RUN_TESTS = "promtool test rules prometheus/tests/*.test.yml"


def generated_files(thresholds: dict[str, Threshold], scrape_interval: str) -> list[GeneratedFile]:
    files = [
        GeneratedFile(
            THRESHOLD_RULES,
            yaml_document(
                rules_document(THRESHOLD_GROUP, all_threshold_rules(thresholds)),
                "thresholds.yaml",
                "warning: worse than the target; critical: worse than acceptable (README: "
                "Alerts and dashboards)",
            ),
        ),
        GeneratedFile(
            STACK_RULES_FILE,
            yaml_document(
                rules_document(STACK_GROUP, STACK_RULES),
                "drivers/render/stack_rules.py",
            ),
        ),
        GeneratedFile(
            THRESHOLD_TESTS,
            yaml_document(
                tests_document(
                    "../rules/thresholds.yml", EVALUATION_INTERVAL, all_threshold_cases(thresholds)
                ),
                "thresholds.yaml",
                f"run: {_RUN_TESTS}",
            ),
        ),
        GeneratedFile(
            STACK_TESTS,
            yaml_document(
                tests_document("../rules/stack.yml", STACK_EVALUATION_INTERVAL, stack_cases()),
                "drivers/render/stack_rules.py",
                f"run: {_RUN_TESTS}",
            ),
        ),
    ]
    files += provisioning.provisioning_files(scrape_interval)
    files += [
        GeneratedFile(dashboards.DASHBOARDS_DIR / f"{d['uid']}.json", json_document(d))
        for d in dashboards.all_dashboards(thresholds)
    ]
    return sorted(files, key=lambda f: str(f.path))


def write(files: list[GeneratedFile], root: Path) -> list[Path]:
    """Write the files that changed (atomically); return the paths written."""
    written = []
    for generated in files:
        path = root / generated.path
        if path.is_file() and path.read_text(encoding="utf-8") == generated.text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(generated.text, encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written


@dataclass(frozen=True)
class Drift:
    path: PurePosixPath
    problem: str  # "missing", "differs" or "stale"


def drift(files: list[GeneratedFile], root: Path) -> list[Drift]:
    """What differs between ``files`` and what is on disk under ``root``."""
    found = []
    expected = {generated.path for generated in files}
    for generated in files:
        path = root / generated.path
        if not path.is_file():
            found.append(Drift(generated.path, "missing"))
        elif path.read_text(encoding="utf-8") != generated.text:
            found.append(Drift(generated.path, "differs"))
    for directory in OWNED_DIRS:
        for path in sorted((root / directory).glob("*")):
            relative = PurePosixPath(path.relative_to(root).as_posix())
            if relative in expected or not path.is_file():
                continue
            if GENERATED_MARKER in path.read_text(encoding="utf-8", errors="replace"):
                found.append(Drift(relative, "stale"))
    return found
