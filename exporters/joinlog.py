"""Join phases derived from the swarmlet agent's timestamped log lines.

The seed's agent prints, while it joins a cluster::

    Hardware profile: 4 cores, 3.7 GiB, arm64      (hardware profiling finished)
    Network latency: 1.8ms to 192.168.1.100         (network discovery finished)
    Successfully joined cluster edge-lab            (certificate exchange finished)

Every line must start with a timestamp (see ``parse_timestamp``). One join attempt begins at
the agent's start: from Docker, the earlier of the container's ``State.StartedAt`` and the
run's first log line (Docker records StartedAt a moment after the process starts); in a log
file, a line matching the ``start`` pattern if one is configured, otherwise the first line
after the previous attempt's "joined" line (or the first line of the file). Then, with t(x)
the timestamp of the first line of the attempt matching pattern x:

    hardware_profiling   = t(hardware_profile) - t(start)
    network_discovery    = t(network_latency)  - t(hardware_profile)
    certificate_exchange = t(joined)           - t(network_latency)
    total                = t(joined)           - t(start)

A phase is reported once both of its lines have been seen (a negative difference is never
reported). The reported attempt is the latest one that has reached at least one marker; a
restarted agent keeps showing its previous join until the new attempt reaches its first.

Lines without a leading timestamp, binary garbage and over-long lines are skipped and
counted by reason; nothing in a log can make the collector fail.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

PHASES: Final = ("hardware_profiling", "network_discovery", "certificate_exchange", "total")
MAX_LINE_BYTES: Final = 64 * 1024
SKIP_REASONS: Final = ("no_timestamp", "binary", "too_long")

DEFAULT_PATTERNS: Final = {
    "start": None,
    "hardware_profile": r"Hardware profile:",
    "network_latency": r"Network latency:",
    "joined": r"Successfully joined cluster",
}

# 2024-05-01T12:00:00.123456789Z, 2024-05-01 12:00:00,123, [2024-05-01T12:00:00+02:00] ...
_ISO = re.compile(
    rb"^\[?(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    rb"(Z|[+-]\d{2}:?\d{2})?\]?(?:\s|$)"
)
# 1714564800.123 message (Unix seconds)
_EPOCH = re.compile(rb"^\[?(\d{9,11}(?:\.\d{1,9})?)\]?(?:\s|$)")


@dataclass(frozen=True)
class JoinPatterns:
    """The regular expressions (Python syntax, searched anywhere in the message)."""

    hardware_profile: re.Pattern[str]
    network_latency: re.Pattern[str]
    joined: re.Pattern[str]
    start: re.Pattern[str] | None = None

    @classmethod
    def default(cls) -> JoinPatterns:
        return cls.from_mapping(DEFAULT_PATTERNS, "built-in patterns")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, object], origin: str) -> JoinPatterns:
        """Patterns from ``raw``; keys left out keep their defaults."""
        compiled: dict[str, re.Pattern[str] | None] = {
            key: None if text is None else re.compile(text)
            for key, text in DEFAULT_PATTERNS.items()
        }
        for key, text in raw.items():
            if key not in DEFAULT_PATTERNS:
                expected = ", ".join(DEFAULT_PATTERNS)
                raise ValueError(f"{origin}: unknown key {key!r} (expected one of: {expected})")
            if key == "start" and text in (None, ""):
                compiled[key] = None
                continue
            if not isinstance(text, str) or not text:
                raise ValueError(f"{origin}: {key}: expected a non-empty regular expression")
            try:
                compiled[key] = re.compile(text)
            except re.error as exc:
                raise ValueError(f"{origin}: {key}: invalid regular expression: {exc}") from None
        hardware, network, joined = (
            compiled["hardware_profile"],
            compiled["network_latency"],
            compiled["joined"],
        )
        assert hardware is not None
        assert network is not None
        assert joined is not None
        return cls(hardware, network, joined, start=compiled["start"])

    @classmethod
    def load(cls, path: Path) -> JoinPatterns:
        """Read a JSON object such as ``{"joined": "Joined cluster [a-z-]+"}``; keys left out
        keep their defaults. ValueError names the file and key on any problem."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise ValueError(f"{path}: not valid JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a JSON object of pattern names to regexes")
        return cls.from_mapping(raw, str(path))


