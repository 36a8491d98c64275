"""How long the agent's last join took, phase by phase, parsed from its log.

Exposition (after a join; see ``exporters.joinlog`` for how phases are derived)::

    # TYPE swarmlet_join_phase_seconds gauge
    swarmlet_join_phase_seconds{phase="hardware_profiling"} 2.5
    swarmlet_join_phase_seconds{phase="network_discovery"} 1.25
    swarmlet_join_phase_seconds{phase="certificate_exchange"} 0.75
    swarmlet_join_phase_seconds{phase="total"} 4.5
    # TYPE swarmlet_join_completed_timestamp_seconds gauge
    swarmlet_join_completed_timestamp_seconds 1714564804.5
    # TYPE swarmlet_join_log_lines_read_total counter
    swarmlet_join_log_lines_read_total 12.0
    # TYPE swarmlet_join_log_lines_skipped_total counter
    swarmlet_join_log_lines_skipped_total{reason="no_timestamp"} 1.0
    swarmlet_join_log_lines_skipped_total{reason="binary"} 1.0
    swarmlet_join_log_lines_skipped_total{reason="too_long"} 0.0

Before any join line was seen there are no phase series at all (not zeros). With a Docker
log source, reading stops once the current run has joined and resumes when the container
restarts, so a long-running agent costs nothing per scrape here.
"""

from __future__ import annotations

from collections.abc import Iterable

from exporters.exposition import MetricFamily, counter, gauge
from exporters.joinlog import PHASES, SKIP_REASONS, JoinPatterns, JoinTracker
from exporters.logsources import LogSource


class JoinCollector:
    name = "join"

    def __init__(self, source: LogSource, patterns: JoinPatterns) -> None:
        self.source = source
        self.tracker = JoinTracker(patterns)
        self._joined_this_run = False

    def collect(self) -> Iterable[MetricFamily]:
        batch = self.source.read(want_lines=not self._joined_this_run)
        if batch.new_run:
            self.tracker.begin_run(batch.run_started_at)
            self._joined_this_run = False
        joined_before = self.tracker.joined_at
        for line in batch.lines:
            self.tracker.feed(line)
        for _ in range(batch.garbled):
            self.tracker.skip("binary")
        for _ in range(batch.too_long):
            self.tracker.skip("too_long")
        joined_at = self.tracker.joined_at
        if joined_at is not None and joined_at != joined_before:
            self._joined_this_run = True
        return self._families()

    def _families(self) -> list[MetricFamily]:
        families: list[MetricFamily] = []
        phases = self.tracker.phases
        if phases:
            family = gauge(
                "swarmlet_join_phase_seconds",
                "Duration of a phase of the agent's latest join, from its log timestamps.",
                ["phase"],
            )
            for phase in PHASES:
                if phase in phases:
                    family.add([phase], phases[phase])
            families.append(family)
        if self.tracker.joined_at is not None:
            completed = gauge(
                "swarmlet_join_completed_timestamp_seconds",
                "When the agent logged that it joined the cluster.",
            )
            completed.add([], self.tracker.joined_at)
            families.append(completed)
        read = counter(
            "swarmlet_join_log_lines_read_total", "Agent log lines the join collector read."
        )
        read.add([], float(self.tracker.lines_read))
        skipped = counter(
            "swarmlet_join_log_lines_skipped_total",
            "Agent log lines skipped: no leading timestamp, binary garbage, or too long.",
            ["reason"],
        )
        for reason in SKIP_REASONS:
            skipped.add([reason], float(self.tracker.skipped[reason]))
        families += [read, skipped]
        return families
