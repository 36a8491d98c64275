"""The run directory: every figure a run measures, written atomically as it is measured.

Layout of ``results/<run-id>/``::

    results.json      provenance + one entry per scenario (status, figures, details)
    samples/          raw samples (CSV/JSON) the figures were computed from
    plots/            PNG plots written by `swarmscope report`
    faults.json       fault windows (start, end, target, kind)
    report.md/.html   written by `swarmscope report`

``results.json`` is rewritten after every change through a temporary file and a rename, so
a run killed half-way still leaves a readable file whose unfinished scenario says
``"status": "running"``. Every text written passes through ``secrets.scrub``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import platform
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers import __version__
from drivers.errors import SwarmscopeError
from drivers.inventory import Inventory
from drivers.secrets import scrub
from drivers.thresholds import DEFAULT_PATH as THRESHOLDS_PATH

RESULTS_FILE = "results.json"
STATUSES = ("running", "ok", "failed", "interrupted", "skipped")


def new_run_id(now: dt.datetime | None = None) -> str:
    """Sortable and unique enough for one control node: 20261129-031502-a1b2."""
    now = now or dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%d-%H%M%S-") + os.urandom(2).hex()


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(scrub(text))
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=THRESHOLDS_PATH.parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def provenance(
    run_id: str, inventory: Inventory, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Where a result came from: enough to tell two runs apart and reproduce one."""
    uname = platform.uname()
    info: dict[str, Any] = {
        "run_id": run_id,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "swarmscope_version": __version__,
        "git_commit": _git_commit(),
        "control_host": socket.gethostname(),
        "kernel": uname.release,
        "arch": uname.machine,
        "python": platform.python_version(),
        "inventory": str(inventory.path),
        "inventory_sha256": inventory.digest,
        "thresholds_sha256": hashlib.sha256(THRESHOLDS_PATH.read_bytes()).hexdigest()[:16],
        "cluster": inventory.name,
        "backend": inventory.backend,
        "lab": inventory.is_lab,
        "nodes": [
            {"name": n.name, "type": n.type, "role": n.role, "hardware": n.hardware}
            for n in inventory.nodes
        ],
    }
    if extra:
        info.update(extra)
    return info


@dataclass(frozen=True)
class ScenarioRecord:
    name: str
    status: str
    started_at: float
    ended_at: float | None
    figures: dict[str, Any]
    details: dict[str, Any]
    error: str | None


class RunDirectory:
    """One run's directory; thread-safe, every update persisted before the call returns."""

    def __init__(self, path: Path, document: dict[str, Any]) -> None:
        self.path = path
        self._document = document
        self._lock = threading.Lock()

    # -- creation and loading -------------------------------------------------------------
    @classmethod
    def create(
        cls,
        root: Path,
        inventory: Inventory,
        run_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> RunDirectory:
        run_id = run_id or new_run_id()
        path = root / run_id
        if path.exists():
            raise SwarmscopeError(f"{path}: run directory already exists", exit_code=2)
        for sub in ("samples", "plots"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        document = {"provenance": provenance(run_id, inventory, extra), "scenarios": {}}
        run = cls(path, document)
        run._save()
        return run

    @classmethod
    def open(cls, path: Path) -> RunDirectory:
        results = path / RESULTS_FILE
        try:
            document = json.loads(results.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SwarmscopeError(
                f"{path}: not a run directory (no {RESULTS_FILE})", exit_code=2
            ) from None
        except json.JSONDecodeError as exc:
            raise SwarmscopeError(
                f"{results}: unreadable JSON at line {exc.lineno}: {exc.msg}", exit_code=2
            ) from None
        if not isinstance(document, dict) or "provenance" not in document:
            raise SwarmscopeError(f"{results}: missing 'provenance'", exit_code=2)
        document.setdefault("scenarios", {})
        return cls(path, document)

    @property
    def run_id(self) -> str:
        return str(self._document["provenance"]["run_id"])

    @property
    def provenance(self) -> dict[str, Any]:
        return dict(self._document["provenance"])

    # -- scenarios --------------------------------------------------------------------------
    def start_scenario(self, name: str) -> None:
        with self._lock:
            self._document["scenarios"][name] = {
                "status": "running",
                "started_at": time.time(),
                "ended_at": None,
                "figures": {},
                "details": {},
                "error": None,
            }
            self._save_locked()

    def add_figures(
        self,
        name: str,
        figures: Mapping[str, Any] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Merge figures as soon as they are measured, so an interrupted run keeps them."""
        with self._lock:
            entry = self._entry(name)
            entry["figures"].update(figures or {})
            entry["details"].update(details or {})
            self._save_locked()

    def finish_scenario(self, name: str, status: str, error: str | None = None) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._lock:
            entry = self._entry(name)
            entry["status"] = status
            entry["ended_at"] = time.time()
            entry["error"] = error
            self._save_locked()

    def scenarios(self) -> dict[str, ScenarioRecord]:
        with self._lock:
            items = json.loads(json.dumps(self._document["scenarios"]))
        return {
            name: ScenarioRecord(
                name,
                e.get("status", "running"),
                e.get("started_at", 0.0),
                e.get("ended_at"),
                e.get("figures", {}),
                e.get("details", {}),
                e.get("error"),
            )
            for name, e in items.items()
        }

    def set_section(self, key: str, value: Any) -> None:
        """A top-level section other than scenarios (e.g. the report's verdict)."""
        with self._lock:
            self._document[key] = value
            self._save_locked()

    def section(self, key: str) -> Any:
        with self._lock:
            return json.loads(json.dumps(self._document.get(key)))

    # -- raw samples --------------------------------------------------------------------------
    def write_samples_csv(
        self, name: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> Path:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows(rows)
        path = self.path / "samples" / f"{name}.csv"
        write_text_atomic(path, buffer.getvalue())
        return path

    def write_json(self, relative: str, data: Any) -> Path:
        path = self.path / relative
        write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
        return path

    # -- internals ----------------------------------------------------------------------------
    def _entry(self, name: str) -> dict[str, Any]:
        if name not in self._document["scenarios"]:
            raise KeyError(f"scenario {name!r} was not started")
        entry: dict[str, Any] = self._document["scenarios"][name]
        return entry

    def _save(self) -> None:
        with self._lock:
            self._save_locked()

    def _save_locked(self) -> None:
        text = json.dumps(self._document, indent=2, sort_keys=False, default=str) + "\n"
        write_text_atomic(self.path / RESULTS_FILE, text)
