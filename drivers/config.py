"""Strict YAML reading: a typo fails at load, naming the file and field, not an hour into a run."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from drivers.errors import ConfigError

T = TypeVar("T")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)
        if key in mapping:
            line = key_node.start_mark.line + 1
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {line})", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file strictly; any problem is a one-line ConfigError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise ConfigError(f"{path}: {where}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


@dataclass(frozen=True)
class Section:
    """One mapping of a config file, read field by field with its dotted path for errors.

    ``check_keys`` rejects unknown keys, so every reader states what it accepts.
    """

    data: dict[str, Any]
    path: str
    source: str

    @classmethod
    def of(cls, value: Any, path: str, source: str) -> Section:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {path or 'top level'}: expected a mapping")
        for key in value:
            if not isinstance(key, str):
                raise ConfigError(f"{source}: {path}: keys must be strings, got {key!r}")
        return cls(value, path, source)

    def where(self, key: str | None = None) -> str:
        if key is None:
            return self.path or "top level"
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str | None, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {self.where(key)}: {problem}")

    def check_keys(self, required: Set[str], optional: Set[str] = frozenset()) -> None:
        allowed = required | optional
        for key in self.data:
            if key not in allowed:
                expected = ", ".join(sorted(allowed))
                raise self.error(key, f"unknown key (expected one of: {expected})")
        for key in sorted(required):
            if key not in self.data:
                raise self.error(key, "missing")

    def has(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, kind: type[T], default: T | None = None) -> T:
        if key not in self.data or self.data[key] is None:
            if default is None:
                raise self.error(key, "missing")
            return default
        value = self.data[key]
        # bool is an int in Python; a YAML `yes` where a number belongs is still a mistake.
        if kind in (int, float) and isinstance(value, bool):
            raise self.error(key, f"expected a number, got {value!r}")
        if kind is float and isinstance(value, int):
            return float(value)  # type: ignore[return-value]
        if not isinstance(value, kind):
            raise self.error(key, f"expected {_kind_name(kind)}, got {value!r}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            raise self.error(key, f"{value!r} is not one of: {', '.join(choices)}")
        return value

    def section(self, key: str) -> Section:
        return Section.of(self.data.get(key), self.where(key), self.source)

    def sections(self, key: str) -> Iterator[Section]:
        """The entries of a list of mappings, each with its index in the path."""
        items = self.data.get(key)
        if not isinstance(items, list):
            raise self.error(key, "expected a list")
        for index, item in enumerate(items):
            yield Section.of(item, f"{self.where(key)}[{index}]", self.source)

    def converted(self, key: str, convert: Callable[[Any], T]) -> T:
        """Apply ``convert`` to a field; its ValueError becomes an error naming the field."""
        try:
            return convert(self.data.get(key))
        except ValueError as exc:
            raise self.error(key, str(exc)) from None


def _kind_name(kind: type) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a mapping",
    }.get(kind, kind.__name__)
