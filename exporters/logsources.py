"""Where the agent's log lines come from: a file the agent writes, or its container's logs.

Both sources are incremental: each scrape reads only what was written since the last one,
with a bound on how much, so a chatty agent cannot make a scrape slow or the exporter big.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from exporters.dockerapi import DockerApi
from exporters.joinlog import MAX_LINE_BYTES, parse_timestamp
from exporters.registry import CollectorError

# Most bytes of a log file read per scrape; the rest waits for the next scrape.
MAX_READ_BYTES = 1024 * 1024
_HEAD_BYTES = 64


@dataclass
class LogBatch:
    """New lines since the last read; ``new_run`` when the agent (re)started meanwhile."""

    lines: list[bytes] = field(default_factory=list)
    new_run: bool = False
    run_started_at: float | None = None
    # Lines that could not even be cut out of the stream (a broken frame, an endless line).
    garbled: int = 0
    too_long: int = 0


class LogSource(Protocol):
    def read(self, *, want_lines: bool) -> LogBatch:
        """Lines written since the last call; ``want_lines=False`` only tracks restarts."""
        ...


class FileLogSource:
    """Follows a log file like ``tail -F``: survives rotation, truncation and late creation."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._inode: tuple[int, int] | None = None
        self._head = b""  # the file's first bytes: a file truncated and rewritten differs
        self._offset = 0
        self._partial = b""

    def read(self, *, want_lines: bool = True) -> LogBatch:
        """New complete lines (a file is always followed: ``want_lines`` does not apply)."""
        batch = LogBatch()
        try:
            with open(self.path, "rb") as log:
                info = os.fstat(log.fileno())
                inode = (info.st_dev, info.st_ino)
                head = log.read(_HEAD_BYTES)
                if (
                    inode != self._inode
                    or info.st_size < self._offset
                    or head[: len(self._head)] != self._head
                ):
                    # First read, rotated, or truncated: start from the top of the new file.
                    self._inode, self._offset, self._partial = inode, 0, b""
                self._head = head
                log.seek(self._offset)
                data = log.read(MAX_READ_BYTES)
        except OSError as exc:
            raise CollectorError(f"cannot read agent log {self.path}: {exc.strerror}") from None
        self._offset += len(data)
        lines, self._partial, batch.too_long = _split_lines(self._partial + data)
        batch.lines = lines
        return batch


@dataclass(frozen=True)
class ContainerRun:
    """One run of a container: what the log source needs to know about it."""

    container_id: str
    started_at: float
    tty: bool
    # Read logs after this time; None: the whole log (the container's first run).
    logs_since: float | None = None


class DockerLogSource:
    """The agent container's logs from the Docker API, from its latest start onwards.

    The log of a restarted container also holds its earlier runs; reading from just after the
    previous run's ``FinishedAt`` keeps only the current one (not from ``StartedAt``: Docker
    records it after the process starts, so the first lines can predate it). Later reads ask
    for lines since the last timestamp seen and drop the ones already delivered (Docker's
    ``since`` is inclusive).
    """

    def __init__(self, client: DockerApi, current_run: Callable[[], ContainerRun | None]) -> None:
        self._client = client
        self._current_run = current_run
        self._run: ContainerRun | None = None
        # The newest timestamp delivered and how many lines with exactly that stamp were.
        self._last_stamp: float | None = None
        self._delivered_at_last_stamp = 0

    def read(self, *, want_lines: bool = True) -> LogBatch:
        run = self._current_run()
        batch = LogBatch()
        if run is None:
            return batch
        if run != self._run:
            self._run, self._last_stamp, self._delivered_at_last_stamp = run, None, 0
            batch.new_run, batch.run_started_at = True, run.started_at
        if not want_lines:
            return batch
        since = run.logs_since if self._last_stamp is None else self._last_stamp
        body, cut = self._client.container_logs(run.container_id, since=since)
        if run.tty:
            lines, tail, batch.too_long = _split_lines(body)
            lines += [tail] if tail else []
        else:
            lines, batch.garbled = demultiplex(body, cut)
        previous_stamp, to_skip = self._last_stamp, self._delivered_at_last_stamp
        for line in lines:
            parsed = parse_timestamp(line)
            if parsed is not None:
                stamp = parsed[0]
                if previous_stamp is not None and (
                    stamp < previous_stamp or (stamp == previous_stamp and to_skip > 0)
                ):
                    to_skip -= stamp == previous_stamp
                    continue  # delivered by an earlier read
                if stamp == self._last_stamp:
                    self._delivered_at_last_stamp += 1
                else:
                    self._last_stamp, self._delivered_at_last_stamp = stamp, 1
            batch.lines.append(line)  # a line without a stamp is counted as skipped later
        return batch


def demultiplex(body: bytes, cut: bool = False) -> tuple[list[bytes], int]:
    """Lines of a multiplexed Docker log stream, and how many frames were broken.

    Each frame is ``[stream, 0, 0, 0, size (big-endian u32)]`` then ``size`` bytes. A frame
    holds one log message (long messages are split over several frames), so partial lines
    are joined per stream until their newline. A malformed header ends the parse: what
    follows cannot be framed reliably.
    """
    lines: list[bytes] = []
    pending = {1: b"", 2: b""}
    broken = 0
    position = 0
    while position + 8 <= len(body):
        stream, size = body[position], struct.unpack(">I", body[position + 4 : position + 8])[0]
        if stream not in (0, 1, 2) or body[position + 1 : position + 4] != b"\0\0\0":
            broken += 1
            break
        payload = body[position + 8 : position + 8 + size]
        position += 8 + size
        if len(payload) < size and not cut:
            broken += 1  # the stream ended inside a frame
        key = 2 if stream == 2 else 1
        complete, pending[key], _ = _split_lines(pending[key] + payload)
        lines.extend(complete)
    else:
        if position < len(body) and not cut:
            broken += 1  # a truncated frame header at the end
    for rest in pending.values():
        if rest:
            lines.append(rest)
    return lines, broken


def _split_lines(data: bytes) -> tuple[list[bytes], bytes, int]:
    """Complete lines (without newlines), the unfinished tail, and lines dropped as too long."""
    *lines, tail = data.split(b"\n")
    too_long = 0
    if len(tail) > MAX_LINE_BYTES:
        tail, too_long = b"", 1
    kept = [line.rstrip(b"\r") for line in lines]
    return kept, tail, too_long
