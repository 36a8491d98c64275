"""Per-node steps run a few at a time: waiting on engines and subprocesses, not on CPU."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
WORKERS = 4


def in_parallel(work: Callable[[T], None], items: Sequence[T], workers: int = WORKERS) -> None:
    """``work(item)`` for every item, ``workers`` at a time; the first error is raised once
    the running ones have finished (queued ones are dropped), so nothing keeps going
    behind a failed or interrupted `lab up`."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lab")
    try:
        for future in [pool.submit(work, item) for item in items]:
            future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
