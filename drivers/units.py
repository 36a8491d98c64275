"""Quantities with units as people write them (30s, 500ms, 50MB, 10%), converted to base units."""

from __future__ import annotations

import re

UNITS = ("seconds", "bytes", "ratio")

_SUFFIXES: dict[str, dict[str, float]] = {
    "seconds": {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0},
    "bytes": {
        "B": 1.0,
        "kB": 1e3,
        "KB": 1e3,
        "MB": 1e6,
        "GB": 1e9,
        "KiB": 2.0**10,
        "MiB": 2.0**20,
        "GiB": 2.0**30,
    },
    "ratio": {"%": 0.01, "": 1.0},
}

_QUANTITY = re.compile(
    r"^\s*(?P<number>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(?P<suffix>[a-zA-Zµ%]*)\s*$"
)


def parse_quantity(text: object, unit: str) -> float:
    """Return ``text`` in the base unit of ``unit``; ValueError says what was expected.

    >>> parse_quantity("500ms", "seconds")
    0.5
    >>> parse_quantity("10%", "ratio")
    0.1
    """
    if unit not in _SUFFIXES:
        raise ValueError(f"unknown unit {unit!r} (expected one of: {', '.join(UNITS)})")
    suffixes = _SUFFIXES[unit]
    if isinstance(text, bool) or text is None:
        raise ValueError(f"expected a quantity in {unit}, got {text!r}")
    if isinstance(text, int | float):
        if unit != "ratio":
            raise ValueError(f"{text!r} has no unit (write it like {_example(unit)})")
        return float(text)
    match = _QUANTITY.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a quantity (write it like {_example(unit)})")
    suffix = match.group("suffix")
    if suffix not in suffixes:
        raise ValueError(
            f"{text!r}: unit {suffix or '(none)'!r} does not measure {unit} "
            f"(use one of: {', '.join(s for s in suffixes if s)})"
        )
    return float(match.group("number")) * suffixes[suffix]


def parse_duration(text: str) -> float:
    """Seconds from a duration like ``30s``, ``2m``, ``1.5s`` or a bare number of seconds."""
    stripped = text.strip()
    if re.fullmatch(r"[0-9]*\.?[0-9]+", stripped):
        return float(stripped)
    return parse_quantity(stripped, "seconds")


def format_quantity(value: float, unit: str) -> str:
    """Human form of a base-unit value, the inverse of parse_quantity up to rounding."""
    if unit == "seconds":
        if value != 0 and abs(value) < 1:
            return f"{value * 1e3:.3g}ms"
        return f"{value:.3g}s"
    if unit == "bytes":
        for suffix, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
            if abs(value) >= scale:
                return f"{value / scale:.3g}{suffix}"
        return f"{value:.0f}B"
    if unit == "ratio":
        return f"{value * 100:.3g}%"
    raise ValueError(f"unknown unit {unit!r}")


def _example(unit: str) -> str:
    return {"seconds": "30s or 500ms", "bytes": "50MB or 100MiB", "ratio": "10% or 0.1"}[unit]
