"""Just enough PromQL reading to find the series an expression selects and how it groups them.

The generators need three facts about an expression they did not write (the ``expr`` of a
threshold, a dashboard query): which metrics it reads with which label matchers, whether
it reads them through ``rate()``, and the labels of its outer ``by (...)``. This is a
tokenizer plus a scan, not a parser: Prometheus itself (promtool, the HTTP API) remains the
judge of whether an expression is valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<duration>(?:[0-9]+(?:ms|[smhdwy]))+(?![A-Za-z0-9_]))
  | (?P<number>(?:0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)(?![A-Za-z_]))
  | (?P<name>[A-Za-z_:$][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^=<>(){},@])
    """,
    re.VERBOSE,
)
# Words that are not metric names when they stand alone.
_LABEL_LISTS = frozenset(("by", "without", "on", "ignoring", "group_left", "group_right"))
KEYWORDS = _LABEL_LISTS | {"and", "or", "unless", "bool", "offset", "inf", "nan"}


class PromQLError(ValueError):
    """An expression this scan cannot read (Prometheus may still accept it)."""


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[Matcher, ...]
    range: str | None  # "5m" for metric[5m]
    function: str | None  # the function whose argument this selector is, e.g. "rate"


def tokens(expr: str) -> list[Token]:
    result = []
    position = 0
    while position < len(expr):
        match = _TOKEN.match(expr, position)
        if not match or match.lastgroup is None:
            raise PromQLError(f"cannot read {expr[position : position + 20]!r}")
        if match.lastgroup != "space":
            result.append(Token(match.lastgroup, match.group()))
        position = match.end()
    return result


def _unquote(text: str) -> str:
    body = text[1:-1]
    if text[0] == "`":
        return body
    return re.sub(r"\\(.)", r"\1", body)


def _matchers(items: list[Token], start: int) -> tuple[tuple[Matcher, ...], int]:
    """Matchers of the ``{...}`` opening at ``start``; returns them and the index after ``}``."""
    found = []
    index = start + 1
    while items[index].text != "}":
        if items[index].text == ",":
            index += 1
            continue
        label, op, value = items[index : index + 3]
        if label.kind != "name" or op.kind != "op" or value.kind != "string":
            raise PromQLError(f"unexpected {label.text}{op.text}{value.text} in a selector")
        found.append(Matcher(label.text, op.text, _unquote(value.text)))
        index += 3
    return tuple(found), index + 1


def selectors(expr: str) -> list[Selector]:
    """Every metric selector in ``expr``, in order of appearance."""
    items = tokens(expr)
    items.append(Token("end", ""))
    result: list[Selector] = []
    calls: list[str | None] = []  # the function (or None for a plain bracket) of each "("
    index = 0
    while index < len(items) - 1:
        token = items[index]
        following = items[index + 1]
        if token.kind == "name" and token.text in _LABEL_LISTS and following.text == "(":
            index = _skip_to(items, index + 1, ")") + 1
            continue
        if token.kind == "name" and following.text == "(":
            calls.append(token.text)
            index += 2
            continue
        if token.kind == "name" and following.text in ("by", "without"):
            # `max by (node) (...)`: an aggregation with its grouping written first
            index = _skip_to(items, index + 2, ")") + 1
            if items[index].text != "(":
                raise PromQLError(f"expected '(' after {token.text} {following.text} (...)")
            calls.append(token.text)
            index += 1
            continue
        if token.text == "(":
            calls.append(None)
        elif token.text == ")":
            if calls:
                calls.pop()
        elif token.text == "{":  # a selector without a metric name: {__name__="x"}
            _, index = _matchers(items, index)
            continue
        elif token.kind == "name" and token.text not in KEYWORDS and not token.text.startswith("$"):
            matchers: tuple[Matcher, ...] = ()
            index += 1
            if items[index].text == "{":
                matchers, index = _matchers(items, index)
            window = None
            if items[index].kind == "range":
                window = items[index].text[1:-1].split(":")[0].strip()
                index += 1
            result.append(Selector(token.text, matchers, window, calls[-1] if calls else None))
            continue
        index += 1
    return result


def _skip_to(items: list[Token], start: int, closing: str) -> int:
    for index in range(start, len(items)):
        if items[index].text == closing:
            return index
    raise PromQLError(f"no {closing!r} after {items[start].text!r}")


def metric_names(expr: str) -> set[str]:
    return {selector.metric for selector in selectors(expr)}


_OUTER_GROUPING = re.compile(r"^\s*[a-z_]+\s+by\s*\(([^)]*)\)\s*\(")


def outer_grouping(expr: str) -> tuple[str, ...] | None:
    """The labels of a leading ``max by (a, b) (...)``, or None when there is none."""
    match = _OUTER_GROUPING.match(expr)
    if not match:
        return None
    return tuple(label.strip() for label in match.group(1).split(",") if label.strip())
