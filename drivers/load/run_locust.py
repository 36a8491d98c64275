"""Run Locust on one of swarmscope's locustfiles: ``python -m drivers.load.run_locust NAME ...``.

``NAME`` is ``messages``, ``bandwidth`` or ``scheduling`` (add ``,stages`` for the
``--stages`` load shape); every other argument is Locust's own. The locustfile is found
inside the installed package, so a worker on a Pi needs no path, only swarmscope installed.

This is the only way swarmscope starts Locust: always in a process of its own, because
importing Locust monkey-patches the whole interpreter with gevent.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LOCUSTFILES_DIR = Path(__file__).resolve().parent / "locustfiles"
LOCUSTFILES = ("messages", "bandwidth", "scheduling", "stages")


def locustfile_paths(names: str) -> list[Path]:
    """``messages,stages`` -> the files; ValueError names an unknown locustfile."""
    paths = []
    for name in names.split(","):
        if name not in LOCUSTFILES:
            raise ValueError(f"unknown locustfile {name!r} (known: {', '.join(LOCUSTFILES)})")
        paths.append(LOCUSTFILES_DIR / f"{name}.py")
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].startswith("-"):
        print(f"usage: python -m drivers.load.run_locust {{{','.join(LOCUSTFILES)}}} [LOCUST ARGS]")
        return 2
    try:
        paths = locustfile_paths(args[0])
    except ValueError as exc:
        print(f"swarmscope: error: {exc}", file=sys.stderr)
        return 2
    sys.argv = ["locust", "-f", ",".join(str(p) for p in paths), *args[1:]]
    from locust import main as locust  # noqa: PLC0415 - gevent patches on import

    entry: Any = locust.main  # untyped in Locust
    entry()
    return 0


if __name__ == "__main__":
    sys.exit(main())
