"""The lab: a real multi-node Docker Swarm cluster with its monitoring stack, on one Linux host.

Python API (the CLI `swarmscope lab ...` is a thin layer over it)::

    from drivers import lab

    result = lab.up(lab.UpOptions(name="demo", nodes=6, link="wifi"))   # -> UpResult
    result.inventory            # drivers.inventory.Inventory, as load_inventory reads it
    state = lab.load_state("demo")
    lab.set_link(state, "4g")                     # every Pi node (gpu-primary stays wired)
    lab.set_node_delay(state, "rpi-1", 20.0)      # one node, explicit delay in ms
    lab.status("demo")                            # -> LabStatus
    lab.down("demo")                              # -> DownReport; safe to repeat

README.md, "The lab", describes the layout, the link profiles and the measured figures.
"""

from __future__ import annotations

from drivers.lab.build import LabExistsError, UpOptions, UpResult, up
from drivers.lab.inspection import LabStatus, load_state, status
from drivers.lab.links import apply as set_node_link
from drivers.lab.links import set_link, set_node_delay
from drivers.lab.profiles import PROFILES, LinkProfile, LinkSettings
from drivers.lab.spec import LAB_IMAGE, inventory_path_for, state_dir_for
from drivers.lab.state import LabState
from drivers.lab.system import LabError
from drivers.lab.teardown import DownReport, down

__all__ = [
    "LAB_IMAGE",
    "PROFILES",
    "DownReport",
    "LabError",
    "LabExistsError",
    "LabState",
    "LabStatus",
    "LinkProfile",
    "LinkSettings",
    "UpOptions",
    "UpResult",
    "down",
    "inventory_path_for",
    "load_state",
    "set_link",
    "set_node_delay",
    "set_node_link",
    "state_dir_for",
    "status",
    "up",
]
