"""Push a scenario's figures as they grow, without a push per measured workload.

Scenarios record every figure in the run directory at once; the Pushgateway gets the
latest state at most every ``interval`` seconds, and once more at the end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from drivers.push import Pusher


class ThrottledPush:
    def __init__(
        self,
        pusher: Pusher,
        scenario: str,
        fill: Callable[[CollectorRegistry], None],
        interval: float = 2.0,
    ) -> None:
        self.pusher = pusher
        self.scenario = scenario
        self.fill = fill
        self.interval = interval
        self._last: float | None = None
        self._lock = threading.Lock()
        self._unreachable = False

    def soon(self) -> None:
        """Push unless the last push was less than ``interval`` seconds ago."""
        with self._lock:
            due = self._last is None or time.monotonic() - self._last >= self.interval
        if due and not self._unreachable:
            self.now()

    def now(self) -> None:
        with self._lock:
            self._last = time.monotonic()
        # One warning per scenario is enough when the Pushgateway is down: stop trying
        # until the final push.
        self._unreachable = not self.pusher.push(self.scenario, self.fill)
