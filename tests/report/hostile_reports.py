"""Every field that comes from experiments, git, the command or the environment filled
with generated hostile text: the results the surface tests render (GitHub's in
test_surfaces_github.py, the terminal's in test_terminal.py)."""

from __future__ import annotations

from functools import cache

from driftgate.compare import error_report
from driftgate.compare.schema import (
    History,
    PooledRun,
    Report,
    RunOutputs,
    Trend,
    TrendPoint,
)
from driftgate.report.view import BUDGET_KINDS
from driftgate.result import CommandResult, GateResult, ReportContext
from tests.report.scenarios import DATADOG, STARTED, fail_report

RUN_URL = "https://github.com/acme/bot/actions/runs/1"
CANDIDATE_URL = DATADOG + "cand"
BASELINE_URL = DATADOG + "base"
OURS = {RUN_URL, CANDIDATE_URL, BASELINE_URL}


@cache
def _fail_report() -> Report:
    return fail_report()


class Texts:
    """Hands out the generated texts in turn, so each field gets one."""

    def __init__(self, texts: list[str]) -> None:
        self._texts = texts
        self._next = 0

    def __call__(self) -> str:
        text = self._texts[self._next % len(self._texts)]
        self._next += 1
        return text

    def some(self, n: int) -> list[str]:
        return [self() for _ in range(n)]


def _report(t: Texts) -> Report:
    report = _fail_report()
    assert report.candidate and report.baseline
    refs = {
        side: ref.model_copy(
            update={
                "id": t(),
                "name": t(),
                "experiment": t(),
                "commit": t(),
                "created_at": t(),
                "dataset_id": t(),
                "url": url,
            }
        )
        for side, ref, url in (
            ("candidate", report.candidate, CANDIDATE_URL),
            ("baseline", report.baseline, BASELINE_URL),
        )
    }
    metrics = [
        m
        if m.kind in BUDGET_KINDS  # named by driftgate; the templates look them up by name
        else m.model_copy(
            update={
                "name": t(),
                "method": t(),
                "min_effect_rule": t() + "%",
                "notes": t.some(2),
                "distribution": {t(): v for v in m.distribution.values()}
                if m.distribution
                else None,
            }
        )
        for m in report.metrics
    ]
    records = report.records
    flipped = [
        r.model_copy(
            update={
                "id": t(),
                "input": t(),
                "expected": t(),
                "baseline_output": t(),
                "candidate_output": t(),
                "changes": [c.model_copy(update={"name": t()}) for c in r.changes],
                "tags": t.some(2) if i == 1 else [],
                "baseline_runs": 3 if i == 2 else 1,
                "candidate_runs": 3 if i == 2 else 1,
                "baseline_outputs": [RunOutputs(output=t(), runs=2), RunOutputs(output=t(), runs=1)]
                if i == 2
                else [],
                "candidate_outputs": [
                    RunOutputs(output=t(), runs=2, error=t()),
                    RunOutputs(output=t(), runs=1),
                ]
                if i == 2
                else [],
            }
        )
        for i, r in enumerate(records.flipped[:3])
    ]
    records = records.model_copy(
        update={
            "flipped": flipped,
            "regressed": t.some(3),
            "improved": t.some(1),
            "baseline_only_ids": t.some(2),
            "candidate_only_ids": t.some(2),
            "baseline_only": 2,
            "candidate_only": 2,
        }
    )
    evaluators = [
        e.model_copy(
            update={
                "label": t(),
                "metric_type_baseline": t(),
                "metric_type_candidate": t(),
                "reason": t(),
            }
        )
        for e in report.evaluators
    ]
    return report.model_copy(
        update={
            **refs,
            "metrics": metrics,
            "records": records,
            "evaluators": evaluators,
            "warnings": t.some(2),
            "baseline_reason": t(),
            "where": t(),
            "history": _history(t, flaky=flipped[0].id),
            "trend": _trends(t),
        }
    )


def _history(t: Texts, flaky: str) -> History:
    """A pooled baseline of two runs of three, one record of the flipped known-flaky."""
    return History(
        considered=3,
        pooled=2,
        observations=6,
        runs=[
            PooledRun(id=t(), commit=t(), created_at=t(), runs=3, pooled=True),
            PooledRun(id=t(), commit=t(), created_at=t(), runs=3, pooled=True),
            PooledRun(id=t(), commit=t(), created_at=t(), runs=3, why=t()),
        ],
        change_point=t(),
        flaky=[flaky, *t.some(2)],
        flaky_count=3,
        regressed_flaky=1,
        flaky_only=[t()],
        unconfirmed=[t()],
    )


def _trends(t: Texts) -> list[Trend]:
    """A rate and a mean over base runs of their own (the table merges them), every text
    hostile, the mean's unit too."""

    def point(value: float, pooled: bool = False) -> TrendPoint:
        return TrendPoint(
            run_id=t(), commit=t(), created_at=t(), value=value, records=40, pooled=pooled
        )

    return [
        Trend(
            metric=t(),
            kind="rate",
            direction="higher",
            unit="pass rate",
            points=[point(0.7, True), point(0.75), point(0.8, True)],
            candidate=point(0.5),
        ),
        Trend(
            metric=t(),
            kind="mean",
            direction="lower",
            unit=t(),
            points=[point(1.5), point(-2.25)],
            candidate=point(1e-9),
        ),
    ]


def hostile_result(kind: str, texts: list[str], long: str) -> tuple[GateResult, ReportContext]:
    """A result with a text of `texts` in every field, and `long` in a few (the fields
    where a long text is likely, each shortened its own way)."""
    t = Texts(texts)
    failed = kind == "error"
    reports = [error_report(long if failed else t())] if failed else [_report(t)]
    if kind == "multi":
        reports.append(_report(t))
    if not failed:
        first = reports[0]
        flipped = [
            first.records.flipped[0].model_copy(update={"candidate_output": long}),
            *first.records.flipped[1:],
        ]
        reports[0] = first.model_copy(
            update={
                "records": first.records.model_copy(update={"flipped": flipped}),
                "warnings": [long, *first.warnings],
            }
        )
    command = CommandResult(
        command=t(),
        exit_code=1 if failed else 0,
        timed_out=False,
        duration_s=3.0,
        started_at=STARTED,
        tail="\n".join([*t.some(3), long]),
    )
    result = GateResult(reports=reports, command=command, found_how=t(), notes=t.some(2))
    ctx = ReportContext(
        repository=t(),
        pipeline=t(),
        head_sha=t(),
        base_branch=t(),
        # A pull request's number is ours, and GitHub links it: left out of this test.
        pr_number=None,
        run_url=RUN_URL,
        backend=t(),
        full_report_note=t(),
        serve_command=t(),
    )
    return result, ctx
