"""Log a condition once, not once per scrape: Prometheus scrapes every few seconds forever."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

# How often a condition that persists is logged again, with the count of repeats meanwhile.
REPEAT_INTERVAL_SECONDS = 600.0


class QuietLog:
    """Logs each distinct message of one source the first time, then rarely.

    ``problem(msg)`` logs at WARNING when the message differs from the last one logged or
    when ``repeat_interval`` has passed (adding how often it repeated meanwhile); ``resolved()``
    logs once at INFO when a logged problem stops. ``note(key, msg)`` logs an informational
    message exactly once per key for the life of the process ("no thermal sensors here").
    """

    def __init__(
        self,
        logger: logging.Logger,
        source: str,
        *,
        repeat_interval: float = REPEAT_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._source = source
        self._repeat_interval = repeat_interval
        self._clock = clock
        self._last_message: str | None = None
        self._last_logged_at = 0.0
        self._repeats = 0
        self._failures = 0
        self._noted: set[str] = set()

    def problem(self, message: str) -> None:
        self._failures += 1
        now = self._clock()
        if message != self._last_message:
            self._logger.warning("%s: %s", self._source, message)
            self._last_message, self._last_logged_at, self._repeats = message, now, 0
        elif now - self._last_logged_at >= self._repeat_interval:
            self._logger.warning(
                "%s: %s (repeated %d times since last logged)",
                self._source,
                message,
                self._repeats,
            )
            self._last_logged_at, self._repeats = now, 0
        else:
            self._repeats += 1

    def resolved(self) -> None:
        if self._last_message is not None:
            self._logger.info("%s: recovered after %d failed scrapes", self._source, self._failures)
        self._last_message, self._repeats, self._failures = None, 0, 0

    def note(self, key: str, message: str) -> None:
        if key not in self._noted:
            self._noted.add(key)
            self._logger.info("%s: %s", self._source, message)
