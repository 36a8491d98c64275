"""Progress on stderr for long work: a live line on a terminal, plain lines in a log."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Progress:
    """``with Progress("scheduling", total=50) as p: p.advance(detail="task 3 running")``.

    On a terminal the line is redrawn in place; otherwise (CI, a pipe) a line is printed at
    most every ``interval`` seconds and at the end, so logs stay readable.
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        stream: TextIO | None = None,
        interval: float = 2.0,
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.interval = interval
        self.started = time.monotonic()
        self._last_print = 0.0
        self._lock = threading.Lock()
        self._tty = self.stream.isatty()

    def advance(self, step: int = 1, detail: str = "") -> None:
        with self._lock:
            self.done += step
            now = time.monotonic()
            finished = self.total is not None and self.done >= self.total
            if self._tty or finished or now - self._last_print >= self.interval:
                self._last_print = now
                self._write(detail, final=False)

    def note(self, message: str) -> None:
        """A line that stays (a phase started, a node joined)."""
        with self._lock:
            prefix = "\r\033[K" if self._tty else ""
            self.stream.write(f"{prefix}[{self.label}] {message}\n")
            self.stream.flush()

    def _write(self, detail: str, final: bool) -> None:
        elapsed = time.monotonic() - self.started
        count = f"{self.done}/{self.total}" if self.total is not None else str(self.done)
        text = f"[{self.label}] {count} ({elapsed:.1f}s)" + (f" {detail}" if detail else "")
        if self._tty and not final:
            self.stream.write(f"\r\033[K{text}")
        else:
            self.stream.write(("\r\033[K" if self._tty else "") + text + "\n")
        self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._write("done" if exc[0] is None else "stopped", final=True)
