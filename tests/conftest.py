"""Session-wide fixtures: ONE real lab cluster shared by every test that needs a cluster.

Use it from any test module::

    import pytest
    from drivers.inventory import Inventory

    pytestmark = [pytest.mark.root, pytest.mark.lab]

    def test_something(lab_inventory: Inventory) -> None:
        manager = lab_inventory.manager          # gpu-primary, docker_host unix:///...
        ...

    def test_a_link(lab_state: LabState) -> None:      # to shape links (drivers.lab API)
        set_node_delay(lab_state, "rpi-1", 20.0)        # put it back before you return!

The lab is built once per pytest session, on first use (about 10 s): gpu-primary plus
``$SWARMSCOPE_TEST_LAB_NODES - 1`` Pis (default 4 nodes in all: gpu-primary, rpi-1..rpi-3,
enough for placement, partitions and failures while keeping the suite fast), gigabit links,
a name (``pytest-PID``) and /24 of its own, torn down at session end even when tests fail.
Tests that change it (links, faults, services) must undo their change. Without root or
without the lab's Debian packages, tests using it are skipped with the reason.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from drivers.inventory import Inventory
from drivers.lab import LabError, LabState, UpOptions, down, load_state, up
from drivers.lab.spec import state_root
from drivers.lab.system import preflight

TEST_LAB_PREFIX = "pytest-"
log = logging.getLogger("swarmscope.lab")


def session_lab_name(suffix: str = "") -> str:
    """``pytest-PID[-SUFFIX]``: test labs carry the PID of their pytest session, so a later
    session can tell an orphan (session gone) from a lab of a session running in parallel."""
    return f"{TEST_LAB_PREFIX}{os.getpid()}" + (f"-{suffix}" if suffix else "")


def _remove_orphaned_test_labs() -> None:
    """Labs of earlier test sessions that died without their finalizer (kill -9, power cut)."""
    root = state_root()
    if not root.is_dir():
        return
    for directory in root.iterdir():
        if not directory.name.startswith(TEST_LAB_PREFIX):
            continue
        session = directory.name.removeprefix(TEST_LAB_PREFIX).split("-")[0]
        if session.isdigit() and os.path.exists(f"/proc/{session}"):
            continue  # its session still runs (maybe in parallel with this one)
        log.warning("removing the orphaned test lab %s", directory.name)
        down(directory.name)


@pytest.fixture(scope="session")
def lab_inventory() -> Iterator[Inventory]:
    """The session's lab (see the module docstring), as the loaded inventory."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (CI runs as root)")
    try:
        preflight()
    except LabError as exc:
        pytest.skip(str(exc))
    _remove_orphaned_test_labs()
    name = session_lab_name()
    nodes = int(os.environ.get("SWARMSCOPE_TEST_LAB_NODES", "4"))
    try:
        # up() removes what it built when it fails or is interrupted; the finally below
        # covers everything after (down() is safe to repeat).
        result = up(UpOptions(name=name, nodes=nodes), say=log.info)
        yield result.inventory
    finally:
        down(name, say=log.info)


@pytest.fixture
def lab_state(lab_inventory: Inventory) -> LabState:
    """The session lab's state, fresh from disk, for drivers.lab's link functions."""
    return load_state(lab_inventory.name)
