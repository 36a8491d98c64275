"""Load thresholds.yaml strictly and judge a measured value against a threshold."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from drivers.config import Section, load_yaml
from drivers.units import UNITS, format_quantity, parse_duration, parse_quantity

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = REPO_ROOT / "thresholds.yaml"

_REQUIRED = {
    "title",
    "seed",
    "unit",
    "direction",
    "target",
    "acceptable",
    "expr",
    "scenario",
    "description",
}
_OPTIONAL = {"for"}
SCENARIOS = ("join", "placement", "scheduling", "migration", "mesh", "edge", "failure")


class Verdict(enum.IntEnum):
    """Ordered so a run's worst verdict is ``max``; values are `swarmscope verdict` exit codes."""

    MET = 0
    ACCEPTABLE = 1
    FAILED = 2

    @property
    def label(self) -> str:
        return {
            Verdict.MET: "target met",
            Verdict.ACCEPTABLE: "acceptable",
            Verdict.FAILED: "failed",
        }[self]


@dataclass(frozen=True)
class Threshold:
    key: str
    title: str
    seed: str
    unit: str
    direction: str
    target: float
    acceptable: float
    expr: str
    for_seconds: float
    scenario: str
    description: str

    @property
    def lower_is_better(self) -> bool:
        return self.direction == "lower"

    def judge(self, value: float) -> Verdict:
        """Exactly at the target meets it: the seed's "<30s" is read as "no more than 30 s"."""
        if self.lower_is_better:
            if value <= self.target:
                return Verdict.MET
            return Verdict.ACCEPTABLE if value <= self.acceptable else Verdict.FAILED
        if value >= self.target:
            return Verdict.MET
        return Verdict.ACCEPTABLE if value >= self.acceptable else Verdict.FAILED

    @property
    def comparison(self) -> str:
        """The PromQL operator that is true when a value misses a bound."""
        return ">" if self.lower_is_better else "<"

    def show(self, value: float) -> str:
        return format_quantity(value, self.unit)

    @property
    def target_text(self) -> str:
        return ("<" if self.lower_is_better else ">") + self.show(self.target)

    @property
    def acceptable_text(self) -> str:
        return ("<" if self.lower_is_better else ">") + self.show(self.acceptable)


def load_thresholds(path: Path = DEFAULT_PATH) -> dict[str, Threshold]:
    """Every threshold by key, in file order; any mistake is a ConfigError naming the key."""
    source = str(path)
    top = Section.of(load_yaml(path), "", source)
    top.check_keys({"version", "thresholds"})
    if top.get("version", int) != 1:
        raise top.error("version", "only version 1 is understood")
    entries = top.section("thresholds")
    if not entries.data:
        raise entries.error(None, "no thresholds defined")
    result: dict[str, Threshold] = {}
    for key in entries.data:
        result[key] = _read_threshold(key, entries.section(key))
    return result


def _read_threshold(key: str, entry: Section) -> Threshold:
    entry.check_keys(_REQUIRED, _OPTIONAL)
    unit = entry.choice("unit", UNITS)
    direction = entry.choice("direction", ("lower", "higher"))
    target = entry.converted("target", lambda v: parse_quantity(v, unit))
    acceptable = entry.converted("acceptable", lambda v: parse_quantity(v, unit))
    lower = direction == "lower"
    if (lower and target > acceptable) or (not lower and target < acceptable):
        raise entry.error(
            "target",
            f"target {format_quantity(target, unit)} is worse than acceptable "
            f"{format_quantity(acceptable, unit)} for a {direction}-is-better threshold",
        )
    expr = entry.get("expr", str).strip()
    if not expr:
        raise entry.error("expr", "empty PromQL expression")
    for_seconds = entry.converted("for", lambda v: 0.0 if v is None else parse_duration(str(v)))
    return Threshold(
        key=key,
        title=entry.get("title", str),
        seed=entry.get("seed", str),
        unit=unit,
        direction=direction,
        target=target,
        acceptable=acceptable,
        expr=expr,
        for_seconds=for_seconds,
        scenario=entry.choice("scenario", SCENARIOS),
        description=entry.get("description", str),
    )
