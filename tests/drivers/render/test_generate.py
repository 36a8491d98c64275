"""`swarmscope render`: deterministic output, committed copies current, --check catches drift."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from drivers.cli import main
from drivers.commands.render import scrape_interval
from drivers.render.generate import drift, generated_files, write
from drivers.render.output import GeneratedFile
from drivers.thresholds import DEFAULT_PATH, REPO_ROOT, load_thresholds


def _files() -> list[GeneratedFile]:
    return generated_files(load_thresholds(), scrape_interval())


def test_committed_files_match_a_fresh_render(tmp_path: Path) -> None:
    """What is committed is exactly what thresholds.yaml renders to, byte for byte."""
    write(_files(), tmp_path)
    rendered = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert rendered, "render wrote nothing"
    for relative in rendered:
        committed = REPO_ROOT / relative
        assert committed.is_file(), f"{relative} is generated but not committed"
        assert committed.read_bytes() == (tmp_path / relative).read_bytes(), relative
    assert drift(_files(), REPO_ROOT) == []


def test_render_is_deterministic() -> None:
    """Two renderings of the same thresholds are identical (no dict order, time or float noise)."""
    first = {f.path: f.text for f in _files()}
    second = {f.path: f.text for f in _files()}
    assert first == second


def test_every_generated_file_says_it_is_generated() -> None:
    """Each file names its source and says not to edit it (YAML header, dashboard description)."""
    for generated in _files():
        assert "by `swarmscope render`; do not edit" in generated.text, generated.path


def test_check_passes_on_the_committed_tree(capsys: pytest.CaptureFixture[str]) -> None:
    """`swarmscope render --check` (run by `make test`) exits 0 when nothing drifted."""
    assert main(["render", "--check"]) == 0
    assert "match" in capsys.readouterr().out


def test_changing_a_threshold_number_makes_check_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Editing a number in thresholds.yaml without re-rendering fails --check, naming the rules
    and the dashboards that show that threshold."""
    edited = tmp_path / "thresholds.yaml"
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    assert "    acceptable: 30s\n" in text
    edited.write_text(text.replace("    acceptable: 30s\n", "    acceptable: 45s\n"), "utf-8")
    assert main(["render", "--check", "--thresholds", str(edited)]) == 1
    err = capsys.readouterr().err
    assert "prometheus/rules/thresholds.yml: differs" in err
    assert "prometheus/tests/thresholds.test.yml: differs" in err
    assert "grafana/dashboards/swarmscope-failure.json: differs" in err
    assert "grafana/dashboards/swarmscope-mesh.json" not in err  # it does not show that one


def test_render_then_check_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """render writes every file under --root; a second render changes nothing; --check passes."""
    assert main(["render", "--root", str(tmp_path)]) == 0
    assert main(["render", "--root", str(tmp_path)]) == 0
    assert ", 0 changed" in capsys.readouterr().out
    assert main(["render", "--check", "--root", str(tmp_path)]) == 0


def test_check_reports_missing_edited_and_stale_files(tmp_path: Path) -> None:
    """Each kind of drift is named: a deleted file, a hand edit, a generated file no longer made."""
    files = _files()
    write(files, tmp_path)
    (tmp_path / "prometheus/rules/stack.yml").unlink()
    rules = tmp_path / "prometheus/rules/thresholds.yml"
    rules.write_text(rules.read_text() + "# a hand edit\n")
    board = tmp_path / "grafana/dashboards/swarmscope-overview.json"
    shutil.copy(board, board.with_name("swarmscope-dropped.json"))
    (tmp_path / "grafana/dashboards/notes.txt").write_text("not generated: left alone\n")
    found = {(str(d.path), d.problem) for d in drift(files, tmp_path)}
    assert found == {
        ("prometheus/rules/stack.yml", "missing"),
        ("prometheus/rules/thresholds.yml", "differs"),
        ("grafana/dashboards/swarmscope-dropped.json", "stale"),
    }


def test_unsupported_threshold_expression_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A threshold whose expr gives no way to build promtool inputs fails render with exit 2,
    naming the threshold, instead of shipping an alert without tests."""
    edited = tmp_path / "thresholds.yaml"
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    old = "expr: max by (node) (swarmscope_recovery_seconds)"
    assert old in text
    edited.write_text(text.replace(old, "expr: swarmscope_recovery_seconds"), "utf-8")
    assert main(["render", "--root", str(tmp_path / "out"), "--thresholds", str(edited)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "thresholds.recovery.expr: cannot derive promtool test input" in err
    assert not (tmp_path / "out").exists()
