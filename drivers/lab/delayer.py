"""Packet delay and jitter through NFQUEUE, for kernels built without ``sch_netem``.

Runs inside one lab node's network namespace, bound to the NFQUEUE that the node's INPUT
chain feeds (``-i eth0 -j NFQUEUE --queue-bypass``): every queued packet is held for
``delay ± jitter`` and then accepted. Release times never go backwards, so a flow is never
reordered (netem's jitter reorders, which real Wi-Fi/LTE links mostly do not).

Single-threaded on purpose: one ``select`` loop reads verdict requests and releases due
packets, so no thread fights the GIL for the timing path. ``--queue-bypass`` makes the
kernel accept packets unchanged whenever this program is not running, so a crash leaves a
working (undelayed) link, never a dead one.

Parameters come from a small JSON file (``{"delay_ms": 5, "jitter_ms": 1}``) re-read on
SIGHUP, so a running lab's delay changes without restarting anything.

Usage: ``python -m drivers.lab.delayer --queue 0 --params FILE``
"""

from __future__ import annotations

import argparse
import json
import random
import select
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

# Enough packets for ~100 ms at 1 Gbit/s of full-size frames; beyond it the kernel drops.
QUEUE_MAX_PACKETS = 20000
SOCKET_BUFFER_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class DelayParams:
    delay_ms: float = 0.0
    jitter_ms: float = 0.0

    @classmethod
    def read(cls, path: Path) -> DelayParams:
        raw = json.loads(path.read_text(encoding="utf-8"))
        params = cls(float(raw.get("delay_ms", 0.0)), float(raw.get("jitter_ms", 0.0)))
        if params.delay_ms < 0 or params.jitter_ms < 0:
            raise ValueError(f"{path}: delay and jitter must not be negative")
        return params

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"delay_ms": self.delay_ms, "jitter_ms": self.jitter_ms}) + "\n",
            encoding="utf-8",
        )
        tmp.replace(path)

    def sample_seconds(self, rng: random.Random) -> float:
        """One packet's delay: uniform in [delay - jitter, delay + jitter], never below 0."""
        if self.jitter_ms:
            value = rng.uniform(self.delay_ms - self.jitter_ms, self.delay_ms + self.jitter_ms)
        else:
            value = self.delay_ms
        return max(0.0, value) / 1000.0


class Delayer:
    """Holds packets in FIFO order until their release time, then accepts them."""

    def __init__(self, params: DelayParams, seed: int | None = None) -> None:
        self.params = params
        self._rng = random.Random(seed)
        self._held: deque[tuple[float, Any]] = deque()
        self._last_release = 0.0

    def hold(self, packet: Any) -> None:
        """The NFQUEUE callback: schedule the packet, keeping release times monotonic."""
        now = time.monotonic()
        release = max(now + self.params.sample_seconds(self._rng), self._last_release)
        self._last_release = release
        if release <= now:
            packet.accept()
            return
        self._held.append((release, packet))

    def release_due(self) -> float | None:
        """Accept every packet whose time has come; return seconds until the next one."""
        now = time.monotonic()
        while self._held and self._held[0][0] <= now:
            self._held.popleft()[1].accept()
        if not self._held:
            return None
        return max(0.0, self._held[0][0] - now)

    def release_all(self) -> None:
        while self._held:
            self._held.popleft()[1].accept()


def serve(queue_num: int, params_path: Path) -> int:
    from netfilterqueue import COPY_META, NetfilterQueue  # noqa: PLC0415 - lab-only extra

    delayer = Delayer(DelayParams.read(params_path))
    stop = False
    reload = False

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        nonlocal reload
        reload = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, on_hup)
    queue = NetfilterQueue()
    queue.bind(
        queue_num,
        delayer.hold,
        max_len=QUEUE_MAX_PACKETS,
        mode=COPY_META,
        sock_len=SOCKET_BUFFER_BYTES,
    )
    fd = queue.get_fd()
    print(f"delayer: queue {queue_num}, {delayer.params}", flush=True)
    try:
        while not stop:
            if reload:
                reload = False
                try:
                    delayer.params = DelayParams.read(params_path)
                    print(f"delayer: now {delayer.params}", flush=True)
                except (OSError, ValueError) as exc:
                    print(f"delayer: keeping {delayer.params}: {exc}", flush=True)
            timeout = delayer.release_due()
            try:
                readable, _, _ = select.select([fd], [], [], 0.5 if timeout is None else timeout)
            except InterruptedError:
                continue
            if readable:
                queue.run(block=False)
            delayer.release_due()
    finally:
        delayer.release_all()
        queue.unbind()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue", type=int, default=0, help="NFQUEUE number (default 0)")
    parser.add_argument("--params", type=Path, required=True, help="JSON delay/jitter file")
    args = parser.parse_args(argv)
    return serve(args.queue, args.params)


if __name__ == "__main__":
    sys.exit(main())
