"""A mistyped role variable stops the role before it touches the node, naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ansible.runner import run_playbook

PLAYBOOK = Path(__file__).parent / "playbooks" / "role.yml"


@pytest.mark.parametrize(
    ("role", "variables", "message"),
    [
        (
            "docker",
            {"docker_service_manager": "upstart"},
            "value of docker_service_manager must be one of: systemd, none, got: upstart",
        ),
        (
            "monitoring_tools",
            {"monitoring_tools_checks": [{"htop": "--version"}]},
            "monitoring_tools_checks",
        ),
        (
            "node_exporter",
            {"node_exporter_port": "http"},
            "argument 'node_exporter_port' is of type str and we were unable to convert to int",
        ),
        (
            "swarmlet_exporter",
            {"swarmlet_exporter_service_manager": "runit"},
            "value of swarmlet_exporter_service_manager must be one of: systemd, none, got: runit",
        ),
        (
            "locust_worker",
            {"locust_worker_master_port": "5557/tcp"},
            "argument 'locust_worker_master_port' is of type str",
        ),
    ],
)
def test_bad_variable_fails_before_any_change(
    role: str, variables: dict[str, object], message: str, tmp_path: Path
) -> None:
    """The role's argument spec rejects the value first: one failed task, nothing changed."""
    run = run_playbook(
        PLAYBOOK,
        "localhost,",
        tmp_path / "ansible",
        extra_vars={"role_name": role, **variables},
        args=["-c", "local"],
    )
    assert run.returncode != 0
    recap = run.recap["localhost"]
    assert (recap.changed, recap.failed) == (0, 1)
    assert "Validating arguments against arg spec 'main'" in run.output
    assert message in run.output


def test_locust_worker_without_a_master_says_how_to_name_one(tmp_path: Path) -> None:
    """No control group and no master host: the first task says what to set, nothing changes."""
    run = run_playbook(
        PLAYBOOK,
        "localhost,",
        tmp_path / "ansible",
        extra_vars={"role_name": "locust_worker"},
        args=["-c", "local"],
    )
    assert run.recap["localhost"].failed == 1
    assert run.recap["localhost"].changed == 0
    assert "locust_worker_master_host is empty: set it, or put the control node" in run.output
