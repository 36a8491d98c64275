"""The generated dashboards: thresholds from thresholds.yaml, sane layout, provisioning agrees."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import yaml

from drivers.render import dashboards
from drivers.render.grafana_model import UNITS
from drivers.render.provisioning import DASHBOARDS_MOUNT, DATASOURCE_UID
from drivers.thresholds import REPO_ROOT, Threshold, load_thresholds


def _panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        if panel["type"] != "row":
            yield panel


def _threshold_panels(boards: list[dict[str, Any]], threshold: Threshold) -> list[dict[str, Any]]:
    return [
        panel
        for board in boards
        for panel in _panels(board)
        if any(t["expr"] == threshold.expr for t in panel["targets"])
    ]


def _step_values(panel: dict[str, Any]) -> list[float]:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [step["value"] for step in steps if step["value"] is not None]


def test_every_threshold_is_drawn_with_its_own_numbers_and_unit() -> None:
    """Each threshold appears in a panel that queries its expr, in its unit, coloured at its
    target and acceptable values (one step when the plan gives one number)."""
    thresholds = load_thresholds()
    boards = dashboards.all_dashboards(thresholds)
    for threshold in thresholds.values():
        panels = _threshold_panels(boards, threshold)
        assert panels, f"no panel shows {threshold.key}"
        for panel in panels:
            assert panel["fieldConfig"]["defaults"]["unit"] == UNITS[threshold.unit]
            expected = sorted({threshold.target, threshold.acceptable})
            assert _step_values(panel) == expected, (threshold.key, panel["title"])
            assert threshold.target_text in panel["title"]


def test_panel_thresholds_follow_an_edited_threshold() -> None:
    """Change a number and the dashboards change with it: nothing is typed twice."""
    thresholds = load_thresholds()
    edited = dict(thresholds)
    edited["memory_footprint"] = dataclasses.replace(
        thresholds["memory_footprint"], target=42e6, acceptable=84e6
    )
    boards = dashboards.all_dashboards(edited)
    panels = _threshold_panels(boards, edited["memory_footprint"])
    assert panels
    assert all(_step_values(panel) == [42e6, 84e6] for panel in panels)
    assert all("<42MB" in panel["title"] for panel in panels)


def test_layout_ids_and_datasource() -> None:
    """Unique uids and panel ids, panels inside the 24-column grid without overlapping, every
    query through the dashboard's Prometheus variable (default: the provisioned datasource)."""
    boards = dashboards.all_dashboards(load_thresholds())
    assert len({b["uid"] for b in boards}) == len(boards) == 7
    for board in boards:
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids))
        cells: set[tuple[int, int]] = set()
        for panel in board["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, panel["title"]
            area = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not cells & area, f"{board['uid']}: {panel['title']} overlaps"
            cells |= area
        for panel in _panels(board):
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"], panel["title"]
        variable = board["templating"]["list"][0]
        assert variable["name"] == "datasource"
        assert variable["current"]["value"] == DATASOURCE_UID


def test_fault_windows_are_annotated_on_every_dashboard() -> None:
    """swarmscope_fault_active is drawn as annotations wherever one looks."""
    for board in dashboards.all_dashboards(load_thresholds()):
        exprs = [a.get("expr", "") for a in board["annotations"]["list"]]
        assert any("swarmscope_fault_active" in expr for expr in exprs), board["uid"]


def test_provisioning_points_at_the_dashboards_and_the_datasource() -> None:
    """The provisioned datasource has the uid the dashboards default to; the provider reads
    the directory the compose stack mounts the dashboards at."""
    datasources = yaml.safe_load(
        (REPO_ROOT / "grafana/provisioning/datasources/swarmscope.yml").read_text()
    )
    (source,) = datasources["datasources"]
    assert source["uid"] == DATASOURCE_UID
    assert source["type"] == "prometheus"
    providers = yaml.safe_load(
        (REPO_ROOT / "grafana/provisioning/dashboards/swarmscope.yml").read_text()
    )
    (provider,) = providers["providers"]
    assert provider["options"]["path"] == DASHBOARDS_MOUNT
    prometheus = yaml.safe_load((REPO_ROOT / "prometheus/prometheus.yml").read_text())
    assert source["jsonData"]["timeInterval"] == prometheus["global"]["scrape_interval"]
