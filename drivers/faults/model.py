"""The fault record: what was applied where, for how long, and how it is undone.

A record is written as JSON on the target (one file per active fault) and in the run
directory's ``faults.json``; both are read back by a controller that did not apply it.
Fault ids name their node (``partition-3fa2@rpi-1``), so a revert knows where to go.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from drivers.errors import SwarmscopeError

KINDS = ("partition", "netem", "bandwidth", "stress", "poweroff", "engine-stop")
# A fault's duration is bounded: a fault forgotten for days is a broken cluster, not a test.
MAX_DURATION_SECONDS = 24 * 3600.0
# How a fault ends when nobody reverts it early, for every fault but a real poweroff.
TIMER_REVERT = "timer on the target"
_ID = re.compile(r"^(?P<kind>[a-z][a-z-]*)-(?P<tag>[0-9a-f]{4})@(?P<node>[a-z0-9][a-z0-9-]*)$")


class FaultError(SwarmscopeError):
    """A fault could not be applied, listed or reverted; the message names node and fault."""


def new_fault_id(kind: str, node: str) -> str:
    """``KIND-TAG@NODE``; TAG is 4 hex digits from 1000 to fffe (it is also a tc handle)."""
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}")
    tag = 0x1000 + secrets.randbelow(0xFFFE - 0x1000)
    return f"{kind}-{tag:04x}@{node}"


@dataclass(frozen=True)
class FaultId:
    kind: str
    tag: str
    node: str

    @property
    def text(self) -> str:
        return f"{self.kind}-{self.tag}@{self.node}"

    @property
    def chain(self) -> str:
        """The fault's own iptables chain (28 characters at most)."""
        return f"SSF-{self.tag}"

    @property
    def tc_handle(self) -> str:
        """The fault's tc qdisc handle as tc prints it (no leading zeros)."""
        return f"{int(self.tag, 16):x}"


def parse_fault_id(text: str) -> FaultId:
    match = _ID.match(text)
    if not match or match.group("kind") not in KINDS:
        raise FaultError(
            f"{text!r} is not a fault id (they look like partition-3fa2@rpi-1; "
            "`swarmscope fault list` shows them)",
            exit_code=2,
        )
    return FaultId(match.group("kind"), match.group("tag"), match.group("node"))


@dataclass(frozen=True)
class FaultRecord:
    """One fault. Times are POSIX seconds; ``applied_at`` comes from the target's clock."""

    id: str
    kind: str
    node: str
    duration: float
    armed_at: float  # controller clock, just before the timer was armed
    params: dict[str, Any] = field(default_factory=dict)
    mechanism: str = ""  # what does it on the target: "iptables", "tc htb", "netem", ...
    revert: str = TIMER_REVERT  # how it ends when nobody reverts it early
    applied_at: float | None = None
    reverted_at: float | None = None
    reverted_by: str | None = None  # timer | hand | failed (the apply failed and was undone)
    timer_alive: bool | None = None  # as last seen on the target
    run_id: str | None = None
    scenario: str | None = None

    @property
    def expected_end(self) -> float:
        """When the target's timer reverts it (or, for a real poweroff, when it should end)."""
        return (self.applied_at or self.armed_at) + self.duration

    @property
    def self_reverting(self) -> bool:
        return self.revert == TIMER_REVERT

    @property
    def active(self) -> bool:
        return self.reverted_at is None

    def with_(self, **changes: Any) -> FaultRecord:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["expected_end"] = self.expected_end
        data["target"] = self.node  # the name the report and the pushed series use
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRecord:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        missing = {"id", "kind", "node", "duration", "armed_at"} - set(values)
        if missing:
            raise ValueError(f"fault record without {', '.join(sorted(missing))}")
        values["params"] = dict(values.get("params") or {})
        values["duration"] = float(values["duration"])
        values["armed_at"] = float(values["armed_at"])
        return cls(**values)


def check_duration(seconds: float) -> float:
    if not 0 < seconds <= MAX_DURATION_SECONDS:
        raise FaultError(
            f"duration {seconds:g}s: a fault lasts more than 0 s and at most "
            f"{MAX_DURATION_SECONDS / 3600:g} h",
            exit_code=2,
        )
    return seconds
