"""What a Locust run leaves for swarmscope: stats per request name, node reports, verdicts.

Written by the master (or a local runner) when Locust quits, to ``--summary-file``; `swarmscope
run mesh` reads it instead of scraping Locust's console output. Node reports are what each
node's user sends when it finished a fixed amount of work (``--messages-total``): the exact
count, bytes and start/end of that node, which Locust's merged stats cannot give.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from drivers.load.exit_code import Judged


def entry_record(name: str, method: str, entry: Any) -> dict[str, Any]:
    """One Locust stats entry in base units (seconds, bytes)."""
    requests = int(entry.num_requests)
    total_seconds = float(entry.total_response_time) / 1000.0
    content = int(entry.total_content_length)
    return {
        "request_type": method,
        "name": name,
        "requests": requests,
        "failures": int(entry.num_failures),
        "mean_seconds": total_seconds / requests if requests else None,
        "min_seconds": (entry.min_response_time or 0) / 1000.0 if requests else None,
        "max_seconds": float(entry.max_response_time) / 1000.0 if requests else None,
        "p50_seconds": entry.get_response_time_percentile(0.5) / 1000.0 if requests else None,
        "p99_seconds": entry.get_response_time_percentile(0.99) / 1000.0 if requests else None,
        "bytes": content,
        "busy_seconds": total_seconds,
        # Bytes over the time spent in these requests: for bulk streams, the bandwidth.
        "bytes_per_busy_second": content / total_seconds if total_seconds > 0 else None,
        "first_request_at": entry.start_time,
        "last_request_at": entry.last_request_timestamp,
    }


def build(
    *,
    locustfile: str,
    user_classes: Iterable[str],
    stats_entries: Mapping[tuple[str, str], Any],
    errors: Iterable[Any],
    node_reports: list[dict[str, Any]],
    judged: list[Judged],
    exit_code: int,
    started_at: float | None,
) -> dict[str, Any]:
    return {
        "locustfile": locustfile,
        "user_classes": sorted(user_classes),
        "started_at": started_at,
        "ended_at": time.time(),
        "exit_code": exit_code,
        "stats": [
            entry_record(str(name), str(method), entry)
            for (name, method), entry in sorted(stats_entries.items())
        ],
        "errors": [
            {
                "request_type": str(e.method),
                "name": str(e.name),
                "error": str(e.error),
                "occurrences": int(e.occurrences),
            }
            for e in errors
        ],
        "node_reports": sorted(node_reports, key=lambda r: str(r.get("node"))),
        "thresholds": [
            {
                "key": j.key,
                "request_type": j.request_type,
                "value": j.value,
                "worst_at": j.worst_at,
                "verdict": j.verdict.label if j.verdict is not None else None,
            }
            for j in judged
        ],
    }


def write(path: Path, summary: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
