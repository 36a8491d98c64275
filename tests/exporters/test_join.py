"""Join phases from the agent's log: derivation, timestamps, garbage, files and Docker streams."""

from __future__ import annotations

import json
import os
import struct
import time
from pathlib import Path

import pytest

from exporters.collectors.join import JoinCollector
from exporters.exposition import MetricFamily
from exporters.joinlog import MAX_LINE_BYTES, JoinPatterns, JoinTracker, parse_timestamp
from exporters.logsources import ContainerRun, DockerLogSource, FileLogSource, demultiplex
from exporters.registry import CollectorError
from tests.exporters.recorded import FIXTURES, RecordedDocker

SEED_LOG = b"""2026-03-14T08:00:00Z swarmlet starting
2026-03-14T08:00:02.5Z Hardware profile: 4 cores
2026-03-14T08:00:03.75Z Network latency: 1.8ms
2026-03-14T08:00:04.5Z Successfully joined cluster edge-lab
"""


def by_name(families: object) -> dict[str, dict[tuple[str, ...], float]]:
    assert isinstance(families, list)
    out: dict[str, dict[tuple[str, ...], float]] = {}
    for family in families:
        assert isinstance(family, MetricFamily)
        out[family.name] = {tuple(v for _, v in s.labels): s.value for s in family.samples}
    return out


def feed(tracker: JoinTracker, text: bytes) -> None:
    for line in text.split(b"\n"):
        if line:
            tracker.feed(line)


@pytest.mark.parametrize(
    ("line", "seconds"),
    [
        (b"2026-03-14T08:00:00Z x", 1773475200.0),
        (b"2026-03-14T08:00:00.123456789Z x", 1773475200.123456789),
        (b"2026-03-14T10:00:00+02:00 x", 1773475200.0),
        (b"2026-03-14T03:30:00-0430 x", 1773475200.0),
        (b"[2026-03-14T08:00:00.5Z] x", 1773475200.5),
        (b"2026-03-14 08:00:00,250Z x", 1773475200.25),
        (b"1773475200.75 x", 1773475200.75),
    ],
)
def test_accepted_timestamp_forms(line: bytes, seconds: float) -> None:
    """RFC 3339 as Docker writes it, offsets, brackets, comma fractions and Unix seconds."""
    parsed = parse_timestamp(line)
    assert parsed is not None
    assert parsed[0] == pytest.approx(seconds, abs=1e-6)
    assert parsed[1] == b"x"


def test_a_timestamp_without_zone_is_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python logging's asctime (no zone) is read in the exporter machine's time zone."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        parsed = parse_timestamp(b"2026-03-14 09:00:00,500 INFO Hardware profile: x")
        assert parsed is not None
        assert parsed[0] == 1773475200.5
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


@pytest.mark.parametrize(
    "line",
    [
        b"Hardware profile: no time",
        b"2026-13-14T08:00:00Z month 13",
        b"2026-03-14T25:00:00Z x",
        b"12:00:01 time only",
        b"",
    ],
)
def test_lines_without_a_valid_leading_timestamp_are_refused(line: bytes) -> None:
    assert parse_timestamp(line) is None


def test_phases_are_differences_between_marker_lines() -> None:
    """hardware = t(profile) - t(start); network = t(latency) - t(profile);
    certificates = t(joined) - t(latency); total = t(joined) - t(start)."""
    tracker = JoinTracker(JoinPatterns.default())
    feed(tracker, SEED_LOG)
    assert tracker.phases == {
        "hardware_profiling": 2.5,
        "network_discovery": 1.25,
        "certificate_exchange": 0.75,
        "total": 4.5,
    }
    assert tracker.joined_at == 1773475204.5


def test_a_join_in_progress_reports_the_phases_seen_so_far() -> None:
    """Only phases with both ends seen are reported; nothing before the first marker."""
    tracker = JoinTracker(JoinPatterns.default())
    feed(tracker, SEED_LOG.split(b"\n")[0])
    assert tracker.phases == {}
    feed(tracker, SEED_LOG.split(b"\n")[1])
    assert tracker.phases == {"hardware_profiling": 2.5}
    assert tracker.joined_at is None


def test_a_restart_keeps_the_last_join_until_the_new_attempt_reaches_a_marker() -> None:
    """After a restart the previous join stays visible until the new run logs its profile."""
    tracker = JoinTracker(JoinPatterns.default())
    feed(tracker, SEED_LOG)
    tracker.begin_run(1773475300.0)
    feed(tracker, b"2026-03-14T08:01:40.5Z swarmlet starting")
    assert tracker.phases["total"] == 4.5
    feed(tracker, b"2026-03-14T08:01:41Z Hardware profile: 4 cores")
    assert tracker.phases == {"hardware_profiling": 1.0}
    assert tracker.joined_at is None


