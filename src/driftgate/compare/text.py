"""A plain, terminal-friendly Markdown rendering of a report (`--format markdown`).

The pull-request comment has its own templates; this is for people reading a terminal.
"""

from __future__ import annotations

from driftgate.compare.report import ExperimentRef, Metric, Report

_RATES = ("pass rate", "error rate")
_VERDICT_ORDER = {"regressed": 0, "inconclusive": 1, "improved": 2, "unchanged": 3}
_GATE_ORDER = {"fail": 0, "warn": 1, "pass": 2}
MAX_FLIPPED_SHOWN = 10


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _number(value: float | None, unit: str, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    sign = "+" if signed else ""
    if unit in _RATES:
        return f"{value * 100:{sign}.1f}{' pts' if signed else '%'}"
    if unit == "seconds":
        return f"{value:{sign}.3g}s"
    return f"{value:{sign}.4g}"


def _interval(m: Metric) -> str:
    if m.ci_low is None or m.ci_high is None:
        return "-"
    return f"[{_number(m.ci_low, m.unit, signed=True)}, {_number(m.ci_high, m.unit, signed=True)}]"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _ref(label: str, ref: ExperimentRef | None) -> str:
    if ref is None:
        return f"- {label}: none"
    commit = f" at {ref.commit[:12]}" if ref.commit else ""
    run = f" (run {ref.run})" if ref.run is not None else ""
    url = f" <{ref.url}>" if ref.url else ""
    size = f"{ref.records} records x {ref.runs} run(s)"
    return f"- {label}: {ref.name or ref.id}{run}{commit}, {size}{url}"


def _metric_rows(metrics: list[Metric]) -> list[str]:
    ordered = sorted(
        metrics, key=lambda m: (_GATE_ORDER[m.gate], _VERDICT_ORDER[m.verdict], m.name)
    )
    rows = [
        "| metric | baseline | candidate | delta | interval | p | verdict | gate |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in ordered:
        rows.append(
            f"| {_cell(m.name)} | {_number(m.baseline, m.unit)} | {_number(m.candidate, m.unit)} "
            f"| {_number(m.delta, m.unit, signed=True)} | {_interval(m)} | {_p(m.p_value)} "
            f"| {m.verdict} | {m.gate} |"
        )
    return rows


def render_text(report: Report) -> str:
    title = report.candidate.name if report.candidate else "experiment"
    lines = [f"## driftgate: {report.verdict.upper()} ({title})", ""]
    lines += [_ref("candidate", report.candidate), _ref("baseline", report.baseline)]
    if report.baseline_reason:
        lines.append(f"- why this baseline: {report.baseline_reason}")
    if report.metrics:
        confidence = next((m.confidence for m in report.metrics if m.confidence), None)
        lines += ["", *_metric_rows(report.metrics)]
        if confidence is not None and report.alpha is not None:
            lines += [
                "",
                f"Intervals at {confidence:.0%}; p-values one-sided in the direction of the "
                f"change, adjusted for every test of the experiment; alpha {report.alpha:g}.",
            ]
    records = report.records
    if report.baseline is not None and report.verdict != "error":
        lines += [
            "",
            f"Records: {records.compared} compared, {records.regressed_count} regressed, "
            f"{records.improved_count} improved, {records.baseline_only} baseline only, "
            f"{records.candidate_only} candidate only.",
        ]
    for flipped in records.flipped[:MAX_FLIPPED_SHOWN]:
        changes = ", ".join(
            f"{c.name} {_number(c.baseline, '')} -> {_number(c.candidate, '')}"
            for c in flipped.changes
        )
        lines += [
            "",
            f"### {flipped.direction}: {flipped.id} ({changes})",
            f"- input: {flipped.input}",
            f"- expected: {flipped.expected}",
            f"- baseline output: {flipped.baseline_output}",
            f"- candidate output: {flipped.candidate_output}",
        ]
    if report.warnings:
        lines += ["", "Warnings:", *(f"- {w}" for w in report.warnings)]
    return "\n".join(lines) + "\n"
