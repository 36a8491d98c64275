"""What every scenario gets (inventory, run directory, backend, SSH, pusher) and how it is run.

A scenario is a module under ``drivers.scenarios`` exposing ``SCENARIO``, an object with
``name``, ``help``, ``add_arguments(parser)`` and ``run(context)``. The runner owns the
run directory bookkeeping: it marks the scenario running, finished, failed or interrupted,
and it runs every cleanup the scenario registered — also on Ctrl-C — so no workload or
fault is left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import signal
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol

from drivers.cluster import open_backend
from drivers.cluster.base import Backend
from drivers.errors import SwarmscopeError
from drivers.inventory import Inventory
from drivers.push import Pusher
from drivers.remote import SshPool
from drivers.results import RunDirectory
from drivers.scenarios import SCENARIO_MODULES
from drivers.secrets import scrub

log = logging.getLogger(__name__)


class Scenario(Protocol):
    name: str
    help: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, context: ScenarioContext) -> None: ...


def load_scenario(name: str) -> Scenario:
    try:
        module_name = SCENARIO_MODULES[name]
    except KeyError:
        known = ", ".join(SCENARIO_MODULES) or "none"
        raise SwarmscopeError(f"unknown scenario {name!r} (known: {known})", exit_code=2) from None
    scenario: Scenario = importlib.import_module(module_name).SCENARIO
    return scenario


@dataclass
class ScenarioContext:
    inventory: Inventory
    run: RunDirectory
    options: argparse.Namespace
    ssh: SshPool
    pusher: Pusher
    _backend: Backend | None = None
    _cleanups: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = open_backend(self.inventory)
        return self._backend

    def on_cleanup(self, what: str, action: Callable[[], None]) -> None:
        """Register an undo step; they run last-in first-out when the scenario ends."""
        self._cleanups.append((what, action))

    def run_cleanups(self) -> list[str]:
        """Run every registered cleanup, even if some fail; return the failures as text."""
        failures = []
        while self._cleanups:
            what, action = self._cleanups.pop()
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - every cleanup must get its turn
                failures.append(f"cleanup '{what}' failed: {scrub(str(exc))}")
                log.warning("cleanup '%s' failed: %s", what, scrub(str(exc)))
        return failures

    def close(self) -> None:
        self.ssh.close()
        if self._backend is not None:
            self._backend.close()
            self._backend = None


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (e.g. from a CI timeout) unwinds like Ctrl-C, so cleanups still run."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_scenario(scenario: Scenario, context: ScenarioContext) -> str:
    """Run one scenario with full bookkeeping; return its final status.

    A SwarmscopeError or any other exception marks the scenario failed (recorded with a
    one-line reason) and lets the caller go on; Ctrl-C marks it interrupted and re-raises
    after cleanups ran.
    """
    name = scenario.name
    context.run.start_scenario(name)
    status, error = "ok", None
    try:
        with _sigterm_as_interrupt():
            scenario.run(context)
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted by the user"
        raise
    except SwarmscopeError as exc:
        status, error = "failed", str(exc)
        log.error("scenario %s failed: %s", name, scrub(str(exc)))
    except Exception as exc:  # noqa: BLE001 - one scenario's bug must not lose the others
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        log.error("scenario %s crashed: %s", name, scrub(error))
        context.run.write_json(
            f"samples/{name}-traceback.json", {"traceback": traceback.format_exc()}
        )
    finally:
        failures = context.run_cleanups()
        if failures:
            error = "; ".join(filter(None, [error, *failures]))
            if status == "ok":
                status = "failed"
        context.run.finish_scenario(name, status, error)
    return status


def figures_of(context: ScenarioContext, name: str) -> dict[str, Any]:
    return context.run.scenarios()[name].figures