def parse_timestamp(line: bytes) -> tuple[float, bytes] | None:
    """``(unix seconds, rest of the line)`` for a line starting with a timestamp, else None.

    Accepted: RFC 3339 / ISO 8601 with ``T`` or a space between date and time, fraction
    after ``.`` or ``,`` (up to nanoseconds, as Docker writes), and ``Z`` or an offset like
    ``+02:00``; without a zone the time is the exporter machine's local time (Python's
    logging writes it that way). Also Unix seconds (``1714564800.25``). Either form may sit
    in square brackets.
    """
    match = _ISO.match(line)
    if match:
        year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
        if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
            return None
        fraction = match.group(7)
        frac = int(fraction) / 10 ** len(fraction) if fraction else 0.0
        zone = match.group(8)
        if zone is None:
            struct = (year, month, day, hour, minute, second, 0, 0, -1)
            seconds = time.mktime(struct)
        else:
            seconds = _days_from_civil(year, month, day) * 86400.0
            seconds += hour * 3600 + minute * 60 + second
            if zone != b"Z":
                sign = -1 if zone.startswith(b"-") else 1
                digits = zone[1:].replace(b":", b"")
                seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
        return seconds + frac, line[match.end() :]
    match = _EPOCH.match(line)
    if match:
        return float(match.group(1)), line[match.end() :]
    return None


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


@dataclass
class _Attempt:
    start: float | None = None
    hardware_profile: float | None = None
    network_latency: float | None = None
    joined: float | None = None

    def phases(self) -> dict[str, float]:
        spans = {
            "hardware_profiling": (self.start, self.hardware_profile),
            "network_discovery": (self.hardware_profile, self.network_latency),
            "certificate_exchange": (self.network_latency, self.joined),
            "total": (self.start, self.joined),
        }
        return {
            phase: end - begin
            for phase, (begin, end) in spans.items()
            if begin is not None and end is not None and end >= begin
        }


@dataclass
class JoinTracker:
    """Feeds on log lines one at a time and keeps the phases of the latest join attempt."""

    patterns: JoinPatterns
    lines_read: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    _current: _Attempt = field(default_factory=_Attempt)
    _reported: _Attempt | None = None

    def begin_run(self, started_at: float | None) -> None:
        """A new run of the agent started (a container (re)start): a new attempt begins."""
        self._current = _Attempt(start=started_at)

    def skip(self, reason: str) -> None:
        self.lines_read += 1
        self.skipped[reason] += 1

    def feed(self, line: bytes) -> None:
        """One log line without its newline."""
        if len(line) > MAX_LINE_BYTES:
            self.skip("too_long")
            return
        parsed = parse_timestamp(line)
        if parsed is None:
            self.skip("binary" if _looks_binary(line) else "no_timestamp")
            return
        self.lines_read += 1
        stamp, rest = parsed
        message = rest.decode("utf-8", errors="replace")
        attempt = self._current
        if self.patterns.start is not None and self.patterns.start.search(message):
            attempt = self._current = _Attempt(start=stamp)
        elif attempt.joined is not None:
            # A line after a completed join: with no start pattern, the next attempt starts here.
            attempt = self._current = _Attempt(start=stamp if self.patterns.start is None else None)
        if self.patterns.start is None and (attempt.start is None or stamp < attempt.start):
            # The run began no later than its first line (Docker records StartedAt a moment
            # after the process starts, so early lines can carry earlier stamps).
            attempt.start = stamp
        for key in ("hardware_profile", "network_latency", "joined"):
            if getattr(attempt, key) is None and getattr(self.patterns, key).search(message):
                setattr(attempt, key, stamp)
                self._reported = attempt

    @property
    def phases(self) -> dict[str, float]:
        return self._reported.phases() if self._reported else {}

    @property
    def joined_at(self) -> float | None:
        return self._reported.joined if self._reported else None

    @property
    def current_attempt_joined(self) -> bool:
        return self._current.joined is not None


def _looks_binary(line: bytes) -> bool:
    if b"\0" in line:
        return True
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False
