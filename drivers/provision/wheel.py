"""Build swarmscope's wheel on the control node, once per source state, for Ansible to ship.

``python -m drivers.provision.wheel --source REPO --cache-dir DIR`` prints the path of a
wheel built from the packaged files of ``REPO`` (pyproject.toml, README.md, exporters/,
drivers/). The same content always gives the same file, reused from ``DIR/<digest>/``: so
Ansible's copy to a node reports no change and the node reinstalls nothing, while any change
to a packaged file gives a new digest and a fresh build.

Only the standard library is used: Ansible runs this with its own interpreter, from the
source directory, whether or not swarmscope is installed there.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

TOP_FILES = ("pyproject.toml", "README.md")
PACKAGES = ("exporters", "drivers")
KEEP_BUILDS = 5  # older cache entries are removed: a wheel is ~0.3 MB, builds happen per edit
# Zip entries get this date instead of the files' mtimes (1980-01-01, the zip epoch): the
# wheel's bytes then depend on the content only.
SOURCE_DATE_EPOCH = "315532800"
_SKIPPED_DIRS = {"__pycache__"}
_SKIPPED_SUFFIXES = {".pyc", ".pyo"}


class WheelError(Exception):
    """The source is incomplete or the build failed; the message says which and why."""


def packaged_files(source: Path) -> list[Path]:
    """The files the wheel is built from, relative to ``source``, in a stable order."""
    files = []
    for name in TOP_FILES:
        if not (source / name).is_file():
            raise WheelError(f"{source}: no {name}: not a swarmscope source directory")
        files.append(Path(name))
    for package in PACKAGES:
        root = source / package
        if not (root / "__init__.py").is_file():
            raise WheelError(f"{source}: no {package}/__init__.py: not a swarmscope source")
        for directory, subdirs, names in os.walk(root):
            subdirs[:] = sorted(d for d in subdirs if d not in _SKIPPED_DIRS)
            for name in sorted(names):
                path = Path(directory, name)
                if path.suffix not in _SKIPPED_SUFFIXES:
                    files.append(path.relative_to(source))
    return files


def source_digest(source: Path, files: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for relative in files:
        digest.update(str(relative).encode() + b"\0")
        digest.update((source / relative).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:20]


def build_wheel(source: Path, cache_dir: Path, python: str = sys.executable) -> Path:
    """The wheel for ``source``'s current content: from the cache, or built now."""
    source = source.resolve()
    files = packaged_files(source)
    target = cache_dir / source_digest(source, files)
    existing = sorted(target.glob("*.whl"))
    if existing:
        return existing[0]
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="swarmscope-wheel-", dir=cache_dir) as scratch:
        tree, out = Path(scratch, "src"), Path(scratch, target.name)
        for relative in files:
            (tree / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / relative, tree / relative)
        # A copy of only the packaged files: nothing stale from a build/ directory of the
        # checkout ends up in the wheel, and the checkout is left untouched.
        command = [python, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out)]
        result = subprocess.run(
            [*command, str(tree)],
            capture_output=True,
            text=True,
            env={**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH},
            check=False,
        )
        if result.returncode != 0 or not list(out.glob("*.whl")):
            tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
            raise WheelError(f"pip wheel {source} failed (exit {result.returncode}): {tail}")
        try:
            out.rename(target)  # atomic: a concurrent build of the same digest may win
        except OSError:
            if not list(target.glob("*.whl")):
                raise
    _prune(cache_dir, keep=target)
    return sorted(target.glob("*.whl"))[0]


def _prune(cache_dir: Path, keep: Path) -> None:
    builds = [
        p for p in cache_dir.iterdir() if p.is_dir() and not p.name.startswith("swarmscope-wheel-")
    ]
    builds.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in builds[KEEP_BUILDS:]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m drivers.provision.wheel",
        description="Print the path of swarmscope's wheel for SOURCE, building it if needed.",
    )
    parser.add_argument("--source", type=Path, required=True, help="swarmscope source directory")
    parser.add_argument("--cache-dir", type=Path, required=True, help="where built wheels stay")
    args = parser.parse_args(argv)
    try:
        print(build_wheel(args.source, args.cache_dir.expanduser()))
    except (WheelError, OSError) as exc:
        print(f"swarmscope-wheel: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
