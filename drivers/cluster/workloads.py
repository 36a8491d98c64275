"""Workload files in the seed's format (``benchmarks/configs/heterogeneous_workload.yaml``).

The seed's fields are read as it writes them::

    workloads:
      - name: "edge-sensor-processing"
        type: "cpu-light"             # gpu-compute | cpu-light | cpu-moderate | cpu-heavy
        requirements: {cpu: 1.0, memory: "256MB"}   # plus gpu: true
        replicas: 5
        expected_nodes: ["rpi-1", "rpi-2", "rpi-3", "rpi-4", "rpi-5"]   # or expected_node

and a few optional ones the seed leaves to the orchestrator: ``image``, ``command`` and
``constraints``. Reading is strict: an unknown key, a memory without a unit or an
``expected_node`` beside ``expected_nodes`` is one ConfigError naming file and field.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.cluster.base import Requirements, WorkloadSpec
from drivers.cluster.constraints import parse_constraint
from drivers.config import Section, load_yaml
from drivers.errors import ConfigError
from drivers.inventory import Inventory
from drivers.lab.spec import LAB_IMAGE
from drivers.units import parse_quantity

# Used when a workload names no image: tiny, on Docker Hub for real Pis. The lab has no
# registry and imports its own busybox image (LAB_IMAGE) into every engine instead.
DEFAULT_IMAGE = "busybox:latest"
# A long-running workload that does nothing and stops at once on SIGTERM (under --init).
DEFAULT_COMMAND = ("sleep", "86400")
ANY_CAPABLE = "any-capable"

# How the seed's workload types are placed when the file says nothing more. The seed expects
# light CPU work on the Pis ("edge-sensor-processing" on rpi-1..5) and GPU work on the GPU
# node; the GPU part follows from requirements.gpu, the Pi part needs saying.
TYPE_CONSTRAINTS: dict[str, tuple[str, ...]] = {
    "gpu-compute": (),
    "cpu-light": ("node.type == rpi",),
    "cpu-moderate": (),
    "cpu-heavy": (),
}
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# Docker-style sizes as the seed's CLI writes them (`--memory 128M`): binary multiples.
_DOCKER_SIZE = re.compile(r"^\s*(?P<number>[0-9]*\.?[0-9]+)\s*(?P<suffix>[bkmgBKMG])\s*$")
_DOCKER_MULTIPLIER = {"b": 1, "k": 2**10, "m": 2**20, "g": 2**30}


@dataclass(frozen=True)
class Expectation:
    """Where the file says a workload should land."""

    nodes: tuple[str, ...] = ()  # every replica on one of these (spread evenly)
    any_capable: bool = False

    def describe(self) -> str:
        return ANY_CAPABLE if self.any_capable else ",".join(self.nodes)


@dataclass(frozen=True)
class WorkloadEntry:
    spec: WorkloadSpec
    type: str
    expectation: Expectation | None
    where: str  # "workloads[1]": for error messages about this entry


def default_image(inventory: Inventory) -> str:
    """The image for workloads that name none: the lab's own, or busybox from Docker Hub."""
    return LAB_IMAGE if inventory.is_lab else DEFAULT_IMAGE


def parse_memory(text: object) -> int:
    """Bytes from ``256MB``, ``4GB``, ``1GiB`` (decimal/binary as written) or ``128M`` (Docker's
    binary letters); ValueError says what was expected."""
    if isinstance(text, str):
        match = _DOCKER_SIZE.match(text)
        if match:
            multiplier = _DOCKER_MULTIPLIER[match["suffix"].lower()]
            return int(float(match["number"]) * multiplier)
    value = parse_quantity(text, "bytes")
    if value <= 0:
        raise ValueError(f"{text!r} must be more than zero")
    return int(value)


def format_memory(size: int) -> str:
    """The Docker-style form of a byte count: 134217728 -> '128M'."""
    for suffix, multiplier in (("G", 2**30), ("M", 2**20), ("K", 2**10)):
        if size >= multiplier and size % multiplier == 0:
            return f"{size // multiplier}{suffix}"
    return f"{size}b"


def load_workload_file(
    path: Path,
    image: str = DEFAULT_IMAGE,
    command: tuple[str, ...] = DEFAULT_COMMAND,
) -> list[WorkloadEntry]:
    """Read and validate a workload file; ``image``/``command`` fill what a workload omits."""
    top = Section.of(load_yaml(path), "", str(path))
    top.check_keys({"workloads"})
    entries = [_read_entry(section, image, command) for section in top.sections("workloads")]
    if not entries:
        raise top.error("workloads", "the list is empty")
    seen: set[str] = set()
    for entry in entries:
        if entry.spec.name in seen:
            raise ConfigError(f"{path}: {entry.where}.name: duplicate name {entry.spec.name!r}")
        seen.add(entry.spec.name)
    return entries


