"""report.md and a self-contained report.html (plots embedded) from a built Report."""

from __future__ import annotations

import base64
import datetime as dt
import html
from pathlib import Path

from drivers.report.build import Report
from drivers.report.table import Row, RowState
from drivers.results import write_text_atomic
from drivers.thresholds import Verdict

MARKS = {Verdict.MET: "✅", Verdict.ACCEPTABLE: "⚠️", Verdict.FAILED: "❌"}


def _mark(row: Row) -> str:
    if row.state is RowState.NOT_RUN:
        return "·"
    verdict = row.effective_verdict
    return MARKS[verdict] if verdict is not None else ""


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def table_text(rows: list[Row]) -> str:
    """The seed's table as plain text, for the terminal."""
    head = ("Metric", "Target", "Acceptable", "Current", "Verdict")
    body = [
        (
            r.threshold.title,
            r.threshold.target_text,
            r.threshold.acceptable_text,
            r.current_text,
            r.verdict_text,
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in [head, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def verdict_line(report: Report) -> str:
    if report.verdict is None:
        return "nothing could be judged (no scenario with a threshold ran)"
    return {
        Verdict.MET: "every measured threshold meets its target",
        Verdict.ACCEPTABLE: "some thresholds are only acceptable",
        Verdict.FAILED: "some thresholds failed",
    }[report.verdict]


def markdown(report: Report) -> str:
    prov = report.run.provenance
    out = [f"# swarmscope report — run {prov['run_id']}", ""]
    out.append(f"**Verdict: {verdict_line(report)}.**")
    out.append("")
    out.append(
        f"Cluster `{prov.get('cluster')}` ({prov.get('backend')}"
        f"{', built-in lab' if prov.get('lab') else ''}), "
        f"{len(prov.get('nodes', []))} nodes; kernel {prov.get('kernel')} "
        f"{prov.get('arch')}; swarmscope {prov.get('swarmscope_version')}"
        f" (git {prov.get('git_commit') or 'unknown'}); inventory sha256 "
        f"{prov.get('inventory_sha256')}, thresholds sha256 "
        f"{prov.get('thresholds_sha256')}."
    )
    if report.window[1] > report.window[0]:
        out.append(f"Window: {_when(report.window[0])} to {_when(report.window[1])}.")
    out += [
        "",
        "## Performance targets",
        "",
        "| Metric | Target | Acceptable | Current | Verdict |",
        "|--------|--------|------------|---------|---------|",
    ]
    for row in report.rows:
        out.append(
            f"| {row.threshold.title} | {row.threshold.target_text} | "
            f"{row.threshold.acceptable_text} | {row.current_text} | "
            f"{_mark(row)} {row.verdict_text} |"
        )
    out += ["", "## Scenarios", "", "| Scenario | Status | Duration | Note |", "|---|---|---|---|"]
    for name, record in report.run.scenarios().items():
        duration = (
            f"{record.ended_at - record.started_at:.1f}s" if record.ended_at else "unfinished"
        )
        out.append(f"| {name} | {record.status} | {duration} | {record.error or ''} |")
    if report.advice:
        out += ["", "## Recommendations", ""] + [f"- {line}" for line in report.advice]
    if report.plots:
        out += ["", "## Plots", ""]
        for title, path in report.plots.items():
            out += [f"### {title}", "", f"![{title}]({path})", ""]
    if report.missing:
        out += ["", "## Missing from this run", ""] + [f"- {line}" for line in report.missing]
    return "\n".join(out).rstrip() + "\n"


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.35em .7em;
text-align:left}th{background:#f3f3f3}tr.met td:last-child{background:#e7f6e7}
tr.acceptable td:last-child{background:#fff4d6}tr.failed td:last-child{background:#fde2e2}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}.verdict{font-size:1.2em;font-weight:600}
code{background:#f3f3f3;padding:0 .2em}
"""


def _row_class(row: Row) -> str:
    verdict = row.effective_verdict
    if row.state is RowState.NOT_RUN or verdict is None:
        return "notrun"
    return {Verdict.MET: "met", Verdict.ACCEPTABLE: "acceptable", Verdict.FAILED: "failed"}[verdict]


def html_document(report: Report) -> str:
    prov = report.run.provenance
    esc = html.escape
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>swarmscope run "
        f"{esc(prov['run_id'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>swarmscope report — run {esc(prov['run_id'])}</h1>",
        f"<p class='verdict'>Verdict: {esc(verdict_line(report))}</p>",
        f"<p>Cluster <code>{esc(str(prov.get('cluster')))}</code> "
        f"({esc(str(prov.get('backend')))}), {len(prov.get('nodes', []))} nodes; kernel "
        f"{esc(str(prov.get('kernel')))} {esc(str(prov.get('arch')))}.</p>",
        "<h2>Performance targets</h2><table><tr><th>Metric</th><th>Target</th>"
        "<th>Acceptable</th><th>Current</th><th>Verdict</th></tr>",
    ]
    for row in report.rows:
        parts.append(
            f"<tr class='{_row_class(row)}'><td>{esc(row.threshold.title)}</td>"
            f"<td>{esc(row.threshold.target_text)}</td>"
            f"<td>{esc(row.threshold.acceptable_text)}</td>"
            f"<td>{esc(row.current_text)}</td><td>{esc(row.verdict_text)}</td></tr>"
        )
    parts.append("</table>")
    parts.append("<h2>Scenarios</h2><table><tr><th>Scenario</th><th>Status</th><th>Note</th></tr>")
    for name, record in report.run.scenarios().items():
        parts.append(
            f"<tr><td>{esc(name)}</td><td>{esc(record.status)}</td>"
            f"<td>{esc(record.error or '')}</td></tr>"
        )
    parts.append("</table>")
    if report.advice:
        parts.append("<h2>Recommendations</h2><ul>")
        parts += [f"<li>{esc(line)}</li>" for line in report.advice]
        parts.append("</ul>")
    if report.plots:
        parts.append("<h2>Plots</h2>")
        for title, relative in report.plots.items():
            data = base64.b64encode((report.run.path / relative).read_bytes()).decode()
            parts.append(
                f"<h3>{esc(title)}</h3><img alt='{esc(title)}' src='data:image/png;base64,{data}'>"
            )
    if report.missing:
        parts.append("<h2>Missing from this run</h2><ul>")
        parts += [f"<li>{esc(line)}</li>" for line in report.missing]
        parts.append("</ul>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_documents(report: Report) -> tuple[Path, Path]:
    md_path = report.run.path / "report.md"
    html_path = report.run.path / "report.html"
    write_text_atomic(md_path, markdown(report))
    write_text_atomic(html_path, html_document(report))
    return md_path, html_path
