"""A mistyped role variable stops the role before it touches the node, naming the variable.

One ansible-playbook run covers every case: each case is a host of its own (all of them
this machine, over a local connection) with its role and its bad variable as host vars.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ansible.runner import PlaybookRun, run_playbook

PLAYBOOK = Path(__file__).parent / "playbooks" / "role.yml"
CASES: dict[str, tuple[str, dict[str, object], str]] = {
    "docker-manager": (
        "docker",
        {"docker_service_manager": "upstart"},
        "value of docker_service_manager must be one of: systemd, none, got: upstart",
    ),
    "tools-checks": (
        "monitoring_tools",
        {"monitoring_tools_checks": [{"htop": "--version"}]},
        "Elements value for option 'monitoring_tools_checks' is of type dict",
    ),
    "node-exporter-port": (
        "node_exporter",
        {"node_exporter_port": "http"},
        "argument 'node_exporter_port' is of type str and we were unable to convert to int",
    ),
    "exporter-manager": (
        "swarmlet_exporter",
        {"swarmlet_exporter_service_manager": "runit"},
        "value of swarmlet_exporter_service_manager must be one of: systemd, none, got: runit",
    ),
    "worker-port": (
        "locust_worker",
        {"locust_worker_master_port": "5557/tcp"},
        "argument 'locust_worker_master_port' is of type str",
    ),
    # Not a type error: without a control group the master is unknown, and the role says
    # what to set in its first task.
    "worker-no-master": (
        "locust_worker",
        {},
        "locust_worker_master_host is empty: set it, or put the control node",
    ),
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> PlaybookRun:
    work = tmp_path_factory.mktemp("role-arguments")
    hosts = {
        name: {"ansible_connection": "local", "role_name": role, **variables}
        for name, (role, variables, _) in CASES.items()
    }
    inventory = work / "hosts.json"
    inventory.write_text(json.dumps({"all": {"hosts": hosts}}))
    return run_playbook(PLAYBOOK, inventory, work / "ansible")


@pytest.mark.parametrize("case", CASES)
def test_bad_variable_fails_before_any_change(run: PlaybookRun, case: str) -> None:
    """The role rejects the value in its first task: that host failed, nothing changed."""
    recap = run.recap[case]
    assert (recap.changed, recap.failed) == (0, 1)
    failures = [line for line in run.output.splitlines() if line.startswith(f"fatal: [{case}]")]
    assert len(failures) == 1
    assert CASES[case][2] in failures[0]
