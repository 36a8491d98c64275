"""`swarmscope fault`: clear help with examples; every mistake is one line and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[3] / "benchmarks" / "configs" / "cluster.example.yaml"


def swarmscope(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drivers", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_lists_every_action_with_examples() -> None:
    """`fault --help` names each fault and shows runnable examples."""
    result = swarmscope("fault", "--help")
    assert result.returncode == 0
    for action in ("partition", "netem", "bandwidth", "stress", "poweroff", "engine-stop"):
        assert action in result.stdout
    assert "swarmscope fault revert --all" in result.stdout
    assert "arms its own revert on the node" in result.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["partition", "--nodes", "rpi-1"], "the following arguments are required: --from"),
        (["bandwidth", "--nodes", "rpi-1", "--rate", "fast"], "--rate: 'fast' is not a rate"),
        (["netem", "--nodes", "rpi-1", "--delay", "5 parsecs"], "--delay: "),
        (["netem", "--nodes", "rpi-1"], "netem: give --delay and/or --loss"),
        (["netem", "--nodes", "rpi-1", "--delay", "10ms", "--loss", "2"], "loss between 0"),
        (["stress", "--nodes", "rpi-1"], "stress: give --cpu N and/or --vm-bytes"),
        (["stress", "--nodes", "rpi-1", "--vm-bytes", "lots"], "--vm-bytes: 'lots'"),
        (["partition", "--nodes", "rpi-9", "--from", "gpu-primary"], "no node named 'rpi-9'"),
        (["partition", "--nodes", "rpi-1", "--from", "rpi-1"], "a node cannot be cut off"),
        (["engine-stop", "--nodes", "rpi-1", "--duration", "0s"], "more than 0 s"),
        (["engine-stop", "--nodes", "rpi-1", "--duration", "2d"], "--duration: "),
        (["revert"], "give fault ids or --all"),
        (["revert", "abc"], "'abc' is not a fault id"),
        (["revert", "stress-1a2b@rpi-1", "--all"], "give fault ids or --all (not both)"),
    ],
)
def test_mistakes_are_one_line(argv: list[str], message: str) -> None:
    """Bad arguments fail before any node is touched: one line, exit code 2."""
    inventory = [] if argv[0] == "revert" and len(argv) == 1 else ["--inventory", str(EXAMPLE)]
    result = swarmscope("fault", *argv, *inventory)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_a_node_that_does_not_answer_is_named(tmp_path: Path) -> None:
    """The example inventory's Pis do not exist here: one line naming the node, exit 1,
    and the reassurance that the fault (if it got applied) reverts by itself."""
    text = EXAMPLE.read_text().replace("192.168.1.", "127.0.0.")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    inventory = tmp_path / "cluster.yaml"
    inventory.write_text(text.replace("known_hosts: known_hosts", f"known_hosts: {known_hosts}"))
    result = swarmscope(
        "fault", "stress", "--nodes", "rpi-1", "--cpu", "1", "--inventory", str(inventory)
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("swarmscope: error: node rpi-1 (127.0.0.101:22): ")
