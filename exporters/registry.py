"""The exporter's collector registry: runs every collector per scrape and reports its health.

Each collector runs inside a health check. Whatever it raises -- Docker down, the agent's
container gone, a file unreadable, a bug -- costs only its own series: the scrape still
returns every other collector's output, plus for every collector

    swarmlet_exporter_collector_duration_seconds{collector="thermal"} 0.0004
    swarmlet_exporter_collector_success{collector="thermal"} 1.0

A failing collector's partial output is dropped (a half-read source would be misleading),
and the failure is logged once per distinct message, not once per scrape.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from exporters.exposition import Collector, MetricFamily, gauge, render
from exporters.quietlog import QuietLog

log = logging.getLogger("swarmlet_exporter")


class CollectorError(Exception):
    """A collector could not read its source; the message says which source and why."""


class Registry:
    """An explicit set of collectors (no global default registry, no process metrics)."""

    def __init__(
        self,
        collectors: Sequence[Collector],
        *,
        info: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        names = [c.name for c in collectors]
        if len(set(names)) != len(names):
            raise ValueError(f"collector names must be unique, got {names}")
        self._collectors = list(collectors)
        self._info = dict(info or {})
        self._clock = clock
        self._logs = {name: QuietLog(log, f"collector {name}") for name in names}
        # Collectors keep state between scrapes (caches, log offsets): one scrape at a time.
        self._lock = threading.Lock()

    @property
    def collector_names(self) -> list[str]:
        return [c.name for c in self._collectors]

    def collect(self) -> list[MetricFamily]:
        duration = gauge(
            "swarmlet_exporter_collector_duration_seconds",
            "How long the collector took in this scrape.",
            ["collector"],
        )
        success = gauge(
            "swarmlet_exporter_collector_success",
            "1 if the collector read its source in this scrape, 0 if it failed (see the log).",
            ["collector"],
        )
        families: list[MetricFamily] = []
        with self._lock:
            for collector in self._collectors:
                started = self._clock()
                ok = self._run(collector, families)
                duration.add([collector.name], self._clock() - started)
                success.add([collector.name], 1.0 if ok else 0.0)
        families += [duration, success]
        if self._info:
            build = gauge(
                "swarmlet_exporter_build_info",
                "Always 1; labels say which exporter version runs on which node.",
                sorted(self._info),
            )
            build.add([self._info[k] for k in sorted(self._info)], 1.0)
            families.append(build)
        return families

    def render(self) -> bytes:
        return render(self.collect())

    def _run(self, collector: Collector, out: list[MetricFamily]) -> bool:
        quiet = self._logs[collector.name]
        try:
            families = list(collector.collect())
        except CollectorError as exc:
            quiet.problem(str(exc))
            return False
        except Exception as exc:  # a bug in one collector must not end the scrape
            log.debug("collector %s raised", collector.name, exc_info=True)
            quiet.problem(f"unexpected {type(exc).__name__}: {exc}")
            return False
        quiet.resolved()
        out.extend(families)
        return True
