"""The small part of Prometheus' alert templates the generated rules use, rendered in Python.

Generated promtool tests must state the exact text of every annotation; rendering it here
from the same template string the rule carries keeps the two from drifting. Supported:
``{{ $labels.NAME }}``, ``{{ $value }}`` and ``{{ $value | FUNCTION }}`` for the functions
below. Anything else is an error, so a rule cannot silently use a construct the tests would
render wrongly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from drivers.render.humanize import humanize, humanize_duration, humanize_percentage

FUNCTIONS: dict[str, Callable[[float], str]] = {
    "humanize": humanize,
    "humanizeDuration": humanize_duration,
    "humanizePercentage": humanize_percentage,
}
_ACTION = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def _go_float(value: float) -> str:
    """``{{ $value }}`` prints a float64 with Go's %v: the shortest form that reads back."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def render(template: str, labels: Mapping[str, str], value: float) -> str:
    def action(match: re.Match[str]) -> str:
        body = match.group(1)
        if body.startswith("$labels."):
            return labels.get(body.removeprefix("$labels."), "")
        parts = [part.strip() for part in body.split("|")]
        if parts[0] != "$value" or len(parts) > 2:
            raise ValueError(f"unsupported template action {{{{ {body} }}}}")
        if len(parts) == 1:
            return _go_float(value)
        if parts[1] not in FUNCTIONS:
            raise ValueError(f"unsupported template function {parts[1]!r}")
        return FUNCTIONS[parts[1]](value)

    return _ACTION.sub(action, template)
