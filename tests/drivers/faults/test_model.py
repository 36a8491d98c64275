"""Fault ids, records and the parsing of what targets print: every mistake is one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drivers.faults.kinds import Netem, Stress, parse_rate, parse_size
from drivers.faults.model import (
    FaultError,
    FaultRecord,
    check_duration,
    new_fault_id,
    parse_fault_id,
)
from drivers.faults.protocol import (
    parse_apply_output,
    parse_errors,
    parse_list_output,
    parse_revert_log,
)


def test_fault_ids_name_their_node_and_give_chain_and_handle() -> None:
    """An id round-trips to kind, tag and node; its chain fits iptables, its handle tc."""
    for _ in range(200):
        text = new_fault_id("partition", "rpi-12")
        fault = parse_fault_id(text)
        assert (fault.kind, fault.node, fault.text) == ("partition", "rpi-12", text)
        assert 0x1000 <= int(fault.tag, 16) < 0xFFFE
        assert len(fault.chain + "-out") <= 28
        assert fault.tc_handle == f"{int(fault.tag, 16):x}"
    assert parse_fault_id("engine-stop-1a2b@gpu-primary").kind == "engine-stop"


@pytest.mark.parametrize(
    "text", ["", "partition@rpi-1", "reboot-1a2b@rpi-1", "partition-1A2B@rpi-1", "x; rm -rf /"]
)
def test_bad_fault_ids_are_refused_with_a_hint(text: str) -> None:
    """Anything but KIND-TAG@NODE is refused before it reaches a shell, naming the format."""
    with pytest.raises(FaultError, match=r"is not a fault id .*partition-3fa2@rpi-1") as caught:
        parse_fault_id(text)
    assert caught.value.exit_code == 2


def test_records_round_trip_through_json() -> None:
    """What the target stores is what a new controller reads back, expected end included."""
    record = FaultRecord(
        id="netem-2b3c@rpi-1",
        kind="netem",
        node="rpi-1",
        duration=30.0,
        armed_at=1000.0,
        params={"delay_seconds": 0.05},
        applied_at=1000.4,
    )
    data = record.to_json()
    assert data["expected_end"] == pytest.approx(1030.4)
    assert FaultRecord.from_json(data) == record
    with pytest.raises(ValueError, match="without armed_at, duration"):
        FaultRecord.from_json({"id": "x", "kind": "netem", "node": "rpi-1"})


@pytest.mark.parametrize("seconds", [0, -1, 24 * 3600 + 1])
def test_durations_are_bounded(seconds: float) -> None:
    """A fault lasts more than nothing and at most a day."""
    with pytest.raises(FaultError, match="a fault lasts more than 0 s and at most 24 h"):
        check_duration(seconds)


def test_rates_and_sizes_read_like_tc_and_docker() -> None:
    """10mbit is 10^7 bit/s, tc's mbps is megaBYTES; sizes are binary like docker's."""
    assert parse_rate("10mbit") == 10_000_000
    assert parse_rate("500kbit") == 500_000
    assert parse_rate("1gbit") == 10**9
    assert parse_rate("1mbps") == 8_000_000
    assert parse_size("256M") == 256 * 2**20
    assert parse_size("3G") == 3 * 2**30
    assert parse_size("512MiB") == 512 * 2**20
    for bad in ("fast", "10 parsecs", "1bit"):
        with pytest.raises(ValueError, match="rate"):
            parse_rate(bad)
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


def test_fault_parameters_are_checked_before_anything_runs() -> None:
    """Impossible netem/stress settings fail with the option to fix, exit code 2."""
    cases: list[tuple[type[Netem | Stress], dict[str, float], str]] = [
        (Netem, {}, "give --delay and/or --loss"),
        (Netem, {"jitter_seconds": 0.01, "loss_ratio": 0.1}, "jitter needs a delay"),
        (Netem, {"loss_ratio": 1.5}, "loss between 0 and 100%"),
        (Stress, {}, "give --cpu N and/or --vm-bytes"),
        (Stress, {"cpu_workers": 1, "cpu_load_percent": 0}, "percentage from 1 to 100"),
        (Stress, {"vm_workers": 1, "vm_bytes": 10}, "at least 1M"),
    ]
    for kind, arguments, message in cases:
        with pytest.raises(FaultError, match=message) as caught:
            kind(**arguments)  # type: ignore[arg-type]
        assert caught.value.exit_code == 2


def test_target_output_is_parsed_and_garbage_is_reported() -> None:
    """Applied-at (first mark wins), mechanism, listings, revert log and undo errors."""
    outcome = parse_apply_output(
        "swarmscope-mechanism inbound delay via NFQUEUE delayer\n"
        "swarmscope-applied-at 1000.25\nswarmscope-applied-at 1001.0\n"
    )
    assert (outcome.applied_at, outcome.mechanism, outcome.deferred) == (
        1000.25,
        "inbound delay via NFQUEUE delayer",
        False,
    )
    assert parse_apply_output("swarmscope-deferred\n").deferred
    good = FaultRecord("partition-1a2b@rpi-1", "partition", "rpi-1", 30.0, 1000.0)

    text = (
        f"fault\tpartition-1a2b@rpi-1\tyes\t1000.5\tiptables\t{json.dumps(good.to_json())}\n"
        "fault\tnetem-2b3c@rpi-1\tno\t\t\t{not json\n"
        "now\t1001.0\n"
    )
    listed, problems = parse_list_output(text, "rpi-1")
    assert [item.record.id for item in listed] == ["partition-1a2b@rpi-1"]
    assert listed[0].record.applied_at == 1000.5
    assert listed[0].timer_alive
    assert problems == [
        "node rpi-1: fault netem-2b3c@rpi-1: unreadable record "
        "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"
    ]
    entry = parse_revert_log("reverted x\nlog stress-1a2b@rpi-1 1002.5 timer\n")
    assert entry is not None
    assert (entry.fault_id, entry.at, entry.by) == ("stress-1a2b@rpi-1", 1002.5, "timer")
    assert parse_revert_log("active\n") is None
    errors = parse_errors("error poweroff-1a2b@rpi-3 lab power on rpi-3: dockerd exited\n")
    assert errors == {"poweroff-1a2b@rpi-3": ["lab power on rpi-3: dockerd exited"]}


def test_delay_parameters_are_what_the_lab_delayer_reads(tmp_path: Path) -> None:
    """The netem fallback writes the lab delayer's own parameters format (one queue)."""
    from drivers.lab.delayer import DelayParams, read_params

    path = tmp_path / "delay.json"
    path.write_text(Netem(delay_seconds=0.05, jitter_seconds=0.01).delayer_params(4242))
    assert read_params(path) == {4242: DelayParams(delay_ms=50.0, jitter_ms=10.0)}
