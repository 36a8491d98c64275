"""RFC 3339 times as orchestrators print them (nanoseconds, Z or an offset) -> POSIX seconds."""

from __future__ import annotations

import datetime as dt
import re

_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|z|[+-]\d\d:?\d\d)$")


def parse_rfc3339(text: str) -> float:
    """``2026-11-29T03:01:42.875063068Z`` -> 1795921302.875063; ValueError if unreadable."""
    match = _RFC3339.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not an RFC 3339 time")
    zone = match[4].upper()
    if zone != "Z" and ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    whole = dt.datetime.fromisoformat(f"{match[1]}T{match[2]}{'+00:00' if zone == 'Z' else zone}")
    # Python's datetime keeps microseconds; add the fraction ourselves to keep nanoseconds.
    fraction = float("0." + match[3]) if match[3] else 0.0
    return whole.timestamp() + fraction
