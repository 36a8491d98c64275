"""Generated files as text: the do-not-edit header and stable YAML/JSON serialisation.

Output must be byte-for-byte reproducible, so that `swarmscope render --check` can compare a
committed file with a fresh rendering: mappings keep the order the generator built them in,
lists are sorted by the generator, and floats are written with ``repr`` (shortest text that
reads back as the same number, so a threshold survives the round trip exactly).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import yaml

GENERATED_MARKER = "by `swarmscope render`; do not edit"


def header(sources: str) -> str:
    """The first line of every generated file; ``sources`` names what it is generated from."""
    return f"generated from {sources} {GENERATED_MARKER}"


@dataclass(frozen=True)
class GeneratedFile:
    path: PurePosixPath  # relative to the repository root
    text: str


class _Dumper(yaml.SafeDumper):
    """SafeDumper that indents list items under their key, as Prometheus' own examples do."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line strings (long PromQL) as literal blocks, so they read like the source.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_presenter)


def yaml_document(data: Any, sources: str, note: str = "") -> str:
    """``data`` as YAML behind the header comment (and an optional second comment line)."""
    lines = [f"# {header(sources)}"]
    lines += [f"# {line}" if line else "#" for line in note.splitlines()]
    body = yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=4096,  # one line per PromQL expression or sentence: diffs stay readable
    )
    return "\n".join(lines) + "\n" + body


def json_document(data: Any) -> str:
    """JSON has no comments: the header goes into the document's own description field."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