def test_lines_before_docker_recorded_the_start_move_the_start_back() -> None:
    """Docker records StartedAt a moment after the process starts: a first line stamped
    earlier is the real start, so no phase comes out negative (and none is lost)."""
    tracker = JoinTracker(JoinPatterns.default())
    tracker.begin_run(1773475200.25)
    feed(tracker, b"2026-03-14T08:00:00.125Z Hardware profile: 2 cores")
    assert tracker.phases == {"hardware_profiling": 0.0}


def test_a_start_pattern_begins_each_attempt_in_a_log_file() -> None:
    """With a start pattern, an attempt starts at its line, not at the first line of the file."""
    patterns = JoinPatterns.from_mapping({"start": "swarmlet starting"}, "test")
    tracker = JoinTracker(patterns)
    feed(tracker, b"2026-03-14T07:59:00Z unrelated noise\n" + SEED_LOG)
    assert tracker.phases["hardware_profiling"] == 2.5


def test_garbled_truncated_and_binary_lines_are_skipped_and_counted() -> None:
    """No line of any shape can crash the tracker; skipped lines are counted by reason and
    a valid join around them is still found."""
    tracker = JoinTracker(JoinPatterns.default())
    lines = SEED_LOG.split(b"\n")
    garbage = [
        b"\x00\x01\x02\xff\xfe binary blob",
        b"no timestamp here at all",
        b"2026-03-14T08:0",  # truncated mid-timestamp
        os.urandom(300).replace(b"\n", b""),
        b"2026-03-14T08:00:03Z \xff\xfe invalid UTF-8 after a valid stamp",
        b"2026-03-14T08:00:03.1Z " + b"A" * (MAX_LINE_BYTES + 10),
    ]
    for line in [lines[0], *garbage[:3], lines[1], *garbage[3:], lines[2], lines[3]]:
        tracker.feed(line)
    assert tracker.phases["total"] == 4.5
    assert tracker.skipped["too_long"] == 1
    assert tracker.skipped["binary"] + tracker.skipped["no_timestamp"] == 4
    assert tracker.skipped["binary"] >= 2
    assert tracker.lines_read == 4 + len(garbage)


def test_patterns_file_overrides_and_errors(tmp_path: Path) -> None:
    """Keys left out keep their defaults; unknown keys and bad regexes name file and key."""
    good = tmp_path / "patterns.json"
    good.write_text(json.dumps({"joined": r"Joined cluster \S+"}))
    patterns = JoinPatterns.load(good)
    assert patterns.joined.pattern == r"Joined cluster \S+"
    assert patterns.hardware_profile.pattern == "Hardware profile:"
    for content, message in (
        ({"joinedd": "x"}, "unknown key 'joinedd'"),
        ({"joined": "(unclosed"}, "joined: invalid regular expression"),
        ({"joined": ""}, "joined: expected a non-empty"),
        (["not", "an", "object"], "expected a JSON object"),
    ):
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(content))
        with pytest.raises(ValueError, match=message) as caught:
            JoinPatterns.load(bad)
        assert str(bad) in str(caught.value)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        JoinPatterns.load(tmp_path / "broken.json")


def test_file_source_follows_appends_partial_lines_rotation_and_truncation(tmp_path: Path) -> None:
    """Only new bytes are read; a half-written line waits for its newline; a rotated or
    truncated file is read from its start."""
    log = tmp_path / "agent.log"
    source = FileLogSource(log)
    with pytest.raises(CollectorError, match="cannot read agent log"):
        source.read()
    log.write_bytes(b"2026-03-14T08:00:00Z a\n2026-03-14T08:00:01Z b (half")
    assert source.read().lines == [b"2026-03-14T08:00:00Z a"]
    with open(log, "ab") as out:
        out.write(b" written)\n")
    assert source.read().lines == [b"2026-03-14T08:00:01Z b (half written)"]
    assert source.read().lines == []
    log.rename(tmp_path / "agent.log.1")
    log.write_bytes(b"2026-03-14T08:00:02Z c\n")
    assert source.read().lines == [b"2026-03-14T08:00:02Z c"]
    log.write_bytes(b"")
    log.write_bytes(b"2026-03-14T08:00:03Z d\n")
    assert source.read().lines == [b"2026-03-14T08:00:03Z d"]


