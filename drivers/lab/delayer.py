"""Packet delay and jitter through NFQUEUE, for kernels built without ``sch_netem``.

One process serves the whole lab from its control namespace (the one holding the bridge):
queue N carries the packets bridged towards node N (``-m physdev --physdev-out pN -j
NFQUEUE --queue-num N --queue-bypass``), and each is held for that node's ``delay ±
jitter`` before it is accepted. Release times of a queue never go backwards, so a flow is
never reordered (netem's jitter reorders, which real Wi-Fi/LTE links mostly do not).

Single-threaded on purpose: one ``select`` loop reads queued packets and releases due ones,
so no thread fights the GIL for the timing path. ``--queue-bypass`` makes the kernel pass
packets unchanged whenever no program serves their queue, so a crash leaves a working
(undelayed) link, never a dead one.

The parameters are one JSON file re-read on SIGHUP, so delays change without a restart and
queues are bound and unbound as nodes are shaped or not::

    {"queues": {"1": {"delay_ms": 4, "jitter_ms": 2}, "2": {"delay_ms": 50, "jitter_ms": 10}}}

It imports only the standard library and netfilterqueue: run it as a script
(``python drivers/lab/delayer.py --params FILE``), not through the drivers package.
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

    def sample_seconds(self, rng: random.Random) -> float:
        """One packet's delay: uniform in [delay - jitter, delay + jitter], never below 0."""
        if self.jitter_ms:
            value = rng.uniform(self.delay_ms - self.jitter_ms, self.delay_ms + self.jitter_ms)
        else:
            value = self.delay_ms
        return max(0.0, value) / 1000.0


def read_params(path: Path) -> dict[int, DelayParams]:
    """queue number -> its delay; ValueError for anything malformed."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        queues = {
            int(number): DelayParams(float(q.get("delay_ms", 0)), float(q.get("jitter_ms", 0)))
            for number, q in raw.get("queues", {}).items()
        }
    except (OSError, AttributeError, TypeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    for number, params in queues.items():
        if not 0 <= number <= 65535 or params.delay_ms < 0 or params.jitter_ms < 0:
            raise ValueError(f"{path}: queue {number}: bad number, delay or jitter")
    return queues


def write_params(path: Path, queues: dict[int, DelayParams]) -> None:
    document = {
        "queues": {
            str(n): {"delay_ms": p.delay_ms, "jitter_ms": p.jitter_ms}
            for n, p in sorted(queues.items())
        }
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


class Delayer:
    """One queue's packets, held in FIFO order until their release time, then accepted."""

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


class QueueSet:
    """The bound queues and their delayers, reconciled with the parameters file."""

    def __init__(self) -> None:
        self.bound: dict[int, tuple[Any, Delayer]] = {}

    def apply(self, wanted: dict[int, DelayParams]) -> None:
        from netfilterqueue import COPY_META, NetfilterQueue  # noqa: PLC0415 - lab-only extra

        for number in [n for n in self.bound if n not in wanted]:
            queue, delayer = self.bound.pop(number)
            delayer.release_all()
            queue.unbind()
        for number, params in wanted.items():
            if number in self.bound:
                self.bound[number][1].params = params
                continue
            delayer = Delayer(params)
            queue = NetfilterQueue()
            queue.bind(
                number,
                delayer.hold,
                max_len=QUEUE_MAX_PACKETS,
                mode=COPY_META,
                sock_len=SOCKET_BUFFER_BYTES,
            )
            self.bound[number] = (queue, delayer)

    def release_due(self) -> float | None:
        waits = [w for _q, d in self.bound.values() if (w := d.release_due()) is not None]
        return min(waits) if waits else None

    def close(self) -> None:
        self.apply({})


def serve(params_path: Path) -> int:
    stop = False
    reload = True

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        nonlocal reload
        reload = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, on_hup)
    queues = QueueSet()
    try:
        while not stop:
            if reload:
                reload = False
                try:
                    wanted = read_params(params_path)
                    queues.apply(wanted)
                    # "delayer: {" once the queues are bound: fault scripts wait for this line.
                    print(f"delayer: {wanted}", flush=True)
                except ValueError as exc:
                    print(f"delayer: keeping the previous parameters: {exc}", flush=True)
            timeout = queues.release_due()
            by_fd = {q.get_fd(): q for q, _d in queues.bound.values()}
            try:
                readable, _, _ = select.select(
                    list(by_fd), [], [], 0.5 if timeout is None else timeout
                )
            except InterruptedError:
                continue
            for fd in readable:
                by_fd[fd].run(block=False)
            queues.release_due()
    finally:
        queues.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--params", type=Path, required=True, help="JSON queues/delays file")
    args = parser.parse_args(argv)
    return serve(args.params)


if __name__ == "__main__":
    sys.exit(main())
