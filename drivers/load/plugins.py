"""Hooks every swarmscope locustfile gets: options, ``/metrics``, node reports, exit code.

Imported (through ``drivers.load.users``) by each locustfile; registering on Locust's global
``events`` happens once per process. On the master, or a local runner:
- ``/metrics`` on the web UI (``metrics_route``),
- node reports from workers (``options.DONE_MESSAGE``); when every user has reported, the
  run is complete and Locust quits without waiting for ``--run-time``,
- at quit, thresholds.yaml judges the run (``exit_code``) and the summary is written.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.runners import WorkerRunner

from drivers.errors import ConfigError
from drivers.load import exit_code, metrics_route, options, summary
from drivers.thresholds import DEFAULT_PATH, Threshold, load_thresholds

log = logging.getLogger("swarmscope.load")
_installed = False


class RunState:
    """Per-process bookkeeping of one Locust run (kept on the environment)."""

    def __init__(self, thresholds: dict[str, Threshold]) -> None:
        self.thresholds = thresholds
        self.node_reports: list[dict[str, Any]] = []
        self.started_at: float | None = None


def run_state(environment: Any) -> RunState | None:
    state: RunState | None = getattr(environment, "swarmscope_state", None)
    return state


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    hooks: Any = events  # Locust's EventHook.add_listener carries no type information
    hooks.init_command_line_parser.add_listener(_add_arguments)
    hooks.init.add_listener(_on_init)
    hooks.test_start.add_listener(_on_test_start)
    hooks.quitting.add_listener(_on_quitting)


def _add_arguments(parser: Any, **_: Any) -> None:
    options.add_arguments(parser)


def _on_init(environment: Any, **_: Any) -> None:
    if metrics_route.install_route(environment):
        log.info("Locust statistics for Prometheus at %s", metrics_route.ROUTE)
    runner = environment.runner
    if runner is None or isinstance(runner, WorkerRunner):
        return
    path = getattr(environment.parsed_options, "thresholds_file", "") or DEFAULT_PATH
    try:
        thresholds = load_thresholds(Path(path))
    except ConfigError as exc:
        # Before any load: a bad thresholds file stops the run with one line, exit code 2.
        print(f"swarmscope: error: {exc}", file=sys.stderr)
        sys.exit(2)
    environment.swarmscope_state = RunState(thresholds)
    runner.register_message(options.DONE_MESSAGE, _on_node_done)


def _on_test_start(environment: Any, **_: Any) -> None:
    state = run_state(environment)
    if state is not None and state.started_at is None:
        state.started_at = time.time()


def _on_node_done(environment: Any, msg: Any, **_: Any) -> None:
    state = run_state(environment)
    if state is None:
        return
    state.node_reports.append(dict(msg.data))
    runner = environment.runner
    expected = int(getattr(runner, "target_user_count", 0) or 0)
    log.info("node %s finished (%d/%d)", msg.data.get("node"), len(state.node_reports), expected)
    if expected and len(state.node_reports) >= expected:
        log.info("every node finished its messages; stopping the run")
        # Not from inside this handler: it may run in a user's greenlet that quit() kills.
        gevent.spawn_later(0.5, runner.quit)


def _on_quitting(environment: Any, **_: Any) -> None:
    state = run_state(environment)
    runner = environment.runner
    if state is None or runner is None:
        return
    mapping = exit_code.judged_request_types(environment.user_classes)
    stats = runner.stats
    judged = exit_code.judge(stats.entries, mapping, state.thresholds)
    for result in judged:
        log.info("threshold %s", result.describe(state.thresholds[result.key]))
    failures = bool(stats.total.num_failures or runner.exceptions)
    code = exit_code.exit_code(judged, failures)
    if judged or failures:
        environment.process_exit_code = code
    target = getattr(environment.parsed_options, "summary_file", "") or ""
    if target:
        document = summary.build(
            locustfile=str(getattr(environment.parsed_options, "locustfile", "")),
            user_classes=[c.__name__ for c in environment.user_classes],
            stats_entries=stats.entries,
            errors=stats.errors.values(),
            node_reports=state.node_reports,
            judged=judged,
            exit_code=code,
            started_at=state.started_at,
        )
        summary.write(Path(target), document)
