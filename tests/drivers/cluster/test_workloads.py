"""Workload files in the seed's format are read as written, and every mistake is one error
naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.cluster.workloads import (
    DEFAULT_COMMAND,
    Expectation,
    check_expected_nodes,
    format_memory,
    load_workload_file,
    parse_memory,
)
from drivers.errors import ConfigError

SEED_FILE = Path(__file__).parents[3] / "benchmarks" / "configs" / "heterogeneous_workload.yaml"
LAB_NODES = {"gpu-primary", "rpi-1", "rpi-2", "rpi-3", "rpi-4", "rpi-5"}


def test_the_seeds_file_reads_as_the_seed_means_it() -> None:
    """GPU work needs the GPU, the sensors are five replicas on the Pis, aggregation anywhere."""
    entries = load_workload_file(SEED_FILE, image="img")
    gpu, sensors, aggregation = entries
    assert gpu.spec.name == "gpu-inference"
    assert (gpu.spec.requirements.gpus, gpu.spec.requirements.memory_bytes) == (1, 4 * 10**9)
    assert gpu.expectation == Expectation(nodes=("gpu-primary",))
    assert sensors.spec.replicas == 5
    assert sensors.spec.requirements.cpus == 1.0
    assert sensors.spec.requirements.memory_bytes == 256 * 10**6
    assert sensors.spec.constraints == ("node.type == rpi",)
    assert sensors.expectation == Expectation(nodes=tuple(f"rpi-{i}" for i in range(1, 6)))
    assert aggregation.expectation == Expectation(any_capable=True)
    assert aggregation.spec.constraints == ()
    assert all(e.spec.image == "img" and e.spec.command == DEFAULT_COMMAND for e in entries)
    check_expected_nodes(entries, LAB_NODES, SEED_FILE)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "workloads.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("workloads: []\n", r"workloads: the list is empty"),
        ("jobs: []\n", r"jobs: unknown key \(expected one of: workloads\)"),
        (
            "workloads:\n  - {name: a, type: cpu-light, replica: 2}\n",
            r"workloads\[0\]\.replica: unknown key",
        ),
        (
            "workloads:\n  - {name: a, type: cpu-light, requirements: {memory: 256}}\n",
            r"workloads\[0\]\.requirements\.memory: 256 has no unit",
        ),
        (
            "workloads:\n  - {name: a, type: cpu-light, requirements: {cpu: fast}}\n",
            r"workloads\[0\]\.requirements\.cpu: expected a number",
        ),
        (
            "workloads:\n  - {name: a, type: gpu-compute}\n",
            r"workloads\[0\]\.requirements\.gpu: a gpu-compute workload needs gpu: true",
        ),
        (
            "workloads:\n  - {name: a, type: quantum}\n",
            r"workloads\[0\]\.type: 'quantum' is not one of: gpu-compute, cpu-light",
        ),
        (
            "workloads:\n  - {name: a, type: cpu-light, expected_node: rpi-1, "
            "expected_nodes: [rpi-2]}\n",
            r"workloads\[0\]\.expected_nodes: give expected_node or expected_nodes, not both",
        ),
        (
            "workloads:\n  - {name: a, type: cpu-light}\n  - {name: a, type: cpu-moderate}\n",
            r"workloads\[1\]\.name: duplicate name 'a'",
        ),
        (
            "workloads:\n  - {name: A_b, type: cpu-light}\n",
            r"workloads\[0\]\.name: 'A_b' must be lower-case",
        ),
        (
            "workloads:\n  - {name: a, type: cpu-light, constraints: [node.name rpi-1]}\n",
            r"workloads\[0\]\.constraints\[0\]: 'node.name rpi-1' is not a placement constraint",
        ),
        (
            "workloads:\n  - {name: a, type: cpu-light, replicas: 0}\n",
            r"workloads\[0\]\.replicas: must be 1 or more",
        ),
    ],
)
def test_mistakes_name_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    """A typo fails at load with the field's path, not an hour into a run."""
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"^{path}: {message}"):
        load_workload_file(path)


def test_expected_node_must_be_in_the_cluster(tmp_path: Path) -> None:
    """The seed's own "primary-gpu" (its GPU node is called gpu-primary) is caught by name."""
    path = _write(
        tmp_path,
        "workloads:\n  - {name: g, type: gpu-compute, requirements: {gpu: true}, "
        "expected_node: primary-gpu}\n",
    )
    entries = load_workload_file(path)
    with pytest.raises(
        ConfigError,
        match=rf"^{path}: workloads\[0\]\.expected_node: 'primary-gpu' is not a node of the "
        r"cluster \(nodes: gpu-primary, rpi-1",
    ):
        check_expected_nodes(entries, LAB_NODES, path)


def test_optional_fields_override_the_defaults(tmp_path: Path) -> None:
    """image, command (string or list) and constraints a file gives win over the defaults."""
    path = _write(
        tmp_path,
        "workloads:\n"
        "  - name: web\n    type: cpu-light\n    image: nginx:1.25\n"
        "    command: \"sh -c 'httpd -f'\"\n    constraints: [node.name==rpi-2]\n",
    )
    (entry,) = load_workload_file(path)
    assert entry.spec.image == "nginx:1.25"
    assert entry.spec.command == ("sh", "-c", "httpd -f")
    assert entry.spec.constraints == ("node.name==rpi-2",)
    assert entry.expectation is None


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("128M", 128 * 2**20),
        ("1g", 2**30),
        ("256MB", 256 * 10**6),
        ("4GB", 4 * 10**9),
        ("1GiB", 2**30),
        ("512KiB", 512 * 2**10),
    ],
)
def test_memory_sizes_in_both_notations(text: str, size: int) -> None:
    """Docker's letters (128M) are binary; the seed's units (256MB) are as written."""
    assert parse_memory(text) == size


def test_memory_format_round_trips() -> None:
    """The CLI form of a size parses back to the same number of bytes."""
    for size in (128 * 2**20, 2**30, 3 * 2**10, 100 * 10**9):
        assert parse_memory(format_memory(size)) == size
    assert format_memory(128 * 2**20) == "128M"
