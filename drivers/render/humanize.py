"""Prometheus' template functions (humanize, humanizeDuration, ...) and durations, in Python.

The generated promtool tests state the exact annotation text an alert must carry, so the
value in it is formatted here the way Prometheus' Go templates will format it
(``template/template.go`` of Prometheus 2.x). promtool compares the two: a difference fails
`make test`, so this port cannot drift from Prometheus unnoticed.
"""

from __future__ import annotations

import math

_SMALL_PREFIXES = ("m", "u", "n", "p", "f", "a", "z", "y")
_LARGE_PREFIXES = ("k", "M", "G", "T", "P", "E", "Z", "Y")


def _g4(value: float) -> str:
    """Go's ``%.4g`` (the same rules as C's for finite numbers)."""
    return f"{value:.4g}"


def humanize(value: float) -> str:
    """SI prefixes: 75000000 -> ``75M``; 0.005 -> ``5m``."""
    if value == 0 or math.isnan(value) or math.isinf(value):
        return _g4(value)
    prefix = ""
    if abs(value) >= 1:
        for candidate in _LARGE_PREFIXES:
            if abs(value) < 1000:
                break
            prefix = candidate
            value /= 1000
        return f"{_g4(value)}{prefix}"
    for candidate in _SMALL_PREFIXES:
        if abs(value) >= 1:
            break
        prefix = candidate
        value *= 1000
    return f"{_g4(value)}{prefix}"


def humanize_duration(value: float) -> str:
    """Seconds as Prometheus shows them: ``45s``, ``1m 30s``, ``15ms``."""
    if math.isnan(value) or math.isinf(value):
        return _g4(value)
    if value == 0:
        return f"{_g4(value)}s"
    if abs(value) >= 1:
        return _clock(value)
    prefix = ""
    for candidate in _SMALL_PREFIXES:
        if abs(value) >= 1:
            break
        prefix = candidate
        value *= 1000
    return f"{_g4(value)}{prefix}s"


def _clock(value: float) -> str:
    """At least a second: whole days, hours and minutes, then seconds (4 digits if alone)."""
    sign = "-" if value < 0 else ""
    whole = int(abs(value))
    seconds, minutes = whole % 60, (whole // 60) % 60
    hours, days = (whole // 3600) % 24, whole // 86400
    parts = [(days, "d"), (hours, "h"), (minutes, "m")]
    while parts and parts[0][0] == 0:  # Go's template drops leading zero units only
        parts.pop(0)
    if not parts:
        return f"{sign}{_g4(abs(value))}s"
    return sign + " ".join(f"{n}{unit}" for n, unit in parts) + f" {seconds}s"


def humanize_percentage(value: float) -> str:
    """A ratio as a percentage: 0.15 -> ``15%``."""
    return f"{_g4(value * 100)}%"


def prometheus_duration(seconds: float) -> str:
    """A duration in Prometheus' syntax (``5m``, ``90s``, ``1h``, ``250ms``)."""
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {seconds}")
    milliseconds = round(seconds * 1000)
    if milliseconds % 1000:
        return f"{milliseconds}ms"
    whole = milliseconds // 1000
    for unit, size in (("h", 3600), ("m", 60)):
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"