def test_file_collector_on_the_vm_fixture() -> None:
    """The VM scenario's log (offsets +00:00 and +01:00 mixed) gives exact phases."""
    collector = JoinCollector(FileLogSource(FIXTURES / "vm" / "agent.log"), JoinPatterns.default())
    got = by_name(list(collector.collect()))
    assert got["swarmlet_join_phase_seconds"] == {
        ("hardware_profiling",): 3.625,
        ("network_discovery",): 0.625,
        ("certificate_exchange",): 0.625,
        ("total",): 4.875,
    }
    assert got["swarmlet_join_completed_timestamp_seconds"] == {(): 1773475223.125}


def test_no_join_seen_means_no_phase_series(tmp_path: Path) -> None:
    """An agent that never logged a marker has no phase series at all, not zeros."""
    log = tmp_path / "agent.log"
    log.write_bytes(b"2026-03-14T08:00:00Z starting\n\x00\x00garbage\n")
    got = by_name(list(JoinCollector(FileLogSource(log), JoinPatterns.default()).collect()))
    assert "swarmlet_join_phase_seconds" not in got
    assert "swarmlet_join_completed_timestamp_seconds" not in got
    assert got["swarmlet_join_log_lines_skipped_total"][("binary",)] == 1


def frame(stream: int, data: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + struct.pack(">I", len(data)) + data


def test_demultiplex_joins_split_messages_and_stops_at_broken_frames() -> None:
    """Docker splits long messages over frames: they are joined per stream. A bad header or
    a stream ending inside a frame counts as broken; lines before it are kept."""
    body = (
        frame(1, b"2026-03-14T08:00:00Z out one\n")
        + frame(2, b"2026-03-14T08:00:00.5Z err ")
        + frame(1, b"2026-03-14T08:00:01Z out two\n")
        + frame(2, b"continued\n")
    )
    assert demultiplex(body) == (
        [
            b"2026-03-14T08:00:00Z out one",
            b"2026-03-14T08:00:01Z out two",
            b"2026-03-14T08:00:00.5Z err continued",
        ],
        0,
    )
    lines, broken = demultiplex(body + b"\x07\x00\x00\x00\x00\x00\x00\x05junk!")
    assert len(lines) == 3
    assert broken == 1
    lines, broken = demultiplex(body + frame(1, b"2026-03-14T08:00:02Z cut off here\n")[:20])
    assert len(lines) == 4
    assert broken == 1


def test_docker_source_reads_from_the_run_start_and_never_counts_a_line_twice(
    tmp_path: Path,
) -> None:
    """The first read asks from just after the previous run ended; later reads from the last
    stamp seen (Docker's since is inclusive), skipping exactly the lines already delivered."""
    (tmp_path / "logs").mkdir()
    stream = tmp_path / "logs" / "abc.stream"
    stream.write_bytes(
        frame(1, b"2026-03-14T08:00:01Z one\n") + frame(1, b"2026-03-14T08:00:01Z two\n")
    )
    docker = RecordedDocker(tmp_path)
    run = ContainerRun("abc", 1773475200.0, tty=False, logs_since=1773475100.5)
    source = DockerLogSource(docker, lambda: run)
    first = source.read()
    assert first.new_run
    assert first.run_started_at == 1773475200.0
    assert first.lines == [b"2026-03-14T08:00:01Z one", b"2026-03-14T08:00:01Z two"]
    stream.write_bytes(
        stream.read_bytes()
        + frame(1, b"2026-03-14T08:00:01Z three\n")
        + frame(1, b"2026-03-14T08:00:02Z four\n")
    )
    second = source.read()
    assert not second.new_run
    assert second.lines == [b"2026-03-14T08:00:01Z three", b"2026-03-14T08:00:02Z four"]
    assert source.read().lines == []
    assert docker.log_requests[0] == 1773475100.5
    assert docker.log_requests[1] == pytest.approx(1773475201.0)
    assert docker.log_requests[2] == pytest.approx(1773475202.0)


def test_docker_collector_stops_reading_after_the_join_until_the_next_run() -> None:
    """Once the current run has joined, scrapes do not fetch logs again (a long-running agent
    costs nothing here); the Pi 5 recording's garbled stderr frame is counted, not fatal."""
    docker = RecordedDocker(FIXTURES / "pi5" / "docker")
    run = ContainerRun(
        "e41b7c0d9f2a4c6e8b1d3f5a7c9e0b2d4f6a8c1e3b5d7f9a0c2e4b6d8f1a3c5e",
        1773482531.604411893,
        tty=False,
    )
    collector = JoinCollector(DockerLogSource(docker, lambda: run), JoinPatterns.default())
    got = by_name(list(collector.collect()))
    for _ in range(3):
        assert by_name(list(collector.collect())) == got
    assert len(docker.log_requests) == 1
    assert got["swarmlet_join_phase_seconds"][("total",)] == pytest.approx(3.17584, abs=1e-5)
    assert got["swarmlet_join_log_lines_skipped_total"][("binary",)] == 1
