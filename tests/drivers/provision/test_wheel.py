"""The wheel Ansible ships is built once per source state, from the packaged files only."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest

from drivers.provision.wheel import KEEP_BUILDS, WheelError, build_wheel, main, packaged_files
from drivers.thresholds import REPO_ROOT


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of the repository's packaged files (the checkout may change meanwhile)."""
    root = tmp_path_factory.mktemp("source")
    for relative in packaged_files(REPO_ROOT):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / relative, root / relative)
    return root


@pytest.fixture(scope="module")
def built(source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    cache = tmp_path_factory.mktemp("wheels")
    return build_wheel(source, cache), cache


def test_wheel_holds_both_packages_and_needs_only_the_exporters_dependencies(
    built: tuple[Path, Path],
) -> None:
    """exporters/ and drivers/ are in; caches are out; a plain install pulls two packages."""
    wheel, _ = built
    names = zipfile.ZipFile(wheel).namelist()
    assert "exporters/cli.py" in names
    assert "drivers/provision/wheel.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/METADATA"))
    )
    plain = [
        line.split(":", 1)[1].strip()
        for line in metadata.decode().splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    assert sorted(p.split(">")[0].split("=")[0] for p in plain) == ["prometheus-client", "psutil"]


def test_same_source_gives_the_same_file_without_building(
    source: Path, built: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second call finds the wheel in the cache: same path, same bytes, pip never runs."""
    wheel, cache = built
    before = wheel.read_bytes()

    def no_build(*_: object, **__: object) -> None:
        raise AssertionError("pip ran although the source did not change")

    monkeypatch.setattr("drivers.provision.wheel.subprocess.run", no_build)
    assert build_wheel(source, cache) == wheel
    assert wheel.read_bytes() == before


def test_a_changed_file_gives_a_new_wheel_and_old_builds_are_pruned(
    source: Path, built: tuple[Path, Path], tmp_path: Path
) -> None:
    """Editing a packaged file changes the digest; the new wheel carries the edit; after a
    build only the newest builds stay in the cache (bytecode never counts as an edit)."""
    wheel, _ = built
    changed = tmp_path / "source"
    shutil.copytree(source, changed)
    target = changed / "exporters" / "__init__.py"
    target.write_text(target.read_text() + "# edited\n")
    cache = tmp_path / "wheels"
    for index in range(KEEP_BUILDS + 2):
        old = cache / f"old{index:02d}"
        old.mkdir(parents=True)
        os.utime(old, (1_000_000 + index, 1_000_000 + index))
    rebuilt = build_wheel(changed, cache)
    assert rebuilt.parent.name != wheel.parent.name
    assert zipfile.ZipFile(rebuilt).read("exporters/__init__.py").endswith(b"# edited\n")
    kept = sorted(p.name for p in cache.iterdir())
    newest_old = [f"old{i:02d}" for i in range(3, KEEP_BUILDS + 2)]
    assert kept == sorted([*newest_old, rebuilt.parent.name])
    (changed / "exporters" / "__pycache__").mkdir(exist_ok=True)
    (changed / "exporters" / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"\0")
    assert build_wheel(changed, cache) == rebuilt


def test_not_a_source_directory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A directory without pyproject.toml is refused, naming it; exit code 1."""
    with pytest.raises(WheelError, match=r"no pyproject.toml: not a swarmscope source"):
        build_wheel(tmp_path, tmp_path / "cache")
    assert main(["--source", str(tmp_path), "--cache-dir", str(tmp_path / "cache")]) == 1
    err = capsys.readouterr().err
    expected = f"{tmp_path}: no pyproject.toml: not a swarmscope source directory"
    assert err == f"swarmscope-wheel: error: {expected}\n"


def test_a_failing_build_says_why(source: Path, tmp_path: Path) -> None:
    """pip's last lines are in the error when the build fails (here: a broken pyproject)."""
    broken = tmp_path / "source"
    shutil.copytree(source, broken)
    (broken / "pyproject.toml").write_text("[project\n")
    with pytest.raises(WheelError, match=r"pip wheel .* failed \(exit \d+\): .+"):
        build_wheel(broken, tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*/*.whl"))
