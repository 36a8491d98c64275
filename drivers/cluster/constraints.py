"""Placement constraints in the seed's syntax (``node.name==rpi-1``, ``node.type == rpi``).

Scenarios and workload files write constraints the way the seed does; each backend
translates the parsed form into its orchestrator's own (Swarm: ``node.hostname==rpi-1``,
``node.labels.type==rpi``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OPERATORS = ("==", "!=")
_CONSTRAINT = re.compile(
    r"^\s*(?P<attribute>[A-Za-z][A-Za-z0-9_.-]*)\s*(?P<operator>==|!=)\s*(?P<value>[^\s=!]\S*)\s*$"
)


@dataclass(frozen=True)
class Constraint:
    attribute: str  # e.g. "node.name", "node.type", "node.labels.zone"
    operator: str  # "==" or "!="
    value: str

    def __str__(self) -> str:
        return f"{self.attribute}{self.operator}{self.value}"


def parse_constraint(text: str) -> Constraint:
    """Parse ``attribute==value`` / ``attribute != value``; ValueError says what is wrong."""
    match = _CONSTRAINT.match(text)
    if not match:
        raise ValueError(
            f"{text!r} is not a placement constraint (write it like node.name==rpi-1 "
            "or node.type == rpi)"
        )
    return Constraint(match["attribute"], match["operator"], match["value"])


def pinned_node(constraints: tuple[str, ...]) -> str | None:
    """The node a set of constraints pins a workload to (``node.name==X``), if any."""
    for text in constraints:
        parsed = parse_constraint(text)
        if parsed.operator == "==" and parsed.attribute in ("node.name", "node.hostname"):
            return parsed.value
    return None
