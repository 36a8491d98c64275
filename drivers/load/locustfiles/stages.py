"""The ``--stages`` load shape; added to a run's locustfiles only when stages are given."""

from __future__ import annotations

from typing import Any

from locust import LoadTestShape

from drivers.load.shapes import Stage, parse_stages, stage_at


class StagesShape(LoadTestShape):
    _stages: tuple[Stage, ...] | None = None

    def tick(self) -> tuple[int, float] | None:
        shape: Any = self  # LoadTestShape's runner and get_run_time carry no types
        if self._stages is None:
            text = getattr(shape.runner.environment.parsed_options, "stages", "") or ""
            self._stages = parse_stages(text) if text else ()
        stage = stage_at(self._stages, float(shape.get_run_time()))
        return None if stage is None else (stage.users, stage.spawn_rate)
