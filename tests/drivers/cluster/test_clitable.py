"""CLI tables are read by header position, so empty cells and spaces in the last column
survive, and anything that is not such a table is refused."""

from __future__ import annotations

import pytest

from drivers.cluster.clitable import TableError, parse_table

PS = """\
ID          NAME              NODE          STATUS    MESSAGE
wl-000001   gpu-inference     gpu-primary   Running
wl-000002   big               -             Pending   no suitable node (6 nodes too small)
wl-000003   edge.1                          Pending
"""


def test_cells_are_cut_at_header_positions() -> None:
    table = parse_table(PS)
    assert table.columns == ("ID", "NAME", "NODE", "STATUS", "MESSAGE")
    assert table.rows[0] == {
        "ID": "wl-000001",
        "NAME": "gpu-inference",
        "NODE": "gpu-primary",
        "STATUS": "Running",
        "MESSAGE": "",
    }
    assert table.rows[1]["MESSAGE"] == "no suitable node (6 nodes too small)"
    assert table.rows[2]["NODE"] == ""  # an empty cell stays empty
    table.require("ID", "NODE")
    with pytest.raises(TableError, match=r"no CREATED column \(columns: ID, NAME, NODE"):
        table.require("CREATED")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty output"),
        ("panic: runtime error\n", "unreadable header line"),
        ("ID   NAME\nwl-1\n", "does not line up"),
        ("ID   NAME   NODE\nwl-000001-much-too-long NAME x\n", "does not line up"),
        ("ID   NAME\nwl-1 \x1b[31mred\n", "control characters"),
    ],
)
def test_garbage_is_refused(text: str, message: str) -> None:
    with pytest.raises(TableError, match=message):
        parse_table(text)