def check_expected_nodes(entries: list[WorkloadEntry], nodes: set[str], path: Path) -> None:
    """Every expected node must be a node of the cluster: a typo would fail every run."""
    for entry in entries:
        if entry.expectation is None:
            continue
        for name in entry.expectation.nodes:
            if name not in nodes:
                key = "expected_nodes" if len(entry.expectation.nodes) > 1 else "expected_node"
                raise ConfigError(
                    f"{path}: {entry.where}.{key}: {name!r} is not a node of the cluster "
                    f"(nodes: {', '.join(sorted(nodes))}; or write {ANY_CAPABLE!r})"
                )


def _read_entry(section: Section, image: str, command: tuple[str, ...]) -> WorkloadEntry:
    section.check_keys(
        {"name", "type"},
        {
            "requirements",
            "replicas",
            "expected_node",
            "expected_nodes",
            "image",
            "command",
            "constraints",
        },
    )
    name = section.get("name", str)
    if not _NAME.match(name):
        raise section.error("name", f"{name!r} must be lower-case letters, digits and '-'")
    kind = section.choice("type", tuple(TYPE_CONSTRAINTS))
    requirements = _read_requirements(section)
    if kind == "gpu-compute" and requirements.gpus == 0:
        raise section.error("requirements.gpu", "a gpu-compute workload needs gpu: true")
    replicas = section.get("replicas", int, 1)
    if replicas < 1:
        raise section.error("replicas", "must be 1 or more")
    constraints = _read_constraints(section) or TYPE_CONSTRAINTS[kind]
    spec = WorkloadSpec(
        name=name,
        image=section.get("image", str, image),
        command=_read_command(section, command),
        requirements=requirements,
        constraints=constraints,
        replicas=replicas,
        labels={"swarmscope.type": kind},
    )
    return WorkloadEntry(spec, kind, _read_expectation(section), section.path)


def _read_requirements(section: Section) -> Requirements:
    if not section.has("requirements"):
        return Requirements()
    req = section.section("requirements")
    req.check_keys(set(), {"gpu", "cpu", "memory"})
    gpus = 0
    if req.has("gpu"):
        raw = req.data["gpu"]
        if isinstance(raw, bool):
            gpus = int(raw)
        elif isinstance(raw, int) and raw >= 0:
            gpus = raw
        else:
            raise req.error("gpu", f"expected true, false or a GPU count, got {raw!r}")
    cpus = req.get("cpu", float) if req.has("cpu") else None
    if cpus is not None and cpus <= 0:
        raise req.error("cpu", "must be more than zero")
    memory = req.converted("memory", parse_memory) if req.has("memory") else None
    return Requirements(gpus=gpus, cpus=cpus, memory_bytes=memory)


def _read_command(section: Section, default: tuple[str, ...]) -> tuple[str, ...]:
    if not section.has("command"):
        return default
    raw: Any = section.data["command"]
    if isinstance(raw, str):
        try:
            parts = shlex.split(raw)
        except ValueError as exc:
            raise section.error("command", f"cannot split {raw!r}: {exc}") from None
    elif isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        parts = list(raw)
    else:
        raise section.error("command", "expected a string or a list of strings")
    if not parts:
        raise section.error("command", "is empty")
    return tuple(parts)


def _read_constraints(section: Section) -> tuple[str, ...]:
    if not section.has("constraints"):
        return ()
    raw = section.data["constraints"]
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise section.error("constraints", "expected a list of strings like node.name==rpi-1")
    for index, text in enumerate(raw):
        try:
            parse_constraint(text)
        except ValueError as exc:
            raise section.error(f"constraints[{index}]", str(exc)) from None
    return tuple(raw)


def _read_expectation(section: Section) -> Expectation | None:
    if section.has("expected_node") and section.has("expected_nodes"):
        raise section.error("expected_nodes", "give expected_node or expected_nodes, not both")
    if section.has("expected_node"):
        node = section.get("expected_node", str)
        if node == ANY_CAPABLE:
            return Expectation(any_capable=True)
        return Expectation(nodes=(node,))
    if section.has("expected_nodes"):
        raw = section.data["expected_nodes"]
        if not isinstance(raw, list) or not raw or not all(isinstance(n, str) for n in raw):
            raise section.error("expected_nodes", "expected a non-empty list of node names")
        if ANY_CAPABLE in raw:
            raise section.error("expected_nodes", f"write expected_node: {ANY_CAPABLE} instead")
        if len(set(raw)) != len(raw):
            raise section.error("expected_nodes", "lists a node twice")
        return Expectation(nodes=tuple(raw))
    return None
