"""The StratoSwarm backend calls the CLI exactly as the seed does and reads what it prints,
tested against the scripted stand-in CLI on PATH (the real CLI is not available here)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from drivers.cluster import open_backend
from drivers.cluster.base import NodeState, Requirements, TaskState, WorkloadSpec
from drivers.cluster.stratoswarm import BackendError, StratoSwarmBackend
from drivers.secrets import scrub
from tests.drivers.cluster.standin import GIB, TOKEN, LocalNodeShell, StandIn, install_standin

SEED_FILE = Path(__file__).parents[3] / "benchmarks" / "configs" / "heterogeneous_workload.yaml"


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIn:
    return install_standin(tmp_path, monkeypatch)


@pytest.fixture
def backend(standin: StandIn) -> StratoSwarmBackend:
    assert isinstance(open_backend(standin.inventory), StratoSwarmBackend)
    return StratoSwarmBackend(
        standin.inventory, runner_for=LocalNodeShell, join_timeout=5, poll_interval=0.05
    )


def test_run_uses_the_seeds_command_lines(standin: StandIn, backend: StratoSwarmBackend) -> None:
    """GPU, CPU/memory and pinned workloads become the seed's `stratoswarm run` calls."""
    gpu = backend.run(
        WorkloadSpec("gpu", "nvidia/cuda:11.0-base", ("nvidia-smi",), Requirements(gpus=1))
    )
    cpu = backend.run(
        WorkloadSpec(
            "cpu", "alpine", ("sleep", "60"), Requirements(cpus=0.5, memory_bytes=128 * 2**20)
        )
    )
    pinned = backend.run(
        WorkloadSpec(
            "pinned",
            "alpine",
            ("sh", "-c", "while true; do date; sleep 1; done"),
            constraints=("node.name == rpi-1",),
        )
    )
    assert standin.calls() == [
        ["run", "--gpu", "nvidia/cuda:11.0-base", "nvidia-smi"],
        ["run", "--cpu", "0.5", "--memory", "128M", "alpine", "sleep", "60"],
        [
            "run",
            "--constraint",
            "node.name==rpi-1",
            "alpine",
            "sh",
            "-c",
            "while true; do date; sleep 1; done",
        ],
    ]
    tasks = {t.workload_id: t for t in backend.tasks()}
    assert tasks[gpu].node == "gpu-primary"
    assert tasks[pinned].node == "rpi-1"
    assert tasks[cpu].workload == "alpine-2"
    created = standin.state()["workloads"][pinned]["tasks"][0]["created"]
    assert tasks[pinned].created_at == pytest.approx(created, abs=1e-6)


def test_task_states_and_reasons_come_from_ps(backend: StratoSwarmBackend) -> None:
    """A workload no node can hold is Pending with the orchestrator's reason; a started one
    is Running since its UPDATED time."""
    big = backend.run(
        WorkloadSpec("big", "alpine", ("true",), Requirements(memory_bytes=100 * 10**9))
    )
    small = backend.run(WorkloadSpec("small", "alpine", ("true",)))
    (pending,) = backend.tasks(big)
    assert pending.state is TaskState.PENDING
    assert pending.node is None
    assert pending.message == "no suitable node (insufficient resources on 6 nodes)"
    (running,) = backend.tasks(small)
    assert running.state in (TaskState.PENDING, TaskState.RUNNING)  # starts 0.2 s after created
    assert running.updated_at >= running.created_at


def test_nodes_merge_status_and_capacity(standin: StandIn, backend: StratoSwarmBackend) -> None:
    """`node ls` gives each node's state and role, `cluster nodes --format=table` its size."""
    nodes = {n.name: n for n in backend.nodes()}
    assert set(nodes) == {"gpu-primary", *(f"rpi-{i}" for i in range(1, 6))}
    primary = nodes["gpu-primary"]
    assert (primary.state, primary.role, primary.cpus) == (NodeState.READY, "manager", 8.0)
    assert primary.memory_bytes == 32 * GIB
    assert primary.generic_resources == {"gpu": 1}
    assert nodes["rpi-3"].labels == {"type": "rpi"}
    assert ["node", "ls"] in standin.calls()
    assert ["cluster", "nodes", "--format=table"] in standin.calls()


