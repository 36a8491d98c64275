"""Read the aligned tables CLIs print (``stratoswarm node ls``, ``ps``), column by header.

Cells are cut at the header's column positions, as tabwriter aligns them, so an empty cell
or a message with spaces in the last column is read right. Anything that does not look like
such a table is a ``TableError`` saying what is wrong; the caller names the command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADER_WORD = re.compile(r"\S+(?: \S+)*")


class TableError(ValueError):
    """The output is not the expected table."""


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]  # upper-case header words, e.g. ("ID", "NAME", "NODE")
    rows: tuple[dict[str, str], ...]

    def require(self, *columns: str) -> None:
        missing = [c for c in columns if c not in self.columns]
        if missing:
            raise TableError(
                f"no {', '.join(missing)} column (columns: {', '.join(self.columns) or 'none'})"
            )


def parse_table(text: str) -> Table:
    """The first non-empty line is the header; every later non-empty line a row."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise TableError("empty output (expected a header line)")
    header = lines[0]
    starts: list[int] = []
    names: list[str] = []
    # Header cells are separated by two or more spaces (one space may sit inside a name).
    for match in _HEADER_WORD.finditer(header):
        starts.append(match.start())
        names.append(match.group().upper())
    if len(names) < 2 or len(set(names)) != len(names):
        raise TableError(f"unreadable header line {header[:120]!r}")
    rows = []
    for line in lines[1:]:
        if any(ord(ch) < 32 and ch != "\t" for ch in line):
            raise TableError(f"control characters in line {line[:120]!r}")
        # A row must reach the second column and have a blank before every column it
        # reaches: otherwise a cell overran its column and the table is garbled.
        if len(line) <= starts[1] or any(
            len(line) > start and line[start - 1] != " " for start in starts[1:]
        ):
            raise TableError(f"line does not line up with the header: {line[:120]!r}")
        cells = {}
        for index, name in enumerate(names):
            end = starts[index + 1] if index + 1 < len(starts) else len(line)
            cells[name] = line[starts[index] : end].strip()
        rows.append(cells)
    return Table(tuple(names), tuple(rows))
