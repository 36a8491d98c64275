"""Load shapes as data: ``--stages 30s:5:1,60s:20:2`` is 5 users for 30 s, then 20 for 60 s.

Each stage is ``DURATION:USERS:SPAWN_RATE``; after the last stage the run ends. The Locust
side is ``locustfiles/stages.py``, a ``LoadTestShape`` that reads this; it is only loaded
when stages are asked for (Locust applies any shape class it finds).
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.units import parse_duration


@dataclass(frozen=True)
class Stage:
    ends_at: float  # seconds from the start of the run
    users: int
    spawn_rate: float


def parse_stages(text: str) -> tuple[Stage, ...]:
    """``30s:5:1,1m:20:2`` -> stages with cumulative end times; ValueError names the bad part."""
    stages: list[Stage] = []
    elapsed = 0.0
    for index, part in enumerate(p.strip() for p in text.split(",")):
        fields = part.split(":")
        if len(fields) != 3:
            raise ValueError(f"stage {index + 1} {part!r}: expected DURATION:USERS:SPAWN_RATE")
        try:
            duration = parse_duration(fields[0])
            users = int(fields[1])
            rate = float(fields[2])
        except ValueError as exc:
            raise ValueError(f"stage {index + 1} {part!r}: {exc}") from None
        if duration <= 0 or users < 0 or rate <= 0:
            raise ValueError(
                f"stage {index + 1} {part!r}: duration and spawn rate must be positive, "
                "users 0 or more"
            )
        elapsed += duration
        stages.append(Stage(elapsed, users, rate))
    return tuple(stages)


def stage_at(stages: tuple[Stage, ...], run_time: float) -> Stage | None:
    """The stage in force ``run_time`` seconds into the run; None once the last one ended."""
    return next((s for s in stages if run_time < s.ends_at), None)