def test_join_token_is_registered_as_a_secret(
    backend: StratoSwarmBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """The token comes from `cluster create-join-token` and is scrubbed from any text."""
    assert backend.join_token() == TOKEN
    assert scrub(f"docker run ... join --token {TOKEN}") == "docker run ... join --token <redacted>"


def test_migrate_moves_the_workload(standin: StandIn, backend: StratoSwarmBackend) -> None:
    """`migrate ID --to NODE`: the old task stops on rpi-1, a new one runs on rpi-2."""
    workload = backend.run(
        WorkloadSpec("m", "alpine", ("sleep", "60"), constraints=("node.name==rpi-1",))
    )
    backend.migrate(workload, "rpi-2")
    assert standin.calls()[-1] == ["migrate", workload, "--to", "rpi-2"]
    tasks = backend.tasks(workload)
    assert [(t.task_id, t.node, t.state) for t in tasks] == [
        (f"{workload}/1", "rpi-1", TaskState.SHUTDOWN),
        (f"{workload}/2", "rpi-2", tasks[1].state),
    ]
    assert tasks[1].state in (TaskState.PENDING, TaskState.RUNNING)


def test_deploy_runs_the_seeds_file_and_finds_its_workloads(
    standin: StandIn, backend: StratoSwarmBackend
) -> None:
    """`deploy FILE` as the seed calls it; the ids come from `ps` by workload name."""
    ids = backend.deploy(SEED_FILE)
    assert ["deploy", str(SEED_FILE)] in standin.calls()
    names = {t.workload_id: t.workload for t in backend.tasks()}
    assert [names[i].split(".")[0] for i in ids] == [
        "gpu-inference",
        "edge-sensor-processing",
        "data-aggregation",
    ]
    sensors = [t.node for t in backend.tasks(ids[1])]
    assert sorted(sensors) == [f"rpi-{i}" for i in range(1, 6)]


def test_remove_is_harmless_twice(standin: StandIn, backend: StratoSwarmBackend) -> None:
    """`rm ID` of a workload that is gone is not an error; other failures are."""
    workload = backend.run(WorkloadSpec("r", "alpine", ("true",)))
    backend.remove(workload)
    backend.remove(workload)
    assert standin.calls()[-2:] == [["rm", workload], ["rm", workload]]
    assert backend.tasks(workload) == []


@pytest.mark.parametrize(
    ("command", "call", "message"),
    [
        ("ps", lambda b: b.tasks(), r"`stratoswarm ps` printed unreadable output"),
        ("node", lambda b: b.nodes(), r"`stratoswarm node ls` printed unreadable output"),
        (
            "run",
            lambda b: b.run(WorkloadSpec("x", "alpine", ("true",))),
            r"`stratoswarm run alpine true` printed unreadable output: "
            r"expected the workload id alone",
        ),
    ],
)
def test_garbled_output_is_an_error_naming_the_command(
    backend: StratoSwarmBackend,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    call: object,
    message: str,
) -> None:
    """Output that does not parse is one error naming the command, never a guess."""
    backend.run(WorkloadSpec("one", "alpine", ("true",)))
    monkeypatch.setenv("STRATOSWARM_STANDIN_GARBLE", command)
    with pytest.raises(BackendError, match=message):
        call(backend)  # type: ignore[operator]


def test_garbled_token_output_does_not_leak(
    backend: StratoSwarmBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A garbled token reply is refused, and the error names the command, not the token."""
    monkeypatch.setenv("STRATOSWARM_STANDIN_GARBLE", "cluster")
    with pytest.raises(BackendError, match=r"`stratoswarm cluster create-join-token`") as caught:
        backend.join_token()
    assert TOKEN[-12:] not in str(caught.value)


def test_failing_command_names_it_with_its_error(
    backend: StratoSwarmBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A non-zero exit is one line: the command, its exit status, its last error line."""
    monkeypatch.setenv("STRATOSWARM_STANDIN_FAIL", "migrate")
    with pytest.raises(
        BackendError,
        match=r"^`stratoswarm migrate wl-1 --to rpi-2` exited 1: Error: migrate failed: "
        r"the control plane is not reachable$",
    ):
        backend.migrate("wl-1", "rpi-2")


def test_missing_cli_says_so(standin: StandIn) -> None:
    """No `stratoswarm` on PATH: a clear error, not a FileNotFoundError traceback."""
    backend = StratoSwarmBackend(standin.inventory, cli="stratoswarm-not-installed")
    with pytest.raises(BackendError, match="the stratoswarm-not-installed CLI is not on PATH"):
        backend.nodes()


def test_join_times_the_agent_from_its_log(
    standin: StandIn, backend: StratoSwarmBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """The seed's join: leave (`docker rm -f swarmlet`), `docker run ... join --token T
    --cluster PRIMARY_IP`, wait for "Successfully joined cluster"; phases from the agent's
    timestamped log lines relative to the container's start."""
    node = standin.inventory.node("rpi-3")
    with caplog.at_level(logging.DEBUG):
        backend.leave(node)
        assert {n.name: n.state for n in backend.nodes()}["rpi-3"] is NodeState.DOWN
        result = backend.join(node)
    assert result.node == "rpi-3"
    phases = result.phases
    assert phases["hardware_profiling"] == pytest.approx(0.30, abs=0.01)
    assert phases["network_discovery"] == pytest.approx(0.15, abs=0.01)
    assert phases["certificate_exchange"] == pytest.approx(0.15, abs=0.01)
    assert phases["total"] == pytest.approx(0.60, abs=0.01)
    assert result.details["wall_seconds"] >= 0.6
    assert {n.name: n.state for n in backend.nodes()}["rpi-3"] is NodeState.READY
    assert TOKEN not in caplog.text


def test_join_that_never_completes_is_an_error(
    standin: StandIn, backend: StratoSwarmBackend
) -> None:
    """An agent that never logs "Successfully joined cluster" fails the join in bounded time,
    with its last log line, and the token does not appear in the error."""
    standin.update(agent_token="SWMTKN-1-some0other0cluster0token")
    backend.join_timeout = 1
    with pytest.raises(
        BackendError, match=r"node rpi-2: did not join in time: .*invalid join token"
    ):
        backend.join(standin.inventory.node("rpi-2"))
